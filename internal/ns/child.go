package ns

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The functions in this file run in the child, between fork and exec; see the package
// documentation for what that forbids.

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
		Exit(125)
	}
	return 0
}

// Unshare moves the child into new namespaces of the kinds in flags.
//
//go:nosplit
//go:norace
func Unshare(flags uintptr) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_UNSHARE, flags, 0, 0)
	return e
}

// Sethostname sets the UTS namespace's hostname to the n bytes at name.
//
//go:nosplit
//go:norace
func Sethostname(name *byte, n int) unix.Errno {
	// SAFETY: name points into a byte slice the parent prepared and keeps alive.
	_, _, e := unix.RawSyscall(unix.SYS_SETHOSTNAME, uintptr(unsafe.Pointer(name)), uintptr(n), 0)
	return e
}

// LoopbackUp brings up lo in the new network namespace, which starts down: ifr is
// an ifreq naming lo with IFF_UP set.
//
//go:nosplit
//go:norace
func LoopbackUp(ifr *unix.Ifreq) unix.Errno {
	s, _, e := unix.RawSyscall(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		return e
	}
	// SAFETY: ifr is prepared by the parent; x/sys's Ifreq is the kernel's struct ifreq.
	_, _, e = unix.RawSyscall(unix.SYS_IOCTL, s, unix.SIOCSIFFLAGS, uintptr(unsafe.Pointer(ifr)))
	unix.RawSyscall(unix.SYS_CLOSE, s, 0, 0)
	return e
}

// Setsid starts a new session without a controlling terminal, so that COMMAND cannot
// push input into the caller's terminal with TIOCSTI (bubblewrap CVE-2017-5226).
//
//go:nosplit
//go:norace
func Setsid() unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_SETSID, 0, 0, 0)
	return e
}

// Foreground puts the child in a process group of its own and makes it the
// terminal's foreground group, as a shell does for a job: keystrokes such as Ctrl-C
// and Ctrl-Z then signal the container and not the launcher. It must run while
// signals are still blocked (before AfterForkInChild): a background process that
// sets the foreground group is sent SIGTTOU unless that signal is blocked.
//
//go:nosplit
//go:norace
func Foreground(tty int) unix.Errno {
	if _, _, e := unix.RawSyscall(unix.SYS_SETPGID, 0, 0, 0); e != 0 {
		return e
	}
	pid, _, _ := unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
	pgrp := int32(pid)
	// SAFETY: pgrp is on this stack for the duration of the call.
	_, _, e := unix.RawSyscall(unix.SYS_IOCTL, uintptr(tty), unix.TIOCSPGRP, uintptr(unsafe.Pointer(&pgrp)))
	return e
}

// Write writes the n bytes at p to fd, for joining a cgroup by writing "0" to its
// tasks or cgroup.procs file.
//
//go:nosplit
//go:norace
func Write(fd int, p *byte, n int) unix.Errno {
	// SAFETY: p points into a byte slice the parent prepared and keeps alive.
	_, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(p)), uintptr(n))
	return e
}

// Now returns CLOCK_MONOTONIC in nanoseconds, for -v's step timings. The vDSO is
// runtime code and not safe here; the system call costs well under a microsecond.
//
//go:nosplit
//go:norace
func Now() int64 {
	var ts unix.Timespec
	// SAFETY: ts is on this stack for the duration of the call.
	unix.RawSyscall(unix.SYS_CLOCK_GETTIME, unix.CLOCK_MONOTONIC, uintptr(unsafe.Pointer(&ts)), 0)
	return int64(ts.Sec)*1e9 + int64(ts.Nsec)
}

// SetNofile sets RLIMIT_NOFILE to lim. Go raises its own soft limit to the hard one at
// start; COMMAND gets the one the launcher was started with, as os/exec would give
// it. Runs in the child.
//
//go:nosplit
//go:norace
func SetNofile(lim *unix.Rlimit) unix.Errno {
	// SAFETY: lim is prepared by the parent.
	_, _, e := unix.RawSyscall6(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, uintptr(unsafe.Pointer(lim)), 0, 0, 0)
	return e
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
