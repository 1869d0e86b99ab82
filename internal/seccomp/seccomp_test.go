package seccomp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"launch/internal/policy"
	"launch/internal/testutil"
)

// TestKernelAcceptsFilter loads the host arch's filter for real in a helper process and
// checks what the kernel answers: the calls the filter decides get the filter's
// answers, which differ from what the kernel would say without it.
func TestKernelAcceptsFilter(t *testing.T) {
	if testutil.IsHelper(t.Name()) {
		os.Exit(filteredCalls())
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$")
	cmd.Env = append(os.Environ(), testutil.HelperEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{
		"getppid: ok",
		"personality(0xffffffff): ok",
		"mount: operation not permitted",
		"unshare(CLONE_NEWUSER): operation not permitted",
		"clone3: function not implemented",
		"personality(ADDR_NO_RANDOMIZE): operation not permitted",
		"socket(AF_VSOCK): operation not permitted",
		"ioctl(TIOCSTI): operation not permitted",
		"Seccomp:\t2",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("helper output lacks %q:\n%s", want, got)
		}
	}
}

// filteredCalls runs in the helper: it loads the filter on its own thread and reports
// each call's result on stdout.
func filteredCalls() int {
	runtime.LockOSThread() // seccomp and the calls below are per thread
	prog, err := Program()
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Println("no_new_privs:", err)
		return 1
	}
	// SAFETY: prog points at the package's filter array, which lives as long as the process.
	if _, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(prog))); e != 0 {
		fmt.Println("seccomp:", e)
		return 1
	}
	report := func(name string, e unix.Errno) {
		if e == 0 {
			fmt.Printf("%s: ok\n", name)
		} else {
			fmt.Printf("%s: %v\n", name, e)
		}
	}
	_, _, e := unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	report("getppid", e)
	_, _, e = unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	report("personality(0xffffffff)", e)
	_, _, e = unix.RawSyscall(unix.SYS_PERSONALITY, 0x0040000, 0, 0) // ADDR_NO_RANDOMIZE
	report("personality(ADDR_NO_RANDOMIZE)", e)
	// Without the filter, unprivileged mount fails with EPERM as well, but creating a
	// user namespace succeeds, and clone3 exists on every kernel this runs on.
	report("mount", errno(unix.Mount("none", "/nonexistent-launch-test", "tmpfs", 0, "")))
	report("unshare(CLONE_NEWUSER)", errno(unix.Unshare(unix.CLONE_NEWUSER)))
	_, _, e = unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0)
	report("clone3", e)
	_, _, e = unix.RawSyscall(unix.SYS_SOCKET, unix.AF_VSOCK, unix.SOCK_STREAM, 0)
	report("socket(AF_VSOCK)", e)
	var c byte = 'x'
	_, _, e = unix.RawSyscall(unix.SYS_IOCTL, 0, unix.TIOCSTI, uintptr(unsafe.Pointer(&c)))
	report("ioctl(TIOCSTI)", e)
	status, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "Seccomp:") {
			fmt.Println(line)
		}
	}
	return 0
}

func errno(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// TestProgram runs the filter this package embeds for the running arch in the BPF VM,
// as Program returns it with and without a lift, over calls whose answers are written
// out here: allowed, refused, refused by argument, ENOSYS, a foreign arch.
func TestProgram(t *testing.T) {
	arch, ok := policy.LookupArch(runtime.GOARCH)
	if !ok {
		t.Fatalf("no arch entry for %s", runtime.GOARCH)
	}
	const (
		allow  = unix.SECCOMP_RET_ALLOW
		eperm  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
		kill   = unix.SECCOMP_RET_KILL_PROCESS
	)
	for _, tt := range []struct {
		lift   []string
		packet uint32 // socket(AF_PACKET)
	}{{nil, eperm}, {[]string{"packet"}, allow}} {
		prog, err := Program(tt.lift...)
		if err != nil {
			t.Fatal(err)
		}
		raw := make([]bpf.RawInstruction, prog.Len)
		for i, in := range unsafe.Slice(prog.Filter, prog.Len) {
			raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
		}
		vm := testutil.VM(t, raw)
		for _, c := range []struct {
			name string
			arch uint32
			nr   uintptr
			args []uint64
			want uint32
		}{
			{"getppid", arch.AuditArch, unix.SYS_GETPPID, nil, allow},
			{"mount", arch.AuditArch, unix.SYS_MOUNT, nil, eperm},
			{"socket(AF_INET)", arch.AuditArch, unix.SYS_SOCKET, []uint64{unix.AF_INET}, allow},
			{"socket(AF_VSOCK)", arch.AuditArch, unix.SYS_SOCKET, []uint64{unix.AF_VSOCK}, eperm},
			{"socket(AF_PACKET)", arch.AuditArch, unix.SYS_SOCKET, []uint64{unix.AF_PACKET}, tt.packet},
			{"clone3", arch.AuditArch, unix.SYS_CLONE3, nil, enosys},
			{"a number past every table", arch.AuditArch, 0xfffffff0, nil, enosys},
			{"getppid, foreign arch", unix.AUDIT_ARCH_PARISC, unix.SYS_GETPPID, nil, kill},
		} {
			got, err := vm.Run(policy.VMData(arch.BigEndian, c.arch, uint32(c.nr), c.args...))
			if err != nil || uint32(got) != c.want {
				t.Errorf("Program(%q): %s = %#x (%v), want %#x", tt.lift, c.name, got, err, c.want)
			}
		}
	}
	if maxPath <= 0 || maxPath > len(filter) {
		t.Errorf("maxPath = %d for a %d-instruction filter", maxPath, len(filter))
	}
}
