package ns

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Signals builds a kernel signal set of sigs, for Block and Reap.
func Signals(sigs ...unix.Signal) *unix.Sigset_t {
	set := new(unix.Sigset_t)
	bits := uint(unsafe.Sizeof(set.Val[0])) * 8
	for _, s := range sigs {
		set.Val[uint(s-1)/bits] |= 1 << (uint(s-1) % bits)
	}
	return set
}

// SetSignalMask sets the signal mask to set. Runs in the child.
//
//go:nosplit
//go:norace
func SetSignalMask(set *unix.Sigset_t) unix.Errno {
	// SAFETY: set is prepared by the parent.
	_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(set)), 0, sigsetSize, 0, 0)
	return e
}

// ForkInit splits the child for --init: the calling process stays PID 1 and becomes a
// reaper, and a new process (PID 2) returns to run COMMAND. PID 1 of a PID namespace
// gets no signal it has no handler for, and must reap orphans; a program not written
// to be an init does neither (runc#1126, tini). Runs in the child.
//
// Before the fork, PID 1 blocks block (the signals in wait, plus SIGTTOU), so that
// none is lost before it waits for them; the new process sets the mask back to
// unblock before it execs. With a terminal (tty >= 0), COMMAND takes the terminal's
// foreground in a process group of its own first, so that keystrokes signal it and not
// PID 1, which then forwards only what the launcher sends. PID 1 returns only if it
// cannot close its descriptors: it reaps until COMMAND exits and then exits with
// COMMAND's status (128+N for signal N), which takes every process left in the
// namespace with it.
//
//go:nosplit
//go:norace
func ForkInit(block, wait, unblock *unix.Sigset_t, tty int) unix.Errno {
	// PID 1 is not dumpable from before the fork, so that no process of the container
	// can ptrace it even for an instant; COMMAND's exec makes itself dumpable again.
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_DUMPABLE, 0, 0, 0, 0, 0); e != 0 {
		return e
	}
	// SAFETY: the sets are prepared by the parent.
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, uintptr(unsafe.Pointer(block)), 0, sigsetSize, 0, 0); e != 0 {
		return e
	}
	pid, e := rawClone(0)
	if e != 0 {
		return e
	}
	if pid == 0 {
		if tty >= 0 {
			if e := Foreground(tty); e != 0 {
				return e
			}
		}
		return SetSignalMask(unblock)
	}
	// PID 1 keeps nothing the container could use, and not the error pipe, which
	// the launcher reads until COMMAND's exec closes the last copy: no descriptor past
	// stdio. If that fails, the step fails, and PID 2 dies with PID 1.
	if e := CloseAll(); e != 0 {
		return e
	}
	reap(int(pid), wait)
	return 0
}

//go:nosplit
//go:norace
func reap(child int, wait *unix.Sigset_t) {
	for {
		// SAFETY: wait is prepared by the parent; no siginfo or timeout is passed.
		sig, _, e := unix.RawSyscall6(unix.SYS_RT_SIGTIMEDWAIT, uintptr(unsafe.Pointer(wait)), 0, 0, sigsetSize, 0, 0)
		if e != 0 {
			continue // EINTR
		}
		if unix.Signal(sig) != unix.SIGCHLD {
			unix.RawSyscall(unix.SYS_KILL, uintptr(child), sig, 0)
			continue
		}
		for {
			var ws unix.WaitStatus
			// SAFETY: ws is on this stack.
			pid, _, e := unix.RawSyscall6(unix.SYS_WAIT4, ^uintptr(0), uintptr(unsafe.Pointer(&ws)), unix.WNOHANG, 0, 0, 0)
			if e != 0 || pid == 0 {
				break
			}
			if int(pid) != child {
				continue // an orphan, reaped
			}
			switch {
			case ws.Exited():
				Exit(ws.ExitStatus())
			case ws.Signaled():
				Exit(128 + int(ws.Signal()))
			}
		}
	}
}
