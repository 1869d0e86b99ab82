package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Offsets in struct seccomp_data (linux/seccomp.h): int nr; __u32 arch; __u64
// instruction_pointer; __u64 args[6].
const (
	offNr   = 0
	offArch = 4
)

// Return values of the filter (linux/seccomp.h).
var (
	retAllow  = seccomp.ActionAllow
	retEPERM  = seccomp.Action(uint32(seccomp.ActionErrno) | uint32(unix.EPERM))
	retENOSYS = seccomp.Action(uint32(seccomp.ActionErrno) | uint32(unix.ENOSYS))
	retKill   = seccomp.ActionKillProcess
)

// An entry is a rule resolved for one ABI.
type entry struct {
	nr    uint32
	name  string
	rule  *rule
	conds []*rcond
}

// An rcond is a cond resolved for one ABI.
type rcond struct {
	c     *cond
	vals  []uint32
	lifts []string // per value: the option that lifts its refusal, or ""
	when  *rcond
}

// resolveCond resolves c for a.
func resolveCond(file string, r *rule, c *cond, a *abi) (*rcond, []error) {
	rc := &rcond{c: c}
	var errs []error
	for _, v := range c.values {
		n, err := v.expr.resolve(a)
		if err != nil {
			errs = append(errs, &parseError{file, r.line, fmt.Sprintf("%s: %v", r.name, err)})
		}
		rc.vals = append(rc.vals, n)
		rc.lifts = append(rc.lifts, v.lift)
	}
	if c.when != nil {
		w, werrs := resolveCond(file, r, c.when, a)
		rc.when, errs = w, append(errs, werrs...)
	}
	return rc, errs
}

// A segment is a run of system-call numbers [lo, next segment's lo) that share one
// outcome: a return value, or (for one number) an argument test.
type segment struct {
	lo  uint32
	ret seccomp.Action
	e   *entry // non-nil: the argument test of e decides
}

// resolve returns the entries of rules for a, as a compat ABI or not, and the names
// that a lacks. It is also where unknown constants are reported.
func resolve(file string, rules []rule, a *abi, compat bool) (entries []entry, skipped []string, err error) {
	var errs []error
	for i := range rules {
		r := &rules[i]
		if !r.appliesTo(a.goarch, compat) {
			continue
		}
		nr, ok := a.nr[r.name]
		if !ok {
			skipped = append(skipped, r.name)
			continue
		}
		e := entry{nr: nr, name: r.name, rule: r}
		for _, c := range r.conds {
			rc, cerrs := resolveCond(file, r, c, a)
			errs = append(errs, cerrs...)
			e.conds = append(e.conds, rc)
		}
		entries = append(entries, e)
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return entries, skipped, nil
}

// segments lays out the whole 32-bit number space of a:
//   - a listed call: allowed, or decided by its argument test;
//   - clone3: ENOSYS, so that glibc 2.34 and later fall back to clone, whose flags
//     the filter can see (clone3 passes them in memory, out of a filter's reach);
//   - any other number up to the highest in a's table: EPERM;
//   - anything higher, a call newer than this table: ENOSYS, the answer of a kernel
//     that lacks it, so programs take their fallback path. On amd64 this also covers
//     the x32 ABI, whose numbers have bit 30 set.
//
// ARM's private calls are the exception above the table: they get their own
// numbers, ENOSYS only starting past the highest of them.
func segments(a *abi, entries []entry) []segment {
	explicit := make(map[uint32]segment)
	for i := range entries {
		e := &entries[i]
		if len(e.conds) > 0 {
			explicit[e.nr] = segment{lo: e.nr, e: e}
		} else {
			explicit[e.nr] = segment{lo: e.nr, ret: retAllow}
		}
	}
	if nr, ok := a.nr["clone3"]; ok {
		if _, listed := explicit[nr]; !listed {
			explicit[nr] = segment{lo: nr, ret: retENOSYS}
		}
	}
	for _, nr := range a.nr {
		if _, listed := explicit[nr]; !listed && nr > a.maxNr {
			explicit[nr] = segment{lo: nr, ret: retEPERM}
		}
	}
	base := func(n uint32) seccomp.Action {
		if n <= a.maxNr {
			return retEPERM
		}
		return retENOSYS
	}
	points := []uint32{0, a.maxNr + 1}
	for nr := range explicit {
		points = append(points, nr)
		if nr != 0xffffffff {
			points = append(points, nr+1)
		}
	}
	sort.Slice(points, func(i, j int) bool { return points[i] < points[j] })
	points = slices.Compact(points)

	var out []segment
	for _, p := range points {
		s, ok := explicit[p]
		if !ok {
			s = segment{lo: p, ret: base(p)}
		}
		if n := len(out); n > 0 && s.e == nil && out[n-1].e == nil && out[n-1].ret == s.ret {
			continue // same outcome as the run before: extend it
		}
		out = append(out, s)
	}
	return out
}

// hostBigEndian is the byte order of the machine running gen.
var hostBigEndian = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

// loadLow emits a load of the low 32 bits of argument n. go-seccomp-bpf places the
// halves of an argument by the byte order of the machine it runs on, which is the
// generator's and not the target's; where the two differ, its high half is the
// target's low half.
func loadLow(p *seccomp.Program, n uint32, targetBig bool) {
	if targetBig == hostBigEndian {
		p.LdLo(n)
	} else {
		p.LdHi(n)
	}
}

// placeholders stand for the values of refusals that an option may lift while a tree
// is assembled: go-seccomp-bpf inserts instructions for long jumps, so where a test ends
// up is only known afterwards, found by its unique placeholder value.
type placeholders struct {
	next uint32
	vals map[uint32]placeheld
	real map[uint32]bool // the values tested for real, which no placeholder may be
}

type placeheld struct {
	lift string
	val  uint32
}

// placeholderBase is the first placeholder: far above any value syscalls.txt tests.
const placeholderBase = 0xfffff000

func (ph *placeholders) add(lift string, v uint32) uint32 {
	if ph.vals == nil {
		ph.vals, ph.next = make(map[uint32]placeheld), placeholderBase
	}
	k := ph.next
	ph.next++
	ph.vals[k] = placeheld{lift, v}
	return k
}

// tree assembles a binary search over segs (seccomp_data.nr already in A). Each inner
// node is one jge; a path runs through about log2(len(segs)) of them, where a linear
// list of comparisons would run through up to one per allowed call. Kernels before 5.11
// have no seccomp action cache and run this program on every system call. It also
// returns, for each lift, the indices of its tests in the tree.
func tree(segs []segment, big bool) ([]bpf.Instruction, map[string][]int, error) {
	p := seccomp.NewProgram()
	var ph placeholders
	var emit func(segs []segment)
	emit = func(segs []segment) {
		if len(segs) == 1 {
			leaf(&p, segs[0], big, &ph)
			return
		}
		mid := len(segs) / 2
		left, right := p.NewLabel(), p.NewLabel()
		p.JmpIf(bpf.JumpGreaterOrEqual, segs[mid].lo, right, left)
		p.SetLabel(left)
		emit(segs[:mid])
		p.SetLabel(right)
		emit(segs[mid:])
	}
	emit(segs)
	insns, err := p.Assemble()
	if err != nil {
		return nil, nil, err
	}
	for v := range ph.real {
		if _, ok := ph.vals[v]; ok {
			return nil, nil, fmt.Errorf("value %#x is tested, and also a placeholder", v)
		}
	}
	lifts := make(map[string][]int)
	for i, in := range insns {
		j, ok := in.(bpf.JumpIf)
		if !ok {
			continue
		}
		held, ok := ph.vals[j.Val]
		if !ok {
			continue
		}
		j.Val = held.val
		insns[i] = j
		lifts[held.lift] = append(lifts[held.lift], i)
	}
	return insns, lifts, nil
}

// leaf returns the outcome of s, testing the arguments where s has tests: every one
// must hold, or the call fails with EPERM.
func leaf(p *seccomp.Program, s segment, big bool, ph *placeholders) {
	if s.e == nil {
		p.Ret(s.ret)
		return
	}
	deny := p.NewLabel()
	for _, rc := range s.e.conds {
		next := p.NewLabel()
		if rc.when != nil {
			applies := p.NewLabel()
			test(p, rc.when, applies, next, big, nil)
			p.SetLabel(applies)
		}
		test(p, rc, next, deny, big, ph)
		p.SetLabel(next)
	}
	p.Ret(retAllow)
	p.SetLabel(deny)
	p.Ret(retEPERM)
}

// test emits rc's test of its argument, going to pass if it holds and to fail if not.
// A value that an option may lift is tested against a placeholder (see tree).
func test(p *seccomp.Program, rc *rcond, pass, fail seccomp.Label, big bool, ph *placeholders) {
	loadLow(p, rc.c.arg, big)
	switch rc.c.op {
	case "in", "not in":
		match, miss := pass, fail
		if rc.c.op == "not in" {
			match, miss = fail, pass
		}
		for i, v := range rc.vals {
			if rc.lifts[i] != "" {
				v = ph.add(rc.lifts[i], v)
			} else if ph != nil {
				if ph.real == nil {
					ph.real = make(map[uint32]bool)
				}
				ph.real[v] = true
			}
			if i < len(rc.vals)-1 {
				p.JmpIfTrue(bpf.JumpEqual, v, match)
			} else {
				p.JmpIf(bpf.JumpEqual, v, match, miss)
			}
		}
	case "mask":
		p.JmpIf(bpf.JumpBitsSet, rc.vals[0], fail, pass)
	}
}

// program assembles the filter of one target: the arch check, then one search tree per
// ABI the target accepts, the native one first. Any other audit arch kills the process:
// its numbers mean other calls, and no tree here describes them. It also returns where
// each ABI's tree starts.
func program(native *abi, compat []*abi, trees map[string][]bpf.Instruction) ([]bpf.Instruction, map[string]int) {
	// Layout:
	//	ld [arch]
	//	jeq native, +k        ; k skips the compat checks and the kill
	//	jeq compat1, 0, 1
	//	ja  block(compat1)
	//	...
	//	ret KILL_PROCESS
	//	block(native): ld [nr]; tree
	//	block(compat1): ld [nr]; tree
	head := 2 + 2*len(compat) + 1
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: native.auditArch, SkipTrue: uint8(2*len(compat) + 1)},
	}
	blockStart := head + 1 + len(trees[native.goarch]) // first compat block
	for _, c := range compat {
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: c.auditArch, SkipFalse: 1},
			bpf.Jump{Skip: uint32(blockStart - (len(prog) + 2))},
		)
		blockStart += 1 + len(trees[c.goarch])
	}
	prog = append(prog, bpf.RetConstant{Val: uint32(retKill)})
	starts := make(map[string]int)
	for _, a := range append([]*abi{native}, compat...) {
		prog = append(prog, bpf.LoadAbsolute{Off: offNr, Size: 4})
		starts[a.goarch] = len(prog)
		prog = append(prog, trees[a.goarch]...)
	}
	return prog, starts
}
