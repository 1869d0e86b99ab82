package launch

import (
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/caps"
	"launch/internal/cgroup"
	"launch/internal/fdpass"
	"launch/internal/initproc"
	"launch/internal/mount"
	"launch/internal/proc"
	"launch/internal/procview"
	"launch/internal/profile"
	"launch/internal/seccomp"
	"launch/internal/tty"
	"launch/internal/userns"
)

// An op is what a step of the child does.
type op uint8

const (
	opDumpable op = iota
	opStdio
	opDieWithParent
	opJoinCgroup
	opJoinCgroupV2
	opClose
	opUnshare
	opHostname
	opLoopback
	opUmask
	opPrivate
	opRoot
	opMount
	opNode
	opPivot
	opMoveRoot
	opNofile
	opRlimit
	opSetsid
	opPty
	opForeground
	opSignals
	opDropBounding
	opUser
	opSetCaps
	opNoNewPrivs
	opCloseAll
	opLandlock
	opSeccomp
	opChdir
	opInit
	opWaitGo
	opExec
	// A bundle's (launch create):
	opSetns
	opDomainname
	opSysctl
	opKeepCaps
	opAmbient
	opReady
	opWaitStart
	opStartHook
	opHooks
	opOrphan
	opNotifier
	opRunHook
	opRootTree
	opFuse
)

// phase groups the ops for -v's summary.
var phase = [...]string{
	opDumpable: "process", opStdio: "process", opDieWithParent: "namespaces", opJoinCgroup: "cgroup join", opJoinCgroupV2: "cgroup join", opClose: "cgroup join",
	opUnshare: "namespaces", opHostname: "namespaces", opLoopback: "namespaces",
	opUmask: "mounts", opPrivate: "mounts", opRoot: "mounts", opMount: "mounts", opNode: "mounts",
	opPivot: "pivot_root", opMoveRoot: "pivot_root", opNofile: "process", opRlimit: "process", opSetsid: "process", opPty: "process", opForeground: "process", opSignals: "process",
	opDropBounding: "capabilities", opUser: "process", opSetCaps: "capabilities", opNoNewPrivs: "capabilities",
	opCloseAll: "process", opLandlock: "process", opSeccomp: "seccomp", opChdir: "process", opInit: "process",
	opWaitGo: "process", opExec: "exec",
	opSetns: "namespaces", opDomainname: "namespaces", opSysctl: "mounts", opKeepCaps: "capabilities", opAmbient: "capabilities",
	opReady: "process", opWaitStart: "process", opStartHook: "process", opHooks: "mounts", opOrphan: "process", opNotifier: "seccomp", opRunHook: "mounts",
	opRootTree: "mounts", opFuse: "mounts",
}

// A step is one prepared action of the child. Only the fields its op needs are set.
// The child reads them and nothing else: no field is written after the fork.
type step struct {
	op     op
	what   string // what the step does, for messages: "mount proc"
	path   string // the path or value it concerns
	fd     int
	fd2    int
	str    *byte
	n      int
	mount  *mount.Mount
	node   *mount.Node
	caps   *caps.Plan
	prog   *unix.SockFprog
	ifr    *unix.Ifreq
	uid    int
	gid    int
	block  *unix.Sigset_t
	wait   *unix.Sigset_t
	none   *unix.Sigset_t
	cmd    *command
	rlim   *unix.Rlimit
	fds    []int
	args   *initproc.Args
	groups []uint32
	pty    *tty.PtyPlan
	send   *fdpass.Plan
	inbox  *fdpass.Inbox
	target *mount.Target
	hook   *startHook
	// preserve: opCloseAll keeps descriptors 3 to 3+preserve-1 (a bundle's
	// --preserve-fds)
	preserve int
}

// zero is "0", the pid that stands for the writer itself in a cgroup's tasks file.
var zero = []byte("0")

// forwarded are the signals launch passes on to the container.
var forwarded = []unix.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}

// setup is what the steps are made from.
type setup struct {
	cfg       *Config
	rootfs    string      // absolute, symlinks resolved
	rootSt    unix.Stat_t // what was there then (the child checks it finds the same)
	cg        *cgroup.Cgroups
	keep      caps.Set
	capLast   int
	tty       bool
	term      *tty.Terminal // the caller's terminal, or nil
	pty       *tty.Pty      // --pty: the container's own terminal; or nil
	cmd       *command
	lifeR     int
	lifeW     int
	rootFlag  uintptr
	initramfs bool         // / is the initramfs: no pivot_root
	nofile    *unix.Rlimit // RLIMIT_NOFILE to restore, or nil
	view      *procview.View
	umask     int              // the caller's, for COMMAND
	errW      int              // the child's end of the error pipe
	stoppedW  int              // --init with a terminal: PID 1's end of the stop pipe, else -1
	traced    bool             // the launcher traces COMMAND (see supervise): the child waits for it
	args      *initproc.Args   // the launcher's command line, hidden in PID 1 under --init
	relay     *relay           // COMMAND's stdout and stderr when they are not terminals, stdin when it is a host file; or nil
	profile   *profile.Program // --seccomp=FILE, compiled; or nil
	// The filter that sends sysinfo(2) to the launcher, and the pair its listener goes
	// over (with the /proc view, see notifier); or nil.
	notifier *profile.Program
	listener *fdpass.Pair
	// The container's user namespace, or nil; with idmap, ROOTFS's mount is an
	// idmapped copy the launcher makes and hands over through inbox.
	userns *userns.Map
	idmap  bool
	inbox  *fdpass.Inbox
	// With a user namespace and the /proc view, the pairs over which the child sends
	// the view's connections, opened inside the namespace (see procview.View.Adopt).
	fuse []*fdpass.Pair
}

// unprivileged reports whether the caller is an ordinary user, who writes the maps of
// the container's user namespace itself.
func (s *setup) unprivileged() bool { return s.userns != nil && s.userns.Unprivileged }

// fusePath is the device the /proc view's connections are opened from.
var fusePath = []byte("/dev/fuse\x00")

// steps returns the child's steps, in the order they run. The order matters:
//   - the child joins its cgroups before anything else, so that all it does is
//     charged there, and before unsharing the cgroup namespace, so that inside it
//     its own cgroup is /;
//   - the hostname and loopback need CAP_SYS_ADMIN and CAP_NET_ADMIN, which go later;
//   - mounts are made private before the first mount, and every mount is made before
//     pivot_root, while the host's /proc serves /proc/self/fd for the targets;
//   - the bounding set is dropped while CAP_SETPCAP is still there, the user is
//     switched while CAP_SETUID is, and the remaining sets are set after that;
//   - seccomp goes last but for chdir and exec, which the filter allows, so that the
//     setup's own calls need not be in it; --init forks after it, so PID 1 is
//     filtered too.
func (s *setup) steps() ([]step, error) {
	var st []step
	add := func(x step) { st = append(st, x) }

	// An unprivileged caller writes the maps of the user namespace itself, through
	// /proc/PID files that the kernel gives to root once the child is not dumpable:
	// that waits for the maps.
	late := s.unprivileged()
	if !late {
		add(step{op: opDumpable, what: "set not dumpable"})
	}
	if s.relay != nil {
		for fd := 0; fd <= 2; fd++ {
			if s.relay.child[fd] >= 0 {
				add(step{op: opStdio, what: "dup", path: "the relay pipe as " + strconv.Itoa(fd), fd: s.relay.child[fd], fd2: fd})
			}
		}
	}
	add(step{op: opDieWithParent, what: "set parent-death signal", fd: s.lifeR, fd2: s.lifeW})
	// The cgroup files and the v2 directory are the host's: closed as soon as the
	// child is in its cgroups (see opCloseAll for why closing matters).
	st = append(st, cgroupSteps(s.cg)...)
	if s.userns != nil {
		// The child made its user namespace with the others, and has every
		// capability in it, but no ID until the launcher writes the maps.
		add(step{op: opWaitGo, what: "wait for the launcher", path: "the user namespace's maps", fd: s.lifeR})
		if late {
			add(step{op: opDumpable, what: "set not dumpable"})
		}
		if s.view != nil {
			// Opened inside the namespace, whose connections alone it may mount; by
			// the launcher's user still, the owner of /dev/fuse (often its only user).
			for i, fd := range s.view.FDs() {
				if i < len(s.fuse) {
					add(step{op: opFuse, what: "open", path: "/dev/fuse for the /proc view", fd: fd, send: s.fuse[i].Plan})
				}
			}
		}
	}
	add(step{op: opUnshare, what: "unshare", path: "cgroup namespace", n: unix.CLONE_NEWCGROUP})
	host := []byte(s.cfg.Hostname)
	add(step{op: opHostname, what: "sethostname", path: s.cfg.Hostname, str: &host[0], n: len(host)})
	if !s.cfg.HostNet {
		lo, err := loopbackStep()
		if err != nil {
			return nil, err
		}
		add(lo)
	}

	rootSt, err := rootSteps(s.rootfs)
	if err != nil {
		return nil, err
	}
	if s.idmap {
		r := &rootSt[len(rootSt)-1]
		r.op, r.what, r.inbox = opRootTree, "attach the idmapped copy of", s.inbox
	}
	st = append(st, rootSt...)
	if s.userns != nil && !s.unprivileged() {
		// Root of the namespace (the range's first host IDs), with no group of the
		// host's: files it makes are the range's, never the host root's. After
		// ROOTFS is found: the launcher's user may reach it through directories that
		// the range may not search.
		add(step{op: opUser, what: "become root of the user namespace", path: s.userns.String()})
	}
	// /tmp may hold half the memory limit: its pages are charged to the container, and a
	// program that fills it should see ENOSPC before the OOM killer sees it.
	spec := mount.Spec{ReadOnly: s.cfg.ReadOnly || s.idmap, RootFlags: s.rootFlag, TmpSize: s.cfg.Limits.Memory / 2}
	if u := s.userns; u != nil {
		spec.Userns, spec.HostSys = true, s.cfg.HostNet
		spec.NoPtsGroup = !u.MapsGroup(5)
	}
	spec.Binds = s.cfg.Binds
	spec.Cgroups = s.cg.Mounts()
	if s.view != nil {
		uid, gid := 0, 0
		if u := s.userns; u != nil {
			uid, gid = int(u.InUID), int(u.InGID) // 0 but for an ordinary user's --user
		}
		spec.View = s.view.Mounts(uid, gid)
	}
	layout, err := mount.Layout(spec)
	if err != nil {
		return nil, err
	}
	for _, m := range layout {
		if m.Mount != nil {
			add(step{op: opMount, what: m.What, path: m.Path(), mount: m.Mount})
		} else {
			add(step{op: opNode, what: m.What, path: m.Path(), node: m.Node})
		}
	}
	if s.initramfs {
		add(step{op: opMoveRoot, what: "move root (MS_MOVE) and chroot, / being the initramfs", path: s.rootfs})
	} else {
		add(step{op: opPivot, what: "pivot_root", path: s.rootfs})
	}
	// The launcher is its tracer by now (it attaches as soon as the clone returns, so
	// the child hardly ever waits here): COMMAND cannot leave it.
	if s.traced {
		add(step{op: opWaitGo, what: "wait for the launcher", path: "tracer", fd: s.lifeR})
	}
	// From here on paths resolve inside the container: nothing of the host may be open
	// by then, not even close-on-exec (README, "Security model": descriptors closed,
	// not marked). The error pipe, and
	// under --init with a terminal PID 1's stop pipe, lead nowhere.
	keep := s.stoppedW
	if s.pty != nil {
		keep = s.pty.Plan().Sock() // the two are never both there: --pty shares no terminal
	}
	sock := 0
	if s.listener != nil {
		sock = s.listener.Plan.Sock
	}
	add(step{op: opCloseAll, what: "close descriptors", path: "all but the pipes to the launcher", fds: []int{s.errW, keep, sock, -1}})
	add(step{op: opLandlock, what: "restrict execution", path: "below the root (Landlock)"})

	if s.tty {
		add(step{op: opForeground, what: "take the terminal's foreground", path: "stdin", fd: 0})
	} else {
		add(step{op: opSetsid, what: "setsid"})
	}
	if s.pty != nil {
		add(step{op: opPty, what: "make the container's terminal", path: "/dev/pts/ptmx", pty: s.pty.Plan()})
	}
	add(step{op: opSignals, what: "restore signals"})
	if s.nofile != nil {
		add(step{op: opNofile, what: "restore RLIMIT_NOFILE", path: strconv.FormatUint(s.nofile.Cur, 10), rlim: s.nofile})
	}
	for _, l := range sharedBudgets {
		lim := capped(l.resource, l.max)
		add(step{op: opRlimit, what: "set " + l.name, path: strconv.FormatUint(lim.Cur, 10), n: l.resource, rlim: lim})
	}
	root := s.cfg.User == nil || s.cfg.User.UID == 0
	cp := caps.NewPlan(s.keep, s.capLast, root)
	add(step{op: opDropBounding, what: "drop capabilities", path: "bounding set", caps: cp})
	// Always: without it COMMAND would keep the caller's supplementary groups.
	u := User{}
	if s.cfg.User != nil {
		u = *s.cfg.User
	}
	who := strconv.Itoa(u.UID) + ":" + strconv.Itoa(u.GID)
	for _, g := range s.cfg.Groups {
		who += "," + strconv.FormatUint(uint64(g), 10)
	}
	keepGroups := 0
	if s.unprivileged() {
		keepGroups = 1
	}
	add(step{op: opUser, what: "set user and groups", path: who, uid: u.UID, gid: u.GID, groups: s.cfg.Groups, n: keepGroups})
	add(step{op: opSetCaps, what: "capset", path: "0x" + strconv.FormatUint(uint64(s.keep), 16), caps: cp})
	add(step{op: opNoNewPrivs, what: "set no_new_privs"})
	if s.listener != nil {
		// Before the container's own filter, which need not allow what this takes.
		prog := &unix.SockFprog{Len: uint16(len(s.notifier.Filter)), Filter: &s.notifier.Filter[0]}
		add(step{op: opNotifier, what: "load the sysinfo filter", path: strconv.Itoa(int(prog.Len)) + " instructions",
			prog: prog, n: int(s.notifier.Flags), send: s.listener.Plan})
	}
	switch {
	case s.profile != nil:
		prog := &unix.SockFprog{Len: uint16(len(s.profile.Filter)), Filter: &s.profile.Filter[0]}
		add(step{op: opSeccomp, what: "load seccomp profile", path: strconv.Itoa(int(prog.Len)) + " instructions",
			prog: prog, n: int(s.profile.Flags)})
	case s.cfg.Seccomp:
		prog, err := seccomp.Program(s.cfg.AllowSocket...)
		if err != nil {
			return nil, err
		}
		add(step{op: opSeccomp, what: "load seccomp filter", path: strconv.Itoa(int(prog.Len)) + " instructions", prog: prog})
	}
	add(step{op: opUmask, what: "umask", path: "0" + strconv.FormatInt(int64(s.umask), 8), n: s.umask})
	wd, err := mount.CString(s.cfg.Workdir)
	if err != nil {
		return nil, err
	}
	add(step{op: opChdir, what: "chdir", path: s.cfg.Workdir, str: wd})
	if s.cfg.Init {
		// The job's stops too: with a terminal, PID 1 learns from them that a stop of
		// COMMAND is the terminal's (see initproc.ForkInit).
		waitFor := append([]unix.Signal{unix.SIGCHLD, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU}, forwarded...)
		tty := -1
		if s.tty {
			tty = 0
		}
		add(step{op: opInit, what: "start init", block: proc.Signals(waitFor...),
			wait: proc.Signals(waitFor...), none: proc.Signals(), fd: tty, fd2: s.stoppedW, args: s.args})
	}
	add(step{op: opExec, what: "exec", path: s.cfg.Command[0], cmd: s.cmd})
	return st, nil
}

// loopbackStep brings up lo in a new network namespace.
func loopbackStep() (step, error) {
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return step{}, err
	}
	ifr.SetUint16(unix.IFF_UP)
	return step{op: opLoopback, what: "bring up", path: "lo", ifr: ifr}, nil
}

// rootSteps start the file system: the umask 0 (modes are exact), every mount
// private, and rootfs bound onto itself as the root's mount.
func rootSteps(rootfs string) ([]step, error) {
	p, err := mount.CString(rootfs)
	if err != nil {
		return nil, err
	}
	return []step{{op: opUmask, what: "umask", path: "0"}, {op: opPrivate, what: "make mounts private", path: "/"},
		{op: opRoot, what: "bind", path: rootfs, str: p}}, nil
}

// sharedBudgets are the per-user budgets of the kernel that container root, being
// host root without a user namespace, shares with the host's root: the total is the
// user's, the limit is each process's. COMMAND's own limit caps what the whole
// container can take, so that the host keeps the rest (a container took all of root's
// message-queue bytes and queued signals, and the host's mq_open and sigqueue failed).
// inotify's limits are sysctls, not rlimits, and stay shared (README, security model).
var sharedBudgets = []struct {
	name     string
	resource int
	max      uint64
}{
	{"RLIMIT_MSGQUEUE", unix.RLIMIT_MSGQUEUE, 256 << 10}, // of the default 800 KiB
	{"RLIMIT_SIGPENDING", unix.RLIMIT_SIGPENDING, 1024},
}

// capped returns the launcher's own limit of resource, lowered to at most max.
func capped(resource int, max uint64) *unix.Rlimit {
	var lim unix.Rlimit
	if unix.Getrlimit(resource, &lim) != nil {
		lim = unix.Rlimit{Cur: max, Max: max}
	}
	lim.Cur, lim.Max = min(lim.Cur, max), min(lim.Max, max)
	return &lim
}

// report is what the child writes to the error pipe when a step fails.
type report struct {
	Step  int32
	Errno int32
	Which int32 // exec: the candidate path it concerns
	Found int32 // exec: that file exists although exec said ENOENT
}

const sizeofReport = int(unsafe.Sizeof(report{}))
