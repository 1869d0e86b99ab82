package mount

import (
	"errors"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"launch/internal/errs"
)

// A Step is one prepared file-system step of the container: a mount or a node.
type Step struct {
	What  string // for messages: "mount proc", "mknod", ...
	Mount *Mount
	Node  *Node
}

// Path is the container path the step concerns.
func (s Step) Path() string {
	if s.Mount != nil {
		return s.Mount.Target.Path
	}
	return s.Node.Target.Path
}

// A Cgroup is a cgroup hierarchy to mount under /sys/fs/cgroup (see cgroup.Mount).
type Cgroup struct {
	Dir, FSType, Options string
	Links                []string
	Host                 string // the container's cgroup on the host, bound where a user namespace cannot mount it
}

// A Bind is a host path to bind-mount into the container.
type Bind struct {
	Src, Dst string
	ReadOnly bool
	Device   bool // SRC is a device node to bind as one (not nodev)
}

// Spec says what the container's file system holds besides ROOTFS.
type Spec struct {
	ReadOnly  bool     // the root read-only
	RootFlags uintptr  // per-mount flags of ROOTFS's mount, kept by the root's last step (see Flags)
	TmpSize   int64    // size limit of /tmp in bytes, 0 for tmpfs's default
	Cgroups   []Cgroup // hierarchies to show under /sys/fs/cgroup
	Binds     []Bind
	View      []View // the /proc view's files, if any
	// Userns: the container has a user namespace, in which mknod(2) and cgroup v1
	// mounts are refused: /dev's nodes and the cgroups are bound from the host.
	Userns bool
	// HostSys: sysfs cannot be mounted (the network namespace is the host's, which a
	// user namespace has no power over): the host's /sys is bound read-only instead.
	HostSys bool
	// NoPtsGroup: devpts's gid=5 is not a group of the user namespace.
	NoPtsGroup bool
}

// A View is a FUSE file system of the launcher's, mounted over a file of /proc or
// /sys (see package procview).
type View struct {
	Target string // the file it covers
	FD     int    // the /dev/fuse connection, which the child closes once mounted
	Data   string // its mount options
}

// Per-mount flags of each kind of mount. Every writable mount is nodev, /dev excepted,
// which is made read-only once its nodes exist: a container process with CAP_MKNOD
// can then create a node for a host disk, but nowhere it could open it.
const (
	procFlags   = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	sysFlags    = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	devFlags    = unix.MS_NOSUID
	ptsFlags    = unix.MS_NOSUID | unix.MS_NOEXEC
	shmFlags    = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	tmpFlags    = unix.MS_NOSUID | unix.MS_NODEV
	cgroupFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
)

// PtyMax bounds the pseudo-terminals of one container's devpts instance. The kernel's
// pool (kernel.pty.max, 4096 by default, less kernel.pty.reserve for the host's own
// instance) is shared by every container: without a bound, one container that opens
// them all leaves none for the others.
const PtyMax = 256

// Masked paths: what a container must not read. Files are covered by the host's
// /dev/null, directories by an empty read-only tmpfs; paths the kernel lacks are
// skipped. The list is Docker's, and more that container root could read and has no
// use for: /proc/slabinfo, /proc/vmallocinfo and /sys/kernel/slab (the kernel's heap,
// which exploits groom), /proc/kpage* and /proc/pagetypeinfo (every physical page's
// flags, map count and memory cgroup: page-level side channels and layout), and
// /sys/kernel/vmcoreinfo (the kernel's load address: KASLR).
var (
	maskedFiles = []string{"/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/sched_debug",
		"/proc/timer_list", "/proc/timer_stats", "/proc/slabinfo", "/proc/vmallocinfo", "/proc/kpageflags",
		"/proc/kpagecount", "/proc/kpagecgroup", "/proc/pagetypeinfo", "/sys/kernel/vmcoreinfo"}
	maskedDirs = []string{"/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/devices/virtual/powercap", "/sys/firmware",
		"/sys/kernel/slab"}
	readOnlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// devices are the nodes made in /dev with mknod(2), with the numbers Linux assigns
// them (Documentation/admin-guide/devices.txt).
var devices = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

// Layout returns the file-system steps of a container in the order they must run,
// all before pivot_root, while the host's /proc still serves /proc/self/fd. /proc,
// /dev, /sys and /tmp are found from the root, each once; everything below them is
// found from their own mounts (see the slots).
func Layout(s Spec) ([]Step, error) {
	var b builder
	b.mount("mount proc", "/proc", CreateDir, MountOpts{Source: "proc", FSType: "proc", Flags: procFlags, Keep: SlotProc})

	// /dev: a fresh tmpfs with nodes of our own; nothing of the image's /dev is
	// trusted (runc CVE-2025-31133: a /dev/null that was a symlink).
	b.mount("mount tmpfs", "/dev", CreateDir, MountOpts{Source: "tmpfs", FSType: "tmpfs", Flags: devFlags,
		Data: "mode=755,size=65536k", Keep: SlotDev})
	for _, d := range devices {
		if s.Userns {
			// The host's own nodes: a user namespace may not make any.
			hostDevice(&b, "/dev/"+d.name)
			continue
		}
		b.node(NewDevice("/dev/"+d.name, 0o666, Dev(d.major, d.minor)))
	}
	b.node(NewDir("/dev/pts", 0o755))
	pts := "newinstance,ptmxmode=0666,mode=0620,gid=5,max="
	if s.NoPtsGroup {
		pts = "newinstance,ptmxmode=0666,mode=0620,max="
	}
	b.mount("mount devpts", "/dev/pts", MustExist, MountOpts{Source: "devpts", FSType: "devpts", Flags: ptsFlags,
		Data: pts + strconv.Itoa(PtyMax)})
	b.node(NewSymlink("/dev/ptmx", "pts/ptmx"))
	b.node(NewDir("/dev/shm", 0o1777))
	b.mount("mount tmpfs", "/dev/shm", MustExist, MountOpts{Source: "shm", FSType: "tmpfs", Flags: shmFlags, Data: "mode=1777,size=65536k"})
	b.node(NewDir("/dev/mqueue", 0o755))
	b.mount("mount mqueue", "/dev/mqueue", MustExist, MountOpts{Source: "mqueue", FSType: "mqueue", Flags: shmFlags})
	b.node(NewSymlink("/dev/fd", "/proc/self/fd"))
	for i, name := range []string{"stdin", "stdout", "stderr"} {
		b.node(NewSymlink("/dev/"+name, "/proc/self/fd/"+strconv.Itoa(i)))
	}

	// /sys read-only, as systemd's container interface requires: read-only on this
	// mount only. With --net host the superblock is the host's, and the host's /sys
	// must stay as it is.
	if s.HostSys {
		// Recursive, as the host's /sys holds mounts, and read-only throughout; the
		// host's cgroups below are covered by the container's, as in a sysfs of its own.
		if m := hostSys(&b, SlotRoot, "/sys", NoSymlinks, 0); m != nil {
			m.keep = SlotSys
		}
	} else {
		b.mount("mount sysfs", "/sys", CreateDir, MountOpts{Source: "sysfs", FSType: "sysfs", Flags: unix.MS_RDONLY | sysFlags, Keep: SlotSys})
	}
	cgroupSteps(&b, s.Cgroups, "/sys/fs/cgroup", unix.MS_RDONLY|cgroupFlags, s.Userns)

	for _, p := range maskedFiles {
		b.bind("mask", "/dev/null", p, MustExist, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC, true)
	}
	for _, p := range maskedDirs {
		b.mount("mask", p, MustExist, MountOpts{Source: "tmpfs", FSType: "tmpfs",
			Flags: unix.MS_RDONLY | procFlags, Data: "size=4k", Optional: true})
	}
	for _, p := range readOnlyPaths {
		b.self("make read-only", p, unix.MS_RDONLY|procFlags)
	}

	for _, v := range s.View {
		// The child closes its copy of the connection's descriptor once mounted: a
		// request the server has read is waited for uninterruptibly, and if the
		// launcher died meanwhile, only the release of its last descriptor aborts the
		// connection and frees the waiter. With the child holding one, it would wait
		// for ever.
		b.mount("mount /proc view", v.Target, MustExist, MountOpts{Source: "launch", FSType: "fuse",
			Flags: unix.MS_RDONLY | procFlags, Data: v.Data, CloseFD: &v.FD})
	}

	tmpData := "mode=1777"
	if s.TmpSize > 0 {
		tmpData += ",size=" + strconv.FormatInt(s.TmpSize, 10)
	}
	b.mount("mount tmpfs", "/tmp", CreateDir, MountOpts{Source: "tmpfs", FSType: "tmpfs", Flags: tmpFlags, Data: tmpData})
	for _, bind := range s.Binds {
		bindSteps(&b, bind)
	}

	// Last, so that binds into /dev could still create their mount points.
	b.flags("make read-only", SlotDev, unix.MS_RDONLY|devFlags)
	rootFlags := unix.MS_NODEV | s.RootFlags
	if s.ReadOnly {
		rootFlags |= unix.MS_RDONLY
	}
	b.flags("remount root", SlotRoot, rootFlags)
	return b.steps, b.err
}

// cgroupSteps shows the container its cgroups at root, with the per-mount flags flags
// (read-only unless a bundle asks otherwise).
func cgroupSteps(b *builder, cgs []Cgroup, root string, flags uintptr, userns bool) {
	if len(cgs) == 0 {
		return
	}
	if len(cgs) == 1 && cgs[0].Dir == "" { // pure v2
		b.mount("mount cgroup2", root, MustExist, MountOpts{Source: "cgroup2", FSType: "cgroup2", Flags: flags})
		return
	}
	b.mount("mount tmpfs", root, MustExist, MountOpts{Source: "cgroup", FSType: "tmpfs", Flags: cgroupFlags,
		Data: "mode=755,size=4k", Keep: SlotCgroup})
	for _, cg := range cgs {
		dir := root + "/" + cg.Dir
		b.node(NewDir(dir, 0o755))
		if userns && cg.Host != "" {
			// A user namespace may mount cgroup2 but no v1 hierarchy: the container's
			// own cgroup, bound (this is what its cgroup namespace would show).
			b.bindFrom("bind", SlotCgroup, cg.Host, dir, NoSymlinks, MustExist, flags, false)
		} else {
			// A new mount of an existing hierarchy shares its superblock with the host's:
			// read-only on this mount only (cgroups inside are read-only: CVE-2022-0492).
			b.mount("mount "+cg.FSType, dir, MustExist, MountOpts{Source: cg.FSType, FSType: cg.FSType,
				Flags: flags, Data: cg.Options})
		}
		for _, l := range cg.Links {
			if l != cg.Dir {
				b.node(NewSymlink(root+"/"+l, cg.Dir))
			}
		}
	}
	b.flags("make read-only", SlotCgroup, unix.MS_RDONLY|cgroupFlags)
}

// bindSteps binds a host path. SRC is the caller's, but a container that can write
// a directory on its way (a share bound into it) could have replaced any component
// with a symlink to a host path, or put a device node where a file was: SRC may hold no
// symlink at all (the child walks it again the same way and checks it found the file
// the parent did), and a bind is nodev unless the caller said the source is a device
// node (Bind.Device) and it is one. DST resolves from the root, following the image's
// symlinks as if the root were /; a DST that resolves to the root itself is refused.
func bindSteps(b *builder, bind Bind) {
	st, err := statNoSymlinks(bind.Src)
	if err != nil {
		b.fail(errs.Wrap("--bind "+bind.Src, err))
		return
	}
	create := uint32(CreateFile)
	flags := uintptr(unix.MS_NODEV)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		create = CreateDir
	case unix.S_IFCHR, unix.S_IFBLK:
		if !bind.Device {
			b.fail(errs.Wrap("--bind "+bind.Src, errDevice))
			return
		}
		flags = 0
	default:
		if bind.Device {
			b.fail(errs.Wrap("--bind "+bind.Src, errNotDevice))
			return
		}
	}
	keep, err := Flags(bind.Src)
	if err != nil {
		b.fail(errs.Wrap("--bind "+bind.Src, err))
		return
	}
	flags |= keep
	var parents []string
	for dir := parentOf(bind.Dst); dir != "/"; dir = parentOf(dir) {
		parents = append(parents, dir)
	}
	for i := len(parents) - 1; i >= 0; i-- { // outermost first
		b.node(EnsureDir(parents[i], InRoot))
	}
	if bind.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	// Not recursive, as the root's bind: the nodev and ro set here would not reach the
	// mounts below SRC.
	b.bind("bind "+bind.Src, bind.Src, bind.Dst, create, flags|unix.MS_NOSUID, false)
}

// statNoSymlinks returns what the absolute, clean path p names, refusing p if any of
// its components is a symlink. The child walks p again without following symlinks
// (see Mount.openSource); this check is for a message that names the symlink.
func statNoSymlinks(p string) (unix.Stat_t, error) {
	var st unix.Stat_t
	if !path.IsAbs(p) || path.Clean(p) != p {
		return st, &os.PathError{Op: "bind", Path: p, Err: errors.New("not a clean absolute path")}
	}
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		prefix := p[:i]
		if err := unix.Lstat(prefix, &st); err != nil {
			return st, &os.PathError{Op: "lstat", Path: prefix, Err: err}
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return st, &os.PathError{Op: "lstat", Path: prefix, Err: errSymlink}
		}
	}
	return st, nil
}

// Why a --bind source is refused.
var (
	errSymlink   = errorString("is a symlink: give the path it points to")
	errDevice    = errorString("is a device node: add the dev option (SRC:DST:dev) to bind it as one")
	errNotDevice = errorString("the dev option wants a device node")
)

type errorString string

func (e errorString) Error() string { return string(e) }

// Flags returns the per-mount flags of the mount holding path, as MS_* flags, so that
// a bind remount keeps them (it would otherwise clear nosuid, noexec and the rest).
func Flags(path string) (uintptr, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	var out uintptr
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_RDONLY, unix.MS_RDONLY}, {unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			out |= f.ms
		}
	}
	return out, nil
}

type builder struct {
	steps []Step
	err   error
}

func (b *builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// mount adds the mount of a new file system on p, found from the file system that
// holds p's parent: the root for /proc, /dev, /sys and /tmp, their own mounts below.
// Nothing on the way may be a symlink.
func (b *builder) mount(what, p string, create uint32, o MountOpts) {
	b.mountFrom(what, baseOf(parentOf(p)), p, NoSymlinks, create, o)
}

// mountFrom adds the mount of a new file system on p, found from the mount in slot
// base with resolve, and returns it (nil if it could not be prepared).
func (b *builder) mountFrom(what string, base int, p string, resolve uint64, create uint32, o MountOpts) *Mount {
	t, err := newTarget(base, p, resolve, create)
	if err != nil {
		b.fail(err)
		return nil
	}
	m, err := newFS(t, o)
	if err != nil {
		b.fail(err)
		return nil
	}
	b.steps = append(b.steps, Step{What: what, Mount: m})
	return m
}

// bind adds the bind of the host path src on dst with the per-mount flags flags. A
// mask (mask true) covers a path below /proc or /sys, found from that mount and
// skipped where the kernel lacks it; any other dst is found from the root, following
// the image's symlinks inside it, and may not be the root itself.
func (b *builder) bind(what, src, dst string, create uint32, flags uintptr, mask bool) {
	base, resolve := SlotRoot, uint64(InRoot)
	if mask {
		base, resolve = baseOf(parentOf(dst)), NoSymlinks
	}
	b.bindFrom(what, base, src, dst, resolve, create, flags, mask)
}

// bindFrom adds the bind of the host path src on dst, found from the mount in slot
// base with resolve; optional (a mask) skips a missing dst, and a dst that is not
// optional may not be the root.
func (b *builder) bindFrom(what string, base int, src, dst string, resolve uint64, create uint32, flags uintptr, optional bool) *Mount {
	t, err := newTarget(base, dst, resolve, create)
	if err != nil {
		b.fail(err)
		return nil
	}
	st, err := statNoSymlinks(src)
	if err != nil {
		b.fail(errs.Wrap("--bind "+src, err))
		return nil
	}
	srcp, err := CString(src)
	if err != nil {
		b.fail(err)
		return nil
	}
	// The components for the child's walk without openat2: the first one absolute.
	var comps []*byte
	if src == "/" {
		comps = []*byte{cstr("/")}
	} else {
		for i, c := range strings.Split(src[1:], "/") {
			if i == 0 {
				c = "/" + c
			}
			comps = append(comps, cstr(c))
		}
	}
	m := &Mount{Target: t, kind: kindBind, bindSrc: srcp, srcComps: comps, srcDev: uint64(st.Dev), srcIno: st.Ino,
		flags: flags, attr: attrs(flags), keep: -1, optional: optional, notRoot: !optional, closeFD: -1}
	b.steps = append(b.steps, Step{What: what, Mount: m})
	return m
}

// self adds the bind of p, below /proc, onto itself with the per-mount flags flags;
// skipped where the kernel lacks p.
func (b *builder) self(what, p string, flags uintptr) {
	b.selfFrom(what, baseOf(parentOf(p)), p, flags, true)
}

// selfFrom adds the bind of p onto itself, found from the mount in slot base without
// following symlinks, with the per-mount flags flags; optional skips a missing p.
func (b *builder) selfFrom(what string, base int, p string, flags uintptr, optional bool) {
	t, err := newTarget(base, p, NoSymlinks, MustExist)
	if err != nil {
		b.fail(err)
		return
	}
	m := &Mount{Target: t, kind: kindSelf, flags: flags, attr: attrs(flags), keep: -1, optional: optional, closeFD: -1}
	b.steps = append(b.steps, Step{What: what, Mount: m})
}

// flags adds the step that sets the per-mount flags of the mount in slot to flags.
func (b *builder) flags(what string, slot int, flags uintptr) {
	t, err := newTarget(SlotRoot, slotPath[slot], NoSymlinks, MustExist)
	if err != nil {
		b.fail(err)
		return
	}
	m := &Mount{Target: t, kind: kindFlags, ref: slot, flags: flags, keep: -1, closeFD: -1}
	b.steps = append(b.steps, Step{What: what, Mount: m})
}

// nodeWhat names what each kind of Node makes, for messages.
var nodeWhat = [...]string{kindDevice: "mknod", kindSymlink: "symlink", kindDir: "mkdir", kindEnsureDir: "mkdir -p"}

func (b *builder) node(n *Node, err error) {
	if err != nil {
		b.fail(err)
		return
	}
	b.steps = append(b.steps, Step{What: nodeWhat[n.kind], Node: n})
}
