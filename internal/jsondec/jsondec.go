// Package jsondec reads typed fields out of JSON parsed by fastjson, as encoding/json
// would fill a struct, keeping the first error, which names the field by its path
// (syscalls[3].args[0].op). It serves the seccomp profiles and the bundles' config.json.
//
// fastjson rather than encoding/json: the latter adds about 350 KB to the launcher
// (see the README).
package jsondec

import (
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// Parse reads at most max bytes of JSON from r and parses them. A syntax error is cut
// to about 300 bytes: deep nesting repeats itself.
func Parse(r io.Reader, max int) (*fastjson.Value, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > max {
		return nil, errors.New("larger than " + strconv.Itoa(max) + " bytes")
	}
	v, err := fastjson.ParseBytes(data)
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
}

// Fail records that the value at at is not what was wanted.
func (d *Decoder) Fail(at, want string, v *fastjson.Value) {
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
func (d *Decoder) Object(v *fastjson.Value, at, what string, fields []string, f func(key string, v *fastjson.Value, at string)) {
	if v.Type() == fastjson.TypeNull {
		return
	}
	o, err := v.Object()
	if err != nil {
		d.Fail(or(at, what), "an object", v)
		return
	}
	o.Visit(func(k []byte, v *fastjson.Value) {
		key := string(k)
		here := key
		if at != "" {
			here = at + "." + key
		}
		if !slices.Contains(fields, key) {
			i := slices.IndexFunc(fields, func(f string) bool { return strings.EqualFold(f, key) })
			if i < 0 {
				if d.Refused[generic(here)] && !Empty(v) {
					d.Failf(here + ": not supported")
				}
				return
			}
			key = fields[i]
		}
		f(key, v, here)
	})
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
func Empty(v *fastjson.Value) bool {
	switch v.Type() {
	case fastjson.TypeNull, fastjson.TypeFalse:
		return true
	case fastjson.TypeString:
		return len(v.GetStringBytes()) == 0
	case fastjson.TypeNumber:
		return v.GetFloat64() == 0
	case fastjson.TypeArray:
		return len(v.GetArray()) == 0
	case fastjson.TypeObject:
		return v.GetObject().Len() == 0
	}
	return false
}

// List returns the elements of v, an array, as f reads each: nil for null, and an
// empty list for an empty array, as encoding/json does.
func List[T any](d *Decoder, v *fastjson.Value, at string, f func(v *fastjson.Value, at string) T) []T {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	a, err := v.Array()
	if err != nil {
		d.Fail(at, "an array", v)
		return nil
	}
	out := make([]T, len(a))
	for i, e := range a {
		out[i] = f(e, at+"["+strconv.Itoa(i)+"]")
	}
	return out
}

// Map returns the fields of v, an object of strings.
func (d *Decoder) Map(v *fastjson.Value, at string) map[string]string {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	o, err := v.Object()
	if err != nil {
		d.Fail(at, "an object", v)
		return nil
	}
	m := make(map[string]string, o.Len())
	o.Visit(func(k []byte, v *fastjson.Value) { m[string(k)] = d.Str(v, at+"."+string(k)) })
	return m
}

func (d *Decoder) Str(v *fastjson.Value, at string) string {
	if v.Type() == fastjson.TypeNull {
		return ""
	}
	b, err := v.StringBytes()
	if err != nil {
		d.Fail(at, "a string", v)
	}
	return string(b)
}

func (d *Decoder) Strs(v *fastjson.Value, at string) []string { return List(d, v, at, d.Str) }

func (d *Decoder) Bool(v *fastjson.Value, at string) bool {
	switch v.Type() {
	case fastjson.TypeNull, fastjson.TypeFalse:
		return false
	case fastjson.TypeTrue:
		return true
	}
	d.Fail(at, "true or false", v)
	return false
}

func (d *Decoder) Uint64(v *fastjson.Value, at string) uint64 {
	if v.Type() == fastjson.TypeNull {
		return 0
	}
	n, err := v.Uint64()
	switch {
	case err == nil:
	case v.Type() != fastjson.TypeNumber:
		d.Fail(at, "a number", v)
	default:
		d.Failf(at + ": want an integer from 0 to 18446744073709551615, got " + v.String())
	}
	return n
}

func (d *Decoder) Int64(v *fastjson.Value, at string) int64 {
	if v.Type() == fastjson.TypeNull {
		return 0
	}
	n, err := v.Int64()
	switch {
	case err == nil:
	case v.Type() != fastjson.TypeNumber:
		d.Fail(at, "a number", v)
	default:
		d.Failf(at + ": want an integer from -9223372036854775808 to 9223372036854775807, got " + v.String())
	}
	return n
}

// Uint32 reads an integer from 0 to 4294967295.
func (d *Decoder) Uint32(v *fastjson.Value, at string) uint32 {
	n := d.Uint64(v, at)
	if n > math.MaxUint32 {
		d.Failf(at + ": want an integer from 0 to 4294967295, got " + v.String())
	}
	return uint32(n)
}

func (d *Decoder) Uintp(v *fastjson.Value, at string) *uint {
	if v.Type() == fastjson.TypeNull {
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
