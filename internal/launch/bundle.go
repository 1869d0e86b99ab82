package launch

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/caps"
	"launch/internal/cgroup"
	"launch/internal/errs"
	"launch/internal/execve"
	"launch/internal/fork"
	"launch/internal/mount"
	"launch/internal/profile"
	"launch/internal/spec"
	"launch/internal/tty"
	"launch/internal/userns"
)

// A Bundle is a container to create from an OCI bundle (launch create): the bundle's
// config is the policy, as it is for runc. Its process is set up completely, then
// waits on the start FIFO for launch start, and execs process.args.
type Bundle struct {
	ID   string
	Dir  string // the bundle directory, absolute
	Spec *spec.Spec
	// Fifo is the start FIFO, open for reading and writing: the process reads one
	// byte from it (written by launch start) before it execs.
	Fifo int
	// Console is the engine's console socket, connected, for process.terminal; or -1.
	Console int
	Stdio   Stdio
	// Preserve is --preserve-fds: descriptors 3 to 3+Preserve-1 are the process's
	// too. None may be a directory (see checkStdio).
	Preserve int
	// Made is called with the container's cgroups as soon as they exist, so that a
	// launch create killed later leaves a record of them for launch delete.
	Made func(cgroups []string, ids []uint64) error
	// Hooks runs the prestart and createRuntime hooks, given the process's pid: the
	// process waits meanwhile, its namespaces and mounts made, before pivot_root. It
	// returns the state the createContainer hooks get on their stdin, which the
	// process then runs in its namespaces.
	Hooks func(pid int, rootfs string) ([]byte, error)
	// StartState returns the state the startContainer hooks get on their stdin, given
	// the process's pid and the root; called once the process is ready, if there are
	// such hooks.
	StartState func(pid int, rootfs string) []byte
}

// A containerHook is a createContainer hook: its program, open in launch's namespaces
// (where the runtime spec resolves its path), the pipe its stdin is, and its argv and
// environment for the child.
type containerHook struct {
	h    spec.Hook
	fd   int
	r, w int
	cmd  *command
}

// hooksPoint is the step number of the report by which the child says it waits for
// the hooks.
const hooksPoint = -2

// Created is what Create made: the process and its cgroups, which outlive launch create.
type Created struct {
	Pid       int
	Rootfs    string
	Cgroups   []string
	CgroupIDs []uint64 // their inode numbers (cgroup.IDs)
}

// bundleSetup is a bundle checked against the host and turned into the child's steps.
type bundleSetup struct {
	b        *Bundle
	h        *host
	rootfs   string
	rootSt   unix.Stat_t // what resolveRootfs found at rootfs
	clone    uintptr     // namespaces made new by clone
	joins    []nsJoin    // namespaces joined by path
	pidJoin  int         // a PID namespace to join, open; or -1
	ownNet   bool        // a network namespace of the container's: new, or joined and not the host's
	ownIPC   bool        // the same for IPC
	newNet   bool        // a new network namespace: bring up lo
	hasUTS   bool        // a uts namespace made or joined
	newUTS   bool        //
	newCg    bool        // a new cgroup namespace, unshared once in the cgroups
	userns   bool        // a new user namespace, mapped as uidMap and gidMap say
	uidMap   []userns.Range
	gidMap   []userns.Range
	limits   cgroup.Limits //
	cgPath   string        // linux.cgroupsPath, absolute
	layout   mount.BundleSpec
	cmd      *command
	plan     *caps.Plan
	rlimits  []bundleRlimit
	sysctls  []sysctl
	profile  *profile.Program
	compiled <-chan compiledProfile // profile, being compiled (compileSeccomp)
	umask    int
	nnp      bool
	errW     int
	cg       *cgroup.Cgroups
	console  *tty.PtyPlan
	exec     bool        // launch exec, not create
	devices  deviceRules // linux.resources.devices
	workdir  string
	procs    []int    // launch exec: the cgroup.procs files of the container's cgroups, open
	procDirs []string // and their directories
	mounted  []string // destinations of the mounts: COMMAND's precheck assumes they hold it
	hooks    []*containerHook
	starts   []*startHook // startContainer hooks
	stateFd  int          // their state: a memfd, sealed once written; or -1
}

type nsJoin struct {
	kind string
	fd   int
	flag int
}

type bundleRlimit struct {
	name string
	res  int
	lim  unix.Rlimit
}

type sysctl struct {
	key   string
	t     mount.Target
	value []byte
}

// nsFlags are the namespaces a bundle may make or join.
var nsFlags = map[string]uintptr{
	"pid": unix.CLONE_NEWPID, "network": unix.CLONE_NEWNET, "mount": unix.CLONE_NEWNS, "ipc": unix.CLONE_NEWIPC,
	"uts": unix.CLONE_NEWUTS, "cgroup": unix.CLONE_NEWCGROUP, "user": unix.CLONE_NEWUSER, "time": unix.CLONE_NEWTIME,
}

// rlimitTypes are process.rlimits' types.
var rlimitTypes = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// mountFlags are the mount options that are per-mount flags: set, or cleared (clear).
var mountFlags = map[string]struct {
	flag  uintptr
	clear bool
}{
	"ro": {unix.MS_RDONLY, false}, "rw": {unix.MS_RDONLY, true}, "nosuid": {unix.MS_NOSUID, false},
	"suid": {unix.MS_NOSUID, true}, "nodev": {unix.MS_NODEV, false}, "dev": {unix.MS_NODEV, true},
	"noexec": {unix.MS_NOEXEC, false}, "exec": {unix.MS_NOEXEC, true}, "noatime": {unix.MS_NOATIME, false},
	"atime": {unix.MS_NOATIME, true}, "nodiratime": {unix.MS_NODIRATIME, false}, "diratime": {unix.MS_NODIRATIME, true},
	"relatime": {unix.MS_RELATIME, false}, "norelatime": {unix.MS_RELATIME, true},
	"strictatime": {unix.MS_STRICTATIME, false}, "nostrictatime": {unix.MS_STRICTATIME, true},
}

// propagation are the mount options that set a mount's propagation. Every mount of
// the container's namespace is made private before the first one, so a shared or
// slave mount has no peer or master on the host: it shares with the container's own
// mounts only.
var propagation = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC, "shared": unix.MS_SHARED,
	"rshared": unix.MS_SHARED | unix.MS_REC, "slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// bundleError is a bundle's field launch refuses.
func bundleError(field, why string) error {
	return &Error{Code: ExitFailure, Err: errors.New("config.json: " + field + ": " + why)}
}

func unsupported(field string) error { return bundleError(field, "not supported yet") }

// fieldError is bundleError for the process's fields, which launch exec takes from
// its own --process or command line.
func (s *bundleSetup) fieldError(field, why string) error {
	if s.exec {
		return &Error{Code: ExitFailure, Err: errors.New("exec: " + field + ": " + why)}
	}
	return bundleError(field, why)
}

// Create creates the bundle's container: its cgroups, namespaces, mounts and process,
// which waits on b.Fifo. On error nothing is left.
func Create(b *Bundle) (*Created, error) {
	if err := checkStdio(); err != nil {
		return nil, err
	}
	if err := checkPreserved(b.Preserve); err != nil {
		return nil, err
	}
	compiled := compileSeccomp(b.Spec)
	h, err := readHost()
	if err != nil {
		return nil, err
	}
	s := &bundleSetup{b: b, h: h, pidJoin: -1, umask: 0o022, stateFd: -1, compiled: compiled}
	defer s.closeJoins()
	if err := s.check(); err != nil {
		return nil, err
	}
	parents, err := h.cgroups.MakeParents(path.Dir(s.cgPath), s.limits)
	if err != nil {
		cgroup.RemoveMade(parents)
		return nil, &Error{Code: ExitFailure, Err: errs.Wrap("linux.cgroupsPath "+s.cgPath, err)}
	}
	cg, err := cgroup.Create(h.cgroups, path.Base(s.cgPath), s.limits)
	if err != nil {
		cgroup.RemoveMade(parents)
		return nil, &Error{Code: ExitFailure, Err: errs.Wrap("cgroups ("+h.cgroups.String()+")", err)}
	}
	fail := func(err error) (*Created, error) {
		cg.Close()
		cg.Destroy()
		cgroup.RemoveMade(parents)
		return nil, err
	}
	s.cg = cg
	s.layout.Cgroups = cg.Mounts()
	dirs := cg.Dirs()
	ids := cgroup.IDs(dirs)
	if b.Made != nil {
		if err := b.Made(dirs, ids); err != nil {
			return fail(err)
		}
	}
	// The profile, compiled meanwhile.
	if err := s.seccomp(); err != nil {
		return fail(err)
	}
	pid, err := s.start()
	if err != nil {
		return fail(err)
	}
	c := &Created{Pid: pid, Rootfs: s.rootfs, Cgroups: dirs, CgroupIDs: ids}
	cg.Release()
	return c, nil
}

func (s *bundleSetup) closeJoins() {
	for _, j := range s.joins {
		unix.Close(j.fd)
	}
	if s.pidJoin >= 0 {
		unix.Close(s.pidJoin)
	}
}

// check reads the bundle's config against what launch can do, and prepares
// everything but the cgroups.
func (s *bundleSetup) check() error {
	sp := s.b.Spec
	if sp.Linux.MountLabel != "" {
		return unsupported("linux.mountLabel")
	}
	if err := s.startHooks(); err != nil {
		return err
	}
	if err := s.namespaces(); err != nil {
		return err
	}
	if err := s.idMaps(); err != nil {
		return err
	}
	// In a user namespace, nodes and v1 cgroups are bound from the host, and /sys is
	// without a network namespace of the container's.
	s.layout.Userns, s.layout.HostSys = s.userns, s.userns && !s.newNet
	// A uts namespace joined by path is named as runc names it: the bundle joins it
	// to be the pod's, whose names it then sets.
	if sp.Hostname != "" && !s.hasUTS {
		return bundleError("hostname", "needs a uts namespace of the container's")
	}
	if sp.Domainname != "" && !s.hasUTS {
		return bundleError("domainname", "needs a uts namespace of the container's")
	}
	switch sp.Linux.RootfsPropagation {
	case "", "private", "rprivate":
	default:
		return unsupported("linux.rootfsPropagation " + strconv.Quote(sp.Linux.RootfsPropagation))
	}
	root := sp.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(s.b.Dir, root)
	}
	var err error
	if s.rootfs, s.rootSt, err = resolveRootfs(root); err != nil {
		return err
	}
	rootFlags, err := mount.Flags(s.rootfs)
	if err != nil {
		return err
	}
	// nodev on the root as on every mount but /dev: a node a process of the
	// container makes cannot be opened.
	s.layout.RootFlags = rootFlags | unix.MS_NODEV
	s.layout.ReadOnlyRoot = sp.Root.Readonly
	if sp.Linux.Resources != nil {
		s.devices = sp.Linux.Resources.Devices
		if err := s.devices.check(); err != nil {
			return err
		}
	}
	s.layout.DevReadOnly = !s.devices.all()
	if err := s.mounts(); err != nil {
		return err
	}
	if err := s.resources(); err != nil {
		return err
	}
	if err := s.process(); err != nil {
		return err
	}
	return s.sysctl()
}

// seccomp takes linux.seccomp compiled for the process's bounding set (compileSeccomp),
// and checks that it leaves what launch needs.
func (s *bundleSetup) seccomp() error {
	if s.compiled == nil {
		return nil
	}
	c := <-s.compiled
	if c.err != nil {
		return bundleError("linux.seccomp", c.err.Error())
	}
	s.profile = c.prog
	// What runs under the filter before process.args (see processSteps).
	// openat2 may be refused: the checks of the exec chain then leave magic links to
	// execve and Landlock, as on kernels without it.
	needs := []string{"umask", "openat", "read", "faccessat", "close", "execve", "exit_group"}
	if !s.nnp {
		needs = append(needs, "prctl", "setgroups", "setresgid", "setresuid", "capset", "write")
	}
	if refused := s.profile.Refuses(needs...); len(refused) > 0 {
		return bundleError("linux.seccomp", "refuses what launch needs to start the process: "+strings.Join(refused, " "))
	}
	return nil
}

// compiledProfile is linux.seccomp compiled, or why it could not be.
type compiledProfile struct {
	prog *profile.Program
	err  error
}

// compileSeccomp compiles sp's linux.seccomp on a goroutine of its own, or returns nil
// if there is none. It needs nothing but the spec, so it runs beside the reading of
// the host, the checks and the cgroups' creation, on a second CPU where there is one:
// alone, it was the longest part of a create before the fork (0.5 to 0.8 ms of a
// profile of 1 171 instructions, cold, on the development VM). seccomp waits for it.
func compileSeccomp(sp *spec.Spec) <-chan compiledProfile {
	if sp.Linux.Seccomp == nil {
		return nil
	}
	ch := make(chan compiledProfile, 1)
	go func() {
		pr, err := profile.FromJSON(sp.Linux.Seccomp)
		if err == nil {
			var prog *profile.Program
			prog, err = pr.Compile(containerOf(capsOf(sp.Process.Capabilities, "bounding")))
			ch <- compiledProfile{prog, err}
			return
		}
		ch <- compiledProfile{err: err}
	}()
	return ch
}

// namespaces reads linux.namespaces.
func (s *bundleSetup) namespaces() error {
	seen := map[string]bool{}
	for _, n := range s.b.Spec.Linux.Namespaces {
		flag, ok := nsFlags[n.Type]
		at := "linux.namespaces " + n.Type
		switch {
		case !ok:
			return bundleError(at, "unknown namespace type")
		case seen[n.Type]:
			return bundleError(at, "given twice")
		case n.Type == "time":
			return unsupported(at)
		case n.Type == "user" && n.Path != "":
			return unsupported(at + " joined by path")
		}
		seen[n.Type] = true
		if n.Type == "uts" {
			s.hasUTS = true
		}
		if n.Path == "" {
			switch n.Type {
			case "cgroup":
				s.newCg = true
			case "network":
				s.newNet, s.ownNet = true, true
				s.clone |= flag
			case "uts":
				s.newUTS = true
				s.clone |= flag
			default:
				s.clone |= flag
				if n.Type == "ipc" {
					s.ownIPC = true
				}
				if n.Type == "user" {
					s.userns = true
				}
			}
			continue
		}
		fd, err := unix.Open(n.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return &Error{Code: ExitFailure, Err: errs.Wrap(at, &os.PathError{Op: "open", Path: n.Path, Err: err})}
		}
		var st unix.Statfs_t
		if unix.Fstatfs(fd, &st) != nil || st.Type != unix.NSFS_MAGIC {
			unix.Close(fd)
			return bundleError(at, n.Path+" is not a namespace")
		}
		// A mount namespace joined by path gets the container's mounts and root, as
		// a new one would; launch's own is the host's, whose mounts they must never be.
		if n.Type == "mount" && (sameNamespace(fd, "mnt") || openOn(fd, "/proc/1/ns/mnt")) {
			unix.Close(fd)
			return bundleError(at, n.Path+" is launch's own mount namespace or init's: the container's mounts would be the host's")
		}
		// The host's own namespace, joined by path, is the host's: a bundle that
		// names it shares it (as one without the entry would), and sets nothing in it.
		if n.Type == "uts" && sameNamespace(fd, "uts") {
			s.hasUTS = false
		}
		// A network or IPC namespace joined by path that is not the host's is the
		// container's (the pod's, the engine's network): its sysctls are its own.
		if n.Type == "network" && !sameNamespace(fd, "net") {
			s.ownNet = true
		}
		if n.Type == "ipc" && !sameNamespace(fd, "ipc") {
			s.ownIPC = true
		}
		if n.Type == "pid" {
			s.pidJoin = fd
		} else {
			s.joins = append(s.joins, nsJoin{kind: n.Type, fd: fd, flag: int(flag)})
		}
	}
	if !seen["mount"] {
		return bundleError("linux.namespaces", "launch needs a new mount namespace")
	}
	// A namespace joined by path is joined before the user namespace is made, which
	// the clone that makes the others makes first: not yet.
	if s.userns && (len(s.joins) > 0 || s.pidJoin >= 0) {
		return unsupported("linux.namespaces: a namespace joined by path with a new user namespace")
	}
	return nil
}

// idMaps reads linux.uidMappings and gidMappings, which a new user namespace needs and
// nothing else takes. Container root must be mapped: the setup runs as it.
func (s *bundleSetup) idMaps() error {
	sp := s.b.Spec
	for _, m := range []struct {
		name string
		in   []spec.IDMapping
		out  *[]userns.Range
	}{{"linux.uidMappings", sp.Linux.UIDMappings, &s.uidMap}, {"linux.gidMappings", sp.Linux.GIDMappings, &s.gidMap}} {
		switch {
		case !s.userns && len(m.in) > 0:
			return bundleError(m.name, "needs a user namespace of the container's (linux.namespaces)")
		case !s.userns:
			continue
		case len(m.in) == 0:
			return bundleError(m.name, "a user namespace of the container's needs one")
		case len(m.in) > 340:
			return bundleError(m.name, "more than the kernel's 340 lines")
		}
		root := false
		for _, r := range m.in {
			if r.Size == 0 || uint64(r.ContainerID)+uint64(r.Size) > 1<<32-1 || uint64(r.HostID)+uint64(r.Size) > 1<<32-1 {
				return bundleError(m.name, "a range that is empty or ends past the last ID")
			}
			root = root || r.ContainerID == 0
			*m.out = append(*m.out, userns.Range{Inside: r.ContainerID, Host: r.HostID, Count: r.Size})
		}
		if !root {
			return bundleError(m.name, "launch sets the container up as its root: map container ID 0")
		}
	}
	return nil
}

// checkPreserved refuses --preserve-fds that names a descriptor that is not open, or a
// directory, which would lead the container out of its root (see checkStdio).
func checkPreserved(n int) error {
	for fd := 3; fd < 3+n; fd++ {
		if err := checkDescriptor(fd, "--preserve-fds", true); err != nil {
			return err
		}
	}
	return nil
}

// sameNamespace reports whether fd is launch's own namespace of kind (its name
// under /proc/self/ns).
func sameNamespace(fd int, kind string) bool { return openOn(fd, "/proc/self/ns/"+kind) }

// openOn reports whether fd is open on the file at path.
func openOn(fd int, path string) bool {
	var a, b unix.Stat_t
	return unix.Fstat(fd, &a) == nil && unix.Stat(path, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino
}

// maxMounts is how many mounts, masked paths, read-only paths and devices a bundle
// may ask for in all.
const maxMounts = 4096

// mounts reads mounts, maskedPaths, readonlyPaths and linux.devices.
func (s *bundleSetup) mounts() error {
	sp := s.b.Spec
	// Each is a step of the child, which holds the steps (and a copy of the launcher's
	// memory) until it execs, before it has joined the container's memory limit: 130 000
	// masked paths made a process of 321 MB (found by review). Engines ask for a few dozen.
	if n := len(sp.Mounts) + len(sp.Linux.MaskedPaths) + len(sp.Linux.ReadonlyPaths) + len(sp.Linux.Devices); n > maxMounts {
		return bundleError("mounts", strconv.Itoa(n)+" mounts, masked and read-only paths and devices: at most "+strconv.Itoa(maxMounts))
	}
	for i, m := range sp.Mounts {
		at := "mounts[" + strconv.Itoa(i) + "]"
		dst := m.Destination
		if !path.IsAbs(dst) {
			return bundleError(at+".destination", strconv.Quote(dst)+" is not absolute")
		}
		dst = path.Clean(dst)
		e := mount.Entry{Dst: dst, FSType: m.Type, Source: m.Source}
		if m.Type == "cgroup2" {
			// The container's own cgroups, as for type cgroup: read-only, whatever
			// the host's layout (a writable one would let it make cgroups of its own).
			e.FSType = "cgroup"
		}
		var data []string
		bind := m.Type == "bind"
		for _, o := range m.Options {
			if f, ok := mountFlags[o]; ok {
				if f.clear {
					e.Flags &^= f.flag
				} else {
					e.Flags |= f.flag
				}
				if o == "dev" {
					if !s.devices.all() {
						return bundleError(at+".options \"dev\"", "needs linux.resources.devices to allow every device (launch has no device cgroup to deny the others)")
					}
					e.Device = true
				}
				continue
			}
			switch o {
			case "bind":
				bind = true
			case "rbind":
				bind, e.Recursive = true, true
			case "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable":
				e.Prop = propagation[o]
			case "tmpcopyup", "idmap", "ridmap", "remount", "sync", "async", "dirsync", "mand", "nomand", "silent", "loud":
				return unsupported(at + ".options " + strconv.Quote(o))
			default:
				data = append(data, o)
			}
		}
		// nodev on every new file system but /dev's tmpfs and devpts (whose nodes
		// the kernel makes); binds decide in mount.BundleLayout.
		if dst == "/dev" {
			if slices.Contains(s.mounted, "/dev") {
				return bundleError(at+".destination", "a second mount of /dev")
			}
			if m.Type != "tmpfs" || bind {
				return bundleError(at, "/dev must be a tmpfs")
			}
		}
		if !e.Device && dst != "/dev" && m.Type != "devpts" && !bind {
			e.Flags |= unix.MS_NODEV
		}
		if bind {
			src := m.Source
			if !filepath.IsAbs(src) {
				src = filepath.Join(s.b.Dir, src)
			}
			real, err := filepath.EvalSymlinks(src)
			if err != nil {
				return &Error{Code: ExitFailure, Err: errs.Wrap(at+".source", err)}
			}
			e.FSType, e.Source = "", real
			var st unix.Stat_t
			if unix.Stat(real, &st) == nil && (st.Mode&unix.S_IFMT == unix.S_IFCHR || st.Mode&unix.S_IFMT == unix.S_IFBLK) {
				typ := map[bool]string{true: "c", false: "b"}[st.Mode&unix.S_IFMT == unix.S_IFCHR]
				if !s.devices.allows(typ, int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))) {
					return bundleError(at+".source", real+" is a device linux.resources.devices denies")
				}
			}
			// File system options mean nothing to a bind: mount(2) ignores them
			// with MS_BIND, as runc passes them.
		} else {
			if m.Type == "" {
				return bundleError(at+".type", "missing")
			}
			if e.Source == "" {
				e.Source = m.Type
			}
			e.Data = strings.Join(data, ",")
		}
		s.layout.Entries = append(s.layout.Entries, e)
		s.mounted = append(s.mounted, dst)
	}
	for i, d := range sp.Linux.Devices {
		at := "linux.devices[" + strconv.Itoa(i) + "]"
		p := path.Clean(d.Path)
		if !path.IsAbs(p) || !strings.HasPrefix(p, "/dev/") {
			return bundleError(at+".path", strconv.Quote(d.Path)+" is not below /dev")
		}
		var mode uint32
		switch d.Type {
		case "c", "u":
			mode = unix.S_IFCHR
		case "b":
			mode = unix.S_IFBLK
		case "p":
			mode = unix.S_IFIFO
		default:
			return bundleError(at+".type", strconv.Quote(d.Type)+" is not c, b, u or p")
		}
		if d.Major < 0 || d.Minor < 0 || d.Major > 0xfff || d.Minor > 0xfffff {
			return bundleError(at, "device number out of range")
		}
		typ := d.Type
		if typ == "u" {
			typ = "c"
		}
		denied := d.Type != "p" && !s.devices.allows(typ, d.Major, d.Minor)
		perm := uint32(0o666)
		if d.FileMode != nil {
			perm = *d.FileMode & 0o7777
		}
		dev := mount.Device{Path: p, Mode: mode | perm, Dev: mount.Dev(uint32(d.Major), uint32(d.Minor)), Denied: denied}
		if d.UID != nil {
			dev.UID = *d.UID
		}
		if d.GID != nil {
			dev.GID = *d.GID
		}
		s.layout.Devices = append(s.layout.Devices, dev)
	}
	for _, p := range sp.Linux.MaskedPaths {
		if !path.IsAbs(p) {
			return bundleError("linux.maskedPaths", strconv.Quote(p)+" is not absolute")
		}
		p = path.Clean(p)
		s.layout.Masked = append(s.layout.Masked, mount.MaskedPath{Path: p, Dir: s.isDir(p)})
	}
	for _, p := range sp.Linux.ReadonlyPaths {
		if !path.IsAbs(p) {
			return bundleError("linux.readonlyPaths", strconv.Quote(p)+" is not absolute")
		}
		s.layout.ReadOnly = append(s.layout.ReadOnly, path.Clean(p))
	}
	return nil
}

// isDir tells whether the container's p is a directory, to mask it with a tmpfs
// rather than /dev/null: paths of /proc and /sys are the host kernel's, the same as the
// container's; others are looked up in the root. A path that is missing is masked as a
// file, and skipped by the child.
func (s *bundleSetup) isDir(p string) bool {
	var st unix.Stat_t
	if strings.HasPrefix(p, "/proc/") || strings.HasPrefix(p, "/sys/") {
		return unix.Lstat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
	}
	dir, err := unix.Open(s.rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(dir)
	fd, err := openat2Retry(dir, strings.TrimPrefix(p, "/"), &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// resources reads linux.resources and linux.cgroupsPath.
func (s *bundleSetup) resources() error {
	l := s.b.Spec.Linux
	p := l.CgroupsPath
	switch {
	case p == "":
		p = "/launch/" + s.b.ID
	case strings.Contains(p, ":"):
		return unsupported("linux.cgroupsPath " + strconv.Quote(p) + " (systemd's slice:prefix:name)")
	case !path.IsAbs(p):
		p = "/" + p
	}
	p = path.Clean(p)
	if p == "/" {
		return bundleError("linux.cgroupsPath", "the root cgroup")
	}
	s.cgPath = p
	s.limits.Explicit = map[string]bool{}
	r := l.Resources
	if r == nil {
		return nil
	}
	if len(r.Devices) > 0 {
		s.limits.DeviceRules = deviceCgroupRules(r.Devices)
	}
	if m := r.Memory; m != nil {
		if m.Limit != nil && *m.Limit > 0 {
			s.limits.Memory = *m.Limit
			s.limits.Explicit["memory"] = true
		}
		if m.Swap != nil && *m.Swap != 0 {
			if *m.Swap < -1 || *m.Swap > 0 && s.limits.Memory > 0 && *m.Swap < s.limits.Memory {
				return bundleError("linux.resources.memory.swap", "below the memory limit")
			}
			s.limits.MemorySwap = *m.Swap
		}
		if m.Reservation != nil && *m.Reservation > 0 {
			s.limits.Reservation = *m.Reservation
		}
		if m.Kernel != nil && *m.Kernel > 0 {
			s.limits.KernelMem = *m.Kernel
		}
		if m.KernelTCP != nil && *m.KernelTCP > 0 {
			s.limits.KernelTCP = *m.KernelTCP
		}
		if m.Swappiness != nil {
			if *m.Swappiness > 100 {
				return bundleError("linux.resources.memory.swappiness", "above 100")
			}
			s.limits.Swappiness = m.Swappiness
		}
		s.limits.NoOOMKill = m.DisableOOMKiller
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares > 0 {
			s.limits.CPUShares = *c.Shares
			s.limits.Explicit["cpu-shares"] = true
		}
		if c.Period != nil && *c.Period > 0 {
			s.limits.CPUPeriod = *c.Period
		}
		if c.Quota != nil && *c.Quota > 0 {
			period := uint64(100000)
			if s.limits.CPUPeriod > 0 {
				period = s.limits.CPUPeriod
			}
			s.limits.CPUs = float64(*c.Quota) / float64(period)
			s.limits.Explicit["cpus"] = true
		}
		s.limits.CPUSet, s.limits.CPUMems = c.Cpus, c.Mems
	}
	if r.Pids != nil && r.Pids.Limit > 0 {
		s.limits.Pids = r.Pids.Limit
		s.limits.Explicit["pids"] = true
	}
	if r.BlockIO != nil && r.BlockIO.Weight != nil && *r.BlockIO.Weight > 0 {
		s.limits.IOWeight = *r.BlockIO.Weight
		s.limits.Explicit["io-weight"] = true
	}
	return nil
}

// process reads process.
func (s *bundleSetup) process() error {
	p := s.b.Spec.Process
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return s.fieldError("process.cwd", strconv.Quote(cwd)+" is not absolute")
	}
	s.workdir = path.Clean(cwd)
	var err error
	if s.cmd, err = newCommandEnv(p.Args, p.Env); err != nil {
		return s.fieldError("process", err.Error())
	}
	if err := s.cmd.precheck(s.rootfs, s.workdir, s.mounted); err != nil {
		return err
	}
	if p.User.Umask != nil {
		s.umask = int(*p.User.Umask & 0o777)
	}
	s.nnp = p.NoNewPrivileges
	if p.Terminal && s.b.Console < 0 {
		return s.fieldError("process.terminal", "needs --console-socket")
	}
	if !p.Terminal && s.b.Console >= 0 {
		return s.fieldError("process.terminal", "false, but --console-socket was given")
	}
	for _, r := range p.Rlimits {
		res, ok := rlimitTypes[r.Type]
		if !ok {
			return s.fieldError("process.rlimits", "unknown type "+strconv.Quote(r.Type))
		}
		if r.Soft > r.Hard {
			return s.fieldError("process.rlimits "+r.Type, "soft limit above the hard limit")
		}
		s.rlimits = append(s.rlimits, bundleRlimit{name: r.Type, res: res, lim: unix.Rlimit{Cur: r.Soft, Max: r.Hard}})
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		return s.fieldError("process.oomScoreAdj", "not from -1000 to 1000")
	}
	c := p.Capabilities
	for _, set := range []string{"bounding", "effective", "permitted", "inheritable", "ambient"} {
		if _, err := parseCaps(c, set); err != nil {
			return s.fieldError("process.capabilities."+set, err.Error())
		}
	}
	last := s.h.capLast
	s.plan = caps.NewSets(capsOf(c, "bounding"), capsOf(c, "effective"), capsOf(c, "permitted"),
		capsOf(c, "inheritable"), capsOf(c, "ambient"), last)
	return nil
}

// capsOf returns one set of process.capabilities; nil capabilities are none.
func capsOf(c *spec.Capabilities, set string) caps.Set {
	s, _ := parseCaps(c, set)
	return s
}

func parseCaps(c *spec.Capabilities, set string) (caps.Set, error) {
	if c == nil {
		return 0, nil
	}
	var names []string
	switch set {
	case "bounding":
		names = c.Bounding
	case "effective":
		names = c.Effective
	case "permitted":
		names = c.Permitted
	case "inheritable":
		names = c.Inheritable
	case "ambient":
		names = c.Ambient
	}
	var out caps.Set
	for _, n := range names {
		if !strings.HasPrefix(n, "CAP_") {
			return 0, errors.New(strconv.Quote(n) + " is not a CAP_ name")
		}
		v, err := caps.Parse(n)
		if err != nil || v == caps.All {
			// runc skips names this kernel lacks; an unknown name is an error here,
			// which a newer build of launch may know.
			return 0, errors.New("unknown capability " + strconv.Quote(n))
		}
		out |= v
	}
	return out, nil
}

// namespacedSysctls are the sysctls a container's own namespaces hold
// (runc's list, from the kernel's): any other would change the host.
var namespacedSysctls = []string{"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
	"kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}

// sysctl reads linux.sysctl: each is written in the container's /proc/sys.
func (s *bundleSetup) sysctl() error {
	keys := make([]string, 0, len(s.b.Spec.Linux.Sysctl))
	for k := range s.b.Spec.Linux.Sysctl {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		at := "linux.sysctl " + k
		ok := false
		switch {
		case slices.Contains(namespacedSysctls, k), strings.HasPrefix(k, "fs.mqueue."):
			ok = s.ownIPC
		case strings.HasPrefix(k, "net."):
			ok = s.ownNet
		case k == "kernel.hostname" || k == "kernel.domainname":
			ok = s.newUTS
		}
		if !ok {
			return bundleError(at, "not a sysctl of the container's own namespaces")
		}
		if strings.Contains(k, "..") || strings.Contains(k, "/") {
			return bundleError(at, "not a sysctl name")
		}
		if !slices.Contains(s.mounted, "/proc") {
			return bundleError(at, "needs a mount of /proc")
		}
		t, err := mount.ProcTarget("/proc/sys/" + strings.ReplaceAll(k, ".", "/"))
		if err != nil {
			return bundleError(at, err.Error())
		}
		s.sysctls = append(s.sysctls, sysctl{key: k, t: t, value: []byte(s.b.Spec.Linux.Sysctl[k])})
	}
	return nil
}

// sysctlSteps write the container's sysctls through its /proc.
func (s *bundleSetup) sysctlSteps() []step {
	var st []step
	for i := range s.sysctls {
		c := &s.sysctls[i]
		if len(c.value) == 0 {
			c.value = []byte{'\n'}
		}
		st = append(st, step{op: opSysctl, what: "set sysctl", path: c.key, target: &c.t, str: &c.value[0], n: len(c.value)})
	}
	return st
}

// cgroupSteps are the steps that put the child in its cgroups, then close the
// cgroups' descriptors: they are the host's.
func cgroupSteps(cg *cgroup.Cgroups) []step {
	var st []step
	joins := cg.JoinFDs()
	for i, fd := range joins {
		st = append(st, step{op: opJoinCgroup, what: "join cgroup", path: cg.Dirs()[i], fd: fd, str: &zero[0], n: len(zero)})
	}
	dir, procs := cg.V2()
	if procs >= 0 {
		st = append(st, step{op: opJoinCgroupV2, what: "join cgroup", path: "cgroup.procs", fd: procs, str: &zero[0], n: len(zero)})
	}
	var fds []int
	for _, fd := range append(append([]int{}, joins...), dir, procs) {
		if fd >= 0 {
			fds = append(fds, fd)
		}
	}
	if len(fds) > 0 {
		st = append(st, step{op: opClose, what: "close", path: "cgroup descriptors", fds: fds})
	}
	return st
}

// steps returns the child's steps for a bundle; see setup.steps for the order's
// reasons. The process waits for launch start once everything that can fail is done
// (errors up to there reach launch create), with its user, capabilities and working
// directory; the seccomp filter is loaded before the credentials change when the
// bundle does not ask for no_new_privs (loading it then needs CAP_SYS_ADMIN, which
// the process may not keep), else last, after no_new_privs.
func (s *bundleSetup) steps(lifeR, lifeW int) ([]step, error) {
	sp := s.b.Spec
	var st []step
	add := func(x step) { st = append(st, x) }
	add(step{op: opDumpable, what: "set not dumpable"})
	add(step{op: opDieWithParent, what: "set parent-death signal", fd: lifeR, fd2: lifeW})
	st = append(st, cgroupSteps(s.cg)...)
	if s.userns {
		add(step{op: opWaitGo, what: "wait for launch", path: "the user namespace's maps", fd: lifeR})
	}
	for _, j := range s.joins {
		add(step{op: opSetns, what: "join namespace", path: j.kind, fd: j.fd, n: j.flag})
	}
	if s.newCg {
		add(step{op: opUnshare, what: "unshare", path: "cgroup namespace", n: unix.CLONE_NEWCGROUP})
	}
	if sp.Hostname != "" {
		h := []byte(sp.Hostname)
		add(step{op: opHostname, what: "sethostname", path: sp.Hostname, str: &h[0], n: len(h)})
	}
	if sp.Domainname != "" {
		d := []byte(sp.Domainname)
		add(step{op: opDomainname, what: "setdomainname", path: sp.Domainname, str: &d[0], n: len(d)})
	}
	if s.newNet {
		lo, err := loopbackStep()
		if err != nil {
			return nil, err
		}
		add(lo)
	}
	root, err := rootSteps(s.rootfs)
	if err != nil {
		return nil, err
	}
	st = append(st, root...)
	if s.userns {
		// Once the root is found (see setup.steps).
		add(step{op: opUser, what: "become root of the user namespace", path: "linux.uidMappings"})
	}
	layout, split, err := mount.BundleLayout(s.layout)
	if err != nil {
		return nil, bundleError("mounts", err.Error())
	}
	for i, m := range layout {
		if i == split {
			st = append(st, s.sysctlSteps()...)
		}
		if m.Mount != nil {
			add(step{op: opMount, what: m.What, path: m.Path(), mount: m.Mount})
		} else {
			add(step{op: opNode, what: m.What, path: m.Path(), node: m.Node})
		}
	}
	if len(sp.Hooks.Prestart)+len(sp.Hooks.CreateRuntime)+len(s.hooks) > 0 {
		add(step{op: opHooks, what: "wait for the hooks", path: "prestart, createRuntime", fd: lifeR})
	}
	// createContainer hooks: in the container's namespaces, before pivot_root, with
	// the state the launcher wrote into their pipes meanwhile. The child's copies of
	// the pipes' write ends go first, or a hook would wait for the end of its stdin
	// for ever.
	if len(s.hooks) > 0 {
		var ws []int
		for _, h := range s.hooks {
			ws = append(ws, h.w)
		}
		add(step{op: opClose, what: "close", path: "the hooks' pipes", fds: ws})
	}
	for _, h := range s.hooks {
		add(step{op: opRunHook, what: "createContainer hook", path: h.h.Path, fd: h.fd, fd2: h.r, cmd: h.cmd})
	}
	if s.h.initramfs {
		add(step{op: opMoveRoot, what: "move root (MS_MOVE) and chroot, / being the initramfs", path: s.rootfs})
	} else {
		add(step{op: opPivot, what: "pivot_root", path: s.rootfs})
	}
	st = append(st, s.enterSteps()...)
	return s.processSteps(st, true)
}

// enterSteps follow the move into the container's root: every descriptor of the host
// closed (but the pipe to launch, the start FIFO, the console socket and the
// startContainer hooks' sealed memfd, which lead nowhere), execution restricted to the root, a session of the process's own with its
// terminal, and the signals restored.
func (s *bundleSetup) enterSteps() []step {
	st := []step{
		{op: opCloseAll, what: "close descriptors", path: "all but the pipe to launch, the start FIFO, the console socket and the hooks' state",
			fds: []int{s.errW, s.b.Fifo, s.b.Console, s.stateFd}, preserve: s.b.Preserve},
		{op: opLandlock, what: "restrict execution", path: "below the root (Landlock)"},
		{op: opSetsid, what: "setsid"},
	}
	if s.console != nil {
		st = append(st, step{op: opPty, what: "make the terminal", path: "/dev/pts/ptmx", pty: s.console})
	}
	return append(st, step{op: opSignals, what: "restore signals"})
}

// processSteps adds the steps that make the process what process says, and its exec:
// for launch create (wait true), with the report to launch create and the wait for
// launch start once everything that can fail is done; for launch exec, without.
func (s *bundleSetup) processSteps(st []step, wait bool) ([]step, error) {
	p := s.b.Spec.Process
	add := func(x step) { st = append(st, x) }
	for i := range s.rlimits {
		r := &s.rlimits[i]
		add(step{op: opRlimit, what: "set " + r.name, path: strconv.FormatUint(r.lim.Cur, 10), n: r.res, rlim: &r.lim})
	}
	filter := func() {
		prog := &unix.SockFprog{Len: uint16(len(s.profile.Filter)), Filter: &s.profile.Filter[0]}
		add(step{op: opSeccomp, what: "load seccomp profile", path: strconv.Itoa(int(prog.Len)) + " instructions",
			prog: prog, n: int(s.profile.Flags)})
	}
	// The working directory is entered as root, before the filter: the chdir refuses
	// magic links with openat2, which a profile may refuse.
	wd, err := mount.CString(s.workdir)
	if err != nil {
		return nil, err
	}
	add(step{op: opChdir, what: "chdir", path: s.workdir, str: wd})
	if s.profile != nil && !s.nnp {
		filter()
	}
	add(step{op: opDropBounding, what: "drop capabilities", path: "bounding set", caps: s.plan})
	add(step{op: opKeepCaps, what: "keep capabilities", path: "across the change of user"})
	who := strconv.FormatUint(uint64(p.User.UID), 10) + ":" + strconv.FormatUint(uint64(p.User.GID), 10)
	add(step{op: opUser, what: "set user and groups", path: who, uid: int(p.User.UID), gid: int(p.User.GID), groups: p.User.AdditionalGids})
	add(step{op: opSetCaps, what: "capset", path: "process.capabilities", caps: s.plan})
	add(step{op: opAmbient, what: "raise ambient capabilities", path: "process.capabilities.ambient", caps: s.plan})
	nnp := func() {
		if s.nnp {
			add(step{op: opNoNewPrivs, what: "set no_new_privs"})
			if s.profile != nil {
				filter()
			}
		}
	}
	if wait {
		add(step{op: opReady, what: "report ready", path: "launch create", fd: s.errW})
		// The startContainer hooks are the process's: no_new_privs and the filter
		// hold for them too (a set-user-ID program of the image gains nothing).
		nnp()
		add(step{op: opWaitStart, what: "wait for launch start", path: "the start FIFO", fd: s.b.Fifo})
		for _, h := range s.starts {
			h.state = s.stateFd
			add(step{op: opStartHook, what: "startContainer hook", path: unix.BytePtrToString(h.path), hook: h})
		}
	} else {
		// launch exec --detach ends as soon as the process has exec'd: the process
		// outlives it, as a process runc exec starts does.
		add(step{op: opOrphan, what: "clear parent-death signal", path: "launch exec"})
		nnp()
	}
	add(step{op: opUmask, what: "umask", path: "0" + strconv.FormatInt(int64(s.umask), 8), n: s.umask})
	add(step{op: opExec, what: "exec", path: p.Args[0], cmd: s.cmd})
	return st, nil
}

// fork forks the child of pl. The thread that forks joins the PID namespace to join
// for the child's sake (setns(2) of a PID namespace is for the caller's children) and
// goes back to its own after the fork; it stays locked, and dies with the command.
func (s *bundleSetup) fork(pl *plan) (int, unix.Errno, error) {
	runtime.LockOSThread()
	own := -1
	if s.pidJoin >= 0 {
		var err error
		if own, err = unix.Open("/proc/thread-self/ns/pid", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
			err = unix.Setns(s.pidJoin, unix.CLONE_NEWPID)
		}
		if err != nil {
			return 0, 0, &Error{Code: ExitFailure, Err: &StepError{What: "join namespace", Path: "pid", Err: err}}
		}
	}
	pid, errno := pl.start()
	if own >= 0 {
		unix.Setns(own, unix.CLONE_NEWPID)
		unix.Close(own)
	}
	return pid, errno, nil
}

// start forks the child and waits until it is ready (launch create: s.cg is set) or
// has exec'd (launch exec), or failed. It returns the child's pid.
func (s *bundleSetup) start() (int, error) {
	var pipe, life [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		return 0, os.NewSyscallError("pipe2", err)
	}
	defer unix.Close(pipe[0])
	if err := unix.Pipe2(life[:], unix.O_CLOEXEC); err != nil {
		unix.Close(pipe[1])
		return 0, os.NewSyscallError("pipe2", err)
	}
	defer unix.Close(life[1])
	s.errW = pipe[1]
	closeChildEnds := func() { unix.Close(pipe[1]); unix.Close(life[0]) }
	if s.b.Console >= 0 {
		var size unix.Winsize
		if cs := s.b.Spec.Process.ConsoleSize; cs != nil {
			size.Row, size.Col = uint16(min(cs.Height, 0xffff)), uint16(min(cs.Width, 0xffff))
		}
		s.console = tty.NewConsole(s.b.Console, size)
	}
	var steps []step
	var err error
	v2dir := -1
	if s.cg != nil {
		defer s.closeHooks()
		if err := s.openHooks(); err != nil {
			closeChildEnds()
			return 0, err
		}
		if len(s.starts) > 0 {
			fd, err := unix.MemfdCreate("launch-hook-state", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
			if err != nil {
				closeChildEnds()
				return 0, os.NewSyscallError("memfd_create", err)
			}
			s.stateFd = fd
			defer func() { unix.Close(fd); s.stateFd = -1 }()
		}
		steps, err = s.steps(life[0], life[1])
		v2dir, _ = s.cg.V2()
	} else {
		steps, err = s.execSteps(life[0], life[1])
	}
	if err != nil {
		closeChildEnds()
		return 0, err
	}
	pl := &plan{steps: steps, clone: fork.NewClone(s.clone, v2dir), errW: pipe[1], mnt: mount.NewState()}
	pl.mnt.ExpectRoot(uint64(s.rootSt.Dev), s.rootSt.Ino)
	if s.cg != nil {
		pl.late = newLateExec(s.b.Spec.Process.Args[0])
	}

	pid, errno, err := s.fork(pl)
	if err != nil {
		closeChildEnds()
		return 0, err
	}
	closeChildEnds()
	if s.cg != nil {
		s.cg.Close()
	}
	runtime.KeepAlive(pl)
	if errno != 0 {
		e := &Error{Code: ExitFailure, Err: &StepError{What: "clone", Path: "new namespaces", Err: errno}}
		if errno == unix.EPERM {
			e.Hint = "creating namespaces needs root (CAP_SYS_ADMIN)"
		}
		return 0, e
	}
	if s.userns && s.cg != nil {
		if err := userns.Write(pid, s.uidMap, s.gidMap, false); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			reap(pid)
			return 0, &Error{Code: ExitFailure, Err: errs.Wrap("linux.uidMappings", err)}
		}
		unix.Write(life[1], []byte{1})
	}
	if adj := s.b.Spec.Process.OOMScoreAdj; adj != nil {
		if err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/oom_score_adj", []byte(strconv.FormatInt(*adj, 10)), 0); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			reap(pid)
			return 0, &Error{Code: ExitFailure, Err: errs.Wrap("process.oomScoreAdj", err)}
		}
	}
	var rep report
	buf := (*[sizeofReport]byte)(unsafe.Pointer(&rep))[:]
	n := readFull(pipe[0], buf)
	var hookTimedOut *containerHook
	if n == sizeofReport && rep.Step == hooksPoint && s.b.Hooks != nil {
		state, err := s.b.Hooks(pid, s.rootfs)
		if err == nil {
			err = s.feedHooks(state)
		}
		if err != nil {
			unix.Kill(pid, unix.SIGKILL)
			reap(pid)
			return 0, err
		}
		// A createContainer hook past its timeout is killed with the process, whose
		// PID namespace it is in.
		var timers []*time.Timer
		var mu sync.Mutex
		var at time.Duration
		for _, h := range s.hooks {
			if h.h.Timeout == nil {
				break // no time limit for this one, and so for those after it
			}
			at += time.Duration(*h.h.Timeout) * time.Second
			timers = append(timers, time.AfterFunc(at, func() {
				mu.Lock()
				defer mu.Unlock()
				if hookTimedOut == nil {
					hookTimedOut = h
					unix.Kill(pid, unix.SIGKILL)
				}
			}))
		}
		unix.Write(life[1], []byte{1})
		n = readFull(pipe[0], buf)
		mu.Lock()
		for _, t := range timers {
			t.Stop()
		}
		mu.Unlock()
	}
	if hookTimedOut != nil {
		reap(pid)
		return 0, fail(ExitFailure, "createContainer hook "+hookTimedOut.h.Path+": timed out after "+
			strconv.FormatInt(*hookTimedOut.h.Timeout, 10)+" s")
	}
	if s.cg == nil && n == 0 {
		return pid, nil // exec'd (launch exec)
	}
	if s.cg != nil && n == 1 && buf[0] == 1 {
		// Ready (launch create): the nodes are made, and the devices cgroup gets the
		// bundle's rules before the process can exec.
		if _, err := s.cg.SetDevices(s.limits.DeviceRules); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			reap(pid)
			return 0, &Error{Code: ExitFailure, Err: errs.Wrap("linux.resources.devices", err)}
		}
		if err := s.writeStartState(pid); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			reap(pid)
			return 0, err
		}
		return pid, nil
	}
	unix.Kill(pid, unix.SIGKILL)
	reap(pid)
	if n == 0 {
		return 0, fail(ExitFailure, "the container's process ended during its setup")
	}
	return 0, stepFailure(&setup{rootfs: s.rootfs}, steps, rep, n)
}

// openHooks opens the createContainer hooks' programs in launch's namespaces, as the
// runtime spec resolves their paths, and makes the pipes their stdin is.
func (s *bundleSetup) openHooks() error {
	for i, h := range s.b.Spec.Hooks.CreateContainer {
		at := "hooks.createContainer[" + strconv.Itoa(i) + "]"
		ch := &containerHook{h: h, fd: -1, r: -1, w: -1}
		s.hooks = append(s.hooks, ch)
		if !filepath.IsAbs(h.Path) {
			return bundleError(at+".path", strconv.Quote(h.Path)+" is not an absolute path")
		}
		fd, err := unix.Open(h.Path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return &Error{Code: ExitFailure, Err: errs.Wrap(at, &os.PathError{Op: "open", Path: h.Path, Err: err})}
		}
		ch.fd = fd
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			return os.NewSyscallError("pipe2", err)
		}
		ch.r, ch.w = p[0], p[1]
		args := h.Args
		if len(args) == 0 {
			args = []string{h.Path}
		}
		if ch.cmd, err = hookCommand(args, h.Env); err != nil {
			return bundleError(at, err.Error())
		}
	}
	return nil
}

// startHooks reads the startContainer hooks, which the process runs in the container
// after launch start, as runc's does: with its user, capabilities and namespaces,
// under the seccomp filter if it is loaded before the credentials change (see
// processSteps), each with the state (status created) on its stdin and killed past
// its timeout. Their paths are resolved in the container, so nothing is opened now.
func (s *bundleSetup) startHooks() error {
	hooks := s.b.Spec.Hooks.StartContainer
	// Until the process execs, it is the launcher: its memory holds launch create's
	// (the engine's environment, the bundle's config). CAP_SYS_ADMIN and CAP_PERFMON
	// read another process's /proc memory files and sample it with perf without the
	// ptrace check that Landlock answers; and without Landlock, nothing keeps a hook
	// with CAP_SYS_PTRACE from the launcher's binary on the host, /proc/1/exe. No set
	// of the process has a capability outside the bounding set.
	if len(hooks) > 0 && s.b.Spec.Process != nil {
		bounding := capsOf(s.b.Spec.Process.Capabilities, "bounding")
		if bounding.Has(unix.CAP_SYS_ADMIN) || bounding.Has(unix.CAP_PERFMON) {
			return bundleError("hooks.startContainer", "not with CAP_SYS_ADMIN or CAP_PERFMON, with which a hook reads the memory of the process before it execs (the launcher's)")
		}
		if bounding.Has(unix.CAP_SYS_PTRACE) && execve.LandlockABI() == 0 {
			return bundleError("hooks.startContainer", "with CAP_SYS_PTRACE, the hooks need Landlock (Linux 5.13), which this kernel lacks")
		}
	}
	for i, h := range hooks {
		at := "hooks.startContainer[" + strconv.Itoa(i) + "]"
		if !filepath.IsAbs(h.Path) {
			return bundleError(at+".path", strconv.Quote(h.Path)+" is not an absolute path")
		}
		args := h.Args
		if len(args) == 0 {
			args = []string{h.Path}
		}
		cmd, err := hookCommand(args, h.Env)
		if err != nil {
			return bundleError(at, err.Error())
		}
		timeout := 0
		if h.Timeout != nil {
			timeout = int(*h.Timeout) * 1000 // 1 to 1048576 s (spec)
		}
		sh, err := newStartHook(h.Path, cmd, timeout)
		if err != nil {
			return bundleError(at+".path", err.Error())
		}
		s.starts = append(s.starts, sh)
	}
	return nil
}

// writeStartState writes the startContainer hooks' state into their memfd and seals
// it: no hook can change what the next one reads.
func (s *bundleSetup) writeStartState(pid int) error {
	if s.stateFd < 0 {
		return nil
	}
	var state []byte
	if s.b.StartState != nil {
		state = s.b.StartState(pid, s.rootfs)
	}
	if n, err := unix.Pwrite(s.stateFd, state, 0); err != nil || n != len(state) {
		return fail(ExitFailure, "startContainer hooks: the state ("+strconv.Itoa(len(state))+" bytes) cannot be written")
	}
	if _, err := unix.FcntlInt(uintptr(s.stateFd), unix.F_ADD_SEALS,
		unix.F_SEAL_WRITE|unix.F_SEAL_GROW|unix.F_SEAL_SHRINK|unix.F_SEAL_SEAL); err != nil {
		return os.NewSyscallError("fcntl F_ADD_SEALS", err)
	}
	return nil
}

// hookCommand makes the argv and environment arrays of a hook.
func hookCommand(args, env []string) (*command, error) {
	argv, err := cstrings(args)
	if err != nil {
		return nil, err
	}
	envv, err := cstrings(env)
	if err != nil {
		return nil, err
	}
	return &command{argv: append(argv, nil), envv: append(envv, nil)}, nil
}

// feedHooks writes state into each createContainer hook's stdin and closes it. The
// pipe is made as large as the state, which must fit it: nothing reads it before the
// process runs the hook.
func (s *bundleSetup) feedHooks(state []byte) error {
	for _, h := range s.hooks {
		if len(state) > 65536 {
			unix.FcntlInt(uintptr(h.w), unix.F_SETPIPE_SZ, len(state))
		}
		if err := unix.SetNonblock(h.w, true); err != nil {
			return os.NewSyscallError("fcntl", err)
		}
		if n, err := unix.Write(h.w, state); err != nil || n != len(state) {
			return fail(ExitFailure, "createContainer hook "+h.h.Path+": the state ("+strconv.Itoa(len(state))+" bytes) does not fit its stdin")
		}
		unix.Close(h.w)
		h.w = -1
	}
	return nil
}

// closeHooks closes what openHooks opened and the child has its own copies of.
func (s *bundleSetup) closeHooks() {
	for _, h := range s.hooks {
		for _, fd := range []int{h.fd, h.r, h.w} {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}
}
