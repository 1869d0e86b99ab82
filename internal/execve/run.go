package execve

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/fork"
)

// empty is the empty path execveat(2) takes with AT_EMPTY_PATH.
var empty = [1]byte{0}

// Run runs the program open at fd (opened where its path was to be resolved, O_PATH
// will do) as a child of the caller, with argv and envv (nil-terminated), the pipe
// stdin as its standard input and the caller's standard output and error, and waits
// for it: it returns its wait status. Its signal handlers and mask are the launcher's
// defaults. The program gets fd itself, without close-on-exec, so that a #! script
// can be run through /proc/self/fd. Runs in the child: a bundle's createContainer
// hooks, in the container's namespaces before pivot_root.
//
//go:nosplit
//go:norace
func Run(fd, stdin int, argv, envv []*byte) (unix.WaitStatus, unix.Errno) {
	pid, e := fork.RawClone(0)
	if e != 0 {
		return 0, e
	}
	if pid == 0 {
		fork.AfterForkInChild()
		unix.RawSyscall(unix.SYS_DUP3, uintptr(stdin), 0, 0)
		unix.RawSyscall(unix.SYS_FCNTL, uintptr(fd), unix.F_SETFD, 0)
		// SAFETY: empty, argv and envv are NUL-terminated and nil-terminated, the
		// launcher's, alive for the process's lifetime.
		unix.RawSyscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(&empty[0])),
			uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])), unix.AT_EMPTY_PATH, 0)
		fork.Exit(127)
	}
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(stdin), 0, 0)
	var ws unix.WaitStatus
	for {
		// SAFETY: ws is on this stack.
		_, _, e = unix.RawSyscall6(unix.SYS_WAIT4, pid, uintptr(unsafe.Pointer(&ws)), 0, 0, 0, 0)
		if e != unix.EINTR {
			return ws, e
		}
	}
}
