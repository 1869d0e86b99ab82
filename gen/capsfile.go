package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// A capability as caps.txt names it: without the CAP_ prefix.
type capability struct {
	name string
	num  uint64
}

// parseCaps reads caps.txt: one capability name per line without CAP_, sorted, each
// with a # note. Names are checked against x/sys's CAP_* constants in consts.
func parseCaps(file string, data []byte, consts map[string]uint64) ([]capability, error) {
	var (
		caps []capability
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
			errs = append(errs, &parseError{file, n, fmt.Sprintf("want one capability name per line, got %q", strings.Join(fields, " "))})
			continue
		}
		name := strings.TrimPrefix(fields[0], "CAP_")
		num, ok := consts["CAP_"+name]
		if !ok || name == "LAST_CAP" {
			errs = append(errs, &parseError{file, n, fmt.Sprintf("unknown capability %q", fields[0])})
			continue
		}
		if first, dup := seen[name]; dup {
			errs = append(errs, &parseError{file, n, fmt.Sprintf("duplicate capability %q (also at line %d)", name, first)})
			continue
		}
		if len(caps) > 0 && name < caps[len(caps)-1].name {
			errs = append(errs, &parseError{file, n, fmt.Sprintf("%q out of order: the file is sorted and %q comes before it", name, caps[len(caps)-1].name)})
		}
		seen[name] = n
		caps = append(caps, capability{name, num})
	}
	if err := scanError(sc.Err()); err != "" {
		errs = append(errs, &parseError{file, n, err})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return caps, nil
}

// allCaps returns every capability x/sys knows, by number.
func allCaps(consts map[string]uint64) []capability {
	var out []capability
	for name, v := range consts {
		if c, ok := strings.CutPrefix(name, "CAP_"); ok && c != "LAST_CAP" {
			out = append(out, capability{c, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].num < out[j].num })
	return out
}
