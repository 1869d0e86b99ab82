package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Syscalls is a parsed syscalls.txt: the system calls a container may make.
type Syscalls struct {
	File  string // the name diagnostics give, as File:line: message
	Rules []Rule // in the file's order, which is sorted by name
}

// A Rule is one line of syscalls.txt: a system call a container may make, on some ABIs,
// maybe only when its arguments pass tests.
type Rule struct {
	Line   int
	Name   string
	Arches []string // GOARCHes of the ABIs it applies to; nil means all
	Not    bool     // Arches lists the ABIs it does not apply to
	Compat int      // +1: only as a 64-bit kernel's compat ABI; -1: never as one; 0: both
	Tests  []*Test  // all must hold
}

// A Test is a condition of a Rule as written: it tests the low 32 bits of one argument.
// The kernel declares each argument that syscalls.txt tests as int or unsigned int and
// truncates the register to 32 bits, so a test on all 64 bits could be passed with high
// bits set and still reach the kernel as the refused value. A Test with a When holds
// whenever its When does not.
type Test struct {
	Arg    uint8
	Op     Op      // In, NotIn, or MaskedEQ ("& V == 0": one mask that must be clear)
	Values []Value // In, NotIn: any of; MaskedEQ: the mask
	When   *Test   // if ... then: the test that makes this one apply
}

// A Value is an Expr and, for a refused value of a NotIn test, the name of the run-time
// option that lifts its refusal ("AF_PACKET@packet"), or "".
type Value struct {
	Expr Expr
	Lift string
}

// An Expr is a value as written: numbers and x/sys constant names joined by "|". It is
// resolved per ABI, because constants such as TIOCSTI differ between GOARCHes.
type Expr []string

// AppliesTo reports whether r applies to the ABI of goarch, used as a compat ABI or not.
func (r *Rule) AppliesTo(goarch string, compat bool) bool {
	if (r.Compat > 0 && !compat) || (r.Compat < 0 && compat) {
		return false
	}
	if r.Arches == nil {
		return true
	}
	return slices.Contains(r.Arches, goarch) != r.Not
}

// lineError is a problem at a line of an input file, printed as file:line: message.
type lineError struct {
	file string
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg) }

// ParseSyscalls reads syscalls.txt; file names it in diagnostics. The format is described
// at the top of that file. It checks syntax, order and duplicates, and reports every
// problem as file:line: message; names and constants are checked against an arch's
// tables by CheckNames and Table.
func ParseSyscalls(file string, data []byte) (*Syscalls, error) {
	var (
		rules []Rule
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
			errs = append(errs, &lineError{file, n, err.Error()})
			continue
		}
		r.Line = n
		if len(rules) > 0 {
			prev := rules[len(rules)-1]
			if r.Name < prev.Name {
				errs = append(errs, &lineError{file, n, fmt.Sprintf("%q out of order: the file is sorted by name and %q comes before it", r.Name, prev.Name)})
			}
		}
		for _, o := range rules {
			if o.Name == r.Name && overlap(&o, &r) {
				errs = append(errs, &lineError{file, n, fmt.Sprintf("duplicate syscall %q (also at line %d)", r.Name, o.Line)})
			}
		}
		rules = append(rules, r)
	}
	// A line longer than the scanner's buffer stops it: the rest of the file would be
	// left out without a word.
	if err := scanError(sc.Err()); err != "" {
		errs = append(errs, &lineError{file, n, err})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Syscalls{File: file, Rules: rules}, nil
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

func parseRule(f []string) (Rule, error) {
	r := Rule{Name: f[0]}
	if !validName(r.Name) {
		return r, fmt.Errorf("bad syscall name %q", r.Name)
	}
	f = f[1:]
	if len(f) > 0 && strings.HasPrefix(f[0], "[") {
		end := slices.IndexFunc(f, func(s string) bool { return strings.HasSuffix(s, "]") })
		if end < 0 {
			return r, fmt.Errorf("%s: arch list without closing ]", r.Name)
		}
		list := strings.Fields(strings.Trim(strings.Join(f[:end+1], " "), "[]"))
		if len(list) == 0 {
			return r, fmt.Errorf("%s: empty arch list", r.Name)
		}
		f = f[end+1:]
		if len(list) == 1 && strings.TrimPrefix(list[0], "!") == "compat" {
			r.Compat = 1
			if list[0] == "!compat" {
				r.Compat = -1
			}
			list = nil
		}
		for i, a := range list {
			neg := strings.HasPrefix(a, "!")
			if i == 0 {
				r.Not = neg
			} else if neg != r.Not {
				return r, fmt.Errorf("%s: arch list mixes listed and excluded arches", r.Name)
			}
			a = strings.TrimPrefix(a, "!")
			if _, ok := LookupArch(a); !ok {
				return r, fmt.Errorf("%s: unknown GOARCH %q", r.Name, a)
			}
			r.Arches = append(r.Arches, a)
		}
	}
	if len(f) == 0 {
		return r, nil
	}
	for _, part := range strings.Split(strings.Join(f, " "), ";") {
		t, err := parseClause(strings.Fields(part))
		if err != nil {
			return r, fmt.Errorf("%s: %w", r.Name, err)
		}
		r.Tests = append(r.Tests, t)
	}
	return r, nil
}

// parseClause parses one of a rule's conditions: TEST, or if TEST then TEST.
func parseClause(f []string) (*Test, error) {
	if len(f) == 0 || f[0] != "if" {
		return parseTest(f)
	}
	then := slices.Index(f, "then")
	if then < 0 {
		return nil, fmt.Errorf("if without then in %q", strings.Join(f, " "))
	}
	when, err := parseTest(f[1:then])
	if err != nil {
		return nil, err
	}
	if when.Lifts() {
		return nil, fmt.Errorf("a lift (@) in the if of %q", strings.Join(f, " "))
	}
	t, err := parseTest(f[then+1:])
	if err != nil {
		return nil, err
	}
	t.When = when
	return t, nil
}

// Lifts reports whether t has a value that a run-time option may lift.
func (t *Test) Lifts() bool {
	return slices.ContainsFunc(t.Values, func(v Value) bool { return v.Lift != "" })
}

// parseTest parses argN == V | argN != V | argN in V... | argN not in V... | argN & V == 0.
// A value of a "not in" (or "!=") may end in @NAME: an option of that name lifts its
// refusal at run time.
func parseTest(f []string) (*Test, error) {
	if len(f) == 0 {
		return nil, fmt.Errorf("empty condition")
	}
	num, ok := strings.CutPrefix(f[0], "arg")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 0 || n > 5 {
		return nil, fmt.Errorf("condition must start with arg0 ... arg5, not %q", f[0])
	}
	t := &Test{Arg: uint8(n)}
	rest := f[1:]
	switch {
	case len(rest) == 2 && rest[0] == "==":
		t.Op, rest = In, rest[1:]
	case len(rest) == 2 && rest[0] == "!=":
		t.Op, rest = NotIn, rest[1:]
	case len(rest) >= 2 && rest[0] == "in":
		t.Op, rest = In, rest[1:]
	case len(rest) >= 3 && rest[0] == "not" && rest[1] == "in":
		t.Op, rest = NotIn, rest[2:]
	case len(rest) == 4 && rest[0] == "&" && rest[2] == "==" && rest[3] == "0":
		t.Op, rest = MaskedEQ, rest[1:2]
	default:
		return nil, fmt.Errorf("bad condition %q (want argN == V, != V, in V..., not in V..., or & V == 0)", strings.Join(f, " "))
	}
	for _, v := range rest {
		text, lift, hasLift := strings.Cut(v, "@")
		if hasLift && (t.Op != NotIn || !validLift(lift)) {
			return nil, fmt.Errorf("bad value %q (a lift @name, lowercase, only on a refused value of != or not in)", v)
		}
		e := Expr(strings.Split(text, "|"))
		for _, term := range e {
			if term == "" || !(isNumber(term) || validConst(term)) {
				return nil, fmt.Errorf("bad value %q", v)
			}
		}
		t.Values = append(t.Values, Value{Expr: e, Lift: lift})
	}
	return t, nil
}

// value computes e for a, or says which constant a lacks. syscalls.txt tests 32-bit
// arguments, so a value must fit in 32 bits.
func (e Expr) value(a *ABI) (uint32, error) {
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
		n, ok := a.Consts[term]
		if !ok {
			return 0, fmt.Errorf("unknown constant %q on %s", term, a.Name)
		}
		v |= n
	}
	if v > 0xffffffff {
		return 0, fmt.Errorf("value %s = %#x does not fit in 32 bits", strings.Join(e, "|"), v)
	}
	return uint32(v), nil
}

// resolve returns t as a Cond for a. The errors name r's line.
func (s *Syscalls) resolve(r *Rule, t *Test, a *ABI) (Cond, []error) {
	c := Cond{Arg: t.Arg, Op: t.Op}
	var errs []error
	for _, v := range t.Values {
		n, err := v.Expr.value(a)
		if err != nil {
			errs = append(errs, &lineError{s.File, r.Line, fmt.Sprintf("%s: %v", r.Name, err)})
		}
		c.Values = append(c.Values, uint64(n))
		c.Lifts = append(c.Lifts, v.Lift)
	}
	if t.Op == MaskedEQ {
		// & V == 0: the bits of V must be clear.
		c.Values, c.Lifts = append(c.Values, 0), nil
	} else if !t.Lifts() {
		c.Lifts = nil
	}
	if t.When != nil {
		w, werrs := s.resolve(r, t.When, a)
		c.When, errs = &w, append(errs, werrs...)
	}
	return c, errs
}

// CheckNames reports the first rule whose name is a typo rather than an arch
// difference: known on none of abis, or on none of the ABIs its line selects.
func (s *Syscalls) CheckNames(abis map[string]*ABI) error {
	for _, r := range s.Rules {
		found, anywhere := false, false
		for _, a := range abis {
			if _, ok := a.Nr[r.Name]; ok {
				anywhere = true
				found = found || r.AppliesTo(a.Name, false) || r.AppliesTo(a.Name, true)
			}
		}
		switch {
		case !anywhere:
			return &lineError{s.File, r.Line, fmt.Sprintf("unknown syscall %q", r.Name)}
		case !found:
			return &lineError{s.File, r.Line, fmt.Sprintf("syscall %q exists on none of the arches its line selects", r.Name)}
		}
	}
	return nil
}

// Calls returns what the rules give the calls of a, as a compat ABI or not: Allow for
// a call listed without conditions, and for one with conditions a Check that allows it
// when they hold, EPERM otherwise. It also returns the names that a lacks, and reports
// unknown constants as file:line errors.
func (s *Syscalls) Calls(a *ABI, compat bool) (calls []Call, skipped []string, err error) {
	var errs []error
	for i := range s.Rules {
		r := &s.Rules[i]
		if !r.AppliesTo(a.Name, compat) {
			continue
		}
		if _, ok := a.Nr[r.Name]; !ok {
			skipped = append(skipped, r.Name)
			continue
		}
		if len(r.Tests) == 0 {
			calls = append(calls, Call{Name: r.Name, Action: Allow})
			continue
		}
		var conds []Cond
		for _, t := range r.Tests {
			c, cerrs := s.resolve(r, t, a)
			errs = append(errs, cerrs...)
			conds = append(conds, c)
		}
		calls = append(calls, Call{Name: r.Name, Action: Errno(a.errno("EPERM", unix.EPERM)), Checks: []Check{{Conds: conds, Action: Allow}}})
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return calls, skipped, nil
}

// Table is what the launcher's filter does on a, as a compat ABI or not: the Calls of
// the rules; clone3, unless listed, ENOSYS, so that glibc 2.34 and later fall back to
// clone, whose flags the filter can see (clone3 passes them in memory, out of a filter's
// reach; moby#42680); any other call of a's table EPERM; and any number past the table,
// a call newer than it, ENOSYS, the answer of a kernel that lacks the call, so programs
// take their fallback path (runc#2151). On amd64 the last also covers the x32 ABI,
// whose numbers have bit 30 set.
func (s *Syscalls) Table(a *ABI, compat bool) (Table, []string, error) {
	calls, skipped, err := s.Calls(a, compat)
	if err != nil {
		return Table{}, nil, err
	}
	_, has := a.Nr["clone3"]
	if has && !slices.ContainsFunc(calls, func(c Call) bool { return c.Name == "clone3" }) {
		calls = append(calls, Call{Name: "clone3", Action: Errno(a.errno("ENOSYS", unix.ENOSYS))})
	}
	return Table{ABI: a, Calls: calls, Default: Errno(a.errno("EPERM", unix.EPERM)), Newer: Errno(a.errno("ENOSYS", unix.ENOSYS))}, skipped, nil
}

func overlap(a, b *Rule) bool {
	for _, arch := range Arches {
		for _, compat := range []bool{false, true} {
			if a.AppliesTo(arch.GOARCH, compat) && b.AppliesTo(arch.GOARCH, compat) {
				return true
			}
		}
	}
	return false
}

// validName reports whether s may name a system call: lowercase letters, digits and _.
func validName(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

// validLift reports whether s may name a lift: lowercase letters, digits and -.
func validLift(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return s != ""
}

// validConst reports whether s may name a constant: uppercase letters, digits and _,
// not starting with a digit.
func validConst(s string) bool {
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != "" && !(s[0] >= '0' && s[0] <= '9')
}

// isNumber reports whether a term of an Expr is a number rather than a constant.
func isNumber(s string) bool { return s != "" && s[0] >= '0' && s[0] <= '9' }
