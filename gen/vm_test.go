package main

import (
	"encoding/binary"
	"os"
	"slices"
	"testing"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompData encodes a struct seccomp_data for golang.org/x/net/bpf's VM. The VM
// loads 32-bit words big-endian whatever the host; the kernel loads them in the
// target's order. So each 32-bit field goes big-endian at the offset where the target
// keeps it: nr and arch at 0 and 4, and each 64-bit argument's low half at +0 on a
// little-endian target and at +4 on a big-endian one.
func seccompData(a *abi, arch, nr uint32, args ...uint64) []byte {
	b := make([]byte, sizeofSeccompData)
	binary.BigEndian.PutUint32(b[0:], nr)
	binary.BigEndian.PutUint32(b[4:], arch)
	for i, v := range args {
		lo, hi := 16+8*i, 16+8*i+4
		if a.bigEndian {
			lo, hi = hi, lo
		}
		binary.BigEndian.PutUint32(b[lo:], uint32(v))
		binary.BigEndian.PutUint32(b[hi:], uint32(v>>32))
	}
	return b
}

func retName(v int) string {
	switch uint32(v) {
	case uint32(retAllow):
		return "ALLOW"
	case uint32(retEPERM):
		return "ERRNO(EPERM)"
	case uint32(retENOSYS):
		return "ERRNO(ENOSYS)"
	case uint32(retKill):
		return "KILL_PROCESS"
	}
	return "unknown"
}

// realFilters compiles the project's syscalls.txt for every target.
func realFilters(t *testing.T, tb *tables) *filterSet {
	t.Helper()
	data, err := os.ReadFile("../syscalls.txt")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := parseSyscalls("syscalls.txt", data)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := compile("syscalls.txt", rules, tb)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestFilterVM runs every target's filter, as generated from the real syscalls.txt, in
// the BPF VM over a table of system calls, for the native ABI and each compat ABI.
func TestFilterVM(t *testing.T) {
	tb := testTables(t)
	fs := realFilters(t, tb)
	const (
		threadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD |
			unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID
		high = 1 << 32 // a high bit that the kernel drops from int arguments
	)
	for _, tg := range targets {
		// vmWith is the target's filter with the refusals of lift lifted, as the
		// launcher's --allow-socket does it (seccomp.Program): each of their tests' true
		// branch sent where its false branch goes.
		vmWith := func(lift ...string) *bpf.VM {
			raw := slices.Clone(fs.prog[tg.goarch])
			for _, name := range lift {
				for _, pc := range fs.lifts[tg.goarch][name] {
					raw[pc].Jt = raw[pc].Jf
				}
			}
			insns, ok := bpf.Disassemble(raw)
			if !ok {
				t.Fatalf("%s: program does not disassemble", tg.goarch)
			}
			vm, err := bpf.NewVM(insns)
			if err != nil {
				t.Fatalf("%s: %v", tg.goarch, err)
			}
			return vm
		}
		plain, packet, all := vmWith(), vmWith("packet"), vmWith("packet", "audit", "uevent", "socketcall")
		vm := plain
		for i, ga := range append([]string{tg.goarch}, tg.compat...) {
			a := tb.abis[ga]
			compat := i > 0
			run := func(name string, nr uint32, args []uint64, want seccomp.Action) {
				t.Helper()
				got, err := vm.Run(seccompData(a, a.auditArch, nr, args...))
				if err != nil {
					t.Fatalf("%s/%s: %s: %v", tg.goarch, ga, name, err)
				}
				if uint32(got) != uint32(want) {
					t.Errorf("%s/%s: %s(nr %d, %#x) = %s, want %s", tg.goarch, ga, name, nr, args, retName(got), retName(int(want)))
				}
			}
			call := func(name string, want seccomp.Action, args ...uint64) {
				t.Helper()
				nr, ok := a.nr[name]
				if !ok {
					return // not on this arch
				}
				run(name, nr, args, want)
			}
			cloneFlags := func(flags uint64) []uint64 {
				if ga == "s390x" {
					return []uint64{0, flags}
				}
				return []uint64{flags}
			}
			call("read", retAllow)
			call("getppid", retAllow)
			call("exit_group", retAllow)
			call("mount", retEPERM)
			call("reboot", retEPERM)
			call("kexec_load", retEPERM)
			call("unshare", retEPERM)
			call("setns", retEPERM)
			call("bpf", retEPERM)
			call("init_module", retEPERM)
			call("clone3", retENOSYS)
			call("chroot", retAllow)
			call("clone", retAllow, cloneFlags(threadFlags)...)
			call("clone", retAllow, cloneFlags(uint64(unix.SIGCHLD))...)
			call("clone", retEPERM, cloneFlags(unix.CLONE_NEWUSER)...)
			call("clone", retEPERM, cloneFlags(unix.CLONE_NEWNS|uint64(unix.SIGCHLD))...)
			call("personality", retAllow, 0)
			call("personality", retAllow, 0xffffffff)
			call("personality", retEPERM, 0x0040000) // ADDR_NO_RANDOMIZE, which x/sys lacks
			call("socket", retAllow, unix.AF_INET)
			call("socket", retAllow, unix.AF_UNIX)
			call("socket", retEPERM, unix.AF_VSOCK)
			call("socket", retEPERM, unix.AF_VSOCK|high)
			call("ioctl", retAllow, 1, a.consts["TCGETS"])
			call("ioctl", retEPERM, 1, a.consts["TIOCSTI"])
			call("ioctl", retEPERM, 1, a.consts["TIOCSTI"]|high)
			call("ioctl", retEPERM, 1, a.consts["TIOCSETD"])
			call("ioctl", retEPERM, 1, a.consts["TIOCCONS"])
			call("ioctl", retEPERM, 1, a.consts["TIOCSSERIAL"])

			// Socket families, and the refusals that --allow-socket lifts.
			call("socket", retEPERM, unix.AF_ALG, unix.SOCK_SEQPACKET)
			call("socket", retAllow, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE)
			call("socket", retAllow, unix.AF_INET, unix.SOCK_RAW, unix.NETLINK_AUDIT) // only netlink's protocols are tested
			for _, tt := range []struct {
				vm     *bpf.VM
				packet seccomp.Action
				audit  seccomp.Action
			}{{plain, retEPERM, retEPERM}, {packet, retAllow, retEPERM}, {all, retAllow, retAllow}} {
				vm = tt.vm
				call("socket", tt.packet, unix.AF_PACKET, unix.SOCK_RAW, 0x300)
				call("socket", tt.audit, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT)
				call("socket", tt.audit, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_KOBJECT_UEVENT)
				call("socket", tt.audit, unix.AF_NETLINK, unix.SOCK_DGRAM, unix.NETLINK_AUDIT|high)
				call("socket", retEPERM, unix.AF_VSOCK)
			}
			// socketcall(2) hides the family in memory: as a 64-bit kernel's compat ABI
			// its SYS_SOCKET (1) is refused unless lifted; natively it is allowed.
			vm = plain
			socketcall := retAllow
			if compat {
				socketcall = retEPERM
			}
			call("socketcall", socketcall, 1)
			call("socketcall", retAllow, 3) // SYS_CONNECT
			vm = all
			call("socketcall", retAllow, 1)
			vm = plain
			run("past the table", a.maxNr+1, nil, retENOSYS)
			run("far past the table", 0xfffffff0, nil, retENOSYS)
			if ga == "amd64" {
				run("x32 read", 0x40000000|a.nr["read"], nil, retENOSYS)
				run("x32 mount", 0x40000000|a.nr["mount"], nil, retENOSYS)
			}
			if ga == "arm" {
				call("set_tls", retAllow)
				call("cacheflush", retAllow)
				call("breakpoint", retAllow)
				call("usr26", retEPERM)
				run("ARM private past the table", armPrivateBase+0x100, nil, retENOSYS)
			}
		}
		// A foreign audit arch (PA-RISC runs on none of these) kills the process.
		got, err := vm.Run(seccompData(tb.abis[tg.goarch], unix.AUDIT_ARCH_PARISC, tb.abis[tg.goarch].nr["read"]))
		if err != nil || uint32(got) != uint32(retKill) {
			t.Errorf("%s: read with a foreign audit arch = %s (%v), want KILL_PROCESS", tg.goarch, retName(got), err)
		}
	}
}

// TestFilterShape checks each program against the kernel's rules and reports the
// longest path per ABI; the amd64 target must stay at 24 instructions or fewer.
func TestFilterShape(t *testing.T) {
	tb := testTables(t)
	fs := realFilters(t, tb)
	for _, tg := range targets {
		prog := fs.prog[tg.goarch]
		if err := validate(prog); err != nil {
			t.Errorf("%s: %v", tg.goarch, err)
		}
		for _, s := range fs.stats[tg.goarch] {
			t.Logf("%-8s %-22s %4d instructions in all, at most %2d per call (%d allowed)", tg.goarch, s.a.auditName, len(prog), s.maxPath, s.allowed)
			if tg.goarch == "amd64" && s.a.goarch == "amd64" && s.maxPath > 24 {
				t.Errorf("amd64: worst case %d instructions, want at most 24", s.maxPath)
			}
		}
		if got := longestPath(prog, 0); got > 24+4 {
			t.Errorf("%s: longest path %d instructions", tg.goarch, got)
		}
	}
}

// TestValidate checks that the validator refuses what the kernel would.
func TestValidate(t *testing.T) {
	ret := bpf.RetConstant{Val: uint32(retAllow)}
	for _, tt := range []struct {
		name string
		prog []bpf.Instruction
		ok   bool
	}{
		{"minimal", []bpf.Instruction{ret}, true},
		{"load nr", []bpf.Instruction{bpf.LoadAbsolute{Off: 0, Size: 4}, ret}, true},
		{"unaligned load", []bpf.Instruction{bpf.LoadAbsolute{Off: 2, Size: 4}, ret}, false},
		{"load past seccomp_data", []bpf.Instruction{bpf.LoadAbsolute{Off: 64, Size: 4}, ret}, false},
		{"half-word load", []bpf.Instruction{bpf.LoadAbsolute{Off: 0, Size: 2}, ret}, false},
		{"jump past the end", []bpf.Instruction{bpf.JumpIf{Cond: bpf.JumpEqual, Val: 1, SkipTrue: 5}, ret}, false},
		{"ja past the end", []bpf.Instruction{bpf.Jump{Skip: 1}, ret}, false},
		{"no return at the end", []bpf.Instruction{ret, bpf.LoadAbsolute{Off: 0, Size: 4}}, false},
		{"scratch memory", []bpf.Instruction{bpf.StoreScratch{Src: bpf.RegA, N: 0}, ret}, false},
		{"empty", nil, false},
		{"too long", func() []bpf.Instruction {
			p := make([]bpf.Instruction, maxInsns+1)
			for i := range p {
				p[i] = ret
			}
			return p
		}(), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := bpf.Assemble(tt.prog)
			if err != nil {
				t.Fatal(err)
			}
			err = validate(raw)
			if (err == nil) != tt.ok {
				t.Errorf("validate(%v) = %v, want ok=%v", tt.prog, err, tt.ok)
			}
		})
	}
}
