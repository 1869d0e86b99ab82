package main

import (
	"encoding/binary"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"launch/internal/policy"
)

// libraryLeaf assembles a leaf of a filter's search tree with go-seccomp-bpf's label
// assembler: the built-in filters gen writes are the library's work. The launcher,
// which compiles profiles at run time, uses the compiler's own policy.NewLeaf and
// links no assembler library; TestAssemblersAgree holds the two to the same bytes.
type libraryLeaf struct{ p seccomp.Program }

func newLibraryLeaf() policy.LeafAssembler { return &libraryLeaf{p: seccomp.NewProgram()} }

func (l *libraryLeaf) NewLabel() policy.Label { return policy.Label(l.p.NewLabel()) }

func (l *libraryLeaf) SetLabel(lb policy.Label) { l.p.SetLabel(seccomp.Label(lb)) }

func (l *libraryLeaf) JmpIf(cond bpf.JumpTest, val uint32, yes, no policy.Label) {
	l.p.JmpIf(cond, val, seccomp.Label(yes), seccomp.Label(no))
}

// errnoZero stands for Errno(0) until Assemble: the library returns EPERM for an errno
// action without data. No action may be it (policy refuses errnos past 4095).
const errnoZero = unix.SECCOMP_RET_ERRNO | unix.SECCOMP_RET_DATA

func (l *libraryLeaf) Ret(act policy.Action) {
	if act == policy.Errno(0) {
		act = errnoZero
	}
	l.p.Ret(seccomp.Action(act))
}

// hostLittleEndian: the library places an argument's halves by the byte order of the
// machine it runs on.
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Load loads the word at off of seccomp_data, an argument's half (offsets 16 and up,
// 8 bytes an argument), through the library's loads of high and low halves.
func (l *libraryLeaf) Load(off uint32) {
	const args = 16
	n, second := (off-args)/8, (off-args)%8 == 4
	if second == hostLittleEndian {
		l.p.LdHi(n)
	} else {
		l.p.LdLo(n)
	}
}

func (l *libraryLeaf) Assemble() ([]bpf.Instruction, error) {
	insns, err := l.p.Assemble()
	for i, in := range insns {
		if r, ok := in.(bpf.RetConstant); ok && r.Val == errnoZero {
			insns[i] = bpf.RetConstant{Val: uint32(policy.Errno(0))}
		}
	}
	return insns, err
}
