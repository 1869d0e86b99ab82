package execve

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/fork"
)

// empty is the empty path execveat(2) takes with AT_EMPTY_PATH.
var empty = [1]byte{0}

// Run runs the program open at fd (opened where its path was to be resolved, O_PATH
// will do) as a child of the caller, with argv and envv (nil-terminated), the
// descriptor stdin as its standard input (Run closes it) and the caller's standard
// output and error, and waits for it: it returns its wait status. Its signal handlers
// and mask are the launcher's defaults. The program gets fd itself, without
// close-on-exec, so that a #! script can be run through /proc/self/fd; an exec that
// fails returns its errno. With a
// timeout (ms, 0 for none) the program is killed when it runs longer, and Run
// returns ETIMEDOUT; the wait then needs pidfd_open(2) (Linux 5.3), without which it
// has no limit. nested runs the program with no_new_privs, in a Landlock domain of its
// own below the caller's. Runs in the child: a bundle's createContainer hooks, in the
// container's namespaces before pivot_root, and its startContainer hooks, in the
// container, after launch start.
//
//go:nosplit
//go:norace
func Run(fd, stdin int, argv, envv []*byte, timeout int, nested bool) (unix.WaitStatus, unix.Errno) {
	// A failed exec says its errno through a close-on-exec pipe, which a successful
	// one closes: Run returns it, rather than the child's status 127.
	// SAFETY: runPipe is the caller's own memory.
	if _, _, e := unix.RawSyscall(unix.SYS_PIPE2, uintptr(unsafe.Pointer(&runPipe[0])), unix.O_CLOEXEC, 0); e != 0 {
		runPipe = [2]int32{-1, -1}
	}
	pid, e := fork.RawClone(0)
	if e != 0 {
		// The pipe goes with the caller, which fails and exits.
		unix.RawSyscall(unix.SYS_CLOSE, uintptr(stdin), 0, 0)
		return 0, e
	}
	if pid == 0 {
		fork.AfterForkInChild()
		if nested {
			// no_new_privs, and a Landlock domain nested in the caller's with the
			// same rule (ExecBeneathRoot): Landlock lets a process inspect or trace
			// only processes of its own domain or of domains nested in it, so the
			// program cannot reach its parent through /proc/PPID (its exe, the
			// launcher's binary on the host while a bundle's process has not exec'd
			// yet) or ptrace, nor signal it (Linux 6.12), whatever its capabilities.
			// A kernel without Landlock is no error (see ExecBeneathRoot): launch
			// refuses what would need it there.
			_, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0)
			if e != 0 || execBeneathRoot(true) != 0 {
				fork.Exit(126)
			}
		}
		unix.RawSyscall(unix.SYS_DUP3, uintptr(stdin), 0, 0)
		unix.RawSyscall(unix.SYS_FCNTL, uintptr(fd), unix.F_SETFD, 0)
		// SAFETY: empty, argv and envv are NUL-terminated and nil-terminated, the
		// launcher's, alive for the process's lifetime.
		_, _, e := unix.RawSyscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(&empty[0])),
			uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])), unix.AT_EMPTY_PATH, 0)
		runCode = int32(e)
		// SAFETY: runCode is this process's own memory.
		unix.RawSyscall(unix.SYS_WRITE, uintptr(runPipe[1]), uintptr(unsafe.Pointer(&runCode)), 4)
		fork.Exit(127)
	}
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(stdin), 0, 0)
	if e := execErr(); e != 0 {
		wait(pid)
		return 0, e
	}
	if timeout > 0 {
		if pidfd, _, e := unix.RawSyscall(unix.SYS_PIDFD_OPEN, pid, 0, 0); e == 0 {
			ready := waitReady(int(pidfd), timeout)
			unix.RawSyscall(unix.SYS_CLOSE, pidfd, 0, 0)
			if !ready {
				unix.RawSyscall(unix.SYS_KILL, pid, uintptr(unix.SIGKILL), 0)
				wait(pid)
				return 0, unix.ETIMEDOUT
			}
		}
	}
	return wait(pid)
}

// waitReady waits up to timeout ms (in steps of 10 ms, a signal cutting one short
// making the limit longer) for pidfd to say its process ended.
//
//go:nosplit
//go:norace
func waitReady(pidfd, timeout int) bool {
	step := unix.Timespec{Nsec: 10e6}
	for waited := 0; waited < timeout; waited += 10 {
		pfd := unix.PollFd{Fd: int32(pidfd), Events: unix.POLLIN}
		left := step
		// SAFETY: pfd and left are on this stack.
		n, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&left)), 0, 0, 0)
		if e == 0 && n > 0 || e != 0 && e != unix.EINTR {
			return true // ended; or the wait that follows has no limit
		}
	}
	return false
}

// wait waits for the child pid and returns its wait status.
//
//go:nosplit
//go:norace
func wait(pid uintptr) (unix.WaitStatus, unix.Errno) {
	var ws unix.WaitStatus
	for {
		// SAFETY: ws is on this stack.
		_, _, e := unix.RawSyscall6(unix.SYS_WAIT4, pid, uintptr(unsafe.Pointer(&ws)), 0, 0, 0, 0)
		if e != unix.EINTR {
			return ws, e
		}
	}
}

// runPipe and runCode are Run's pipe and the errno sent through it, variables of the
// package rather than on the nosplit stack: the caller (a bundle's process) and the
// hook's child each have their own copy, and Run runs one hook at a time.
var (
	runPipe [2]int32
	runCode int32
)

// execErr returns the errno the child sent through runPipe, or 0 once its exec closed
// the pipe; it closes the pipe.
//
//go:nosplit
//go:norace
func execErr() unix.Errno {
	if runPipe[0] < 0 {
		return 0
	}
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(runPipe[1]), 0, 0)
	runCode = 0
	for {
		// SAFETY: runCode is the caller's own memory.
		n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(runPipe[0]), uintptr(unsafe.Pointer(&runCode)), 4)
		if e != unix.EINTR {
			unix.RawSyscall(unix.SYS_CLOSE, uintptr(runPipe[0]), 0, 0)
			if e == 0 && n == 4 {
				return unix.Errno(runCode)
			}
			return 0
		}
	}
}
