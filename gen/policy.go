package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A rule is one line of syscalls.txt: a system call a container may make, on some
// ABIs, maybe only when its arguments pass tests.
type rule struct {
	line   int
	name   string
	arches []string // GOARCHes of the ABIs it applies to; nil means all
	not    bool     // arches lists the ABIs it does not apply to
	compat int      // +1: only as a 64-bit kernel's compat ABI; -1: never as one; 0: both
	conds  []*cond  // all must hold
}

// A cond tests the low 32 bits of one argument. The kernel declares each argument that
// syscalls.txt tests as int or unsigned int and truncates the register to 32 bits, so a
// test on all 64 bits could be passed with high bits set and still reach the kernel as
// the refused value. A cond with a when holds whenever its when does not.
type cond struct {
	arg    uint32
	op     string  // "in", "not in", "mask"
	values []value // "in"/"not in": any of; "mask": one mask that must be clear
	when   *cond   // if ... then: the test that makes this one apply
}

// A value is a valExpr and, for a refused value of a "not in" test, the name of the
// run-time option that lifts its refusal ("AF_PACKET@packet"), or "".
type value struct {
	expr valExpr
	lift string
}

// A valExpr is a value as written: numbers and x/sys constant names joined by "|". It is
// resolved per ABI, because constants such as TIOCSTI differ between GOARCHes.
type valExpr []string

// appliesTo reports whether r applies to the ABI of goarch, used as a compat ABI or
// not.
func (r *rule) appliesTo(goarch string, compat bool) bool {
	if (r.compat > 0 && !compat) || (r.compat < 0 && compat) {
		return false
	}
	if r.arches == nil {
		return true
	}
	return slices.Contains(r.arches, goarch) != r.not
}

// parseError is a problem at a line of an input file, printed as file:line: message.
type parseError struct {
	file string
	line int
	msg  string
}

func (e *parseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg) }

// parseSyscalls reads syscalls.txt. The format is described at the top of that file. It
// checks syntax, order and duplicates; names and constants are checked against x/sys by
// check, which needs the tables.
func parseSyscalls(file string, data []byte) ([]rule, error) {
	var (
		rules []rule
		errs  []error
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 1
	for ; sc.Scan(); n++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		r, err := parseRule(fields)
		if err != nil {
			errs = append(errs, &parseError{file, n, err.Error()})
			continue
		}
		r.line = n
		if len(rules) > 0 {
			prev := rules[len(rules)-1]
			if r.name < prev.name {
				errs = append(errs, &parseError{file, n, fmt.Sprintf("%q out of order: the file is sorted by name and %q comes before it", r.name, prev.name)})
			}
		}
		for _, o := range rules {
			if o.name == r.name && overlap(&o, &r) {
				errs = append(errs, &parseError{file, n, fmt.Sprintf("duplicate syscall %q (also at line %d)", r.name, o.line)})
			}
		}
		rules = append(rules, r)
	}
	// A line longer than the scanner's buffer stops it: the rest of the file would be
	// left out without a word.
	if err := scanError(sc.Err()); err != "" {
		errs = append(errs, &parseError{file, n, err})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rules, nil
}

// scanError describes an error of a bufio.Scanner reading an input file, or returns ""
// for none.
func scanError(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, bufio.ErrTooLong):
		return fmt.Sprintf("line longer than %d bytes", bufio.MaxScanTokenSize)
	}
	return err.Error()
}

func parseRule(f []string) (rule, error) {
	r := rule{name: f[0]}
	if !validName(r.name) {
		return r, fmt.Errorf("bad syscall name %q", r.name)
	}
	f = f[1:]
	if len(f) > 0 && strings.HasPrefix(f[0], "[") {
		end := slices.IndexFunc(f, func(s string) bool { return strings.HasSuffix(s, "]") })
		if end < 0 {
			return r, fmt.Errorf("%s: arch list without closing ]", r.name)
		}
		list := strings.Fields(strings.Trim(strings.Join(f[:end+1], " "), "[]"))
		if len(list) == 0 {
			return r, fmt.Errorf("%s: empty arch list", r.name)
		}
		f = f[end+1:]
		if len(list) == 1 && strings.TrimPrefix(list[0], "!") == "compat" {
			r.compat = 1
			if list[0] == "!compat" {
				r.compat = -1
			}
			list = nil
		}
		for i, a := range list {
			neg := strings.HasPrefix(a, "!")
			if i == 0 {
				r.not = neg
			} else if neg != r.not {
				return r, fmt.Errorf("%s: arch list mixes listed and excluded arches", r.name)
			}
			a = strings.TrimPrefix(a, "!")
			if _, ok := auditArches[a]; !ok {
				return r, fmt.Errorf("%s: unknown GOARCH %q", r.name, a)
			}
			r.arches = append(r.arches, a)
		}
	}
	if len(f) == 0 {
		return r, nil
	}
	for _, part := range strings.Split(strings.Join(f, " "), ";") {
		c, err := parseClause(strings.Fields(part))
		if err != nil {
			return r, fmt.Errorf("%s: %w", r.name, err)
		}
		r.conds = append(r.conds, c)
	}
	return r, nil
}

// parseClause parses one of a rule's conditions: COND, or if COND then COND.
func parseClause(f []string) (*cond, error) {
	if len(f) == 0 || f[0] != "if" {
		return parseCond(f)
	}
	then := slices.Index(f, "then")
	if then < 0 {
		return nil, fmt.Errorf("if without then in %q", strings.Join(f, " "))
	}
	when, err := parseCond(f[1:then])
	if err != nil {
		return nil, err
	}
	if when.lifts() {
		return nil, fmt.Errorf("a lift (@) in the if of %q", strings.Join(f, " "))
	}
	c, err := parseCond(f[then+1:])
	if err != nil {
		return nil, err
	}
	c.when = when
	return c, nil
}

// lifts reports whether c has a value that a run-time option may lift.
func (c *cond) lifts() bool {
	return slices.ContainsFunc(c.values, func(v value) bool { return v.lift != "" })
}

// parseCond parses argN == V | argN != V | argN in V... | argN not in V... | argN & V == 0.
// A value of a "not in" (or "!=") may end in @NAME: an option of that name lifts its
// refusal at run time.
func parseCond(f []string) (*cond, error) {
	if len(f) == 0 {
		return nil, fmt.Errorf("empty condition")
	}
	num, ok := strings.CutPrefix(f[0], "arg")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 0 || n > 5 {
		return nil, fmt.Errorf("condition must start with arg0 ... arg5, not %q", f[0])
	}
	c := &cond{arg: uint32(n)}
	rest := f[1:]
	switch {
	case len(rest) == 2 && rest[0] == "==":
		c.op, rest = "in", rest[1:]
	case len(rest) == 2 && rest[0] == "!=":
		c.op, rest = "not in", rest[1:]
	case len(rest) >= 2 && rest[0] == "in":
		c.op, rest = "in", rest[1:]
	case len(rest) >= 3 && rest[0] == "not" && rest[1] == "in":
		c.op, rest = "not in", rest[2:]
	case len(rest) == 4 && rest[0] == "&" && rest[2] == "==" && rest[3] == "0":
		c.op, rest = "mask", rest[1:2]
	default:
		return nil, fmt.Errorf("bad condition %q (want argN == V, != V, in V..., not in V..., or & V == 0)", strings.Join(f, " "))
	}
	for _, v := range rest {
		text, lift, hasLift := strings.Cut(v, "@")
		if hasLift && (c.op != "not in" || !validLift(lift)) {
			return nil, fmt.Errorf("bad value %q (a lift @name, lowercase, only on a refused value of != or not in)", v)
		}
		e := valExpr(strings.Split(text, "|"))
		for _, term := range e {
			if term == "" || !(isNumber(term) || validConst(term)) {
				return nil, fmt.Errorf("bad value %q", v)
			}
		}
		c.values = append(c.values, value{expr: e, lift: lift})
	}
	return c, nil
}

func validLift(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return s != ""
}

// resolve computes e for a, or says which constant a lacks.
func (e valExpr) resolve(a *abi) (uint32, error) {
	var v uint64
	for _, term := range e {
		if isNumber(term) {
			n, err := strconv.ParseUint(term, 0, 64)
			if err != nil {
				return 0, fmt.Errorf("bad number %q", term)
			}
			v |= n
			continue
		}
		n, ok := a.consts[term]
		if !ok {
			return 0, fmt.Errorf("unknown constant %q on %s", term, a.goarch)
		}
		v |= n
	}
	if v > 0xffffffff {
		return 0, fmt.Errorf("value %s = %#x does not fit in 32 bits", strings.Join(e, "|"), v)
	}
	return uint32(v), nil
}

func overlap(a, b *rule) bool {
	for ga := range auditArches {
		for _, compat := range []bool{false, true} {
			if a.appliesTo(ga, compat) && b.appliesTo(ga, compat) {
				return true
			}
		}
	}
	return false
}

func validName(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

func validConst(s string) bool {
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != "" && !(s[0] >= '0' && s[0] <= '9')
}

func isNumber(s string) bool { return s != "" && s[0] >= '0' && s[0] <= '9' }
