package policy

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// maxInsns is BPF_MAXINSNS, the kernel's limit on a classic BPF program.
const maxInsns = 4096

// sizeofSeccompData is sizeof(struct seccomp_data).
const sizeofSeccompData = 64

// validate checks prog the way the kernel's seccomp_check_filter and bpf_check_classic
// would, restricted to what Compile emits: aligned 32-bit absolute loads inside
// seccomp_data, conditional and unconditional forward jumps that land inside the
// program, and constant returns; the last instruction must be a return.
func validate(prog []bpf.RawInstruction) error {
	if len(prog) == 0 || len(prog) > maxInsns {
		return fmt.Errorf("program has %d instructions, want 1 to %d", len(prog), maxInsns)
	}
	for pc, ri := range prog {
		switch in := ri.Disassemble().(type) {
		case bpf.LoadAbsolute:
			if in.Size != 4 || in.Off%4 != 0 || in.Off >= sizeofSeccompData {
				return fmt.Errorf("%d: %v: load outside seccomp_data or unaligned", pc, in)
			}
		case bpf.JumpIf:
			for _, skip := range []uint8{in.SkipTrue, in.SkipFalse} {
				if pc+1+int(skip) >= len(prog) {
					return fmt.Errorf("%d: %v: jumps past the end", pc, in)
				}
			}
		case bpf.Jump:
			if pc+1+int(in.Skip) >= len(prog) {
				return fmt.Errorf("%d: %v: jumps past the end", pc, in)
			}
		case bpf.RetConstant:
		default:
			return fmt.Errorf("%d: %v (%#v): not an instruction Compile emits", pc, in, ri)
		}
	}
	if _, ok := prog[len(prog)-1].Disassemble().(bpf.RetConstant); !ok {
		return fmt.Errorf("last instruction %v is not a return", prog[len(prog)-1].Disassemble())
	}
	return nil
}

// longestPath returns the most instructions any input runs through from start, the
// cost of the slowest system call. Jumps only go forward, so one backward pass does.
func longestPath(prog []bpf.RawInstruction, start int) int {
	n := make([]int, len(prog)+1)
	for pc := len(prog) - 1; pc >= start; pc-- {
		switch in := prog[pc].Disassemble().(type) {
		case bpf.JumpIf:
			n[pc] = 1 + max(n[pc+1+int(in.SkipTrue)], n[pc+1+int(in.SkipFalse)])
		case bpf.Jump:
			n[pc] = 1 + n[pc+1+int(in.Skip)]
		case bpf.RetConstant:
			n[pc] = 1
		default:
			n[pc] = 1 + n[pc+1]
		}
	}
	return n[start]
}
