package cgroup

import (
	"errors"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/errs"
	"launch/internal/raw"
)

// cgroup v2 has no devices controller: a device policy is an eBPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup, which the kernel runs on every
// open and mknod of a device node by a process of the cgroup or below it, with the
// device and the access in its context (struct bpf_cgroup_dev_ctx), and which allows
// the access by returning 1.
//
// The program launch makes decides as the container's v1 devices cgroup would after
// the same rules were written to it in order (Policy): a default, allow or deny every
// device, and the exceptions to it. With a default of allow, an access is denied if
// an exception matches the device and any part of the access; with deny, it is
// allowed if an exception matches the device and the whole access. One block per
// exception, each returning the exception's verdict or falling through to the next;
// the default last.
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

func mkInsn(code uint8, dst, src uint8, off int16, imm int32) insn {
	regs := dst | src<<4
	if raw.BigEndian {
		regs = dst<<4 | src
	}
	return insn{code: code, regs: regs, off: off, imm: imm}
}

// A DevicePolicy is what a v1 devices cgroup makes of rules written to it in order
// (security/device_cgroup.c): a rule of type a sets the default and drops the
// exceptions, whatever its access; another rule of the default's verdict takes its
// access away from the exception for that very device (type, major and minor alike,
// no wider or narrower one); of the other verdict, it adds its access to that
// exception, or makes one.
type DevicePolicy struct {
	Allow  bool        // the default: allow every device
	Except []exception // devices that go the other way, for some accesses
}

// An exception is one device, or every device of a type and major (minor -1), or of a
// type (both -1), for the accesses in access (BPF_DEVCG_ACC_* bits).
type exception struct {
	typ          int32 // BPF_DEVCG_DEV_CHAR or _BLOCK
	major, minor int64
	access       int32
}

// Policy reads rules as a new v1 devices cgroup below one that allows every device
// would.
func Policy(rules []DeviceRule) DevicePolicy {
	p := DevicePolicy{Allow: true}
	for _, r := range rules {
		if r.Type == 'a' {
			p = DevicePolicy{Allow: r.Allow}
			continue
		}
		e := exception{typ: devType(r.Type), major: r.Major, minor: r.Minor, access: accessBits(r.Access)}
		i := 0
		for i < len(p.Except) && (p.Except[i].typ != e.typ || p.Except[i].major != e.major || p.Except[i].minor != e.minor) {
			i++
		}
		switch {
		case r.Allow != p.Allow && i < len(p.Except):
			p.Except[i].access |= e.access
		case r.Allow != p.Allow:
			p.Except = append(p.Except, e)
		case i < len(p.Except):
			if p.Except[i].access &^= e.access; p.Except[i].access == 0 {
				p.Except = append(p.Except[:i], p.Except[i+1:]...)
			}
		}
	}
	return p
}

// Allows reports whether p lets a process have access (BPF_DEVCG_ACC_* bits) to the
// device typ ('c' or 'b') major:minor.
func (p DevicePolicy) Allows(typ byte, major, minor int64, access int32) bool {
	for _, e := range p.Except {
		if e.typ != devType(typ) || e.major >= 0 && e.major != major || e.minor >= 0 && e.minor != minor {
			continue
		}
		if p.Allow && access&e.access != 0 {
			return false // any part of the access denied
		}
		if !p.Allow && access&^e.access == 0 {
			return true // the whole access allowed
		}
	}
	return p.Allow
}

// AllowsAll reports whether p allows every access to every device.
func (p DevicePolicy) AllowsAll() bool { return p.Allow && len(p.Except) == 0 }

func devType(t byte) int32 {
	if t == 'b' {
		return unix.BPF_DEVCG_DEV_BLOCK
	}
	return unix.BPF_DEVCG_DEV_CHAR
}

// accessBits are the BPF_DEVCG_ACC_* bits of an access made of r, w and m.
func accessBits(access string) int32 {
	var bits int32
	for _, c := range access {
		switch c {
		case 'r':
			bits |= unix.BPF_DEVCG_ACC_READ
		case 'w':
			bits |= unix.BPF_DEVCG_ACC_WRITE
		case 'm':
			bits |= unix.BPF_DEVCG_ACC_MKNOD
		}
	}
	return bits
}

// deviceProgram assembles the program of rules' policy.
func deviceProgram(rules []DeviceRule) []insn {
	const (
		ldxw   = unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W
		mov32  = unix.BPF_ALU | unix.BPF_MOV | unix.BPF_K
		movr32 = unix.BPF_ALU | unix.BPF_MOV | unix.BPF_X
		and32  = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
		rsh32  = unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K
		jne    = unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K
		jeq    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
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
	p := Policy(rules)
	for _, e := range p.Except {
		block := []insn{mkInsn(jne, rType, 0, 0, e.typ)}
		if e.major >= 0 {
			block = append(block, mkInsn(jne, rMajor, 0, 0, int32(e.major)))
		}
		if e.minor >= 0 {
			block = append(block, mkInsn(jne, rMinor, 0, 0, int32(e.minor)))
		}
		if p.Allow {
			// Denied if the access asks for any of the exception's: r0 = the part of
			// the access it covers; none goes on to the next.
			block = append(block, mkInsn(movr32, r0, rAccess, 0, 0), mkInsn(and32, r0, 0, 0, e.access), mkInsn(jeq, r0, 0, 0, 0))
		} else if e.access != all {
			// Allowed if the exception covers the whole access: r0 = the part it
			// does not; any goes on to the next.
			block = append(block, mkInsn(movr32, r0, rAccess, 0, 0), mkInsn(and32, r0, 0, 0, ^e.access&all), mkInsn(jne, r0, 0, 0, 0))
		}
		block = append(block, verdict(!p.Allow)...)
		// Every jump of the block goes past its end, to the next exception's block.
		for j := range block {
			if block[j].code == jne || block[j].code == jeq {
				block[j].off = int16(len(block) - j - 1)
			}
		}
		prog = append(prog, block...)
	}
	return append(prog, verdict(p.Allow)...)
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

// loadProgram loads prog.
func loadProgram(prog []insn) (int, unix.Errno) {
	attr := progLoadAttr{progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE, insnCnt: uint32(len(prog)),
		expectedAttachType: unix.BPF_CGROUP_DEVICE}
	copy(attr.progName[:], "launch_devices")
	// The addresses are taken with no call before the system call, so no stack
	// growth can move what they point to; KeepAlive keeps it for the call.
	attr.insns = uint64(uintptr(unsafe.Pointer(&prog[0])))
	attr.license = uint64(uintptr(unsafe.Pointer(&license[0])))
	// SAFETY: attr and what it points to are alive until the call returns.
	fd, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(prog)
	return int(fd), e
}

// attachDevices loads the program for rules and attaches it to the cgroup v2
// directory dir, with BPF_F_ALLOW_MULTI: a program attached below it later runs
// as well as this one, and cannot widen what it denies.
func attachDevices(dir string, rules []DeviceRule) error {
	prog := deviceProgram(rules)
	fd, e := loadProgram(prog)
	if e != 0 {
		return errors.New("load the device filter (bpf BPF_PROG_LOAD): " + e.Error())
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
