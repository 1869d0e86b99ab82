package jsondec

import (
	"slices"
	"strconv"
	"unicode/utf8"
)

// An Object writes a JSON object, one member after the other. The zero Object is
// empty.
type Object struct{ b []byte }

func (o *Object) key(k string) {
	if len(o.b) == 0 {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ',')
	}
	o.b = append(AppendString(o.b, k), ':')
}

// String adds a string member.
func (o *Object) String(k, v string) {
	o.key(k)
	o.b = AppendString(o.b, v)
}

// Int adds a number.
func (o *Object) Int(k string, n int64) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, n, 10)
}

// Uint adds a number.
func (o *Object) Uint(k string, n uint64) {
	o.key(k)
	o.b = strconv.AppendUint(o.b, n, 10)
}

// Uints adds an array of numbers.
func (o *Object) Uints(k string, ns []uint64) {
	o.key(k)
	o.b = appendList(o.b, ns, func(b []byte, n uint64) []byte { return strconv.AppendUint(b, n, 10) })
}

// Strings adds an array of strings.
func (o *Object) Strings(k string, ss []string) {
	o.key(k)
	o.b = appendList(o.b, ss, AppendString)
}

// appendList appends the array of items, each as add writes it.
func appendList[T any](b []byte, items []T, add func([]byte, T) []byte) []byte {
	b = append(b, '[')
	for i, x := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = add(b, x)
	}
	return append(b, ']')
}

// Map adds an object of strings, its keys sorted.
func (o *Object) Map(k string, m map[string]string) {
	o.key(k)
	var in Object
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		in.String(k, m[k])
	}
	o.b = append(o.b, in.Bytes()...)
}

// Raw adds a member whose value is JSON already: a parsed Value's Raw.
func (o *Object) Raw(k, json string) {
	o.key(k)
	o.b = append(o.b, json...)
}

// Bytes returns the object written.
func (o *Object) Bytes() []byte {
	if len(o.b) == 0 {
		return []byte("{}")
	}
	return append(o.b, '}')
}

// AppendString appends s to b as a JSON string. A byte that is not UTF-8 is written
// as U+FFFD, as encoding/json writes it: JSON text is UTF-8.
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			b = utf8.AppendRune(b, r)
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}
