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
	nr   uint32
	name string
	rule *rule
	vals []uint32 // cond values, resolved
}

// A segment is a run of system-call numbers [lo, next segment's lo) that share one
// outcome: a return value, or (for one number) an argument test.
type segment struct {
	lo  uint32
	ret seccomp.Action
	e   *entry // non-nil: the argument test of e decides
}

// resolve returns the entries of rules for a, and the names that a lacks. It is also
// where unknown constants are reported.
func resolve(file string, rules []rule, a *abi) (entries []entry, skipped []string, err error) {
	var errs []error
	for i := range rules {
		r := &rules[i]
		if !r.appliesTo(a.goarch) {
			continue
		}
		nr, ok := a.nr[r.name]
		if !ok {
			skipped = append(skipped, r.name)
			continue
		}
		e := entry{nr: nr, name: r.name, rule: r}
		if r.cond != nil {
			for _, v := range r.cond.values {
				n, err := v.resolve(a)
				if err != nil {
					errs = append(errs, &parseError{file, r.line, fmt.Sprintf("%s: %v", r.name, err)})
				}
				e.vals = append(e.vals, n)
			}
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
		if e.rule.cond != nil {
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

// tree assembles a binary search over segs (seccomp_data.nr already in A). Each inner
// node is one jge; a path runs through about log2(len(segs)) of them, where a linear
// list of comparisons would run through up to one per allowed call. Kernels before 5.11
// have no seccomp action cache and run this program on every system call.
func tree(segs []segment, big bool) ([]bpf.Instruction, error) {
	p := seccomp.NewProgram()
	var emit func(segs []segment)
	emit = func(segs []segment) {
		if len(segs) == 1 {
			leaf(&p, segs[0], big)
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
	return p.Assemble()
}

// leaf returns the outcome of s, testing the argument where s has a test.
func leaf(p *seccomp.Program, s segment, big bool) {
	if s.e == nil {
		p.Ret(s.ret)
		return
	}
	c := s.e.rule.cond
	allow, deny := p.NewLabel(), p.NewLabel()
	loadLow(p, c.arg, big)
	switch c.op {
	case "in", "not in":
		match, miss := allow, deny
		if c.op == "not in" {
			match, miss = deny, allow
		}
		for i, v := range s.e.vals {
			if i < len(s.e.vals)-1 {
				p.JmpIfTrue(bpf.JumpEqual, v, match)
			} else {
				p.JmpIf(bpf.JumpEqual, v, match, miss)
			}
		}
	case "mask":
		p.JmpIf(bpf.JumpBitsSet, s.e.vals[0], deny, allow)
	}
	p.SetLabel(allow)
	p.Ret(retAllow)
	p.SetLabel(deny)
	p.Ret(retEPERM)
}

// program assembles the filter of one target: the arch check, then one search tree per
// ABI the target accepts, the native one first. Any other audit arch kills the process:
// its numbers mean other calls, and no tree here describes them.
func program(native *abi, compat []*abi, trees map[string][]bpf.Instruction) []bpf.Instruction {
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
	for _, a := range append([]*abi{native}, compat...) {
		prog = append(prog, bpf.LoadAbsolute{Off: offNr, Size: 4})
		prog = append(prog, trees[a.goarch]...)
	}
	return prog
}
