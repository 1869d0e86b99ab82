package initproc

import (
	"unsafe"

	"launch/internal/execve"
	"launch/internal/fork"
	"launch/internal/proc"
	"launch/internal/tty"

	"golang.org/x/sys/unix"
)

// ForkInit splits the child for --init: the calling process stays PID 1 and becomes a
// reaper, and a new process (PID 2) returns to run COMMAND. PID 1 of a PID namespace
// gets no signal it has no handler for, and must reap orphans; a program not written
// to be an init does neither (runc#1126, tini). Runs in the child.
//
// Before the fork, PID 1 blocks block (the signals in wait, plus SIGTTOU), so that
// none is lost before it waits for them; the new process sets the mask back to
// unblock before it execs. With a terminal (term >= 0), COMMAND takes the terminal's
// foreground in a process group of its own first, so that keystrokes signal it and not
// PID 1, which then forwards only what the launcher sends; when COMMAND stops (Ctrl-Z),
// PID 1, which the kernel does not let stop, writes a byte to stopped, the launcher's
// pipe, so that the launcher can stop as the job it is. PID 1 never returns: it reaps
// until COMMAND exits and then exits with COMMAND's status (128+N for signal N), which
// takes every process left in the namespace with it.
//
// PID 1 stays the launcher's code: its argument memory, which /proc/1/cmdline shows
// to everyone in the container, is overwritten with a fixed name (args, see HideArgs),
// and it keeps no descriptor but stdio and stopped. PID 1 returns only if it cannot
// close its descriptors.
//
//go:nosplit
//go:norace
func ForkInit(block, wait, unblock *unix.Sigset_t, term, stopped int, args *Args) unix.Errno {
	// PID 1 is not dumpable from before the fork, so that no process of the container
	// can ptrace it even for an instant; COMMAND's exec makes itself dumpable again.
	if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_DUMPABLE, 0, 0, 0, 0, 0); e != 0 {
		return e
	}
	// SAFETY: the sets are prepared by the parent.
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, uintptr(unsafe.Pointer(block)), 0, proc.SigsetSize, 0, 0); e != 0 {
		return e
	}
	pid, e := fork.RawClone(0)
	if e != 0 {
		return e
	}
	if pid == 0 {
		if term >= 0 {
			if e := tty.Foreground(term); e != 0 {
				return e
			}
		}
		if stopped >= 0 {
			unix.RawSyscall(unix.SYS_CLOSE, uintptr(stopped), 0, 0)
		}
		return proc.SetSignalMask(unblock)
	}
	// PID 1 keeps nothing the container could use: no descriptor past stdio but the
	// launcher's stop pipe (not the error pipe, which the launcher reads until
	// COMMAND's exec closes the last copy), and not the launcher's command line. If
	// the descriptors cannot be closed, the step fails, and PID 2 dies with PID 1.
	if e := execve.CloseAll(stopped, -1); e != 0 {
		return e
	}
	HideArgs(args)
	reap(int(pid), wait, term >= 0, stopped)
	return 0
}

//go:nosplit
//go:norace
func reap(child int, wait *unix.Sigset_t, tty bool, stopped int) {
	for {
		// SAFETY: wait is prepared by the parent; no siginfo or timeout is passed.
		sig, _, e := unix.RawSyscall6(unix.SYS_RT_SIGTIMEDWAIT, uintptr(unsafe.Pointer(wait)), 0, 0, proc.SigsetSize, 0, 0)
		if e != 0 {
			continue // EINTR
		}
		if unix.Signal(sig) != unix.SIGCHLD {
			// With a terminal COMMAND leads a process group, its job: a continue goes to
			// all of it, as a shell's fg does.
			target := uintptr(child)
			if tty && unix.Signal(sig) == unix.SIGCONT {
				target = uintptr(-child)
			}
			unix.RawSyscall(unix.SYS_KILL, target, sig, 0)
			continue
		}
		for {
			var ws unix.WaitStatus
			// SAFETY: ws is on this stack.
			pid, _, e := unix.RawSyscall6(unix.SYS_WAIT4, ^uintptr(0), uintptr(unsafe.Pointer(&ws)), unix.WNOHANG|unix.WUNTRACED, 0, 0, 0)
			if e != 0 || pid == 0 {
				break
			}
			if int(pid) != child {
				continue // an orphan, reaped
			}
			switch {
			case ws.Exited():
				fork.Exit(ws.ExitStatus())
			case ws.Signaled():
				fork.Exit(128 + int(ws.Signal()))
			case ws.Stopped() && stopped >= 0:
				b := byte(ws.StopSignal())
				// SAFETY: b is on this stack.
				unix.RawSyscall(unix.SYS_WRITE, uintptr(stopped), uintptr(unsafe.Pointer(&b)), 1)
			}
		}
	}
}

// Args is the memory of the launcher's command line (its argv strings, one block
// that the kernel laid out), for HideArgs.
type Args struct {
	Mem []byte
}

// initName is what /proc/1/cmdline shows under --init.
const initName = "launch-init"

// HideArgs overwrites the launcher's argument strings with initName and NUL bytes.
// The block ends in a NUL, so that the kernel does not read past it into the
// environment. Runs in PID 1 under --init.
//
//go:nosplit
//go:norace
func HideArgs(a *Args) {
	if a == nil {
		return
	}
	// Mem is the argv block of this process, which the parent measured from os.Args;
	// PID 1 writes its own copy.
	for i := range a.Mem {
		if i < len(initName) && i < len(a.Mem)-1 {
			a.Mem[i] = initName[i]
		} else {
			a.Mem[i] = 0
		}
	}
}
