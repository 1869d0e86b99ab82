package jsondec

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A Type is the kind of a JSON value.
type Type uint8

const (
	TypeNull Type = iota
	TypeObject
	TypeArray
	TypeString
	TypeNumber
	TypeTrue
	TypeFalse
)

// String names the type as messages do ("want an object, got array").
func (t Type) String() string {
	switch t {
	case TypeObject:
		return "object"
	case TypeArray:
		return "array"
	case TypeString:
		return "string"
	case TypeNumber:
		return "number"
	case TypeTrue:
		return "true"
	case TypeFalse:
		return "false"
	}
	return "null"
}

// A Value is a JSON value of a parsed document. It keeps its own text, which Raw
// returns (and a writer copies back), so a value is written out again byte for byte.
type Value struct {
	t    Type
	raw  string   // the value's text in the document
	str  string   // TypeString: the string, unescaped
	kids []*Value // TypeArray: the elements; TypeObject: the members' values
	keys []string // TypeObject: the members' keys, unescaped, in document order
}

// Type returns v's type.
func (v *Value) Type() Type { return v.t }

// Raw returns v's text as the document has it: valid JSON.
func (v *Value) Raw() string { return v.raw }

// String returns v's text, for messages.
func (v *Value) String() string { return v.raw }

// Str returns a string's value, unescaped.
func (v *Value) Str() (string, bool) { return v.str, v.t == TypeString }

// Elems returns an array's elements.
func (v *Value) Elems() ([]*Value, bool) { return v.kids, v.t == TypeArray }

// Len returns the number of an array's elements or of an object's members (a key
// given twice counted twice).
func (v *Value) Len() int { return len(v.kids) }

// Members calls f with each member of an object, in document order: a key given
// twice is visited twice, so that the last one read stands, as with encoding/json.
func (v *Value) Members(f func(key string, v *Value)) {
	for i, k := range v.keys {
		f(k, v.kids[i])
	}
}

// Int64 and Uint64 read a number written as an integer ("1.0" and "1e3" are not), as
// encoding/json fills an integer field.
func (v *Value) Int64() (int64, error) {
	if v.t != TypeNumber {
		return 0, errors.New("not a number")
	}
	return strconv.ParseInt(v.raw, 10, 64)
}

func (v *Value) Uint64() (uint64, error) {
	if v.t != TypeNumber {
		return 0, errors.New("not a number")
	}
	return strconv.ParseUint(v.raw, 10, 64)
}

// Float64 reads a number.
func (v *Value) Float64() (float64, error) {
	if v.t != TypeNumber {
		return 0, errors.New("not a number")
	}
	return strconv.ParseFloat(v.raw, 64)
}

// MaxDepth is how deeply arrays and objects may nest.
const MaxDepth = 300

// MaxValues is how many values a document may hold: each costs a Value (88 bytes on
// a 64-bit machine) and a pointer, and the launcher runs with the collector off, so
// a config.json of 4 MiB of "[0,0,..." would otherwise cost it some 190 MB. An
// engine's config.json, seccomp profile included, holds a few thousand.
const MaxValues = 1 << 17

// ParseString parses s, a JSON document (RFC 8259) with nothing but white space after
// its value. Strings are read as encoding/json reads them: a byte that is not UTF-8,
// or an escaped surrogate without its pair, becomes U+FFFD.
//
// The values are allocated in blocks that are never moved, and each array's and
// object's list once, at its length: a config.json of 23 KB costs about its own size
// again, where a parser that grows one slice of values by append copies it over and
// over (about 16 times its size with fastjson, measured before this parser replaced it).
func ParseString(s string) (*Value, error) { return parseString(s, MaxDepth, MaxValues) }

// parseString is ParseString with other bounds on nesting and values.
func parseString(s string, maxDepth, maxValues int) (*Value, error) {
	if strings.TrimLeft(s, " \t\r\n") == "" {
		return nil, errors.New("cannot parse empty string")
	}
	// Each value but the first follows a comma, or opens an array or object: their
	// count bounds the first block, which is capped so that a document of commas
	// inside strings does not reserve more than it may use.
	n := strings.Count(s, ",") + strings.Count(s, "[") + strings.Count(s, "{") + 1
	p := &parser{s: s, maxDepth: maxDepth, maxValues: maxValues, block: make([]Value, 0, min(n, 4096))}
	v := p.value()
	p.ws()
	if p.err == "" && p.i < len(s) {
		return nil, errors.New("unexpected tail: " + strconv.Quote(cut(s[p.i:])))
	}
	if p.err != "" {
		return nil, errors.New("cannot parse JSON: " + p.err + "; unparsed tail: " + strconv.Quote(cut(s[min(p.i, len(s)):])))
	}
	return v, nil
}

// cut shortens a tail for a message.
func cut(s string) string {
	if len(s) > 40 {
		return s[:20] + "..." + s[len(s)-20:]
	}
	return s
}

type parser struct {
	s                   string
	i                   int
	depth               int
	err                 string // the first error; the parse unwinds once it is set
	values              int    // allocated so far
	maxDepth, maxValues int
	spare               Value // what alloc returns once the parse has failed
	block               []Value
	kids                []*Value // the values of the open arrays and objects, innermost last
	keys                []string // the keys of the open objects' members
}

func (p *parser) fail(msg string) {
	if p.err == "" {
		p.err = msg
	}
}

// alloc returns a new value from the current block, or from a new one.
func (p *parser) alloc() *Value {
	if p.values++; p.values > p.maxValues {
		p.fail("more than " + strconv.Itoa(p.maxValues) + " values")
	}
	if p.err != "" {
		return &p.spare // the parse unwinds: nothing it reads from now on is kept
	}
	if len(p.block) == cap(p.block) {
		p.block = make([]Value, 0, 256)
	}
	p.block = p.block[:len(p.block)+1]
	return &p.block[len(p.block)-1]
}

func (p *parser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

// value parses the value at p.i (white space first) into a new Value.
func (p *parser) value() *Value {
	p.ws()
	v := p.alloc()
	if p.i >= len(p.s) {
		p.fail("unexpected end of JSON")
		return v
	}
	start := p.i
	switch c := p.s[p.i]; {
	case c == '{':
		p.object(v)
	case c == '[':
		p.array(v)
	case c == '"':
		v.t = TypeString
		v.str = p.string()
	case c == 't':
		v.t = TypeTrue
		p.literal("true")
	case c == 'f':
		v.t = TypeFalse
		p.literal("false")
	case c == 'n':
		v.t = TypeNull
		p.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		v.t = TypeNumber
		p.number()
	default:
		p.fail("unexpected " + strconv.QuoteRune(rune(c)))
	}
	if p.err == "" {
		v.raw = p.s[start:p.i]
	}
	return v
}

func (p *parser) literal(word string) {
	if !strings.HasPrefix(p.s[p.i:], word) {
		p.fail("want " + word)
		return
	}
	p.i += len(word)
}

// number reads a number as RFC 8259 writes it: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *parser) number() {
	s := p.s
	if s[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(s) && s[p.i] >= '0' && s[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	switch {
	case p.i < len(s) && s[p.i] == '0':
		p.i++
	case digits() == 0:
		p.fail("want a digit in a number")
		return
	}
	if p.i < len(s) && s[p.i] == '.' {
		p.i++
		if digits() == 0 {
			p.fail("want a digit after the decimal point")
			return
		}
	}
	if p.i < len(s) && (s[p.i] == 'e' || s[p.i] == 'E') {
		p.i++
		if p.i < len(s) && (s[p.i] == '+' || s[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			p.fail("want a digit in the exponent")
		}
	}
}

// string reads a string from its opening quote, and returns it unescaped: a part of
// the document where it needs no unescaping.
func (p *parser) string() string {
	p.i++ // the quote
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return p.s[start : p.i-1]
		case c == '\\' || c >= utf8.RuneSelf:
			return p.slowString(start)
		case c < 0x20:
			p.fail("a control character in a string")
			return ""
		}
		p.i++
	}
	p.fail("unterminated string")
	return ""
}

// slowString reads the rest of a string that has escapes or bytes past ASCII.
func (p *parser) slowString(start int) string {
	b := make([]byte, 0, p.i-start+16)
	b = append(b, p.s[start:p.i]...)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(b)
		case c < 0x20:
			p.fail("a control character in a string")
			return ""
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(p.s[p.i:])
			b = utf8.AppendRune(b, r) // utf8.RuneError for a byte that is not UTF-8
			p.i += size
			continue
		case c != '\\':
			b = append(b, c)
			p.i++
			continue
		}
		p.i++
		if p.i >= len(p.s) {
			break
		}
		e := p.s[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				p.fail("want four hex digits after \\u")
				return ""
			}
			if utf16.IsSurrogate(r) {
				// A high half and an escaped low half are one character; any other
				// half is U+FFFD, and what follows it is read on its own.
				half := r
				r = utf8.RuneError
				if save := p.i; strings.HasPrefix(p.s[p.i:], "\\u") {
					p.i += 2
					if low, ok := p.hex4(); ok && utf16.DecodeRune(half, low) != utf8.RuneError {
						r = utf16.DecodeRune(half, low)
					} else {
						p.i = save
					}
				}
			}
			b = utf8.AppendRune(b, r)
		default:
			p.fail("invalid escape \\" + string(rune(e)))
			return ""
		}
	}
	p.fail("unterminated string")
	return ""
}

// hex4 reads the four hex digits of a \u escape.
func (p *parser) hex4() (rune, bool) {
	if p.i+4 > len(p.s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(p.s[p.i : p.i+4]) {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	p.i += 4
	return r, true
}

func (p *parser) enter() bool {
	p.depth++
	if p.depth > p.maxDepth {
		p.fail("nested deeper than " + strconv.Itoa(p.maxDepth))
		return false
	}
	return true
}

func (p *parser) array(v *Value) {
	v.t = TypeArray
	if !p.enter() {
		return
	}
	p.i++ // [
	base := len(p.kids)
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
	} else {
		for p.err == "" {
			p.kids = append(p.kids, p.value())
			if p.end(']', "an array") {
				break
			}
		}
	}
	p.collect(v, base, len(p.keys))
}

func (p *parser) object(v *Value) {
	v.t = TypeObject
	if !p.enter() {
		return
	}
	p.i++ // {
	base, kbase := len(p.kids), len(p.keys)
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
	} else {
		for p.err == "" {
			p.ws()
			if p.i >= len(p.s) || p.s[p.i] != '"' {
				p.fail("want '\"' for object key")
				break
			}
			key := p.string()
			p.ws()
			if p.err == "" && (p.i >= len(p.s) || p.s[p.i] != ':') {
				p.fail("want ':' after object key")
			}
			if p.err != "" {
				break
			}
			p.i++
			p.keys = append(p.keys, key)
			p.kids = append(p.kids, p.value())
			if p.end('}', "an object") {
				break
			}
		}
	}
	p.collect(v, base, kbase)
}

// end reads what follows a member of an array or object (in names which): a comma,
// and false, or its closing bracket (or an error), and true.
func (p *parser) end(closing byte, in string) bool {
	p.ws()
	if p.i >= len(p.s) {
		p.fail("unexpected end of JSON in " + in)
		return true
	}
	switch p.s[p.i] {
	case closing:
		p.i++
		return true
	case ',':
		p.i++
		return false
	}
	p.fail("want ',' or '" + string(closing) + "' in " + in)
	return true
}

// collect gives v the members read since the open lists held base values and kbase
// keys, each list allocated once at its length, and leaves the bracket.
func (p *parser) collect(v *Value, base, kbase int) {
	if n := len(p.kids) - base; n > 0 {
		v.kids = make([]*Value, n)
		copy(v.kids, p.kids[base:])
	}
	if n := len(p.keys) - kbase; n > 0 {
		v.keys = make([]string, n)
		copy(v.keys, p.keys[kbase:])
	}
	clear(p.kids[base:])
	p.kids, p.keys = p.kids[:base], p.keys[:kbase]
	p.depth--
}
