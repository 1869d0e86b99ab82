package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// A Capability as caps.txt names it: without the CAP_ prefix, and its number.
type Capability struct {
	Name string
	Num  uint64
}

// ParseCaps reads caps.txt: one capability name per line without CAP_, sorted, each
// with a # note; file names it in diagnostics. Names are checked against the CAP_*
// constants in consts (x/sys's).
func ParseCaps(file string, data []byte, consts map[string]uint64) ([]Capability, error) {
	var (
		caps []Capability
		errs []error
		seen = make(map[string]int)
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 1
	for ; sc.Scan(); n++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		switch {
		case len(fields) == 0:
			continue
		case len(fields) > 1:
			errs = append(errs, &lineError{file, n, fmt.Sprintf("want one capability name per line, got %q", strings.Join(fields, " "))})
			continue
		}
		name := strings.TrimPrefix(fields[0], "CAP_")
		num, ok := consts["CAP_"+name]
		if !ok || name == "LAST_CAP" {
			errs = append(errs, &lineError{file, n, fmt.Sprintf("unknown capability %q", fields[0])})
			continue
		}
		if first, dup := seen[name]; dup {
			errs = append(errs, &lineError{file, n, fmt.Sprintf("duplicate capability %q (also at line %d)", name, first)})
			continue
		}
		if len(caps) > 0 && name < caps[len(caps)-1].Name {
			errs = append(errs, &lineError{file, n, fmt.Sprintf("%q out of order: the file is sorted and %q comes before it", name, caps[len(caps)-1].Name)})
		}
		seen[name] = n
		caps = append(caps, Capability{name, num})
	}
	if err := scanError(sc.Err()); err != "" {
		errs = append(errs, &lineError{file, n, err})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return caps, nil
}

// AllCaps returns every capability that consts (x/sys's constants) defines, by number.
func AllCaps(consts map[string]uint64) []Capability {
	var out []Capability
	for name, v := range consts {
		if c, ok := strings.CutPrefix(name, "CAP_"); ok && c != "LAST_CAP" {
			out = append(out, Capability{c, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Num < out[j].Num })
	return out
}
