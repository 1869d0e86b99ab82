package launch

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/errs"
	"launch/internal/fdpass"
	"launch/internal/fork"
	"launch/internal/mount"
	"launch/internal/profile"
	"launch/internal/tty"
	"launch/internal/userns"
)

// A child is the container's first process once COMMAND runs, and what the launcher
// keeps for it until it ends.
type child struct {
	pid      int
	sv       *supervisor
	lifeW    int // the write end of the "launcher alive" pipe: open until the end
	stoppedR int // --init with a terminal: PID 1's stop pipe, else -1
}

// close closes what the launcher kept for the child.
func (c *child) close() {
	for _, fd := range []int{c.lifeW, c.stoppedR} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// start makes the child's pipes and steps, forks it, and waits until it has exec'd
// COMMAND. It returns the child; or, when the launch ends before COMMAND runs, nil
// and the wait status to end with (a signal that came meanwhile, or the child's own
// end) or the error that says why.
func (l *launch) start(s *setup) (*child, int, error) {
	cfg := l.cfg
	var pipe, life [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		return nil, 0, os.NewSyscallError("pipe2", err)
	}
	defer unix.Close(pipe[0])
	if err := unix.Pipe2(life[:], unix.O_CLOEXEC); err != nil {
		unix.Close(pipe[1])
		return nil, 0, os.NewSyscallError("pipe2", err)
	}
	// The write end of life stays open in the launcher until the container is gone:
	// the child watches it to notice a launcher that died before the child could
	// arm its parent-death signal, and reads from it the go-ahead to exec.
	c := &child{lifeW: life[1], stoppedR: -1}
	s.lifeR, s.lifeW, s.errW = life[0], life[1], pipe[1]
	s.stoppedW = -1
	closeChildEnds := func() {
		for _, fd := range []int{pipe[1], life[0], s.stoppedW} {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
		if s.pty != nil {
			s.pty.CloseChildEnd()
		}
		if s.listener != nil {
			s.listener.CloseChildEnd()
		}
		if s.inbox != nil {
			s.inbox.CloseChildEnd()
		}
		for _, f := range s.fuse {
			f.CloseChildEnd()
		}
	}
	fail := func(status int, err error) (*child, int, error) {
		c.close()
		if s.listener != nil {
			s.listener.Close()
		}
		if s.relay != nil {
			s.relay.close()
		}
		if s.inbox != nil {
			s.inbox.Close()
		}
		closePairs(s)
		return nil, status, err
	}
	if s.cfg.Init && s.tty {
		var stop [2]int
		if err := unix.Pipe2(stop[:], unix.O_CLOEXEC); err != nil {
			closeChildEnds()
			return fail(0, os.NewSyscallError("pipe2", err))
		}
		c.stoppedR, s.stoppedW = stop[0], stop[1]
	}
	s.traced = !s.cfg.Init
	var err error
	if cfg.Pty {
		if s.pty, err = tty.NewPty(s.term); err != nil {
			closeChildEnds()
			return fail(0, err)
		}
	}
	if s.relay, err = newRelay(l.stdio, cfg.Pty); err != nil {
		closeChildEnds()
		return fail(0, err)
	}
	if s.view != nil {
		// sysinfo(2) answered from the container's cgroups, as the view's files are,
		// and sched_getaffinity(2) where --cpus shows fewer CPUs than the affinity.
		calls := []string{"sysinfo"}
		if s.view.Narrowed() {
			calls = append(calls, "sched_getaffinity")
		}
		if s.notifier, err = profile.Notifier(calls...); err == nil {
			s.listener, err = fdpass.New()
		}
		if err != nil {
			closeChildEnds()
			return fail(0, err)
		}
	}
	if s.idmap {
		if s.inbox, err = fdpass.NewInbox(); err != nil {
			closeChildEnds()
			return fail(0, err)
		}
	}
	if s.view != nil && s.userns != nil {
		for range s.view.FDs() {
			pair, err := fdpass.New()
			if err != nil {
				closeChildEnds()
				return fail(0, err)
			}
			s.fuse = append(s.fuse, pair)
		}
	}
	steps, err := s.steps()
	if err != nil {
		closeChildEnds()
		return fail(0, err)
	}
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWPID)
	if !cfg.HostNet {
		flags |= unix.CLONE_NEWNET
	}
	if s.userns != nil {
		// Made first by the kernel: the other namespaces are the user namespace's.
		flags |= unix.CLONE_NEWUSER
	}
	v2dir, _ := s.cg.V2()
	p := &plan{steps: steps, clone: fork.NewClone(flags, v2dir), errW: pipe[1], mnt: mount.NewState()}
	p.mnt.ExpectRoot(uint64(s.rootSt.Dev), s.rootSt.Ino)
	if cfg.Verbose {
		mem, err := unix.Mmap(-1, 0, slots*8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
		if err == nil {
			defer unix.Munmap(mem)
			// SAFETY: mem is a page of shared memory, aligned and slots*8 bytes long.
			p.times = (*[slots]int64)(unsafe.Pointer(&mem[0]))
		}
	}

	// The last moment to stop without a child: a signal that comes later is
	// caught on the same channel and dealt with once the child has exec'd.
	if sig := l.sigs.stop(); sig != 0 {
		closeChildEnds()
		return fail(int(sig), nil)
	}

	// The child's parent-death signal and its tracer are this thread (see
	// supervisor): it stays locked to this goroutine until the launcher exits.
	runtime.LockOSThread()
	l.t.mark("prepare", strconv.Itoa(len(steps))+" setup steps")
	pid, errno := p.start()
	closeChildEnds()
	if s.relay != nil {
		s.relay.closeChildEnds()
	}
	s.cg.Close()
	runtime.KeepAlive(p)
	if errno != 0 {
		e := &Error{Code: ExitFailure, Err: &StepError{What: "clone", Path: "new namespaces", Err: errno}}
		switch {
		case s.userns != nil && (errno == unix.EPERM || errno == unix.ENOSPC || errno == unix.EINVAL):
			e.Hint = "this kernel refuses user namespaces here (user.max_user_namespaces, kernel.unprivileged_userns_clone, an AppArmor or SELinux policy, or a seccomp filter around launch)"
		case errno == unix.EPERM:
			e.Hint = "creating namespaces needs root (CAP_SYS_ADMIN)"
		}
		return fail(0, e)
	}
	if s.userns != nil {
		if err := s.enterUserns(pid); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			reap(pid)
			return fail(0, err)
		}
	}
	c.pid = pid
	c.sv = &supervisor{pid: pid, traced: s.traced, tty: s.term, pty: s.pty}
	if s.traced {
		// Before the go-ahead of a user namespace: an unprivileged launcher may trace
		// the child only while it is still dumpable, which it stops being then.
		if err := ptraceSeize(pid); err != nil {
			c.sv.traced = false
			if cfg.Verbose {
				note(l.stdio.Err, err.Error()+": if the launcher is killed, a PID 1 that cleared its parent-death signal outlives it")
			}
		}
	}
	// The go-aheads: the user namespace's (see the child's wait after its cgroups),
	// then the tracer's.
	if s.userns != nil {
		unix.Write(life[1], []byte{1})
	}
	if s.traced {
		unix.Write(life[1], []byte{1})
	}

	// Until the child execs, it shares the launcher's memory copy-on-write: every page
	// the launcher writes meanwhile gets copied, with a TLB shootdown on the other
	// CPUs, which is slow in a VM. So the launcher only waits here.
	var rep report
	n, exited := c.sv.untilExec(pipe[0], (*[sizeofReport]byte)(unsafe.Pointer(&rep))[:])
	end := monotonic()
	l.t.childSteps(p.times, steps, end)
	if n > 0 {
		if exited == nil {
			reap(pid)
		}
		return fail(0, stepFailure(s, steps, rep, n))
	}
	if exited != nil {
		return fail(int(*exited), nil)
	}
	// A signal to stop that came while the child set up still ends the launch:
	// COMMAND has only just been exec'd, and may not handle it yet (as PID 1, it
	// would ignore it). The container dies with its PID 1.
	if sig := l.sigs.stop(); sig != 0 {
		unix.Kill(pid, unix.SIGKILL)
		reap(pid)
		return fail(int(sig), nil)
	}
	return c, 0, nil
}

// reap waits for the child pid to exit.
func reap(pid int) {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// readFull reads from fd until b is full or the write end is closed (by exec).
func readFull(fd int, b []byte) int {
	n := 0
	for n < len(b) {
		m, err := unix.Read(fd, b[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || m <= 0 {
			break
		}
		n += m
	}
	return n
}

// stepFailure turns the child's report into an error.
func stepFailure(s *setup, steps []step, rep report, n int) error {
	if n != sizeofReport || rep.Step < 0 || int(rep.Step) >= len(steps) {
		return fail(ExitFailure, "the container's setup failed without a readable report ("+strconv.Itoa(n)+" bytes)")
	}
	st := steps[rep.Step]
	errno := unix.Errno(rep.Errno)
	if st.op == opExec {
		return st.cmd.execError(rep)
	}
	path := st.path
	e := &Error{Code: ExitFailure}
	if st.op == opRunHook && errno == unix.ECHILD && rep.Which != 0 {
		ws := unix.WaitStatus(rep.Which)
		why := "exit status " + strconv.Itoa(ws.ExitStatus())
		if ws.Signaled() {
			why = "killed by " + unix.SignalName(ws.Signal())
		}
		e.Err = errors.New(st.what + " " + st.path + ": failed: " + why)
		return e
	}
	switch st.op {
	case opMount, opNode:
		path = filepath.Join(s.rootfs, st.path)
		switch errno {
		case unix.ELOOP:
			e.Hint = "ROOTFS has a symlink on the way to " + st.path + ": launch does not follow symlinks at /proc, /dev, /sys and /tmp, nor any that leads out of ROOTFS"
		case unix.ENOTDIR:
			e.Hint = "ROOTFS has something other than a directory on the way to " + st.path
		case unix.EROFS:
			e.Hint = "ROOTFS is read-only and lacks this mount point: create it in the image"
		case unix.EXDEV:
			e.Hint = st.path + " is the container's root itself (a symlink in ROOTFS leads there): bind somewhere else"
		case unix.ESTALE:
			e.Hint = "what launch mounted was not where it found it again: is another process changing ROOTFS, or the --bind source, meanwhile?"
		}
	case opRoot, opRootTree:
		if errno == unix.ESTALE {
			e.Hint = "ROOTFS is not the directory launch found there a moment before: another process renamed it, or a directory on its way, meanwhile"
		}
	case opChdir:
		e.Hint = "--workdir must exist in the container"
		if errno == unix.ELOOP {
			e.Hint = "--workdir is reached through a symlink loop or a /proc magic link, which launch refuses"
		}
	}
	e.Err = &StepError{What: st.what, Path: path, Err: errno}
	return e
}

// enterUserns writes the maps of the child's user namespace and, with an idmapped
// ROOTFS, makes its copy of ROOTFS's mount and hands it over.
func (s *setup) enterUserns(pid int) error {
	if err := s.userns.Write(pid); err != nil {
		return &Error{Code: ExitFailure, Err: errs.Wrap("user namespace "+s.userns.String(), err)}
	}
	if !s.idmap {
		return nil
	}
	tree, err := userns.Idmapped(s.rootfs, uint64(s.rootSt.Dev), s.rootSt.Ino, pid)
	if err == nil {
		err = s.inbox.Send(tree)
		unix.Close(tree)
	}
	s.inbox.Close()
	if err != nil {
		e := &Error{Code: ExitFailure, Err: errs.Wrap("--userns: idmapped ROOTFS", err)}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
			e.Hint = "idmapped mounts need Linux 5.12 and a file system that has them (ext4, xfs, btrfs, tmpfs since 6.3, overlayfs since 5.19); or chown ROOTFS into the range"
		}
		return e
	}
	return nil
}

// closePairs closes the pairs of the /proc view's connections.
func closePairs(s *setup) {
	for _, f := range s.fuse {
		f.Close()
	}
	s.fuse = nil
}
