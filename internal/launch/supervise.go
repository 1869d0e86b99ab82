package launch

import (
	"errors"
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A supervisor watches the container's first process from the launcher.
//
// Without --init, COMMAND is PID 1 and the launcher is its tracer (ptrace(2), attached
// with PTRACE_SEIZE, which stops nothing, and PTRACE_O_EXITKILL): when the launcher
// dies, however it dies, the kernel kills PID 1, and with it the PID namespace. The
// parent-death signal alone is not enough: PID 1 may clear it with prctl(2), and the
// kernel clears it itself when PID 1 changes its user (su-exec, gosu). Being traced
// costs PID 1 a stop at each signal it receives, which the supervisor passes on at
// once, and the container cannot trace PID 1 itself. With --init, PID 1 is the
// launcher's own reaper, which keeps its parent-death signal, and is not traced.
//
// ptrace requests must come from the thread that attached: the supervisor runs on a
// thread of its own (runtime.LockOSThread) from the attach to the end.
type supervisor struct {
	pid    int
	traced bool
	tty    *terminal // nil without a terminal on stdin
}

// ptraceSeize attaches to pid as its tracer with PTRACE_O_EXITKILL.
func ptraceSeize(pid int) error {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, unix.PTRACE_O_EXITKILL, 0, 0)
	if e != 0 {
		return os.NewSyscallError("ptrace(PTRACE_SEIZE)", e)
	}
	return nil
}

// ptraceRestart resumes a tracee stopped with ws: a group-stop (a stop signal took
// effect) is kept with PTRACE_LISTEN, so that the process stays stopped until it is
// continued, as it would untraced; any other stop is a signal on its way, delivered
// with PTRACE_CONT as if nobody had looked.
func ptraceRestart(pid int, ws unix.WaitStatus) {
	if ws.TrapCause() == unix.PTRACE_EVENT_STOP {
		unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_LISTEN, uintptr(pid), 0, 0, 0, 0)
		return
	}
	unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_CONT, uintptr(pid), 0, uintptr(ws.StopSignal()), 0, 0)
}

// untilExec waits for the child's report on the error pipe, which is closed by a
// successful exec, and returns how many bytes of it it read into b. Meanwhile the
// traced child may stop for a signal: it is resumed, or it would never get to its
// exec. If the child died meanwhile, exited holds its wait status.
func (s *supervisor) untilExec(errR int, b []byte) (n int, exited *unix.WaitStatus) {
	if !s.traced {
		return readFull(errR, b), nil
	}
	fds := []unix.PollFd{{Fd: int32(errR), Events: unix.POLLIN}}
	for {
		ready, err := unix.Poll(fds, 10)
		if ready > 0 || (err != nil && !errors.Is(err, unix.EINTR)) {
			return readFull(errR, b), nil
		}
		var ws unix.WaitStatus
		if p, err := unix.Wait4(s.pid, &ws, unix.WNOHANG|unix.WALL, nil); err == nil && p == s.pid {
			if !ws.Stopped() {
				return readFull(errR, b), &ws // the pipe is closed too
			}
			ptraceRestart(s.pid, ws)
		}
	}
}

// wait waits for the child to exit, forwarding signals to it (first those caught
// before it ran) and resuming it from its tracing stops. It returns the child's wait
// status.
func (s *supervisor) wait(sigs *signals, stopped int) (unix.WaitStatus, error) {
	// A pidfd names the child itself, not its pid, which the kernel reuses once the
	// child is reaped: a signal that arrives late cannot hit another process.
	pidfd, err := unix.PidfdOpen(s.pid, 0)
	if err != nil {
		pidfd = -1
	} else {
		defer unix.Close(pidfd)
	}
	send := func(sig unix.Signal) {
		if pidfd >= 0 {
			unix.PidfdSendSignal(pidfd, sig, nil, 0)
		} else {
			unix.Kill(s.pid, sig)
		}
	}
	var (
		mu   sync.Mutex
		done bool
		quit = make(chan struct{})
	)
	defer close(quit)
	forward := func(sig unix.Signal) {
		mu.Lock()
		if !done {
			send(sig)
		}
		mu.Unlock()
	}
	go func() {
		for _, sig := range sigs.pending {
			forward(sig)
		}
		for {
			select {
			case <-quit:
				return
			case sig := <-sigs.c:
				forward(sig.(unix.Signal))
			}
		}
	}()
	if s.tty != nil {
		go s.tty.watchHangup(quit, forward)
		if stopped >= 0 {
			go s.tty.jobControl(stopped, forward)
		}
	}
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(s.pid, &ws, unix.WALL, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, os.NewSyscallError("wait4", err)
		}
		if ws.Stopped() {
			// Only a tracee's stops are reported here (no WUNTRACED): whatever stopped
			// PID 1 is its own business, and the launcher's caller is not stopped for it.
			ptraceRestart(s.pid, ws)
			continue
		}
		mu.Lock()
		done = true
		mu.Unlock()
		return ws, nil
	}
}

// A terminal is the caller's terminal on stdin, as it was before the container got
// it: COMMAND shares it, and what COMMAND changes of it (modes, exclusive use, the
// line discipline, suspended output, the foreground group) is put back when the
// container is gone, however it ended.
type terminal struct {
	fd      int
	termios *unix.Termios
	excl    bool
	ldisc   int
	pgrp    int // the launcher's own process group
}

// saveTerminal returns f's state if f is a terminal, else nil.
func saveTerminal(f *os.File) *terminal {
	fd := int(f.Fd())
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil
	}
	t := &terminal{fd: fd, termios: tio, pgrp: unix.Getpgrp()}
	if x, err := unix.IoctlGetInt(fd, unix.TIOCGEXCL); err == nil {
		t.excl = x != 0
	}
	if d, err := unix.IoctlGetInt(fd, unix.TIOCGETD); err == nil {
		t.ldisc = d
	}
	return t
}

// restore gives the terminal back as it was. A background process that changes a
// terminal is sent SIGTTOU, which is ignored meanwhile.
func (t *terminal) restore() {
	signal.Ignore(unix.SIGTTOU)
	defer signal.Reset(unix.SIGTTOU)
	unix.IoctlSetPointerInt(t.fd, unix.TIOCSPGRP, t.pgrp)
	if d, err := unix.IoctlGetInt(t.fd, unix.TIOCGETD); err == nil && d != t.ldisc {
		unix.IoctlSetPointerInt(t.fd, unix.TIOCSETD, t.ldisc)
	}
	unix.IoctlSetTermios(t.fd, unix.TCSETS, t.termios)
	if t.excl {
		unix.IoctlSetInt(t.fd, unix.TIOCEXCL, 0)
	} else {
		unix.IoctlSetInt(t.fd, unix.TIOCNXCL, 0)
	}
	unix.IoctlSetInt(t.fd, unix.TCXONC, unix.TCOON)
}

// foreground makes pgrp the terminal's foreground process group.
func (t *terminal) foreground(pgrp int) {
	signal.Ignore(unix.SIGTTOU)
	defer signal.Reset(unix.SIGTTOU)
	unix.IoctlSetPointerInt(t.fd, unix.TIOCSPGRP, pgrp)
}

// hangupGrace is how long a container whose terminal went away has to end after its
// SIGHUP, before it is killed.
const hangupGrace = time.Second

// watchHangup ends the container when the terminal hangs up (its session was closed,
// its emulator quit): SIGHUP, then SIGKILL, as nothing could ever read its output
// again. poll(2) reports POLLHUP whatever the events asked for.
func (t *terminal) watchHangup(quit chan struct{}, send func(unix.Signal)) {
	fds := []unix.PollFd{{Fd: int32(t.fd)}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
			break
		}
	}
	send(unix.SIGHUP)
	select {
	case <-quit:
	case <-time.After(hangupGrace):
		send(unix.SIGKILL)
	}
}

// jobControl passes a stop of COMMAND on to the caller under --init with a terminal:
// PID 1 writes the stop signal to the pipe stopped when COMMAND stops (Ctrl-Z, a
// background read). The launcher takes the terminal back and stops itself, as the
// job that it is; when continued (fg), it gives the terminal back to COMMAND's process
// group and continues it.
func (t *terminal) jobControl(stopped int, send func(unix.Signal)) {
	b := make([]byte, 1)
	// kill(2) returns before the stop takes effect: the launcher learns that it has
	// been continued from the SIGCONT that continues it.
	cont := make(chan os.Signal, 1)
	signal.Notify(cont, unix.SIGCONT)
	for {
		n, err := unix.Read(stopped, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if n <= 0 {
			return // PID 1 is gone
		}
		job, err := unix.IoctlGetInt(t.fd, unix.TIOCGPGRP)
		if err != nil {
			return
		}
		t.foreground(t.pgrp)
		select {
		case <-cont: // a stale one
		default:
		}
		unix.Kill(os.Getpid(), unix.SIGTSTP)
		<-cont
		t.foreground(job)
		send(unix.SIGCONT)
	}
}
