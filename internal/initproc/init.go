package initproc

import (
	"unsafe"

	"launch/internal/execve"
	"launch/internal/fork"
	"launch/internal/proc"

	"golang.org/x/sys/unix"
)

// ForkInit splits the child for --init: the calling process stays PID 1 and becomes a
// reaper, and a new process (PID 2) returns to run COMMAND. PID 1 of a PID namespace
// gets no signal it has no handler for, and must reap orphans; a program not written
// to be an init does neither (runc#1126, tini). Runs in the child.
//
// Before the fork, PID 1 blocks block (the signals in wait, plus SIGTTOU), so that
// none is lost before it waits for them, and opens a signalfd for wait, which tells
// it who sent each; the new process sets the mask back to unblock before it execs.
// With a terminal (term >= 0), PID 1 leads the terminal's foreground process group,
// and COMMAND starts in it: the job. What the terminal sends the job
// (Ctrl-C, Ctrl-Z, a background read) reaches PID 1 too, from the kernel, and only
// that tells a stop of the terminal's from one that a process of the container made. When COMMAND stops for the terminal, PID 1, which the kernel does not let
// stop, writes the signal to stopped, the launcher's pipe, so that the launcher can
// stop as the job it is; a stop made inside the container stays there. PID 1 never
// returns: it reaps until COMMAND exits and then exits with COMMAND's status (128+N
// for signal N), which takes every process left in the namespace with it.
//
// PID 1 stays the launcher's code: its argument memory, which /proc/1/cmdline shows
// to everyone in the container, is overwritten with a fixed name (args, see HideArgs),
// and it keeps no descriptor but stdio, stopped and its signalfd. PID 1 returns only
// if it cannot close its descriptors.
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
	// SAFETY: wait is prepared by the parent. COMMAND's process closes it at once.
	sfd, _, e := unix.RawSyscall6(unix.SYS_SIGNALFD4, ^uintptr(0), uintptr(unsafe.Pointer(wait)), proc.SigsetSize, unix.SFD_CLOEXEC, 0, 0)
	if e != 0 {
		return e
	}
	// The job's group is PID 1's own, made the terminal's foreground by an earlier
	// step (tty.Foreground), which COMMAND stays in. A group named by the pid of
	// another process of the namespace would not do for PID 1: that pid would stay in
	// use after its process, and the kernel, which waits for every pid of the
	// namespace to be freed before PID 1 can exit, would wait for ever.
	pid, e := fork.RawClone(0)
	if e != 0 {
		return e
	}
	if pid == 0 {
		// COMMAND's process resolves paths in the container before its exec: it
		// holds nothing but stdio and the error pipe meanwhile.
		unix.RawSyscall(unix.SYS_CLOSE, sfd, 0, 0)
		if stopped >= 0 {
			unix.RawSyscall(unix.SYS_CLOSE, uintptr(stopped), 0, 0)
		}
		return proc.SetSignalMask(unblock)
	}
	// PID 1 keeps nothing the container could use: no descriptor past stdio but the
	// launcher's stop pipe (not the error pipe, which the launcher reads until
	// COMMAND's exec closes the last copy) and its signalfd, and not the launcher's
	// command line. If the descriptors cannot be closed, the step fails, and PID 2
	// dies with PID 1.
	if e := execve.CloseAll(3, stopped, int(sfd), -1, -1); e != 0 {
		return e
	}
	HideArgs(args)
	reap(int(pid), int(sfd), term >= 0, stopped)
	return 0
}

// info is what PID 1 reads from its signalfd: a variable of the package, PID 1 being
// a process of its own with a copy of the launcher's memory, and its stack small.
var info unix.SignalfdSiginfo

// siKernel is SI_KERNEL (asm-generic/siginfo.h, the same on every arch), the si_code
// of a signal the kernel sent, which x/sys does not name.
const siKernel = 0x80

// jobStops are the signals that stop a job for its terminal.
const jobStops = 1<<(unix.SIGTSTP-1) | 1<<(unix.SIGTTIN-1) | 1<<(unix.SIGTTOU-1)

// reap is PID 1's loop: it forwards the signals it gets to COMMAND (to its job, for a
// continue), reaps every child, and exits with COMMAND. A signal the kernel sent
// (SI_KERNEL) came from the terminal, which sent it to COMMAND's job as well: it is
// not forwarded again, and a stop among them (Ctrl-Z, a background read) marks the
// next stop of COMMAND as the terminal's, the only kind passed on to the launcher.
// PID 1's own continue of the job reaches PID 1 too, and is not forwarded.
//
//go:nosplit
//go:norace
func reap(child, sfd int, tty bool, stopped int) {
	var termStop, cmdStop uintptr // the terminal's stop seen, COMMAND's stop signal seen
	for {
		// SAFETY: info is PID 1's own memory, of the size the kernel writes.
		n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(sfd), uintptr(unsafe.Pointer(&info)), unsafe.Sizeof(info))
		if e != 0 || n != unsafe.Sizeof(info) {
			continue // EINTR
		}
		sig := uintptr(info.Signo)
		if sig != uintptr(unix.SIGCHLD) {
			switch {
			case info.Code == siKernel:
				if tty && jobStops&(1<<(sig-1)) != 0 {
					termStop = sig
				}
			case info.Pid == 1:
			default:
				// With a terminal COMMAND is in PID 1's process group, the job: a
				// continue goes to all of it, as a shell's fg does (0: the caller's
				// group; PID 1's own copy is not forwarded again).
				target := uintptr(child)
				if tty && sig == uintptr(unix.SIGCONT) {
					target = 0
					termStop, cmdStop = 0, 0
				}
				unix.RawSyscall(unix.SYS_KILL, target, sig, 0)
			}
		} else {
			cmdStop = reapAll(child, cmdStop)
		}
		if termStop != 0 && cmdStop != 0 && stopped >= 0 {
			b := byte(cmdStop)
			// SAFETY: b is on this stack.
			unix.RawSyscall(unix.SYS_WRITE, uintptr(stopped), uintptr(unsafe.Pointer(&b)), 1)
			termStop, cmdStop = 0, 0
		}
	}
}

// reapAll reaps every child that has exited, and exits with COMMAND's status when
// COMMAND is one. It returns the signal that stopped COMMAND if it stopped, 0 if it
// was continued, else stop.
//
//go:nosplit
//go:norace
func reapAll(child int, stop uintptr) uintptr {
	for {
		var ws unix.WaitStatus
		// SAFETY: ws is on this stack.
		pid, _, e := unix.RawSyscall6(unix.SYS_WAIT4, ^uintptr(0), uintptr(unsafe.Pointer(&ws)), unix.WNOHANG|unix.WUNTRACED|unix.WCONTINUED, 0, 0, 0)
		if e != 0 || pid == 0 {
			return stop
		}
		if int(pid) != child {
			continue // an orphan, reaped
		}
		switch {
		case ws.Exited():
			fork.Exit(ws.ExitStatus())
		case ws.Signaled():
			fork.Exit(128 + int(ws.Signal()))
		case ws.Stopped():
			stop = uintptr(ws.StopSignal())
		case ws.Continued():
			stop = 0
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
