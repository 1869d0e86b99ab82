package testutil

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
)

// VM loads the classic BPF program prog into golang.org/x/net/bpf's VM, or fails tb.
func VM(tb testing.TB, prog []bpf.RawInstruction) *bpf.VM {
	tb.Helper()
	insns, ok := bpf.Disassemble(prog)
	if !ok {
		tb.Fatal("the program does not disassemble")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		tb.Fatalf("bpf.NewVM: %v", err)
	}
	return vm
}

// SeccompData encodes a struct seccomp_data (linux/seccomp.h) for golang.org/x/net/bpf's
// VM, for a target of byte order big. The VM loads 32-bit words big-endian whatever the
// host; the kernel loads them in the target's order. So each 32-bit field goes
// big-endian at the offset where the target keeps it: nr and arch at 0 and 4, and each
// 64-bit argument's low half at +0 on a little-endian target and at +4 on a big-endian
// one.
func SeccompData(big bool, arch, nr uint32, args ...uint64) []byte {
	b := make([]byte, 64) // sizeof(struct seccomp_data)
	binary.BigEndian.PutUint32(b[0:], nr)
	binary.BigEndian.PutUint32(b[4:], arch)
	for i, v := range args {
		lo, hi := 16+8*i, 16+8*i+4
		if big {
			lo, hi = hi, lo
		}
		binary.BigEndian.PutUint32(b[lo:], uint32(v))
		binary.BigEndian.PutUint32(b[hi:], uint32(v>>32))
	}
	return b
}
