package cgroup

import (
	"errors"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/errs"
)

// cgroup v2 has no devices controller: a device policy is an eBPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup, which the kernel runs on every
// open and mknod of a device node by a process of the cgroup or below it, with the
// device and the access in its context (struct bpf_cgroup_dev_ctx), and which allows
// the access by returning 1.
//
// The program launch makes reads the rules as a v1 devices cgroup does, the last rule
// that matches deciding (the rules are checked to make the two readings the same, see
// launch's deviceRules.check): one block per rule, last rule first, each returning the
// rule's verdict when the device matches, else falling through to the next. A rule
// matches when its type is a or the device's, its major and minor are * or the
// device's, and it has every access asked for. No rule matching allows, as a new v1
// cgroup does below the root.
//
// x/sys has the opcodes and the bpf(2) constants but neither the instruction nor the
// attribute unions' layouts; they are spelled out below (linux/bpf.h), as small as
// the two commands need. An eBPF assembler library (cilium/ebpf) would cost the
// binary more than all of this.

// insn is struct bpf_insn: opcode, registers (dst in the low nibble on little-endian
// machines, the high one on big-endian ones), offset and immediate.
type insn struct {
	code uint8
	regs uint8
	off  int16
	imm  int32
}

// Registers of the program: r1 is the context on entry, r0 the verdict.
const (
	r0 = iota
	r1
	rType   // the device's type: BPF_DEVCG_DEV_CHAR or _BLOCK
	rAccess // the access asked for: BPF_DEVCG_ACC_* bits
	rMajor
	rMinor
)

// bigEndian reports whether the machine stores the high byte first.
func bigEndian() bool {
	x := uint16(1)
	// SAFETY: reads the first byte of x, which is on this stack.
	return *(*byte)(unsafe.Pointer(&x)) == 0
}

func mkInsn(code uint8, dst, src uint8, off int16, imm int32) insn {
	regs := dst | src<<4
	if bigEndian() {
		regs = dst<<4 | src
	}
	return insn{code: code, regs: regs, off: off, imm: imm}
}

// deviceProgram assembles the program for rules.
func deviceProgram(rules []DeviceRule) []insn {
	const (
		ldxw   = unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W
		mov32  = unix.BPF_ALU | unix.BPF_MOV | unix.BPF_K
		movr32 = unix.BPF_ALU | unix.BPF_MOV | unix.BPF_X
		and32  = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
		rsh32  = unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K
		jne    = unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K
		exit   = unix.BPF_JMP | unix.BPF_EXIT
		all    = unix.BPF_DEVCG_ACC_READ | unix.BPF_DEVCG_ACC_WRITE | unix.BPF_DEVCG_ACC_MKNOD
	)
	// struct bpf_cgroup_dev_ctx: access_type (access << 16 | type), major, minor.
	prog := []insn{
		mkInsn(ldxw, rType, r1, 0, 0),
		mkInsn(movr32, rAccess, rType, 0, 0),
		mkInsn(and32, rType, 0, 0, 0xffff),
		mkInsn(rsh32, rAccess, 0, 0, 16),
		mkInsn(ldxw, rMajor, r1, 4, 0),
		mkInsn(ldxw, rMinor, r1, 8, 0),
	}
	verdict := func(allow bool) []insn {
		v := int32(0)
		if allow {
			v = 1
		}
		return []insn{mkInsn(mov32, r0, 0, 0, v), mkInsn(exit, 0, 0, 0, 0)}
	}
	for i := len(rules) - 1; i >= 0; i-- {
		d := rules[i]
		typ := int32(0)
		switch d.Type {
		case 'c':
			typ = unix.BPF_DEVCG_DEV_CHAR
		case 'b':
			typ = unix.BPF_DEVCG_DEV_BLOCK
		}
		access := int32(0)
		for _, c := range d.Access {
			switch c {
			case 'r':
				access |= unix.BPF_DEVCG_ACC_READ
			case 'w':
				access |= unix.BPF_DEVCG_ACC_WRITE
			case 'm':
				access |= unix.BPF_DEVCG_ACC_MKNOD
			}
		}
		var block []insn
		if typ != 0 {
			block = append(block, mkInsn(jne, rType, 0, 0, typ))
		}
		if access != all {
			// r0 = the access asked for that the rule lacks: none, or no match.
			block = append(block, mkInsn(movr32, r0, rAccess, 0, 0), mkInsn(and32, r0, 0, 0, ^access&all),
				mkInsn(jne, r0, 0, 0, 0))
		}
		if d.Major >= 0 {
			block = append(block, mkInsn(jne, rMajor, 0, 0, int32(d.Major)))
		}
		if d.Minor >= 0 {
			block = append(block, mkInsn(jne, rMinor, 0, 0, int32(d.Minor)))
		}
		if len(block) == 0 {
			// The rule matches every device and access: the rules before it, and the
			// default, are never reached (and the verifier refuses dead code).
			return append(prog, verdict(d.Allow)...)
		}
		block = append(block, verdict(d.Allow)...)
		// Every jump of the block goes past its end, to the next rule's block.
		for j := range block {
			if block[j].code == jne {
				block[j].off = int16(len(block) - j - 1)
			}
		}
		prog = append(prog, block...)
	}
	return append(prog, verdict(true)...)
}

// progLoadAttr is union bpf_attr as BPF_PROG_LOAD reads it, up to
// expected_attach_type.
type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              uint64
	license            uint64
	logLevel           uint32
	logSize            uint32
	logBuf             uint64
	kernVersion        uint32
	progFlags          uint32
	progName           [unix.BPF_OBJ_NAME_LEN]byte
	progIfindex        uint32
	expectedAttachType uint32
}

// progAttachAttr is union bpf_attr as BPF_PROG_ATTACH reads it.
type progAttachAttr struct {
	targetFd     uint32
	attachBpfFd  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBpfFd uint32
}

// license is the program's license string; the program calls no helper that asks
// for a GPL one.
var license = []byte("MIT\x00")

// loadProgram loads prog, with the verifier's log in log if it is not empty.
func loadProgram(prog []insn, log []byte) (int, unix.Errno) {
	attr := progLoadAttr{progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE, insnCnt: uint32(len(prog)),
		expectedAttachType: unix.BPF_CGROUP_DEVICE}
	copy(attr.progName[:], "launch_devices")
	if len(log) > 0 {
		attr.logLevel, attr.logSize = 1, uint32(len(log))
	}
	// The addresses are taken with no call before the system call, so no stack
	// growth can move what they point to; KeepAlive keeps it for the call.
	attr.insns = uint64(uintptr(unsafe.Pointer(&prog[0])))
	attr.license = uint64(uintptr(unsafe.Pointer(&license[0])))
	if len(log) > 0 {
		attr.logBuf = uint64(uintptr(unsafe.Pointer(&log[0])))
	}
	// SAFETY: attr and what it points to are alive until the call returns.
	fd, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(prog)
	runtime.KeepAlive(log)
	return int(fd), e
}

// attachDevices loads the program for rules and attaches it to the cgroup v2
// directory dir, with BPF_F_ALLOW_MULTI: a program attached below it later runs
// as well as this one, and cannot widen what it denies.
func attachDevices(dir string, rules []DeviceRule) error {
	prog := deviceProgram(rules)
	fd, e := loadProgram(prog, nil)
	if e != 0 {
		// Again, for the verifier's reasons.
		why := e.Error()
		log := make([]byte, 1<<14)
		if _, e := loadProgram(prog, log); e != 0 {
			if n := strings.IndexByte(string(log), 0); n > 0 {
				why += ": " + strings.Join(strings.Fields(string(log[:n])), " ")
			}
		}
		return errors.New("load the device filter (bpf BPF_PROG_LOAD): " + why)
	}
	defer unix.Close(fd)
	cg, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return errs.Wrap("open "+dir, err)
	}
	defer unix.Close(cg)
	attach := progAttachAttr{targetFd: uint32(cg), attachBpfFd: uint32(fd), attachType: unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI}
	// SAFETY: attach is on this stack, alive during the call.
	if _, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_ATTACH, uintptr(unsafe.Pointer(&attach)), unsafe.Sizeof(attach)); e != 0 {
		return errors.New("attach the device filter to " + dir + " (bpf BPF_PROG_ATTACH): " + e.Error())
	}
	return nil
}
