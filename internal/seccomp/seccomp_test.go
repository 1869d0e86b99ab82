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

	"golang.org/x/sys/unix"

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

// TestProgram checks the filter this package embeds for the running arch.
func TestProgram(t *testing.T) {
	prog, err := Program()
	if err != nil {
		t.Fatal(err)
	}
	if int(prog.Len) != len(filter) || prog.Len == 0 || prog.Len > 4096 {
		t.Errorf("Program().Len = %d, want %d (1 to 4096)", prog.Len, len(filter))
	}
	if maxPath <= 0 || maxPath > int(prog.Len) {
		t.Errorf("maxPath = %d for a %d-instruction filter", maxPath, prog.Len)
	}
}
