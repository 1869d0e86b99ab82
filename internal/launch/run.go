package launch

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/caps"
	"launch/internal/cgroup"
	"launch/internal/errs"
	"launch/internal/kernel"
	"launch/internal/mount"
	"launch/internal/ns"
	"launch/internal/procview"
	"launch/internal/rawfile"
)

// Stdio are the launcher's standard files; COMMAND inherits them as 0, 1 and 2.
type Stdio struct{ In, Out, Err *os.File }

// Run runs the container cfg describes and returns COMMAND's exit status (128+N when
// a signal N killed it). A non-nil error is launch's own failure; Report prints it
// and gives its exit status.
func Run(ctx context.Context, cfg *Config, stdio Stdio) (int, error) {
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
	if cfg.GC {
		removed, err := cgroup.GC(layout)
		for _, dir := range removed {
			io.WriteString(stdio.Out, "removed "+dir+"\n")
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
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	t.mark("prepare", "options, ROOTFS and COMMAND")

	start, err := cgroup.StartTime(os.Getpid())
	if err != nil {
		return 0, err
	}
	cg, err := cgroup.Create(layout, cgroup.NameFor(os.Getpid(), start), cfg.Limits)
	if err != nil {
		return 0, &Error{Code: ExitFailure, Err: errs.Wrap("cgroups ("+layout.String()+")", err)}
	}
	defer func() {
		if err := cg.Destroy(); err != nil {
			warn(stdio.Err, err.Error())
		}
	}()
	for _, w := range cg.Warnings {
		warn(stdio.Err, w)
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

	status, err := run(cfg, stdio, t, &setup{cfg: cfg, rootfs: rootfs, cg: cg, keep: keep, capLast: capLast,
		cmd: cmd, rootFlag: rootFlags, tty: isTerminal(stdio.In), initramfs: initramfs, nofile: callerNofile(), view: view})
	if err != nil {
		return 0, err
	}
	if ws := unix.WaitStatus(status); ws.Signaled() && ws.Signal() == unix.SIGKILL && cg.OOMKills() > 0 {
		io.WriteString(stdio.Err, "launch: memory limit reached: "+formatSize(cfg.Limits.Memory)+": COMMAND was killed\n")
	}
	if err := cg.Destroy(); err != nil {
		warn(stdio.Err, err.Error())
	}
	t.mark("cleanup", "remove cgroups")
	t.summary()
	return exitStatus(unix.WaitStatus(status)), nil
}

// run starts the container and supervises it until COMMAND exits; it returns the
// wait status of the child.
func run(cfg *Config, stdio Stdio, t *trace, s *setup) (int, error) {
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
	// arm its parent-death signal.
	defer unix.Close(life[1])
	s.lifeR, s.lifeW = life[0], life[1]
	steps, err := s.steps()
	if err != nil {
		unix.Close(pipe[1])
		unix.Close(life[0])
		return 0, err
	}
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWPID)
	if !cfg.HostNet {
		flags |= unix.CLONE_NEWNET
	}
	v2dir, _ := s.cg.V2()
	p := &plan{steps: steps, clone: ns.NewClone(flags, v2dir), errW: pipe[1]}
	if cfg.Verbose {
		mem, err := unix.Mmap(-1, 0, slots*8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
		if err == nil {
			defer unix.Munmap(mem)
			// SAFETY: mem is a page of shared memory, aligned and slots*8 bytes long.
			p.times = (*[slots]int64)(unsafe.Pointer(&mem[0]))
		}
	}

	// Signals are caught from before the fork, so none sent meanwhile is lost.
	sigs := make(chan os.Signal, 16)
	notify := make([]os.Signal, len(forwarded))
	for i, s := range forwarded {
		notify[i] = s
	}
	// No signal.Stop: it waits for the runtime's signal loop to go idle, which costs
	// about a millisecond, and launch exits right after.
	signal.Notify(sigs, notify...)

	t.mark("prepare", strconv.Itoa(len(steps))+" setup steps")
	pid, errno := p.start()
	unix.Close(pipe[1])
	unix.Close(life[0])
	s.cg.Close()
	runtime.KeepAlive(p)
	if errno != 0 {
		e := &Error{Code: ExitFailure, Err: &StepError{What: "clone", Path: "new namespaces", Err: errno}}
		if errno == unix.EPERM {
			e.Hint = "creating namespaces needs root (CAP_SYS_ADMIN)"
		}
		return 0, e
	}

	// Until the child execs, it shares the launcher's memory copy-on-write: every page
	// the launcher writes meanwhile gets copied, with a TLB shootdown on the other
	// CPUs, which is slow in a VM. So the launcher only waits here.
	var rep report
	n := readFull(pipe[0], (*[sizeofReport]byte)(unsafe.Pointer(&rep))[:])
	end := monotonic()
	if n > 0 {
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(pid, &ws, 0, nil); !errors.Is(err, unix.EINTR) {
				break
			}
		}
		t.childSteps(p.times, steps, end)
		return 0, stepFailure(s, steps, rep, n)
	}
	t.childSteps(p.times, steps, end)
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

	// COMMAND runs: remove the cgroups of launchers killed earlier while it does.
	if removed, err := cgroup.GC(s.cg.Layout); err != nil {
		warn(stdio.Err, "removing cgroups of earlier launches: "+err.Error())
	} else if len(removed) > 0 && cfg.Verbose {
		note(stdio.Err, "removed "+strconv.Itoa(len(removed))+" cgroups left by killed launches")
	}

	ws, err := supervise(pid, s.tty, sigs, stdio.In)
	t.mark("run", strings.Join(cfg.Command, " "))
	return int(ws), err
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
		}
	case opChdir:
		e.Hint = "--workdir must exist in the container"
	}
	e.Err = &StepError{What: st.what, Path: path, Err: errno}
	return e
}

// supervise waits for the child, forwarding signals to it and, with a terminal,
// passing job control on. It returns the child's wait status.
func supervise(pid int, tty bool, sigs chan os.Signal, stdin *os.File) (unix.WaitStatus, error) {
	// A pidfd names the child itself, not its pid, which the kernel reuses once the
	// child is reaped: a signal that arrives late cannot hit another process.
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		pidfd = -1
	} else {
		defer unix.Close(pidfd)
	}
	var (
		mu   sync.Mutex
		done bool
		quit = make(chan struct{})
	)
	defer close(quit)
	go func() {
		for {
			select {
			case <-quit:
				return
			case sig := <-sigs:
				mu.Lock()
				if !done {
					if pidfd >= 0 {
						unix.PidfdSendSignal(pidfd, sig.(unix.Signal), nil, 0)
					} else {
						unix.Kill(pid, sig.(unix.Signal))
					}
				}
				mu.Unlock()
			}
		}
	}()
	opts := 0
	if tty {
		opts = unix.WUNTRACED
	}
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, opts, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, os.NewSyscallError("wait4", err)
		}
		if ws.Stopped() {
			stopped(pid, stdin)
			continue
		}
		mu.Lock()
		done = true
		mu.Unlock()
		if tty {
			foreground(stdin, unix.Getpgrp())
		}
		return ws, nil
	}
}

// stopped passes a stop of the container (Ctrl-Z at the terminal) on to whoever runs
// launch: launch takes the terminal back and stops itself, as the job that it is;
// when continued, it gives the terminal back to the container and continues it.
func stopped(pid int, tty *os.File) {
	foreground(tty, unix.Getpgrp())
	unix.Kill(os.Getpid(), unix.SIGTSTP)
	foreground(tty, pid)
	unix.Kill(-pid, unix.SIGCONT)
}

// foreground makes pgrp the terminal's foreground process group. A background
// process that does so is sent SIGTTOU, which is ignored meanwhile.
func foreground(tty *os.File, pgrp int) {
	signal.Ignore(unix.SIGTTOU)
	defer signal.Reset(unix.SIGTTOU)
	unix.IoctlSetPointerInt(int(tty.Fd()), unix.TIOCSPGRP, pgrp)
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

// callerNofile returns the RLIMIT_NOFILE that the launcher's caller gave it, which
// the Go runtime raised to the hard limit at start, or nil if it is the one in force.
// The caller's own limit is read from the caller (the parent process), as the runtime
// keeps the original to itself.
func callerNofile() *unix.Rlimit {
	var ours, theirs unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &ours) != nil || unix.Prlimit(os.Getppid(), unix.RLIMIT_NOFILE, nil, &theirs) != nil {
		return nil
	}
	if theirs.Cur >= ours.Cur || theirs.Max != ours.Max {
		return nil
	}
	return &unix.Rlimit{Cur: theirs.Cur, Max: ours.Max}
}

// exitStatus is launch's exit status for COMMAND's wait status.
func exitStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
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
