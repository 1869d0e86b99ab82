package proc

import (
	"unsafe"

	"launch/internal/fork"

	"golang.org/x/sys/unix"
)

// The functions in this file run in the child, between fork and exec (see package fork).

// DieWithParent arranges for the child to be killed when the launcher dies, then
// checks that it has not died already: parentEnd is the read end of a pipe whose only
// write end left is the parent's, so it reports POLLHUP once the parent is gone.
// (getppid cannot tell: in a new PID namespace the parent's pid reads as 0 either way.)
// A container whose launcher was killed must not run on unsupervised.
//
//go:nosplit
//go:norace
func DieWithParent(parentEnd int) unix.Errno {
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0, 0); e != 0 {
		return e
	}
	fds := unix.PollFd{Fd: int32(parentEnd), Events: unix.POLLIN}
	var zero unix.Timespec
	// SAFETY: fds and zero are on this stack for the duration of the call.
	_, _, e := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds)), 1, uintptr(unsafe.Pointer(&zero)), 0, 0, 0)
	if e != 0 {
		return e
	}
	if fds.Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
		fork.Exit(125)
	}
	return 0
}

// SetDumpable makes the child not dumpable (PR_SET_DUMPABLE 0) until COMMAND's exec,
// which restores it: meanwhile no process of the container may open the child's
// /proc/PID/exe (the launcher's binary, CVE-2019-5736), fd or mem. Runs in the child.
//
//go:nosplit
//go:norace
func SetDumpable() unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_DUMPABLE, 0, 0, 0, 0, 0)
	return e
}

// WaitGo blocks until the launcher writes a byte to the pipe fd, and exits if it
// closes the pipe instead (it died). The launcher first attaches to the child as its
// tracer (see launch.supervise). Runs in the child.
//
//go:nosplit
//go:norace
func WaitGo(fd int) unix.Errno {
	var b [1]byte
	for {
		// SAFETY: b is on this stack.
		n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), 1)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		if n == 0 {
			fork.Exit(125)
		}
		return 0
	}
}

// SetRlimit sets the limit resource to lim. Runs in the child.
//
//go:nosplit
//go:norace
func SetRlimit(resource int, lim *unix.Rlimit) unix.Errno {
	// SAFETY: lim is prepared by the parent.
	_, _, e := unix.RawSyscall6(unix.SYS_PRLIMIT64, 0, uintptr(resource), uintptr(unsafe.Pointer(lim)), 0, 0, 0)
	return e
}

// Dup makes newfd a copy of oldfd, without close-on-exec: COMMAND's stdout or stderr
// from the launcher's relay pipe. Runs in the child.
//
//go:nosplit
//go:norace
func Dup(oldfd, newfd int) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_DUP3, uintptr(oldfd), uintptr(newfd), 0)
	return e
}

// Ready tells launch create that a bundle's process is set up: it clears the
// parent-death signal (the process outlives launch create), then writes one byte to
// the error pipe errW and closes it. A launch create that died before reading it
// leaves no reader: the write fails (EPIPE, or SIGPIPE) and the process ends.
//
//go:nosplit
//go:norace
func Ready(errW int) unix.Errno {
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, 0, 0, 0, 0, 0); e != 0 {
		return e
	}
	b := [1]byte{1}
	// SAFETY: b is on this stack.
	if _, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(errW), uintptr(unsafe.Pointer(&b[0])), 1); e != 0 {
		fork.Exit(125)
	}
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(errW), 0, 0)
	return 0
}

// WaitStart blocks until launch start writes a byte to the start FIFO fd, which the
// process holds open for reading and writing (so it never reads an end of file), then
// closes it.
//
//go:nosplit
//go:norace
func WaitStart(fd int) unix.Errno {
	var b [1]byte
	for {
		// SAFETY: b is on this stack.
		_, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), 1)
		if e == unix.EINTR {
			continue
		}
		unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
		return e
	}
}

// NoParentDeath clears the parent-death signal: the process of launch exec lives on
// when launch exec ends.
//
//go:nosplit
//go:norace
func NoParentDeath() unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, 0, 0, 0, 0, 0)
	return e
}
