package main

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"launch/gen/xsys"
	"launch/internal/policy"
	"launch/internal/testutil"
)

var (
	allow = policy.Allow
	eperm = policy.Errno(unix.EPERM)
)

// realFilters compiles the project's syscalls.txt for every target.
func realFilters(t *testing.T, tb *tables) []filter {
	t.Helper()
	data, err := os.ReadFile("../syscalls.txt")
	if err != nil {
		t.Fatal(err)
	}
	s, err := policy.ParseSyscalls("syscalls.txt", data)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := compile(s, tb)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestFilterVM runs every target's filter, as generated from the real syscalls.txt, in
// the BPF VM over a table of system calls, for the native ABI and each compat ABI.
func TestFilterVM(t *testing.T) {
	tb := testTables(t)
	const (
		threadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD |
			unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID
		high = 1 << 32 // a high bit that the kernel drops from int arguments
	)
	for _, f := range realFilters(t, tb) {
		tg := f.arch
		// vmWith is the target's filter with the refusals of lift lifted, as the
		// launcher's --allow-socket does it (seccomp.Program): each of their tests' true
		// branch sent where its false branch goes.
		vmWith := func(lift ...string) *bpf.VM {
			raw := slices.Clone(f.prog.Insns)
			for _, name := range lift {
				for _, pc := range f.prog.Lifts[name] {
					raw[pc].Jt = raw[pc].Jf
				}
			}
			return testutil.VM(t, raw)
		}
		plain, packet, all := vmWith(), vmWith("packet"), vmWith("packet", "audit", "uevent", "socketcall")
		vm := plain
		for i, ga := range append([]string{tg.GOARCH}, tg.Compat...) {
			a := tb.abis[ga]
			compat := i > 0
			// The arch's own ENOSYS: MIPS's is 89, and a filter that answered the
			// compiling machine's 38 gave MIPS programs EL2NSYNC, on which glibc does
			// not fall back from clone3 (seen in make test-vm).
			n, ok := a.Consts["ENOSYS"]
			if !ok || strings.HasPrefix(ga, "mips") != (n == 89) {
				t.Fatalf("%s: ENOSYS is %d, %v in x/sys's tables", ga, n, ok)
			}
			enosys := policy.Errno(unix.Errno(n))
			run := func(name string, nr uint32, args []uint64, want policy.Action) {
				t.Helper()
				got, err := vm.Run(policy.VMData(a.BigEndian, a.AuditArch, nr, args...))
				if err != nil {
					t.Fatalf("%s/%s: %s: %v", tg.GOARCH, ga, name, err)
				}
				if policy.Action(got) != want {
					t.Errorf("%s/%s: %s(nr %d, %#x) = %v, want %v", tg.GOARCH, ga, name, nr, args, policy.Action(got), want)
				}
			}
			call := func(name string, want policy.Action, args ...uint64) {
				t.Helper()
				nr, ok := a.Nr[name]
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
			call("read", allow)
			call("getppid", allow)
			call("exit_group", allow)
			call("mount", eperm)
			call("reboot", eperm)
			call("kexec_load", eperm)
			call("unshare", eperm)
			call("setns", eperm)
			call("bpf", eperm)
			call("init_module", eperm)
			call("clone3", enosys)
			call("chroot", allow)
			call("clone", allow, cloneFlags(threadFlags)...)
			call("clone", allow, cloneFlags(uint64(unix.SIGCHLD))...)
			call("clone", eperm, cloneFlags(unix.CLONE_NEWUSER)...)
			call("clone", eperm, cloneFlags(unix.CLONE_NEWNS|uint64(unix.SIGCHLD))...)
			call("personality", allow, 0)
			call("personality", allow, 0xffffffff)
			call("personality", eperm, 0x0040000) // ADDR_NO_RANDOMIZE, which x/sys lacks
			call("socket", allow, unix.AF_INET)
			call("socket", allow, unix.AF_UNIX)
			call("socket", eperm, unix.AF_VSOCK)
			call("socket", eperm, unix.AF_VSOCK|high)
			call("ioctl", allow, 1, a.Consts["TCGETS"])
			call("ioctl", eperm, 1, a.Consts["TIOCSTI"])
			call("ioctl", eperm, 1, a.Consts["TIOCSTI"]|high)
			call("ioctl", eperm, 1, a.Consts["TIOCSETD"])
			call("ioctl", eperm, 1, a.Consts["TIOCCONS"])
			call("ioctl", eperm, 1, a.Consts["TIOCSSERIAL"])

			// Socket families, and the refusals that --allow-socket lifts.
			call("socket", eperm, unix.AF_ALG, unix.SOCK_SEQPACKET)
			call("socket", allow, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE)
			call("socket", allow, unix.AF_INET, unix.SOCK_RAW, unix.NETLINK_AUDIT) // only netlink's protocols are tested
			for _, tt := range []struct {
				vm     *bpf.VM
				packet policy.Action
				audit  policy.Action
			}{{plain, eperm, eperm}, {packet, allow, eperm}, {all, allow, allow}} {
				vm = tt.vm
				call("socket", tt.packet, unix.AF_PACKET, unix.SOCK_RAW, 0x300)
				call("socket", tt.audit, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT)
				call("socket", tt.audit, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_KOBJECT_UEVENT)
				call("socket", tt.audit, unix.AF_NETLINK, unix.SOCK_DGRAM, unix.NETLINK_AUDIT|high)
				call("socket", eperm, unix.AF_VSOCK)
			}
			// socketcall(2) hides the family in memory: as a 64-bit kernel's compat ABI
			// its SYS_SOCKET (1) is refused unless lifted; natively it is allowed.
			vm = plain
			socketcall := allow
			if compat {
				socketcall = eperm
			}
			call("socketcall", socketcall, 1)
			call("socketcall", allow, 3) // SYS_CONNECT
			vm = all
			call("socketcall", allow, 1)
			vm = plain
			run("past the table", a.MaxNr+1, nil, enosys)
			run("far past the table", 0xfffffff0, nil, enosys)
			if ga == "amd64" {
				run("x32 read", 0x40000000|a.Nr["read"], nil, enosys)
				run("x32 mount", 0x40000000|a.Nr["mount"], nil, enosys)
			}
			if ga == "arm" {
				call("set_tls", allow)
				call("cacheflush", allow)
				call("breakpoint", allow)
				call("usr26", eperm)
				run("ARM private past the table", xsys.ARMPrivateBase+0x100, nil, enosys)
			}
		}
		// A foreign audit arch (PA-RISC runs on none of these) kills the process.
		a := tb.abis[tg.GOARCH]
		got, err := vm.Run(policy.VMData(a.BigEndian, unix.AUDIT_ARCH_PARISC, a.Nr["read"]))
		if err != nil || policy.Action(got) != policy.KillProcess {
			t.Errorf("%s: read with a foreign audit arch = %v (%v), want kill_process", tg.GOARCH, policy.Action(got), err)
		}
	}
}

// TestFilterShape reports the longest path per ABI; the amd64 target must stay at 24
// instructions or fewer.
func TestFilterShape(t *testing.T) {
	for _, f := range realFilters(t, testTables(t)) {
		for _, s := range f.stats {
			t.Logf("%-8s %-22s %4d instructions in all, at most %2d per call (%d allowed)", f.arch.GOARCH, s.auditName(), len(f.prog.Insns), s.maxPath, s.allowed)
			if f.arch.GOARCH == "amd64" && s.abi.Name == "amd64" && s.maxPath > 24 {
				t.Errorf("amd64: worst case %d instructions, want at most 24", s.maxPath)
			}
			if s.maxPath > 24+4 {
				t.Errorf("%s: %s: longest path %d instructions", f.arch.GOARCH, s.abi.Name, s.maxPath)
			}
		}
	}
}

// TestAssemblersAgree compiles every target's filter, from the real syscalls.txt, with
// go-seccomp-bpf's assembler (as gen writes them) and with the compiler's own (as the
// launcher compiles profiles), and wants the same program to the bit.
func TestAssemblersAgree(t *testing.T) {
	tb := testTables(t)
	data, err := os.ReadFile("../syscalls.txt")
	if err != nil {
		t.Fatal(err)
	}
	s, err := policy.ParseSyscalls("syscalls.txt", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range policy.Arches {
		var tabs []policy.Table
		for i, ga := range append([]string{arch.GOARCH}, arch.Compat...) {
			tab, _, err := s.Table(tb.abis[ga], i > 0)
			if err != nil {
				t.Fatal(err)
			}
			tabs = append(tabs, tab)
		}
		lib, err := policy.CompileWith(newLibraryLeaf, tabs, policy.KillProcess)
		if err != nil {
			t.Fatal(err)
		}
		own, err := policy.Compile(tabs, policy.KillProcess)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(lib.Insns, own.Insns) || !reflect.DeepEqual(lib.Lifts, own.Lifts) {
			t.Errorf("%s: the two assemblers made different programs (%d and %d instructions)", arch.GOARCH, len(lib.Insns), len(own.Insns))
		}
	}
}
