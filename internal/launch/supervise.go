package launch

import (
	"errors"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"launch/internal/cgroup"
	"launch/internal/tty"

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
	tty    *tty.Terminal // nil without a terminal on stdin
	pty    *tty.Pty      // --pty: the container's own terminal; or nil
	fault  unix.Signal   // the fault PID 1 was killed for (see restart), or 0
}

// supervise serves the container while COMMAND runs: the /proc view, the relay of its
// output, signals, the terminal's job control; and removes meanwhile the cgroups
// that killed launchers left. It returns COMMAND's wait status.
func (l *launch) supervise(s *setup, c *child) (unix.WaitStatus, error) {
	defer c.close()
	// The garbage collector is off until here (main): a collection during the start
	// would cost time, and write to pages the child shared copy-on-write. From now on
	// the launcher lives as long as its container, serving the /proc view and
	// forwarding signals for it, for as long as the container likes: collect, so that
	// nothing the container makes it do can grow it for ever (docs/ARCHITECTURE.md,
	// "What the host sees").
	// The view allocates nothing per request in the steady state; this bounds the rest.
	debug.SetGCPercent(100)
	if s.view != nil {
		// In a user namespace, the connections the child opened there and mounted,
		// sent before its exec.
		for i, f := range s.fuse {
			fd, err := f.Receive("/proc view")
			if err == nil {
				err = s.view.Adopt(i, fd)
			}
			if err != nil {
				closePairs(s)
				unix.Kill(c.pid, unix.SIGKILL)
				return 0, err
			}
		}
		closePairs(s)
		if s.listener != nil {
			// The child sent the listener of its sysinfo filter before its exec; a
			// kernel without user notification made none.
			fd, err := s.listener.Receive("sysinfo's listener")
			s.listener.Close()
			switch {
			case err == nil:
				s.view.Listen(fd, s.notifier.Notified)
			case l.cfg.Verbose:
				note(l.stdio.Err, "sysinfo(2) shows the host's memory, load and uptime: "+err.Error()+
					" (seccomp user notification needs Linux 5.0)")
			}
		}
		s.view.Start()
	}
	if s.pty != nil {
		// The child sent its terminal's master before its exec.
		if err := s.pty.Receive(); err != nil {
			unix.Kill(c.pid, unix.SIGKILL)
			return 0, err
		}
		if err := s.relay.attach(s.pty.Master); err != nil {
			unix.Kill(c.pid, unix.SIGKILL)
			return 0, err
		}
		if s.term != nil {
			s.term.Raw() // until release restores it
		}
	}
	if s.relay != nil {
		s.relay.start()
	}
	// The cgroups killed launchers left are removed while COMMAND runs, on a thread of
	// their own: a short COMMAND's end is not held up by the scan (0.3-0.5 ms), which
	// the launcher still waits for before it exits, so that the next launch finds none.
	// A launcher without cgroups of its own (an ordinary user's, where none is
	// delegated) may remove none either: it would only be refused root's.
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		if len(s.cg.Dirs()) == 0 {
			return
		}
		if gc, err := cgroup.GC(l.host.cgroups); err != nil {
			warn(l.stdio.Err, "removing cgroups of earlier launches: "+err.Error())
		} else if l.cfg.Verbose {
			if len(gc.Removed) > 0 {
				note(l.stdio.Err, "removed "+strconv.Itoa(len(gc.Removed))+" cgroups left by killed launches")
			}
			for _, left := range gc.Left {
				if left.Why != cgroup.InUse {
					note(l.stdio.Err, "left "+left.Dir+": "+left.Why)
				}
			}
		}
	}()
	ws, err := c.sv.wait(l.sigs, c.stoppedR)
	<-gcDone
	if s.relay != nil {
		s.relay.stop()
	}
	collect()
	l.t.mark("run", strings.Join(l.cfg.Command, " "))
	return ws, err
}

// ptraceSeize attaches to pid as its tracer with PTRACE_O_EXITKILL.
//
// Every thread PID 1 makes is traced as well (PTRACE_O_TRACECLONE), with the same
// options: a thread that execs takes the first thread's pid and the first thread is
// dropped, and with it anything attached to that thread alone, as this tracer would be
// (found by attack: such a PID 1 outlived every killed launcher).
func ptraceSeize(pid int) error {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, unix.PTRACE_O_EXITKILL|unix.PTRACE_O_TRACECLONE, 0, 0)
	if e != 0 {
		return os.NewSyscallError("ptrace(PTRACE_SEIZE)", e)
	}
	return nil
}

// restart resumes the thread tid of the traced PID 1, stopped with ws, so that it
// fares as it would untraced. The notice of a new thread (PTRACE_EVENT_CLONE) is
// resumed at once; the new thread itself starts with an event stop. A group-stop (a stop signal took effect) is kept with PTRACE_LISTEN: the
// process stays stopped until it is continued. Any other ptrace event stop (the
// notice of a SIGCONT, or an interrupt) is resumed at once: PID 1 has nothing to stop
// for, and left there it would never run again. A signal on its way is delivered with
// PTRACE_CONT as if nobody had looked, except SIGSTOP from a process of the container,
// which the kernel drops for an untraced PID 1 (a namespace's init gets no signal it
// has no handler for from its own namespace), and a fault that would kill an untraced
// PID 1 (see fatalFault): PID 1 is then killed, and its status reports the fault.
func (s *supervisor) restart(tid int, ws unix.WaitStatus) {
	sig := ws.StopSignal()
	switch event := int(ws>>16) & 0xff; event { // wait(2): status>>16 holds the event
	case unix.PTRACE_EVENT_STOP:
		if slices.Contains(stops, sig) {
			unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_LISTEN, uintptr(tid), 0, 0, 0, 0)
		} else {
			unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_CONT, uintptr(tid), 0, 0, 0, 0)
		}
		return
	case unix.PTRACE_EVENT_CLONE:
		unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_CONT, uintptr(tid), 0, 0, 0, 0)
		return
	}
	if sig == unix.SIGSTOP && sentInside(tid) {
		sig = 0
	}
	if fatalFault(tid, sig) {
		s.fault = sig
		unix.Kill(s.pid, unix.SIGKILL)
		return
	}
	unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_CONT, uintptr(tid), 0, uintptr(sig), 0, 0)
}

// stops are the signals whose default action stops a process.
var stops = []unix.Signal{unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU}

// sentInside reports whether the signal the traced pid is stopped for was sent by a
// process of its own PID namespace: sent (si_code SI_USER, SI_TKILL, SI_QUEUE: not
// above 0) by a sender the namespace can see (si_pid not 0; the kernel writes 0 for a
// sender outside, such as the host).
func sentInside(pid int) bool {
	var si unix.Siginfo
	// SAFETY: si is a siginfo_t the kernel fills.
	if _, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_GETSIGINFO, uintptr(pid), 0, uintptr(unsafe.Pointer(&si)), 0, 0); e != 0 {
		return false
	}
	return si.Code <= 0 && siPid(&si) != 0
}

// siPid returns si_pid of a siginfo_t that a kill(2)-like call filled. x/sys's
// Siginfo leaves the union of fields opaque; the kernel's uapi puts it after the three
// ints of the preamble, at a long's alignment (__ARCH_SI_PREAMBLE_SIZE: 12 bytes on
// 32-bit arches, 16 on 64-bit ones), and si_pid is its first int.
func siPid(si *unix.Siginfo) int32 {
	const long = unsafe.Sizeof(uintptr(0))
	off := (3*unsafe.Sizeof(int32(0)) + long - 1) &^ (long - 1)
	// SAFETY: off is within the 128 bytes of a siginfo_t.
	return *(*int32)(unsafe.Add(unsafe.Pointer(si), off))
}

// status is PID 1's wait status as it would be untraced: killed by the fault that
// restart killed it for.
func (s *supervisor) status(ws unix.WaitStatus) unix.WaitStatus {
	if s.fault != 0 && ws.Signaled() && ws.Signal() == unix.SIGKILL {
		return unix.WaitStatus(s.fault)
	}
	return ws
}

// faults are the signals the kernel forces on a process for what its own instruction
// did.
var faults = []unix.Signal{unix.SIGSEGV, unix.SIGBUS, unix.SIGILL, unix.SIGFPE, unix.SIGTRAP, unix.SIGSYS}

// fatalFault reports whether the signal-delivery stop of the traced pid for sig is a
// fault the kernel raised (not a signal someone sent) that the process does not catch,
// or blocks. Untraced, the kernel forces such a signal on PID 1 of a PID namespace
// despite that namespace's protection, and it dies; traced, the kernel keeps the
// protection for the tracer's sake, drops the signal once the tracer passes it on,
// and the faulting instruction runs again, for ever.
func fatalFault(pid int, sig unix.Signal) bool {
	if !slices.Contains(faults, sig) {
		return false
	}
	var si unix.Siginfo
	// SAFETY: si is a siginfo_t the kernel fills.
	if _, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_GETSIGINFO, uintptr(pid), 0, uintptr(unsafe.Pointer(&si)), 0, 0); e != 0 {
		return false
	}
	if si.Code <= 0 { // SI_USER, SI_QUEUE, SI_TKILL...: sent, not raised
		return false
	}
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	caught, blocked := sigMask(status, "SigCgt:"), sigMask(status, "SigBlk:")
	bit := uint64(1) << (sig - 1)
	return caught&bit == 0 || blocked&bit != 0
}

// sigMask returns the hexadecimal signal mask of /proc/PID/status's line key.
func sigMask(status []byte, key string) uint64 {
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, key); ok {
			m, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return m
		}
	}
	return 0
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
				ws = s.status(ws)
				return readFull(errR, b), &ws // the pipe is closed too
			}
			s.restart(s.pid, ws)
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
		if sig == unix.SIGWINCH && s.pty != nil && s.tty != nil {
			s.pty.Resize(s.tty) // the kernel tells the container's foreground group
			return
		}
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
		go s.tty.WatchHangup(quit, forward)
		if stopped >= 0 {
			go s.tty.JobControl(stopped, forward)
		}
	}
	// Traced, PID 1's threads are tracees too, and report here: any of them, whose
	// exits pass by (PID 1's own is its last thread's). The child is the launcher's
	// only one.
	which := s.pid
	if s.traced {
		which = -1
	}
	for {
		var ws unix.WaitStatus
		tid, err := unix.Wait4(which, &ws, unix.WALL, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, os.NewSyscallError("wait4", err)
		}
		if ws.Stopped() {
			// Only a tracee's stops are reported here (no WUNTRACED): whatever stopped
			// PID 1 is its own business, and the launcher's caller is not stopped for it.
			s.restart(tid, ws)
			continue
		}
		if tid != s.pid {
			continue
		}
		mu.Lock()
		done = true
		mu.Unlock()
		return s.status(ws), nil
	}
}
