package policy

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// An Op is how a Cond compares an argument with its values. The comparisons are
// unsigned, as libseccomp's SCMP_CMP_* are; SCMP_CMP_EQ is In with one value and
// SCMP_CMP_NE NotIn with one.
type Op uint8

const (
	In       Op = iota + 1 // equal to one of Values
	NotIn                  // equal to none of Values
	LT                     // less than Values[0]
	LE                     // less than or equal to Values[0]
	GE                     // greater than or equal to Values[0]
	GT                     // greater than Values[0]
	MaskedEQ               // arg & Values[0] == Values[1]
)

// String names the op as a condition writes it.
func (o Op) String() string {
	switch o {
	case In:
		return "in"
	case NotIn:
		return "not in"
	case LT:
		return "<"
	case LE:
		return "<="
	case GE:
		return ">="
	case GT:
		return ">"
	case MaskedEQ:
		return "masked =="
	}
	return "op " + strconv.Itoa(int(o))
}

// A Cond tests one argument of a call.
type Cond struct {
	Arg    uint8    // 0 to 5
	Op     Op       //
	Values []uint64 // In, NotIn: any number of values; LT ... GT: one; MaskedEQ: mask, value
	// Wide compares all 64 bits of the argument; otherwise the low 32 bits, and the
	// values must fit in 32 bits. The kernel truncates an int argument to its low 32
	// bits itself, so only a test of those cannot be passed by setting high bits (the
	// tests of syscalls.txt); OCI profiles compare all 64.
	Wide bool
	// Lifts names, per value of a narrow In or NotIn, the option that may turn the test
	// of that value off at run time ("" for none): Program.Lifts says where.
	Lifts []string
	// When makes the Cond conditional: it holds whenever When does not. When has no
	// Lifts.
	When *Cond
}

// A Check is a way a call can be decided by its arguments: if every Cond holds, the call
// gets Action.
type Check struct {
	Conds  []Cond
	Action Action
}

// A Call is what one system call of an ABI gets: the Action of the first of Checks whose
// conditions all hold, or Action when none does (or there are no Checks).
type Call struct {
	Name   string
	Action Action
	Checks []Check
}

// A Table is what a filter does with every system-call number of one ABI.
type Table struct {
	ABI     *ABI
	Calls   []Call // the calls it names, each at most once
	Default Action // any other call in ABI's table (ABI.Nr)
	Newer   Action // any other number past ABI.MaxNr: a call newer than the table
	Other   Action // numbers from ABI.ForeignFrom up, where it is set: another ABI's
}

// A Program is a compiled filter.
type Program struct {
	Insns []bpf.RawInstruction
	// Lifts are the instructions that test the values of each lift name (Cond.Lifts),
	// sorted: jeq instructions whose true branch, sent where their false branch goes,
	// turns the test of that value off.
	Lifts map[string][]int
	// ABIs describes the layout of each table's part, in the order of the tables.
	ABIs []Layout
}

// A Layout describes one table's part of a Program.
type Layout struct {
	Start    int // the first instruction of its search tree, after the load of the number
	Segments int // runs of numbers with one outcome: the leaves of its tree
	MaxPath  int // the most instructions a call of this ABI runs through, arch check included
}

// SockFilters returns p's instructions as seccomp(2) takes them.
func (p *Program) SockFilters() []unix.SockFilter {
	out := make([]unix.SockFilter, len(p.Insns))
	for i, in := range p.Insns {
		out[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	return out
}

// Offsets in struct seccomp_data (linux/seccomp.h): int nr; __u32 arch; __u64
// instruction_pointer; __u64 args[6].
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// Compile lays tables out as one program: a check of seccomp_data.arch, then one binary
// search over the call numbers per table, the first for the native ABI, the others for
// compat ABIs the same kernel runs. A call with a foreign audit arch gets foreign: its
// numbers mean other calls, and no table here describes them.
//
// Each tree is a binary search over the whole 32-bit number space of its ABI: each
// inner node is one jge, and a path runs through about log2 of the number of runs of
// numbers with one outcome, where a linear list of comparisons would run through up to
// one per listed call (kernels before 5.11 have no action cache and run the filter on
// every call; loading costs in proportion to depth too). Numbers that the ABI's table
// names get the table's Default, even past MaxNr (ARM's private calls), other numbers
// past MaxNr Newer.
//
// Compile assembles the leaves with the compiler's own LeafAssembler; CompileWith
// takes another.
func Compile(tables []Table, foreign Action) (*Program, error) {
	return CompileWith(NewLeaf, tables, foreign)
}

// CompileWith is Compile with the LeafAssembler newLeaf makes for each leaf.
func CompileWith(newLeaf func() LeafAssembler, tables []Table, foreign Action) (*Program, error) {
	if len(tables) == 0 || 2*len(tables) > 255 {
		return nil, fmt.Errorf("%d tables, want 1 to 127", len(tables))
	}
	if err := foreign.check(); err != nil {
		return nil, fmt.Errorf("foreign arch: %w", err)
	}
	trees := make([][]bpf.Instruction, len(tables))
	treeLifts := make([]map[string][]int, len(tables))
	layouts := make([]Layout, len(tables))
	for i, t := range tables {
		segs, err := t.segments()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.ABI.Name, err)
		}
		tr, lifts, err := tree(newLeaf, segs, t.ABI.BigEndian)
		if err != nil {
			return nil, fmt.Errorf("assemble %s tree: %w", t.ABI.Name, err)
		}
		trees[i], treeLifts[i] = tr, lifts
		layouts[i].Segments = len(segs)
	}
	insns, starts := program(tables, trees, foreign)
	p := &Program{Lifts: make(map[string][]int), ABIs: layouts}
	for i, l := range treeLifts {
		for name, pcs := range l {
			for _, pc := range pcs {
				p.Lifts[name] = append(p.Lifts[name], starts[i]+pc)
			}
		}
	}
	for _, pcs := range p.Lifts {
		slices.Sort(pcs)
	}
	raw, err := bpf.Assemble(insns)
	if err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	if err := validate(raw); err != nil {
		return nil, fmt.Errorf("invalid program: %w", err)
	}
	p.Insns = raw
	// The native ABI pays for the arch load and its jeq; a compat ABI also for the
	// failed native jeq, its own jeq and the ja to its block. Each block starts with
	// the load of the call's number, just before its tree.
	for i := range layouts {
		cost := 2
		if i > 0 {
			cost = 4
		}
		layouts[i].Start = starts[i]
		layouts[i].MaxPath = cost + longestPath(raw, starts[i]-1)
	}
	return p, nil
}

// program assembles the arch check and the trees, and returns where each tree starts.
// Layout, for a native ABI N and compat ABIs C1...:
//
//	ld [arch]
//	jeq N, +k          ; k skips the compat checks and the foreign return
//	jeq C1, 0, 1
//	ja  block(C1)
//	...
//	ret foreign
//	block(N):  ld [nr]; tree(N)
//	block(C1): ld [nr]; tree(C1)
func program(tables []Table, trees [][]bpf.Instruction, foreign Action) ([]bpf.Instruction, []int) {
	compat := len(tables) - 1
	starts := make([]int, len(tables))
	pc := 2 + 2*compat + 1
	for i := range tables {
		starts[i] = pc + 1 // after the block's ld [nr]
		pc = starts[i] + len(trees[i])
	}
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: tables[0].ABI.AuditArch, SkipTrue: uint8(2*compat + 1)},
	}
	for i, t := range tables[1:] {
		block := starts[i+1] - 1
		prog = append(prog,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: t.ABI.AuditArch, SkipFalse: 1},
			bpf.Jump{Skip: uint32(block - (len(prog) + 2))},
		)
	}
	prog = append(prog, bpf.RetConstant{Val: uint32(foreign)})
	for i := range tables {
		prog = append(prog, bpf.LoadAbsolute{Off: offNr, Size: 4})
		prog = append(prog, trees[i]...)
	}
	return prog, starts
}

// A segment is a run of system-call numbers [lo, next segment's lo) that share one
// outcome: an action, or (for one number) the Checks of a call.
type segment struct {
	lo   uint32
	ret  Action
	call *Call // non-nil: its checks decide
}

// segments checks t and lays out the whole 32-bit number space of its ABI.
func (t *Table) segments() ([]segment, error) {
	a := t.ABI
	acts := []Action{t.Default, t.Newer}
	if a.ForeignFrom != 0 {
		acts = append(acts, t.Other)
	}
	for _, act := range acts {
		if err := act.check(); err != nil {
			return nil, err
		}
	}
	// The numbers with an outcome of their own, sorted: the table's calls, then the
	// calls past MaxNr that the ABI names (ARM's private ones) and the table does not,
	// which get Default.
	explicit := make([]segment, 0, len(t.Calls)+8)
	for i := range t.Calls {
		c := &t.Calls[i]
		if err := c.check(); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		nr, ok := a.Nr[c.Name]
		if !ok {
			return nil, fmt.Errorf("unknown system call %q", c.Name)
		}
		if len(c.Checks) > 0 {
			explicit = append(explicit, segment{lo: nr, call: c})
		} else {
			explicit = append(explicit, segment{lo: nr, ret: c.Action})
		}
	}
	bySegment := func(x, y segment) int { return cmp.Compare(x.lo, y.lo) }
	slices.SortFunc(explicit, bySegment)
	for i := 1; i < len(explicit); i++ {
		if explicit[i].lo == explicit[i-1].lo {
			return nil, t.namedTwice()
		}
	}
	listed := len(explicit)
	for _, nr := range a.Nr {
		if nr > a.MaxNr {
			if _, found := slices.BinarySearchFunc(explicit[:listed], segment{lo: nr}, bySegment); !found {
				explicit = append(explicit, segment{lo: nr, ret: t.Default})
			}
		}
	}
	if len(explicit) > listed {
		slices.SortFunc(explicit, bySegment)
	}
	base := func(n uint32) Action {
		switch {
		case n <= a.MaxNr:
			return t.Default
		case a.ForeignFrom != 0 && n >= a.ForeignFrom:
			return t.Other
		}
		return t.Newer
	}
	points := []uint32{0, a.MaxNr + 1}
	if a.ForeignFrom != 0 {
		if a.ForeignFrom <= a.MaxNr {
			return nil, fmt.Errorf("another ABI's numbers from %#x overlap the table (up to %d)", a.ForeignFrom, a.MaxNr)
		}
		points = append(points, a.ForeignFrom)
	}
	// Every point where the outcome may change, sorted; at each, the explicit segment
	// that starts there, if any (both lists are sorted: one walk).
	points = slices.Grow(points, 2*len(explicit))
	for _, e := range explicit {
		points = append(points, e.lo)
		if e.lo != 0xffffffff {
			points = append(points, e.lo+1)
		}
	}
	slices.Sort(points)
	points = slices.Compact(points)

	out := make([]segment, 0, len(points))
	next := 0 // into explicit
	for _, p := range points {
		s := segment{lo: p, ret: base(p)}
		if next < len(explicit) && explicit[next].lo == p {
			s = explicit[next]
			next++
		}
		if n := len(out); n > 0 && s.call == nil && out[n-1].call == nil && out[n-1].ret == s.ret {
			continue // same outcome as the run before: extend it
		}
		out = append(out, s)
	}
	return out, nil
}

// namedTwice reports the first call of t whose number an earlier call has.
func (t *Table) namedTwice() error {
	seen := make(map[uint32]bool, len(t.Calls))
	for _, c := range t.Calls {
		nr := t.ABI.Nr[c.Name]
		if seen[nr] {
			return fmt.Errorf("system call %q (number %d) named twice", c.Name, nr)
		}
		seen[nr] = true
	}
	return errors.New("a system call named twice")
}

// check reports a call that Compile cannot lay out.
func (c *Call) check() error {
	if err := c.Action.check(); err != nil {
		return err
	}
	for _, ch := range c.Checks {
		if err := ch.Action.check(); err != nil {
			return err
		}
		for i := range ch.Conds {
			if err := ch.Conds[i].check(false); err != nil {
				return err
			}
		}
	}
	return nil
}

// check reports a Cond that Compile cannot lay out; inWhen: it is another's When.
func (c *Cond) check(inWhen bool) error {
	if c.Arg > 5 {
		return fmt.Errorf("argument %d: a call has 6, 0 to 5", c.Arg)
	}
	want := 1
	switch c.Op {
	case In, NotIn:
		want = max(len(c.Values), 1)
	case LT, LE, GE, GT:
	case MaskedEQ:
		want = 2
	default:
		return fmt.Errorf("arg%d: unknown %v", c.Arg, c.Op)
	}
	if len(c.Values) != want {
		return fmt.Errorf("arg%d: %v with %d values", c.Arg, c.Op, len(c.Values))
	}
	for _, v := range c.Values {
		if !c.Wide && v > 0xffffffff {
			return fmt.Errorf("arg%d: value %#x of a 32-bit test does not fit in 32 bits", c.Arg, v)
		}
	}
	if slices.ContainsFunc(c.Lifts, func(s string) bool { return s != "" }) {
		switch {
		case inWhen || c.Wide || (c.Op != In && c.Op != NotIn):
			return fmt.Errorf("arg%d: a lift is only for a 32-bit in or not-in test outside an if", c.Arg)
		case len(c.Lifts) != len(c.Values):
			return fmt.Errorf("arg%d: %d lifts for %d values", c.Arg, len(c.Lifts), len(c.Values))
		}
	}
	if c.When != nil {
		return c.When.check(true)
	}
	return nil
}

// An assembler emits one leaf of a tree (see tree).
type assembler struct {
	p   LeafAssembler
	big bool // byte order of the target
	ph  *placeholders
	n   int // instructions emitted
}

// placeholders stand for the values of refusals that an option may lift while a tree
// is assembled: where a test ends up is only known afterwards, found by its unique
// placeholder value.
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

// tested records v as a value tested for real.
func (ph *placeholders) tested(v uint32) {
	if ph.real == nil {
		ph.real = make(map[uint32]bool)
	}
	ph.real[v] = true
}

// jmp emits a conditional jump on v, which is a value tested for real.
func (a *assembler) jmp(cond bpf.JumpTest, v uint32, yes, no Label) {
	a.ph.tested(v)
	a.p.JmpIf(cond, v, yes, no)
	a.n++
}

// then emits a jump on v to yes, falling through to the next instruction otherwise.
func (a *assembler) then(cond bpf.JumpTest, v uint32, yes Label) {
	next := a.p.NewLabel()
	a.jmp(cond, v, yes, next)
	a.p.SetLabel(next)
}

// ret emits a return of act.
func (a *assembler) ret(act Action) {
	a.p.Ret(act)
	a.n++
}

// load emits a load of one 32-bit half of argument n, where the target keeps it: the
// low half first on a little-endian target, the high half first on a big-endian one.
func (a *assembler) load(n uint8, high bool) {
	off := offArgs + 8*uint32(n)
	if high != a.big {
		off += 4
	}
	a.p.Load(off)
	a.n++
}

// tree assembles a binary search over segs (seccomp_data.nr already in A), and returns,
// for each lift, the indices of its tests in the tree.
//
// A LeafAssembler assembles each leaf, whose jumps are short; the tree's own jumps are
// laid out here, bottom up, with a ja over the left subtree where it is longer than a
// conditional jump reaches. go-seccomp-bpf's own way past that reach (v1.6.0) is not
// used: it miscounts the offset of the ja it inserts, and leaves the offsets of jumps
// it has resolved before an insertion stale, which a large profile's filter met here.
// A leaf that would need it is refused instead.
func tree(newLeaf func() LeafAssembler, segs []segment, big bool) ([]bpf.Instruction, map[string][]int, error) {
	ph := &placeholders{}
	// The leaves first, then the tree laid out top down into one slice: the length of
	// each subtree is known before its jump is written.
	leaves := make([][]bpf.Instruction, len(segs))
	for i, s := range segs {
		if s.call == nil {
			continue // a run of numbers with one action: a lone ret, written by emit
		}
		a := &assembler{p: newLeaf(), big: big, ph: ph}
		a.leaf(s)
		insns, err := a.p.Assemble()
		if err != nil {
			return nil, nil, err
		}
		if len(insns) != a.n {
			return nil, nil, fmt.Errorf("the checks of system call number %d are too long for the jumps of classic BPF", s.lo)
		}
		leaves[i] = insns
	}
	// jumpLen is how many instructions the jump over a left subtree of n takes.
	jumpLen := func(n int) int {
		if n <= math.MaxUint8 {
			return 1
		}
		return 2
	}
	var size func(lo, hi int) int
	size = func(lo, hi int) int {
		if hi-lo == 1 {
			return max(len(leaves[lo]), 1)
		}
		mid := lo + (hi-lo)/2
		left := size(lo, mid)
		return jumpLen(left) + left + size(mid, hi)
	}
	insns := make([]bpf.Instruction, 0, size(0, len(segs)))
	var emit func(lo, hi int)
	emit = func(lo, hi int) {
		if hi-lo == 1 {
			if segs[lo].call == nil {
				insns = append(insns, bpf.RetConstant{Val: uint32(segs[lo].ret)})
			} else {
				insns = append(insns, leaves[lo]...)
			}
			return
		}
		mid := lo + (hi-lo)/2
		v := segs[mid].lo
		ph.tested(v)
		if left := size(lo, mid); jumpLen(left) == 1 {
			insns = append(insns, bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: v, SkipTrue: uint8(left)})
		} else {
			insns = append(insns, bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: v, SkipFalse: 1}, bpf.Jump{Skip: uint32(left)})
		}
		emit(lo, mid)
		emit(mid, hi)
	}
	emit(0, len(segs))
	for v := range ph.real {
		if _, ok := ph.vals[v]; ok {
			return nil, nil, fmt.Errorf("value %#x is tested, and also a placeholder", v)
		}
	}
	lifts := make(map[string][]int)
	for i, in := range insns {
		switch in := in.(type) {
		case bpf.JumpIf:
			held, ok := ph.vals[in.Val]
			if !ok {
				continue
			}
			in.Val = held.val
			insns[i] = in
			lifts[held.lift] = append(lifts[held.lift], i)
		}
	}
	return insns, lifts, nil
}

// leaf returns the outcome of s: the action of the first of its call's checks whose
// conditions all hold, else the call's action.
func (a *assembler) leaf(s segment) {
	if s.call == nil {
		a.ret(s.ret)
		return
	}
	for _, ch := range s.call.Checks {
		fail := a.p.NewLabel()
		for i := range ch.Conds {
			c := &ch.Conds[i]
			next := a.p.NewLabel()
			if c.When != nil {
				applies := a.p.NewLabel()
				a.test(c.When, applies, next)
				a.p.SetLabel(applies)
			}
			a.test(c, next, fail)
			a.p.SetLabel(next)
		}
		a.ret(ch.Action)
		a.p.SetLabel(fail)
	}
	a.ret(s.call.Action)
}

// test emits c's test of its argument, going to pass if it holds and to fail if not.
func (a *assembler) test(c *Cond, pass, fail Label) {
	if c.Wide {
		a.testWide(c, pass, fail)
		return
	}
	a.load(c.Arg, false)
	v := uint32(c.Values[0])
	switch c.Op {
	case In, NotIn:
		a.in(c, pass, fail)
	case LT:
		a.jmp(bpf.JumpGreaterOrEqual, v, fail, pass)
	case LE:
		a.jmp(bpf.JumpGreaterThan, v, fail, pass)
	case GE:
		a.jmp(bpf.JumpGreaterOrEqual, v, pass, fail)
	case GT:
		a.jmp(bpf.JumpGreaterThan, v, pass, fail)
	case MaskedEQ:
		a.maskedEQ(v, uint32(c.Values[1]), pass, fail)
	}
}

// in emits a narrow In or NotIn test, its argument in A: one jeq per value. A value
// that an option may lift is tested against a placeholder (see tree).
func (a *assembler) in(c *Cond, pass, fail Label) {
	match, miss := pass, fail
	if c.Op == NotIn {
		match, miss = fail, pass
	}
	for i, v := range c.Values {
		k := uint32(v)
		lifted := i < len(c.Lifts) && c.Lifts[i] != ""
		switch {
		case lifted && i < len(c.Values)-1:
			next := a.p.NewLabel()
			a.p.JmpIf(bpf.JumpEqual, a.ph.add(c.Lifts[i], k), match, next)
			a.p.SetLabel(next)
			a.n++
		case lifted:
			a.p.JmpIf(bpf.JumpEqual, a.ph.add(c.Lifts[i], k), match, miss)
			a.n++
		case i < len(c.Values)-1:
			a.then(bpf.JumpEqual, k, match)
		default:
			a.jmp(bpf.JumpEqual, k, match, miss)
		}
	}
}

// maskedEQ emits a test of A & mask == v. Classic BPF could AND A with the mask, but a
// LeafAssembler has no ALU instructions (go-seccomp-bpf's has none), so the test is
// made of jset:
// no bit of mask outside v may be set, and every bit of v must be.
func (a *assembler) maskedEQ(mask, v uint32, pass, fail Label) {
	if v&^mask != 0 {
		// v has a bit that A & mask never has. jset #0 never jumps: always fail.
		a.p.JmpIf(bpf.JumpBitsSet, 0, pass, fail)
		a.n++
		return
	}
	clear := mask &^ v
	switch {
	case v == 0:
		// Also for mask 0, where jset #0 never jumps: always pass.
		a.jmp(bpf.JumpBitsSet, clear, fail, pass)
		return
	case mask == 0xffffffff:
		a.jmp(bpf.JumpEqual, v, pass, fail)
		return
	}
	if clear != 0 {
		a.then(bpf.JumpBitsSet, clear, fail)
	}
	for w := v; w != 0; w &= w - 1 {
		bit := w & -w
		if w == bit {
			a.jmp(bpf.JumpBitsSet, bit, pass, fail)
		} else {
			next := a.p.NewLabel()
			a.jmp(bpf.JumpBitsSet, bit, next, fail)
			a.p.SetLabel(next)
		}
	}
}

// testWide emits a test of all 64 bits of c's argument, one 32-bit half at a time, the
// high half first.
func (a *assembler) testWide(c *Cond, pass, fail Label) {
	hi := func(v uint64) uint32 { return uint32(v >> 32) }
	switch c.Op {
	case In, NotIn:
		match, miss := pass, fail
		if c.Op == NotIn {
			match, miss = fail, pass
		}
		for i, v := range c.Values {
			next, low := miss, a.p.NewLabel()
			if i < len(c.Values)-1 {
				next = a.p.NewLabel()
			}
			a.load(c.Arg, true)
			a.jmp(bpf.JumpEqual, hi(v), low, next)
			a.p.SetLabel(low)
			a.load(c.Arg, false)
			a.jmp(bpf.JumpEqual, uint32(v), match, next)
			if i < len(c.Values)-1 {
				a.p.SetLabel(next)
			}
		}
	case LT, LE, GE, GT:
		// arg > v when its high half is greater, or equal with a greater low half;
		// LT is not GE, LE not GT.
		yes, no := pass, fail
		if c.Op == LT || c.Op == LE {
			yes, no = fail, pass
		}
		cmp := bpf.JumpGreaterOrEqual
		if c.Op == GT || c.Op == LE {
			cmp = bpf.JumpGreaterThan
		}
		v, low := c.Values[0], a.p.NewLabel()
		a.load(c.Arg, true)
		a.then(bpf.JumpGreaterThan, hi(v), yes)
		a.jmp(bpf.JumpEqual, hi(v), low, no)
		a.p.SetLabel(low)
		a.load(c.Arg, false)
		a.jmp(cmp, uint32(v), yes, no)
	case MaskedEQ:
		mask, v := c.Values[0], c.Values[1]
		if hi(mask) != 0 || hi(v) != 0 {
			low := a.p.NewLabel()
			a.load(c.Arg, true)
			a.maskedEQ(hi(mask), hi(v), low, fail)
			a.p.SetLabel(low)
		}
		a.load(c.Arg, false)
		a.maskedEQ(uint32(mask), uint32(v), pass, fail)
	}
}

// VMData encodes a struct seccomp_data (linux/seccomp.h) for golang.org/x/net/bpf's VM,
// for a target of byte order big. The VM loads 32-bit words big-endian whatever the
// host; the kernel loads them in the target's order. So each 32-bit field goes
// big-endian at the offset where the target keeps it: nr and arch at 0 and 4, and each
// 64-bit argument's low half at +0 on a little-endian target and at +4 on a big-endian
// one.
func VMData(big bool, arch, nr uint32, args ...uint64) []byte {
	b := make([]byte, 64) // sizeof(struct seccomp_data)
	binary.BigEndian.PutUint32(b[offNr:], nr)
	binary.BigEndian.PutUint32(b[offArch:], arch)
	for i, v := range args {
		lo, hi := offArgs+8*i, offArgs+8*i+4
		if big {
			lo, hi = hi, lo
		}
		binary.BigEndian.PutUint32(b[lo:], uint32(v))
		binary.BigEndian.PutUint32(b[hi:], uint32(v>>32))
	}
	return b
}
