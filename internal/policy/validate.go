package policy

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// maxInsns is BPF_MAXINSNS, the kernel's limit on a classic BPF program.
const maxInsns = 4096

// sizeofSeccompData is sizeof(struct seccomp_data).
const sizeofSeccompData = 64

// decode returns the instruction ri holds if it is one that Compile emits, and ri
// itself if not. It stands in for ri.Disassemble, which would link x/net/bpf's decoder
// of every classic BPF instruction into the launcher (about 10 KB with the String
// methods of the types it returns). Unlike Disassemble it gives a jump's condition as
// the raw instruction has it (never JumpNotEqual and the like), and it takes only the
// 32-bit absolute load into A, as the kernel's seccomp_check_filter does.
func decode(ri bpf.RawInstruction) bpf.Instruction {
	switch ri.Op {
	case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
		return bpf.LoadAbsolute{Off: ri.K, Size: 4}
	case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
		return bpf.JumpIf{Cond: bpf.JumpEqual, Val: ri.K, SkipTrue: ri.Jt, SkipFalse: ri.Jf}
	case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
		return bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: ri.K, SkipTrue: ri.Jt, SkipFalse: ri.Jf}
	case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
		return bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: ri.K, SkipTrue: ri.Jt, SkipFalse: ri.Jf}
	case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
		return bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: ri.K, SkipTrue: ri.Jt, SkipFalse: ri.Jf}
	case unix.BPF_JMP | unix.BPF_JA:
		return bpf.Jump{Skip: ri.K}
	case unix.BPF_RET | unix.BPF_K:
		return bpf.RetConstant{Val: ri.K}
	}
	return ri
}

// Eval runs prog, a program Compile made, on data, a struct seccomp_data as VMData
// encodes it, and returns the action it returns, as x/net/bpf's VM would; ok is false
// where prog holds an instruction Compile does not emit, loads past data or runs off
// its end. The launcher runs its own filter with it (profile.Program.RefusesCall)
// rather than link the VM.
func Eval(prog []bpf.RawInstruction, data []byte) (act Action, ok bool) {
	var a uint32 // the accumulator
	for pc := 0; pc < len(prog); pc++ {
		switch in := decode(prog[pc]).(type) {
		case bpf.LoadAbsolute:
			if uint64(in.Off)+4 > uint64(len(data)) {
				return 0, false
			}
			a = binary.BigEndian.Uint32(data[in.Off:])
		case bpf.JumpIf:
			var yes bool
			switch in.Cond {
			case bpf.JumpEqual:
				yes = a == in.Val
			case bpf.JumpGreaterThan:
				yes = a > in.Val
			case bpf.JumpGreaterOrEqual:
				yes = a >= in.Val
			case bpf.JumpBitsSet:
				yes = a&in.Val != 0
			}
			if yes {
				pc += int(in.SkipTrue)
			} else {
				pc += int(in.SkipFalse)
			}
		case bpf.Jump:
			if uint64(in.Skip) >= uint64(len(prog)) {
				return 0, false // off the end, and past what an int holds on 32-bit arches
			}
			pc += int(in.Skip)
		case bpf.RetConstant:
			return Action(in.Val), true
		default:
			return 0, false
		}
	}
	return 0, false
}

// validate checks prog the way the kernel's seccomp_check_filter and bpf_check_classic
// would, restricted to what Compile emits: aligned 32-bit absolute loads inside
// seccomp_data, conditional and unconditional forward jumps that land inside the
// program, and constant returns; the last instruction must be a return.
func validate(prog []bpf.RawInstruction) error {
	if len(prog) == 0 || len(prog) > maxInsns {
		return fmt.Errorf("program has %d instructions, want 1 to %d", len(prog), maxInsns)
	}
	for pc, ri := range prog {
		switch in := decode(ri).(type) {
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
	if _, ok := decode(prog[len(prog)-1]).(bpf.RetConstant); !ok {
		return fmt.Errorf("last instruction %v is not a return", decode(prog[len(prog)-1]))
	}
	return nil
}

// longestPath returns the most instructions any input runs through from start, the
// cost of the slowest system call. Jumps only go forward, so one backward pass does.
func longestPath(prog []bpf.RawInstruction, start int) int {
	n := make([]int, len(prog)+1)
	for pc := len(prog) - 1; pc >= start; pc-- {
		switch in := decode(prog[pc]).(type) {
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
