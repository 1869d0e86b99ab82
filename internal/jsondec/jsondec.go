// Package jsondec parses JSON (ParseString) and reads typed fields out of it, as
// encoding/json would fill a struct, keeping the first error, which names the field by
// its path (syscalls[3].args[0].op); and writes the little JSON launch writes (Object).
// It serves the seccomp profiles, the bundles' config.json and the OCI runtime's state.
//
// Not encoding/json: it adds about 350 KB to the launcher (see the README).
package jsondec

import (
	"errors"
	"io"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// Parse reads at most max bytes of JSON from r and parses them, within MaxDepth and
// MaxValues. A syntax error is cut to about 300 bytes: deep nesting repeats itself.
func Parse(r io.Reader, max int) (*Value, error) {
	return ParseWithin(r, Limits{Size: max, Depth: MaxDepth, Values: MaxValues})
}

// Limits bound a document: its bytes, the nesting of its arrays and objects, and its
// values.
type Limits struct{ Size, Depth, Values int }

// ParseWithin is Parse within l.
func ParseWithin(r io.Reader, l Limits) (*Value, error) {
	max := l.Size
	// A file is read in one go, into a buffer of its size.
	size := 512
	if st, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := st.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() < int64(max) {
			size = int(fi.Size()) + 1 // the read that sees the end
		}
	}
	data := make([]byte, 0, size)
	lr := io.LimitReader(r, int64(max)+1)
	for {
		n, err := lr.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(data) == cap(data) {
			data = slices.Grow(data, len(data))
		}
	}
	if len(data) > max {
		return nil, errors.New("larger than " + strconv.Itoa(max) + " bytes")
	}
	// SAFETY: data is this function's own, and never written again.
	v, err := parseString(unsafe.String(unsafe.SliceData(data), len(data)), l.Depth, l.Values)
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), "\n", " ")
		if len(msg) > 300 {
			msg = msg[:100] + " ... " + msg[len(msg)-200:]
		}
		return nil, errors.New(msg)
	}
	return v, nil
}

// A Decoder reads fields; Err is its first error.
type Decoder struct {
	Err error
	// Refused are fields, by their path with indexes left out (linux.intelRdt,
	// mounts.uidMappings), that are an error unless they are null or empty: fields a
	// format defines that the reader cannot honour. Other fields it does not know are
	// ignored, as the OCI runtime spec requires of unknown properties.
	Refused map[string]bool
	// NoNUL refuses a string that holds a NUL: no path, option or argument can hold
	// one, and a path cleaned before it reaches the system call that would refuse it
	// may lose what followed it ("/tmp\u0000/../../etc" is /etc).
	NoNUL bool
}

// Fail records that the value at at is not what was wanted.
func (d *Decoder) Fail(at, want string, v *Value) {
	d.Failf(at + ": want " + want + ", got " + v.Type().String())
}

// Failf records the error msg, if it is the first.
func (d *Decoder) Failf(msg string) {
	if d.Err == nil {
		d.Err = errors.New(msg)
	}
}

// Object calls f for each field of v, an object, that is one of fields, with the name
// as fields spells it; null is no fields. A key names a field as encoding/json, and so
// runc, takes it: spelled the same, or else the same but for case (strings.EqualFold).
// what names v in a message when at is "" (the top).
func (d *Decoder) Object(v *Value, at, what string, fields []string, f func(key string, v *Value, at string)) {
	if v.Type() == TypeNull {
		return
	}
	if v.Type() != TypeObject {
		d.Fail(or(at, what), "an object", v)
		return
	}
	var seen []bool // by index in fields: read already
	v.Members(func(key string, v *Value) {
		i := slices.Index(fields, key)
		if i < 0 {
			i = slices.IndexFunc(fields, func(f string) bool { return strings.EqualFold(f, key) })
		}
		if i < 0 {
			if here := join(at, key); d.refused(generic(here)) && !Empty(v) {
				d.Failf(here + ": not supported")
			}
			return
		}
		here := join(at, fields[i])
		// encoding/json reads a field given twice (or in two spellings) into one
		// value, merging objects and taking null as nothing: a reader that would
		// take it otherwise could run what a check of the same file with runc's
		// reading did not see. Refused instead.
		if seen == nil {
			seen = make([]bool, len(fields))
		}
		if seen[i] {
			d.Failf(here + ": given twice")
			return
		}
		seen[i] = true
		f(fields[i], v, here)
	})
}

// join is the path of the field key of the object at at.
func join(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

// refused reports whether the field at path (indexes left out) is one of Refused, in
// any spelling of its case, as encoding/json would match it.
func (d *Decoder) refused(path string) bool {
	if d.Refused[path] {
		return true
	}
	for r := range d.Refused {
		if strings.EqualFold(r, path) {
			return true
		}
	}
	return false
}

// generic is the path at without its indexes: mounts[2].uidMappings is
// mounts.uidMappings.
func generic(at string) string {
	var b strings.Builder
	skip := false
	for _, c := range at {
		switch {
		case c == '[':
			skip = true
		case c == ']':
			skip = false
		case !skip:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// Empty reports whether v is null, false, 0, "", [] or {}.
func Empty(v *Value) bool {
	switch v.Type() {
	case TypeNull, TypeFalse:
		return true
	case TypeString:
		return v.str == ""
	case TypeNumber:
		f, _ := v.Float64()
		return f == 0
	case TypeArray, TypeObject:
		return v.Len() == 0
	}
	return false
}

// List returns the elements of v, an array, as f reads each: nil for null, and an
// empty list for an empty array, as encoding/json does.
func List[T any](d *Decoder, v *Value, at string, f func(v *Value, at string) T) []T {
	a, ok := d.elems(v, at)
	if !ok {
		return nil
	}
	out := make([]T, len(a))
	for i, e := range a {
		out[i] = f(e, at+"["+strconv.Itoa(i)+"]")
	}
	return out
}

// elems returns the elements of v, an array; false for null, and, with an error, for
// anything else.
func (d *Decoder) elems(v *Value, at string) ([]*Value, bool) {
	if v.Type() == TypeNull {
		return nil, false
	}
	a, ok := v.Elems()
	if !ok {
		d.Fail(at, "an array", v)
	}
	return a, ok
}

// Map returns the fields of v, an object of strings.
func (d *Decoder) Map(v *Value, at string) map[string]string {
	if v.Type() == TypeNull {
		return nil
	}
	if v.Type() != TypeObject {
		d.Fail(at, "an object", v)
		return nil
	}
	m := make(map[string]string, v.Len())
	v.Members(func(k string, v *Value) { m[k] = d.Str(v, at+"."+k) })
	return m
}

func (d *Decoder) Str(v *Value, at string) string {
	if v.Type() == TypeNull {
		return ""
	}
	str, ok := v.Str()
	if !ok {
		d.Fail(at, "a string", v)
	}
	if d.NoNUL && strings.IndexByte(str, 0) >= 0 {
		d.Failf(at + ": holds a NUL")
	}
	return str
}

// Strs reads an array of strings. The path of an element is only made for its error:
// profiles list hundreds of names.
func (d *Decoder) Strs(v *Value, at string) []string {
	a, ok := d.elems(v, at)
	if !ok {
		return nil
	}
	out := make([]string, len(a))
	for i, e := range a {
		if s, ok := e.Str(); ok && strings.IndexByte(s, 0) < 0 {
			out[i] = s
			continue
		}
		out[i] = d.Str(e, at+"["+strconv.Itoa(i)+"]")
	}
	return out
}

func (d *Decoder) Bool(v *Value, at string) bool {
	switch v.Type() {
	case TypeNull, TypeFalse:
		return false
	case TypeTrue:
		return true
	}
	d.Fail(at, "true or false", v)
	return false
}

func (d *Decoder) Uint64(v *Value, at string) uint64 {
	if v.Type() == TypeNull {
		return 0
	}
	n, err := v.Uint64()
	switch {
	case err == nil:
	case v.Type() != TypeNumber:
		d.Fail(at, "a number", v)
	default:
		d.Failf(at + ": want an integer from 0 to 18446744073709551615, got " + v.String())
	}
	return n
}

func (d *Decoder) Int64(v *Value, at string) int64 {
	if v.Type() == TypeNull {
		return 0
	}
	n, err := v.Int64()
	switch {
	case err == nil:
	case v.Type() != TypeNumber:
		d.Fail(at, "a number", v)
	default:
		d.Failf(at + ": want an integer from -9223372036854775808 to 9223372036854775807, got " + v.String())
	}
	return n
}

// Uint32 reads an integer from 0 to 4294967295.
func (d *Decoder) Uint32(v *Value, at string) uint32 {
	n := d.Uint64(v, at)
	if n > math.MaxUint32 {
		d.Failf(at + ": want an integer from 0 to 4294967295, got " + v.String())
	}
	return uint32(n)
}

func (d *Decoder) Uintp(v *Value, at string) *uint {
	if v.Type() == TypeNull {
		return nil
	}
	n := d.Uint64(v, at)
	if uint64(uint(n)) != n {
		d.Fail(at, "a smaller number", v)
	}
	u := uint(n)
	return &u
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
