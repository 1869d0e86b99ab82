package testutil

import (
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
