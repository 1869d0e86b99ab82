package launch

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/caps"
	"launch/internal/cgroup"
	"launch/internal/errs"
	"launch/internal/fork"
	"launch/internal/mount"
	"launch/internal/procview"
	"launch/internal/profile"
	"launch/internal/tty"
	"launch/internal/userns"
)

// Stdio are the launcher's standard files; COMMAND inherits them as 0, 1 and 2.
type Stdio struct{ In, Out, Err *os.File }

// A launch is one run of the launcher: what it was asked, where it reports, and the
// signals it caught.
type launch struct {
	cfg   *Config
	stdio Stdio
	sigs  *signals
	t     *trace
	host  *host
}

// Run runs the container cfg describes and returns COMMAND's exit status (128+N when
// a signal N killed it). A non-nil error is launch's own failure; Report prints it
// and gives its exit status.
//
// The phases read in order: look at the host, prepare (check and compute everything,
// touching nothing), make what the container needs of the host (cgroups, the /proc
// view; undone on every way out), start the child (until COMMAND's exec), supervise
// it (until COMMAND's exit), and finish. docs/ARCHITECTURE.md explains each step.
//
// SIGINT, SIGTERM or SIGHUP before COMMAND runs ends the launch with 128+N, once what
// was set up is undone; afterwards, they and the other forwarded signals go to
// COMMAND.
func Run(cfg *Config, stdio Stdio) (int, error) {
	// Signals are caught from here to the end, on one channel: none is lost between
	// the preparation and the forwarding. Before, their default action ends the
	// launcher, which has done nothing yet.
	l := &launch{cfg: cfg, stdio: stdio, sigs: catchSignals(), t: newTrace(stdio.Err, cfg.Verbose)}
	var err error
	if l.host, err = readHost(); err != nil {
		return 0, err
	}
	if cfg.CgroupParent != "" {
		if err := l.host.cgroups.SetParent(cfg.CgroupParent); err != nil {
			return 0, &Error{Code: ExitFailure, Err: errs.Wrap("--cgroup-parent "+cfg.CgroupParent, err),
				Hint: "--cgroup-parent names an existing cgroup, in every cgroup hierarchy launch uses"}
		}
	}
	if cfg.GC {
		return l.gc()
	}
	s, err := l.prepare()
	if err != nil {
		return 0, err
	}
	if sig := l.sigs.stop(); sig != 0 {
		return 128 + int(sig), nil
	}
	l.t.mark("prepare", "options, ROOTFS and COMMAND")

	if err := l.acquire(s); err != nil {
		return 0, err
	}
	defer l.release(s)

	c, status, err := l.start(s)
	if err != nil || c == nil {
		return exitStatus(unix.WaitStatus(status)), err
	}
	ws, err := l.supervise(s, c)
	if err != nil {
		return 0, err
	}
	return l.finish(s, ws), nil
}

// gc removes the cgroups that killed launchers left, and says what it did.
func (l *launch) gc() (int, error) {
	c, err := cgroup.GC(l.host.cgroups)
	for _, dir := range c.Removed {
		io.WriteString(l.stdio.Out, "removed "+dir+"\n")
	}
	for _, left := range c.Left {
		io.WriteString(l.stdio.Out, "left "+left.Dir+": "+left.Why+"\n")
	}
	if sig := l.sigs.stop(); sig != 0 && err == nil {
		return 128 + int(sig), nil
	}
	return 0, err
}

// prepare checks everything that can be checked without touching the host, so that a
// bad command line leaves no trace, and computes what the child's steps are made of.
func (l *launch) prepare() (*setup, error) {
	cfg, h := l.cfg, l.host
	if err := checkStdio(); err != nil {
		return nil, err
	}
	rootfs, rootSt, err := resolveRootfs(cfg.Rootfs)
	if err != nil {
		return nil, err
	}
	cmd, err := newCommand(cfg)
	if err != nil {
		return nil, err
	}
	mounted := []string{"/proc", "/dev", "/sys", "/tmp"}
	for _, b := range cfg.Binds {
		mounted = append(mounted, b.Dst)
	}
	if err := cmd.precheck(rootfs, cfg.Workdir, mounted); err != nil {
		return nil, err
	}
	rootFlags, err := mount.Flags(rootfs)
	if err != nil {
		return nil, err
	}
	notes, err := h.kernel.Check(kernelNeed(cfg))
	if err != nil {
		return nil, &Error{Code: ExitFailure, Err: err}
	}
	if cfg.Verbose {
		for _, n := range notes {
			note(l.stdio.Err, n)
		}
		if h.landlock == 0 {
			note(l.stdio.Err, "no Landlock (Linux 5.13, or not enabled at boot): COMMAND's #! lines are checked by launch, its loader is not")
		}
	}
	keep := capabilities(cfg, h.capLast)
	if h.initramfs {
		// See mount.MoveRoot: with the initramfs left under the container's root,
		// chroot would be a way back to it.
		keep &^= 1 << unix.CAP_SYS_CHROOT
		if cfg.Verbose {
			note(l.stdio.Err, "/ is the initramfs, where pivot_root(2) is refused: the root is moved with MS_MOVE and chroot instead, and CAP_SYS_CHROOT is dropped")
		}
	}
	if !cfg.Seccomp {
		warn(l.stdio.Err, "--seccomp=unconfined: the container may make any system call its capabilities allow")
	}
	var filter *profile.Program
	if cfg.SeccompProfile != "" {
		if filter, err = compileProfile(cfg.SeccompProfile, keep, cfg.Init); err != nil {
			return nil, err
		}
		if cfg.Verbose && len(filter.Skipped) > 0 {
			note(l.stdio.Err, "--seccomp "+quote(cfg.SeccompProfile)+": calls this kernel does not have: "+strings.Join(filter.Skipped, " "))
		}
	}
	s := &setup{cfg: cfg, rootfs: rootfs, rootSt: rootSt, keep: keep, capLast: h.capLast, cmd: cmd, rootFlag: rootFlags,
		initramfs: h.initramfs, nofile: h.nofile, umask: h.umask, args: launcherArgs(), profile: filter}
	if err := l.prepareUserns(s); err != nil {
		return nil, err
	}
	return s, nil
}

// prepareUserns decides the container's user namespace: the caller's own IDs without
// root, --userns's range as root. The range is claimed here (--userns auto); the
// namespace is made with the child.
func (l *launch) prepareUserns(s *setup) error {
	cfg := l.cfg
	u := User{}
	if cfg.User != nil {
		u = *cfg.User
	}
	fail := func(msg, hint string) error {
		return &Error{Code: ExitFailure, Err: errors.New(msg), Hint: hint}
	}
	if os.Geteuid() != 0 {
		if cfg.Userns != nil && !cfg.Userns.Auto {
			return fail("--userns "+rangeString(cfg.Userns)+": a range of IDs needs root", "without root, --userns auto maps the IDs /etc/subuid and /etc/subgid give you; without it, your own user and group alone")
		}
		if len(cfg.Groups) > 0 {
			return fail("--group-add: without root the container has no group but yours", "")
		}
		if cfg.Userns == nil {
			s.userns = userns.Caller(uint32(u.UID), uint32(u.GID))
			return nil
		}
		// Your own IDs as 0, your subordinate ones as 1 onward.
		uid := uint32(os.Getuid())
		sub, err := userns.Subordinates(uid, userName(uid), "/etc/subuid", "/etc/subgid", []string{"/usr/bin", "/bin", "/usr/sbin", "/sbin"})
		if err == nil && sub == nil {
			err = errors.New("/etc/subuid or /etc/subgid gives you no IDs")
		}
		if err != nil {
			return &Error{Code: ExitFailure, Err: errs.Wrap("--userns auto", err),
				Hint: "an administrator gives a user a range with usermod --add-subuids START-END --add-subgids START-END USER"}
		}
		m := userns.Caller(0, 0)
		m.Sub = sub
		if uint32(u.UID) > sub.UIDCount || uint32(u.GID) > sub.GIDCount {
			return fail("--user "+strconv.Itoa(u.UID)+":"+strconv.Itoa(u.GID)+": outside the IDs of --userns auto (0 to "+
				strconv.FormatUint(uint64(min(sub.UIDCount, sub.GIDCount)), 10)+")", "")
		}
		s.userns = m
		return nil
	}
	if cfg.Userns == nil {
		return nil
	}
	var m *userns.Map
	var err error
	if cfg.Userns.Auto {
		m, err = userns.Auto()
	} else {
		m, err = userns.Of(cfg.Userns.HostID, cfg.Userns.Count)
	}
	if err != nil {
		return &Error{Code: ExitFailure, Err: errs.Wrap("--userns "+rangeString(cfg.Userns), err)}
	}
	ids := append([]uint32{uint32(u.UID), uint32(u.GID)}, cfg.Groups...)
	for _, id := range ids {
		if id >= m.Count {
			m.Release()
			return fail("--userns "+m.String()+": ID "+strconv.FormatUint(uint64(id), 10)+" of --user or --group-add is outside the range (0 to "+
				strconv.FormatUint(uint64(m.Count-1), 10)+" in the container)", "")
		}
	}
	s.userns = m
	if st := s.rootSt; !m.Contains(st.Uid) {
		// ROOTFS is the host's (root's, say): shown through an idmapped mount, with
		// its owners as they are on the host, and read-only, since a file the
		// container made there would belong on the host to the owner it has inside
		// (a set-user-ID file of host root).
		s.idmap = true
		// Read-only on a mount of the container's own mount namespace, which its
		// root may change with CAP_SYS_ADMIN where the filter lets mount_setattr(2)
		// through.
		if s.keep&(1<<unix.CAP_SYS_ADMIN) != 0 && (!cfg.Seccomp || cfg.SeccompProfile != "") {
			m.Release()
			return fail("--userns: ROOTFS is owned by host user "+strconv.FormatUint(uint64(st.Uid), 10)+", outside the range, and mounted read-only, "+
				"which CAP_SYS_ADMIN could undo without launch's own system-call filter",
				"drop CAP_SYS_ADMIN, keep the default filter, or chown ROOTFS into the range")
		}
		if cfg.Verbose {
			note(l.stdio.Err, "--userns: ROOTFS is owned by host user "+strconv.FormatUint(uint64(st.Uid), 10)+
				", outside the range: mounted idmapped and read-only (chown it into the range to make it writable)")
		}
	}
	return nil
}

// rangeString is u as --userns takes it.
func rangeString(u *Userns) string {
	if u.Auto {
		return "auto"
	}
	return strconv.FormatUint(uint64(u.HostID), 10) + ":" + strconv.FormatUint(uint64(u.Count), 10)
}

// containerOf is what a profile's includes and excludes look at, for a container that
// keeps the capabilities keep on the running kernel.
func containerOf(keep caps.Set) profile.Container {
	c := profile.Container{Kernel: profile.RunningKernel()}
	for _, n := range keep.Names() {
		c.Caps = append(c.Caps, "CAP_"+n)
	}
	return c
}

// compileProfile reads the seccomp profile file, the caller's, and compiles it for the
// running kernel and a container that keeps the capabilities keep, with --init or not.
func compileProfile(file string, keep caps.Set, init bool) (*profile.Program, error) {
	fail := func(err error) error {
		return &Error{Code: ExitFailure, Err: errs.Wrap("--seccomp "+quote(file), err)}
	}
	// O_NONBLOCK: a FIFO or a device is refused below rather than waited on.
	f, err := os.OpenFile(file, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fail(err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fail(errors.New("not a regular file"))
	}
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fail(err)
	}
	prog, err := p.Compile(containerOf(keep))
	if err != nil {
		return nil, fail(err)
	}
	// What runs under the filter before COMMAND: the last steps of the child (umask,
	// chdir through openat2, the checks of COMMAND and execve; the sweep of
	// descriptors), and --init's PID 1 for the container's life. A profile that could
	// refuse one of them, whatever its arguments, would fail the start late, or leave
	// a PID 1 that cannot reap or read its signals and so never ends.
	needs := []string{"umask", "openat2", "chdir", "fchdir", "openat", "read", "faccessat", "close",
		"close_range", "getdents64", "execve", "write", "exit_group"}
	who := "to start COMMAND"
	if init {
		needs = append(needs, "prctl", "rt_sigprocmask", "signalfd4", "wait4", "kill")
		who = "to start COMMAND, and in --init's PID 1"
	}
	refused := prog.Refuses(needs...)
	// PID 1 is a fork-like clone(2) with SIGCHLD alone (fork.RawClone), which profiles
	// allow by its flags.
	if init && prog.RefusesCall("clone", fork.CloneArgs(0)...) {
		refused = append(refused, "clone")
	}
	if len(refused) > 0 {
		return nil, fail(errors.New("the profile refuses calls launch makes under it (" + who + "), or some of their arguments: " + strings.Join(refused, ", ")))
	}
	return prog, nil
}

// acquire makes what the container needs of the host: its cgroups and, when it
// applies, the /proc view's connections; and saves the terminal's state. release
// undoes each, whichever way the launch ends.
func (l *launch) acquire(s *setup) error {
	cfg := l.cfg
	name, err := cgroup.Name()
	if err != nil {
		return err
	}
	cg, err := cgroup.Create(l.host.cgroups, name, cfg.Limits)
	if err != nil && s.unprivileged() && len(cfg.Limits.Explicit) == 0 {
		// No cgroup of its own for a caller without root: the container runs without
		// limits, as said once.
		warn(l.stdio.Err, "without root and without a cgroup delegated to you, no cgroup limits apply (memory, CPU, processes, I/O): "+err.Error())
		cg, err = cgroup.None(l.host.cgroups), nil
	}
	if err != nil {
		e := &Error{Code: ExitFailure, Err: errs.Wrap("cgroups ("+l.host.cgroups.String()+")", err)}
		if errors.Is(err, cgroup.ErrNoDelegation) {
			e.Hint = cgroup.DelegationHint
		} else if s.unprivileged() {
			e.Hint = "without root, limits need a cgroup v2 subtree delegated to you (systemd: run launch under systemd-run --user --scope -p Delegate=yes); or drop the limit options"
		}
		return e
	}
	s.cg = cg
	for _, w := range cg.Warnings {
		warn(l.stdio.Err, w)
	}
	if cg.Hint != "" {
		hint(l.stdio.Err, cg.Hint)
	}
	if cfg.Verbose {
		for _, n := range cg.Notes {
			note(l.stdio.Err, n)
		}
	}
	l.t.mark("cgroups", l.host.cgroups.String()+": "+strings.Join(cg.Dirs(), " "))

	if s.view, err = l.newView(cg); err != nil {
		return err
	}
	if s.view != nil {
		l.t.mark("proc view", "open /dev/fuse")
	}
	s.term = tty.Save(l.stdio.In)
	s.tty = s.term != nil && !cfg.Pty
	return nil
}

// release undoes acquire: the terminal as it was, the /proc view's connections
// closed, the cgroups removed (what could not be removed after COMMAND is tried once
// more here, and reported).
func (l *launch) release(s *setup) {
	if s.term != nil {
		s.term.Restore()
	}
	if s.pty != nil {
		s.pty.Close()
	}
	if s.view != nil {
		s.view.Close()
	}
	if s.cg != nil {
		if err := s.cg.Destroy(); err != nil {
			warn(l.stdio.Err, err.Error())
		}
	}
	if s.userns != nil {
		s.userns.Release()
	}
}

// finish reports an OOM kill or a kill by the filter, removes the cgroups and returns
// launch's exit status for COMMAND's wait status.
func (l *launch) finish(s *setup, ws unix.WaitStatus) int {
	// killedBy: COMMAND died of sig. With --init, PID 1 exits with COMMAND's status,
	// 128+N for signal N.
	killedBy := func(sig unix.Signal) bool {
		return ws.Signaled() && ws.Signal() == sig || l.cfg.Init && ws.Exited() && ws.ExitStatus() == 128+int(sig)
	}
	if killedBy(unix.SIGKILL) && s.cg.OOMKills() > 0 {
		limit := formatSize(l.cfg.Limits.Memory)
		if l.cfg.Limits.Memory == 0 {
			limit = "that of a cgroup above the container's"
		}
		io.WriteString(l.stdio.Err, "launch: memory limit reached: "+limit+": COMMAND was killed\n")
	}
	// SIGSYS is what the filter kills with: a call through an ABI it does not admit
	// (a program of an arch the kernel runs but the filter does not name), or one a
	// profile kills. Said, so that it is never a silent exit 159.
	if killedBy(unix.SIGSYS) && l.cfg.Seccomp {
		io.WriteString(l.stdio.Err, "launch: COMMAND was killed by SIGSYS: the system-call filter kills a call through an ABI it does not admit (a program of another arch), or one a profile kills\n")
	}
	s.cg.Destroy() // what fails is retried, and reported, on the way out (release)
	l.t.mark("cleanup", "remove cgroups")
	l.t.summary()
	return exitStatus(ws)
}

// newView prepares the /proc view (package procview) when it applies: by default
// whenever a memory or CPU limit is set, on a host with FUSE.
func (l *launch) newView(cg *cgroup.Cgroups) (*procview.View, error) {
	cfg := l.cfg
	lim := cfg.Limits
	wanted := cfg.ProcView == "on" || (cfg.ProcView == "auto" && (lim.Memory > 0 || lim.CPUs > 0 || lim.CPUSet != ""))
	if !wanted {
		return nil, nil
	}
	fuse := l.host.fuse
	if fuse && os.Geteuid() != 0 {
		// The caller opens /dev/fuse itself, and some hosts keep it for root.
		var st unix.Stat_t
		fuse = unix.Stat("/dev/fuse", &st) == nil && st.Mode&0o006 == 0o006
	}
	if !fuse {
		if cfg.ProcView == "on" {
			return nil, &Error{Code: ExitFailure, Err: errors.New("--proc-view on: this host has no FUSE (/dev/fuse, CONFIG_FUSE_FS)")}
		}
		if cfg.Verbose {
			note(l.stdio.Err, "no FUSE on this host: /proc shows the host's memory and CPUs")
		}
		return nil, nil
	}
	var set []int
	if lim.CPUSet != "" {
		set, _ = procview.ParseCPUList(lim.CPUSet)
	}
	cpus, narrowed, err := procview.VisibleCPUs(set, lim.CPUs)
	if err != nil {
		return nil, err
	}
	memDir, memV2 := cg.MemoryDir()
	cpuDir, cpuV2 := cg.CPUAccountingDir()
	ioDir, ioV2 := cg.IODir()
	v, err := procview.New(procview.Source{MemoryDir: memDir, MemoryV2: memV2, CPUDir: cpuDir, CPUV2: cpuV2,
		IODir: ioDir, IOV2: ioV2, CPUs: cpus, Narrowed: narrowed, Start: time.Now()})
	if err != nil {
		return nil, &Error{Code: ExitFailure, Err: err}
	}
	return v, nil
}

// exitStatus is launch's exit status for COMMAND's wait status.
func exitStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
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

// resolveRootfs returns ROOTFS as an absolute path without symlinks: the caller's own
// path, which the launcher trusts, unlike what is inside it; and what it found there.
// Whoever can write a directory on that path can still rename what lies there, and
// put a symlink in its place: the directory is opened again without following any
// symlink, and the child checks it finds that same directory (mount.State.ExpectRoot).
func resolveRootfs(p string) (string, unix.Stat_t, error) {
	var st unix.Stat_t
	fail := func(err error) error {
		return &Error{Code: ExitFailure, Err: &StepError{What: "ROOTFS", Path: p, Err: err}}
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", st, fail(err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", st, fail(err)
	}
	fd, err := unix.Openat2(unix.AT_FDCWD, real, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS})
	if errors.Is(err, unix.ENOSYS) {
		fd, err = unix.Open(real, unix.O_PATH|unix.O_CLOEXEC, 0) // before Linux 5.6
	}
	if err != nil {
		return "", st, fail(err)
	}
	err = unix.Fstat(fd, &st)
	unix.Close(fd)
	if err != nil {
		return "", st, fail(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return "", st, fail(unix.ENOTDIR)
	}
	// A symlink to the host's / in place of ROOTFS, which a neighbour who can write a
	// directory on its path may have put there, would make the host's root the
	// container's (found by attack).
	var root unix.Stat_t
	if unix.Stat("/", &root) == nil && root.Dev == st.Dev && root.Ino == st.Ino {
		return "", st, &Error{Code: ExitFailure, Err: &StepError{What: "ROOTFS", Path: p, Err: errors.New("is the host's root")},
			Hint: "a container needs a root file system of its own"}
	}
	return real, st, nil
}

// userName is the name /etc/passwd gives the user uid, or "".
func userName(uid uint32) string {
	data, _ := os.ReadFile("/etc/passwd")
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 2 && f[2] == strconv.FormatUint(uint64(uid), 10) {
			return f[0]
		}
	}
	return ""
}
