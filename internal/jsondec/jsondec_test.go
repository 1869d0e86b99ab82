package jsondec

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// toAny turns v into what encoding/json's Unmarshal into an any gives (with
// UseNumber): a key given twice is the last one.
func toAny(v *Value) any {
	switch v.Type() {
	case TypeObject:
		m := map[string]any{}
		v.Members(func(k string, v *Value) { m[k] = toAny(v) })
		return m
	case TypeArray:
		out := []any{}
		for _, e := range v.kids {
			out = append(out, toAny(e))
		}
		return out
	case TypeString:
		return v.str
	case TypeNumber:
		return json.Number(v.raw)
	case TypeTrue:
		return true
	case TypeFalse:
		return false
	}
	return nil
}

// depth is how deeply s's arrays and objects nest, counting brackets outside strings.
func depth(s string) int {
	d, most, in, esc := 0, 0, false, false
	for _, c := range []byte(s) {
		switch {
		case esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case in:
		case c == '[' || c == '{':
			d++
			most = max(most, d)
		case c == ']' || c == '}':
			d--
		}
	}
	return most
}

// check holds ParseString to encoding/json on s: the same documents accepted (but
// those nested past MaxDepth), the same values read, and Raw the value's text.
func check(t *testing.T, s string) {
	t.Helper()
	v, err := ParseString(s)
	valid := json.Valid([]byte(s))
	if err != nil {
		if valid && depth(s) <= MaxDepth {
			t.Fatalf("ParseString(%q): %v; encoding/json takes it", s, err)
		}
		if strings.Contains(err.Error(), "\n") && !strings.Contains(s, "\n") {
			t.Fatalf("ParseString(%q): error of more than one line: %q", s, err)
		}
		return
	}
	if !valid {
		t.Fatalf("ParseString(%q) took what encoding/json refuses", s)
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var want any
	if err := d.Decode(&want); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	if got := toAny(v); !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseString(%q) = %#v, encoding/json reads %#v", s, got, want)
	}
	if strings.TrimSpace(s) != v.Raw() {
		t.Fatalf("Raw of %q = %q", s, v.Raw())
	}
}

func TestParseLikeEncodingJSON(t *testing.T) {
	for _, s := range []string{
		`null`, `true`, `false`, `0`, `-0`, `1.5e-3`, `-12E+4`, `"a"`, `[]`, `{}`, ` [ 1 , "x" , {} ] `,
		`{"a":1,"a":2}`, `{"a":{"b":[null,true]}}`, `"\u00e9\n\t\"\\\/"`, `"\ud83d\ude00"`, `"\ud83d"`,
		`"\ud83dx"`, `"\ude00\ud83d"`, `"\ud83d\u0041"`, "\"\xff\xfe\"", "\"caf\xc3\xa9\"", "\"\xe2\x82\"",
		`01`, `1.`, `.5`, `-`, `+1`, `1e`, `0x1`, `NaN`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{1:2}`, `[1 2]`,
		`"\x"`, `"\u12"`, `"\u12g4"`, "\"a\x01\"", `"abc`, `[`, `{`, `{"a":`, `tru`, `nul`, `true false`,
		"\"\u2028\"", strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
		strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), `[` + strings.Repeat(`"a,",`, 5000) + `1]`,
	} {
		check(t, s)
	}
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	if _, err := ParseString(deep); err == nil || !strings.Contains(err.Error(), "nested deeper than 300") {
		t.Errorf("%d arrays in each other: %v, want an error", MaxDepth+1, err)
	}
}

// TestParseMaxValues: a document of more values than MaxValues is refused, at a
// bounded cost, whatever its size; one of MaxValues is read.
func TestParseMaxValues(t *testing.T) {
	many := func(n int) string { return "[" + strings.Repeat("0,", n-2) + "0]" }
	if v, err := ParseString(many(MaxValues)); err != nil || v.Len() != MaxValues-1 {
		t.Errorf("%d values: %v", MaxValues, err)
	}
	if _, err := ParseString(many(MaxValues + 1)); err == nil || !strings.Contains(err.Error(), "more than 131072 values") {
		t.Errorf("%d values: %v, want an error", MaxValues+1, err)
	}
	if _, err := ParseString(`{"a":` + many(4<<20/2) + `}`); err == nil || !strings.Contains(err.Error(), "more than 131072 values") {
		t.Errorf("4 MiB of values: %v, want an error", err)
	}
}

// TestParseProfile: podman's seccomp profile (containers-common, which CI installs
// with podman) reads as encoding/json reads it.
func TestParseProfile(t *testing.T) {
	b, err := os.ReadFile("/usr/share/containers/seccomp.json")
	if err != nil {
		t.Skip(err)
	}
	check(t, string(b))
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a":[1,"b",{"c":null}],"d":true}`, `"\ud83d\ude00"`, "\"\xff\"", `[1e5,-0.5]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if depth(s) > MaxDepth+5 {
			return // encoding/json's own limit is far away; both refuse, for other reasons
		}
		check(t, s)
	})
}

// TestObject: what Object writes, encoding/json reads back as written, whatever bytes
// the strings hold.
func TestObject(t *testing.T) {
	strs := []string{"", "a", "é", "\"\\", "\x00\x1f\n\r\t", "\xff", "<&>", "\u2028", "a\xc3"}
	for _, s := range strs {
		var o Object
		o.String(s, s)
		o.Int("i", -3)
		o.Uint("u", 1<<63)
		o.Strings("l", strs)
		o.Uints("n", []uint64{0, 7})
		o.Map("m", map[string]string{"z": s, "a": "b"})
		o.Raw("r", ` {"x": [1]} `)
		b := o.Bytes()
		var got map[string]any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&got); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		var l []any
		for _, x := range strs {
			l = append(l, fixRunes(x))
		}
		want := map[string]any{fixRunes(s): fixRunes(s), "i": json.Number("-3"), "u": json.Number("9223372036854775808"),
			"l": l, "n": []any{json.Number("0"), json.Number("7")}, "m": map[string]any{"z": fixRunes(s), "a": "b"},
			"r": map[string]any{"x": []any{json.Number("1")}}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: read back %#v, want %#v", b, got, want)
		}
		if v, err := ParseString(string(b)); err != nil || !reflect.DeepEqual(toAny(v), any(want)) {
			t.Errorf("%q: ParseString: %v, %v", b, err, v)
		}
	}
	if b := (&Object{}).Bytes(); string(b) != "{}" {
		t.Errorf("empty Object = %s", b)
	}
}

// fixRunes is s with each byte that is not UTF-8 made U+FFFD, as encoding/json reads it.
func fixRunes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

// TestParseReader: Parse reads a file whole, refuses one past max, and cuts long
// messages.
func TestParseReader(t *testing.T) {
	p := t.TempDir() + "/x.json"
	os.WriteFile(p, []byte(`{"a": "`+strings.Repeat("b", 5000)+`"}`), 0o600)
	f, _ := os.Open(p)
	defer f.Close()
	v, err := Parse(f, 6000)
	if err != nil || v.Len() != 1 {
		t.Fatalf("Parse = %v, %v", v, err)
	}
	f.Seek(0, 0)
	if _, err := Parse(f, 4000); err == nil || !strings.Contains(err.Error(), "larger than 4000 bytes") {
		t.Errorf("Parse past max: %v", err)
	}
	if _, err := Parse(strings.NewReader(`{"a": [`+strings.Repeat("1,", 400)+`x]}`), 6000); err == nil || len(err.Error()) > 310 {
		t.Errorf("Parse of a bad document: %v", err)
	}
}
