package launch

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/caps"
	"launch/internal/cgroup"
	"launch/internal/errs"
	"launch/internal/fork"
	"launch/internal/initproc"
	"launch/internal/kernel"
	"launch/internal/mount"
	"launch/internal/procview"
	"launch/internal/rawfile"
	"launch/internal/rlimit"
	"launch/internal/tty"
)

// Stdio are the launcher's standard files; COMMAND inherits them as 0, 1 and 2.
type Stdio struct{ In, Out, Err *os.File }

// Run runs the container cfg describes and returns COMMAND's exit status (128+N when
// a signal N killed it). A non-nil error is launch's own failure; Report prints it
// and gives its exit status.
//
// SIGINT, SIGTERM or SIGHUP before COMMAND runs ends the launch with 128+N, once what
// was set up is undone; afterwards, they and the other forwarded signals go to
// COMMAND.
func Run(cfg *Config, stdio Stdio) (int, error) {
	// Signals are caught from here to the end, on one channel: none is lost between
	// the preparation and the forwarding. Before, their default action ends the
	// launcher, which has done nothing yet.
	sigs := catchSignals()
	t := newTrace(stdio.Err, cfg.Verbose)
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/fd", &st); err != nil {
		return 0, &Error{Code: ExitFailure, Err: &StepError{What: "find /proc on the host", Path: "/proc/self/fd", Err: err},
			Hint: "launch reads the host's state and resolves mount targets through /proc: mount proc on /proc"}
	}
	mountinfo, err := rawfile.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return 0, err
	}
	procCgroup, err := rawfile.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0, err
	}
	layout, err := cgroup.Detect(mountinfo, procCgroup)
	if err != nil {
		return 0, err
	}
	if cfg.CgroupParent != "" {
		if err := layout.SetParent(cfg.CgroupParent); err != nil {
			return 0, &Error{Code: ExitFailure, Err: errs.Wrap("--cgroup-parent "+cfg.CgroupParent, err),
				Hint: "--cgroup-parent names an existing cgroup, in every cgroup hierarchy launch uses"}
		}
	}
	if cfg.GC {
		c, err := cgroup.GC(layout)
		for _, dir := range c.Removed {
			io.WriteString(stdio.Out, "removed "+dir+"\n")
		}
		for _, l := range c.Left {
			io.WriteString(stdio.Out, "left "+l.Dir+": "+l.Why+"\n")
		}
		if sig := sigs.stop(); sig != 0 && err == nil {
			return 128 + int(sig), nil
		}
		return 0, err
	}

	// Everything that can be checked without touching the host is checked first: a
	// bad command line leaves no trace.
	if err := checkStdio(); err != nil {
		return 0, err
	}
	rootfs, err := resolveRootfs(cfg.Rootfs)
	if err != nil {
		return 0, err
	}
	cmd, err := newCommand(cfg)
	if err != nil {
		return 0, err
	}
	if err := cmd.precheck(rootfs, cfg); err != nil {
		return 0, err
	}
	rootFlags, err := mount.Flags(rootfs)
	if err != nil {
		return 0, err
	}
	features := kernel.Read(rawfile.FS("/proc"))
	features.Probe()
	notes, err := features.Check(kernel.Need{Net: !cfg.HostNet, Seccomp: cfg.Seccomp})
	if err != nil {
		return 0, &Error{Code: ExitFailure, Err: err}
	}
	if cfg.Verbose {
		for _, n := range notes {
			note(stdio.Err, n)
		}
	}
	capLast := caps.KernelLast()
	keep := capabilities(cfg, capLast)
	initramfs := mount.RootIsInitramfs(mountinfo)
	if initramfs {
		// See mount.MoveRoot: with the initramfs left under the container's root,
		// chroot would be a way back to it.
		keep &^= 1 << unix.CAP_SYS_CHROOT
		if cfg.Verbose {
			note(stdio.Err, "/ is the initramfs, where pivot_root(2) is refused: the root is moved with MS_MOVE and chroot instead, and CAP_SYS_CHROOT is dropped")
		}
	}
	if !cfg.Seccomp {
		warn(stdio.Err, "--seccomp=unconfined: the container may make any system call its capabilities allow")
	}
	if sig := sigs.stop(); sig != 0 {
		return 128 + int(sig), nil
	}
	t.mark("prepare", "options, ROOTFS and COMMAND")

	name, err := cgroup.Name()
	if err != nil {
		return 0, err
	}
	cg, err := cgroup.Create(layout, name, cfg.Limits)
	if err != nil {
		e := &Error{Code: ExitFailure, Err: errs.Wrap("cgroups ("+layout.String()+")", err)}
		if errors.Is(err, cgroup.ErrNoDelegation) {
			e.Hint = cgroup.DelegationHint
		}
		return 0, e
	}
	// Every way out removes the cgroups; after COMMAND, this tries once more those
	// that the removal below could not, and reports what still stays.
	defer func() {
		if err := cg.Destroy(); err != nil {
			warn(stdio.Err, err.Error())
		}
	}()
	for _, w := range cg.Warnings {
		warn(stdio.Err, w)
	}
	if cg.Hint != "" {
		hint(stdio.Err, cg.Hint)
	}
	if cfg.Verbose {
		for _, n := range cg.Notes {
			note(stdio.Err, n)
		}
	}
	t.mark("cgroups", layout.String()+": "+strings.Join(cg.Dirs(), " "))

	view, err := newView(cfg, cg, stdio)
	if err != nil {
		return 0, err
	}
	if view != nil {
		defer view.Close()
		t.mark("proc view", "open /dev/fuse")
	}

	term := tty.Save(stdio.In)
	if term != nil {
		defer term.Restore()
	}
	status, err := run(cfg, stdio, t, sigs, &setup{cfg: cfg, rootfs: rootfs, cg: cg, keep: keep, capLast: capLast,
		cmd: cmd, rootFlag: rootFlags, tty: term != nil, term: term, initramfs: initramfs, nofile: callerNofile(), view: view,
		umask: callerUmask(), args: launcherArgs()})
	if err != nil {
		return 0, err
	}
	if ws := unix.WaitStatus(status); ws.Signaled() && ws.Signal() == unix.SIGKILL && cg.OOMKills() > 0 {
		limit := formatSize(cfg.Limits.Memory)
		if cfg.Limits.Memory == 0 {
			limit = "that of a cgroup above the container's"
		}
		io.WriteString(stdio.Err, "launch: memory limit reached: "+limit+": COMMAND was killed\n")
	}
	cg.Destroy() // what fails is retried, and reported, on the way out
	t.mark("cleanup", "remove cgroups")
	t.summary()
	return exitStatus(unix.WaitStatus(status)), nil
}

// run starts the container and supervises it until COMMAND exits; it returns the
// wait status of the child. A launch that a signal N ends before COMMAND runs returns
// the status of a child killed by N: launch exits with 128+N either way.
func run(cfg *Config, stdio Stdio, t *trace, sigs *signals, s *setup) (int, error) {
	var pipe, life [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		return 0, os.NewSyscallError("pipe2", err)
	}
	defer unix.Close(pipe[0])
	if err := unix.Pipe2(life[:], unix.O_CLOEXEC); err != nil {
		unix.Close(pipe[1])
		return 0, os.NewSyscallError("pipe2", err)
	}
	// The write end of life stays open in the launcher until the container is gone:
	// the child watches it to notice a launcher that died before the child could
	// arm its parent-death signal, and reads from it the go-ahead to exec.
	defer unix.Close(life[1])
	s.lifeR, s.lifeW, s.errW = life[0], life[1], pipe[1]
	s.stoppedW = -1
	stoppedR := -1
	if s.cfg.Init && s.tty {
		var stop [2]int
		if err := unix.Pipe2(stop[:], unix.O_CLOEXEC); err != nil {
			unix.Close(pipe[1])
			unix.Close(life[0])
			return 0, os.NewSyscallError("pipe2", err)
		}
		stoppedR, s.stoppedW = stop[0], stop[1]
		defer unix.Close(stoppedR)
	}
	closeChildEnds := func() {
		for _, fd := range []int{pipe[1], life[0], s.stoppedW} {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}
	s.traced = !s.cfg.Init
	var err error
	if s.relay, err = newRelay(stdio); err != nil {
		closeChildEnds()
		return 0, err
	}
	if s.relay != nil {
		defer s.relay.close()
	}
	steps, err := s.steps()
	if err != nil {
		closeChildEnds()
		return 0, err
	}
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWPID)
	if !cfg.HostNet {
		flags |= unix.CLONE_NEWNET
	}
	v2dir, _ := s.cg.V2()
	p := &plan{steps: steps, clone: fork.NewClone(flags, v2dir), errW: pipe[1], mnt: mount.NewState()}
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
	if sig := sigs.stop(); sig != 0 {
		closeChildEnds()
		return int(sig), nil
	}

	// The child's parent-death signal and its tracer are this thread (see supervisor).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t.mark("prepare", strconv.Itoa(len(steps))+" setup steps")
	pid, errno := p.start()
	closeChildEnds()
	if s.relay != nil {
		s.relay.closeChildEnds()
	}
	s.cg.Close()
	runtime.KeepAlive(p)
	if errno != 0 {
		e := &Error{Code: ExitFailure, Err: &StepError{What: "clone", Path: "new namespaces", Err: errno}}
		if errno == unix.EPERM {
			e.Hint = "creating namespaces needs root (CAP_SYS_ADMIN)"
		}
		return 0, e
	}
	sv := &supervisor{pid: pid, traced: s.traced, tty: s.term}
	if s.traced {
		if err := ptraceSeize(pid); err != nil {
			sv.traced = false
			if cfg.Verbose {
				note(stdio.Err, err.Error()+": if the launcher is killed, a PID 1 that cleared its parent-death signal outlives it")
			}
		}
		unix.Write(life[1], []byte{1})
	}

	// Until the child execs, it shares the launcher's memory copy-on-write: every page
	// the launcher writes meanwhile gets copied, with a TLB shootdown on the other
	// CPUs, which is slow in a VM. So the launcher only waits here.
	var rep report
	n, exited := sv.untilExec(pipe[0], (*[sizeofReport]byte)(unsafe.Pointer(&rep))[:])
	end := monotonic()
	if n > 0 {
		if exited == nil {
			reap(pid)
		}
		t.childSteps(p.times, steps, end)
		return 0, stepFailure(s, steps, rep, n)
	}
	t.childSteps(p.times, steps, end)
	if exited != nil {
		return int(*exited), nil
	}
	// A signal to stop that came while the child set up still ends the launch:
	// COMMAND has only just been exec'd, and may not handle it yet (as PID 1, it
	// would ignore it). The container dies with its PID 1.
	if sig := sigs.stop(); sig != 0 {
		unix.Kill(pid, unix.SIGKILL)
		reap(pid)
		return int(sig), nil
	}
	// The garbage collector is off until here (main): a collection during the start
	// would cost time, and write to pages the child shared copy-on-write. From now on
	// the launcher lives as long as its container, serving the /proc view and
	// forwarding signals for it, for as long as the container likes: collect, so that
	// nothing the container makes it do can grow it for ever (DESIGN.md, lesson 14).
	// The view allocates nothing per request in the steady state; this bounds the rest.
	debug.SetGCPercent(100)
	if s.view != nil {
		s.view.Start()
	}
	if s.relay != nil {
		s.relay.start()
	}

	// COMMAND runs: remove the cgroups of launchers killed earlier while it does.
	if c, err := cgroup.GC(s.cg.Layout); err != nil {
		warn(stdio.Err, "removing cgroups of earlier launches: "+err.Error())
	} else if cfg.Verbose {
		if len(c.Removed) > 0 {
			note(stdio.Err, "removed "+strconv.Itoa(len(c.Removed))+" cgroups left by killed launches")
		}
		for _, l := range c.Left {
			if l.Why != cgroup.InUse {
				note(stdio.Err, "left "+l.Dir+": "+l.Why)
			}
		}
	}

	ws, err := sv.wait(sigs, stoppedR)
	if s.relay != nil {
		s.relay.stop()
	}
	collect()
	t.mark("run", strings.Join(cfg.Command, " "))
	return int(ws), err
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
	case opChdir:
		e.Hint = "--workdir must exist in the container"
		if errno == unix.ELOOP {
			e.Hint = "--workdir is reached through a symlink loop or a /proc magic link, which launch refuses"
		}
	}
	e.Err = &StepError{What: st.what, Path: path, Err: errno}
	return e
}

// newView prepares the /proc view (package procview) when it applies: by default
// whenever a memory or CPU limit is set, on a host with FUSE.
func newView(cfg *Config, cg *cgroup.Cgroups, stdio Stdio) (*procview.View, error) {
	lim := cfg.Limits
	wanted := cfg.ProcView == "on" || (cfg.ProcView == "auto" && (lim.Memory > 0 || lim.CPUs > 0 || lim.CPUSet != ""))
	if !wanted {
		return nil, nil
	}
	if !procview.Available() {
		if cfg.ProcView == "on" {
			return nil, &Error{Code: ExitFailure, Err: errors.New("--proc-view on: this host has no FUSE (/dev/fuse, CONFIG_FUSE_FS)")}
		}
		if cfg.Verbose {
			note(stdio.Err, "no FUSE on this host: /proc shows the host's memory and CPUs")
		}
		return nil, nil
	}
	var set []int
	if lim.CPUSet != "" {
		set, _ = procview.ParseCPUList(lim.CPUSet)
	}
	cpus, err := procview.VisibleCPUs(set, lim.CPUs)
	if err != nil {
		return nil, err
	}
	memDir, memV2 := cg.MemoryDir()
	cpuDir, cpuV2 := cg.CPUAccountingDir()
	v, err := procview.New(procview.Source{MemoryDir: memDir, MemoryV2: memV2, CPUDir: cpuDir, CPUV2: cpuV2,
		CPUs: cpus, Start: time.Now()})
	if err != nil {
		return nil, &Error{Code: ExitFailure, Err: err}
	}
	return v, nil
}

// callerNofile returns the RLIMIT_NOFILE the launcher was started with, if the Go
// runtime raised it (to the hard limit less one, go.dev/issue/46279), or nil. COMMAND
// gets the caller's limit, as os/exec would give it: programs that use select(2)
// need a soft limit of 1024. As os/exec does, a limit that someone else changed
// since (prlimit(1) on the launcher) is left as it is.
func callerNofile() *unix.Rlimit {
	start, ok := rlimit.AtStart(unix.RLIMIT_NOFILE)
	var now unix.Rlimit
	if !ok || unix.Getrlimit(unix.RLIMIT_NOFILE, &now) != nil {
		return nil
	}
	if start.Cur == now.Cur || now.Max != start.Max || now.Cur != start.Max-1 {
		return nil
	}
	return &unix.Rlimit{Cur: start.Cur, Max: start.Max}
}

// exitStatus is launch's exit status for COMMAND's wait status.
func exitStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// callerUmask returns the launcher's umask, which COMMAND gets as any program started
// by the caller would. umask(2) can only be read by setting it; the launcher creates no
// file meanwhile.
func callerUmask() int {
	m := unix.Umask(0o22)
	unix.Umask(m)
	return m
}

// launcherArgs returns the memory of the launcher's command line: os.Args point into
// the block the kernel laid out for it (the runtime does not copy them), one string
// after the other, each ended by a NUL.
func launcherArgs() *initproc.Args {
	if len(os.Args) == 0 {
		return nil
	}
	first := os.Args[0]
	last := os.Args[len(os.Args)-1]
	start := uintptr(unsafe.Pointer(unsafe.StringData(first)))
	end := uintptr(unsafe.Pointer(unsafe.StringData(last))) + uintptr(len(last)) + 1
	if first == "" || last == "" || end <= start || end-start > 1<<20 {
		return nil
	}
	// SAFETY: [start, end) is the argv block, which lives as long as the process.
	return &initproc.Args{Mem: unsafe.Slice(unsafe.StringData(first), int(end-start))}
}

// checkStdio refuses a directory as descriptor 0, 1 or 2, which COMMAND inherits: from
// a directory of the host, fchdir(2) and "..", or openat(2), lead out of the container's
// root (runc CVE-2024-21626 was such a descriptor, leaked).
func checkStdio() error {
	for fd, name := range []string{"stdin", "stdout", "stderr"} {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return &Error{Code: ExitFailure, Err: &StepError{What: name, Path: "descriptor " + strconv.Itoa(fd), Err: unix.EISDIR},
				Hint: "the container would reach the host's files through it: give it a file, a pipe or a terminal"}
		}
	}
	return nil
}

// resolveRootfs returns ROOTFS as an absolute path without symlinks: the caller's own
// path, which the launcher trusts, unlike what is inside it.
func resolveRootfs(p string) (string, error) {
	fail := func(err error) error {
		return &Error{Code: ExitFailure, Err: &StepError{What: "ROOTFS", Path: p, Err: err}}
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fail(err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fail(err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", fail(err)
	}
	if !st.IsDir() {
		return "", fail(unix.ENOTDIR)
	}
	return real, nil
}

// capabilities returns the set COMMAND keeps: caps.txt's, with --cap-add and
// --cap-drop applied as docker does (ALL in --cap-drop empties the set first).
func capabilities(cfg *Config, last int) caps.Set {
	keep := caps.Default
	for _, d := range cfg.CapDrop {
		if s, _ := caps.Parse(d); s == caps.All {
			keep = 0
		}
	}
	for _, a := range cfg.CapAdd {
		s, _ := caps.Parse(a)
		keep |= s
	}
	for _, d := range cfg.CapDrop {
		if s, _ := caps.Parse(d); s != caps.All {
			keep &^= s
		}
	}
	if last < 63 {
		keep &= caps.Set(1)<<(last+1) - 1
	}
	return keep
}

func formatSize(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "G"
	case n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "M"
	case n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "K"
	}
	return strconv.FormatInt(n, 10)
}
