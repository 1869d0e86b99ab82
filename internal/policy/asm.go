package policy

import (
	"errors"
	"math"
	"strconv"

	"golang.org/x/net/bpf"
)

// A Label names the place in a leaf that forward jumps go to.
type Label int

// A LeafAssembler builds one leaf of a filter's search tree (see tree): instructions,
// and conditional jumps to labels placed later in the same leaf. The compiler's own,
// NewLeaf, runs in the launcher for --seccomp=FILE; gen assembles the built-in filters
// with go-seccomp-bpf's assembler behind this interface, and a test of gen holds the
// two to the same bytes for every GOARCH, so that the launcher links no assembler
// library and the generated filters are the library's.
type LeafAssembler interface {
	NewLabel() Label
	SetLabel(Label) // the next instruction is the label's
	JmpIf(cond bpf.JumpTest, val uint32, yes, no Label)
	Ret(act Action)
	Load(off uint32) // ld [off], a 32-bit word of seccomp_data
	// Assemble resolves the jumps. It fails where a label is not placed, placed twice,
	// or out of a conditional jump's reach (255 instructions).
	Assemble() ([]bpf.Instruction, error)
}

// NewLeaf returns the compiler's own LeafAssembler.
func NewLeaf() LeafAssembler { return &leaf{} }

// leaf is the compiler's own LeafAssembler.
type leaf struct {
	insns []bpf.Instruction
	jumps []jump
	at    []int // by label - 1: the index of its instruction, or -1
}

// A jump is a conditional jump waiting for its labels.
type jump struct {
	index   int
	yes, no Label
}

func (l *leaf) NewLabel() Label {
	l.at = append(l.at, -1)
	return Label(len(l.at))
}

func (l *leaf) SetLabel(lb Label) {
	if l.at[lb-1] >= 0 {
		l.at[lb-1] = math.MaxInt // placed twice: refused by Assemble
		return
	}
	l.at[lb-1] = len(l.insns)
}

func (l *leaf) JmpIf(cond bpf.JumpTest, val uint32, yes, no Label) {
	l.jumps = append(l.jumps, jump{len(l.insns), yes, no})
	l.insns = append(l.insns, bpf.JumpIf{Cond: cond, Val: val})
}

func (l *leaf) Ret(act Action) { l.insns = append(l.insns, bpf.RetConstant{Val: uint32(act)}) }

func (l *leaf) Load(off uint32) { l.insns = append(l.insns, bpf.LoadAbsolute{Off: off, Size: 4}) }

func (l *leaf) Assemble() ([]bpf.Instruction, error) {
	skip := func(from int, lb Label) (uint8, error) {
		to := l.at[lb-1]
		switch {
		case to < 0 || to == math.MaxInt:
			return 0, errors.New("label " + strconv.Itoa(int(lb)) + " is not placed once")
		case to <= from || to > len(l.insns):
			return 0, errors.New("label " + strconv.Itoa(int(lb)) + " is not after its jump")
		case to-from-1 > math.MaxUint8:
			return 0, errors.New("a jump of " + strconv.Itoa(to-from-1) + " instructions: out of a conditional jump's reach")
		}
		return uint8(to - from - 1), nil
	}
	for _, j := range l.jumps {
		in := l.insns[j.index].(bpf.JumpIf)
		var err1, err2 error
		in.SkipTrue, err1 = skip(j.index, j.yes)
		in.SkipFalse, err2 = skip(j.index, j.no)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		l.insns[j.index] = in
	}
	return l.insns, nil
}
