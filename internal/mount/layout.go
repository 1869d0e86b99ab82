package mount

import (
	"os"
	"strconv"

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
}

// A Bind is a host path to bind-mount into the container.
type Bind struct {
	Src, Dst string
	ReadOnly bool
}

// Spec says what the container's file system holds besides ROOTFS.
type Spec struct {
	ReadOnly  bool     // the root read-only
	RootFlags uintptr  // per-mount flags of ROOTFS's mount, kept by the root's remount (see Flags)
	TmpSize   int64    // size limit of /tmp in bytes, 0 for tmpfs's default
	Cgroups   []Cgroup // hierarchies to show under /sys/fs/cgroup
	Binds     []Bind
	View      []View // the /proc view's files, if any
}

// A View is a FUSE file system of the launcher's, mounted over a file of /proc or
// /sys (see package procview).
type View struct {
	Target string // the file it covers
	FD     int    // the /dev/fuse connection, which the child closes once mounted
	Data   string // mount(2) data
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

// Masked paths: what a container must not read. Files are covered by the host's
// /dev/null, directories by an empty read-only tmpfs; paths the kernel lacks are
// skipped. The list is Docker's.
var (
	maskedFiles = []string{"/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/sched_debug",
		"/proc/timer_list", "/proc/timer_stats"}
	maskedDirs    = []string{"/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/devices/virtual/powercap", "/sys/firmware"}
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
// all before pivot_root: each target is opened inside the root (see the package
// documentation) while the host's /proc still serves /proc/self/fd.
func Layout(s Spec) ([]Step, error) {
	var b builder
	b.mount("mount proc", "/proc", NoSymlinks, CreateDir, MountOpts{Source: "proc", FSType: "proc", Flags: procFlags})

	// /dev: a fresh tmpfs with nodes of our own; nothing of the image's /dev is
	// trusted (runc CVE-2025-31133: a /dev/null that was a symlink).
	b.mount("mount tmpfs", "/dev", NoSymlinks, CreateDir, MountOpts{Source: "tmpfs", FSType: "tmpfs", Flags: devFlags, Data: "mode=755,size=65536k"})
	for _, d := range devices {
		b.node(NewDevice("/dev/"+d.name, 0o666, Dev(d.major, d.minor)))
	}
	b.node(NewDir("/dev/pts", 0o755))
	b.mount("mount devpts", "/dev/pts", NoSymlinks, MustExist, MountOpts{Source: "devpts", FSType: "devpts", Flags: ptsFlags,
		Data: "newinstance,ptmxmode=0666,mode=0620,gid=5"})
	b.node(NewSymlink("/dev/ptmx", "pts/ptmx"))
	b.node(NewDir("/dev/shm", 0o1777))
	b.mount("mount tmpfs", "/dev/shm", NoSymlinks, MustExist, MountOpts{Source: "shm", FSType: "tmpfs", Flags: shmFlags, Data: "mode=1777,size=65536k"})
	b.node(NewDir("/dev/mqueue", 0o755))
	b.mount("mount mqueue", "/dev/mqueue", NoSymlinks, MustExist, MountOpts{Source: "mqueue", FSType: "mqueue", Flags: shmFlags})
	b.node(NewSymlink("/dev/fd", "/proc/self/fd"))
	for i, name := range []string{"stdin", "stdout", "stderr"} {
		b.node(NewSymlink("/dev/"+name, "/proc/self/fd/"+strconv.Itoa(i)))
	}

	// /sys read-only, as systemd's container interface requires. sysfs is mounted
	// read-write and then made read-only per mount: with --net host the superblock is
	// the host's, and the host's /sys must stay as it is.
	b.mount("mount sysfs", "/sys", NoSymlinks, CreateDir, MountOpts{Source: "sysfs", FSType: "sysfs", Flags: sysFlags,
		Remount: unix.MS_RDONLY | sysFlags})
	cgroupSteps(&b, s.Cgroups)

	for _, p := range maskedFiles {
		b.mount("mask", p, NoSymlinks, MustExist, MountOpts{Source: "/dev/null", Flags: unix.MS_BIND,
			Remount: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NOEXEC, Optional: true})
	}
	for _, p := range maskedDirs {
		b.mount("mask", p, NoSymlinks, MustExist, MountOpts{Source: "tmpfs", FSType: "tmpfs",
			Flags: unix.MS_RDONLY | procFlags, Data: "size=4k", Optional: true})
	}
	for _, p := range readOnlyPaths {
		b.mount("make read-only", p, NoSymlinks, MustExist, MountOpts{Self: true, Flags: unix.MS_BIND | unix.MS_REC,
			Remount: unix.MS_RDONLY | procFlags, Optional: true})
	}

	for _, v := range s.View {
		// The child closes its copy of the connection's descriptor once mounted: a
		// request the server has read is waited for uninterruptibly, and if the
		// launcher died meanwhile, only the release of its last descriptor aborts the
		// connection and frees the waiter. With the child holding one, it would wait
		// for ever.
		b.mount("mount /proc view", v.Target, NoSymlinks, MustExist, MountOpts{Source: "launch", FSType: "fuse",
			Flags: unix.MS_RDONLY | procFlags, Data: v.Data, CloseFD: &v.FD})
	}

	tmpData := "mode=1777"
	if s.TmpSize > 0 {
		tmpData += ",size=" + strconv.FormatInt(s.TmpSize, 10)
	}
	b.mount("mount tmpfs", "/tmp", NoSymlinks, CreateDir, MountOpts{Source: "tmpfs", FSType: "tmpfs", Flags: tmpFlags, Data: tmpData})

	for _, bind := range s.Binds {
		bindSteps(&b, bind)
	}

	// Last, so that binds into /dev could still create their mount points.
	b.mount("make read-only", "/dev", NoSymlinks, MustExist, MountOpts{Flags: unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY | devFlags})
	rootFlags := unix.MS_REMOUNT | unix.MS_BIND | unix.MS_NODEV | s.RootFlags
	if s.ReadOnly {
		rootFlags |= unix.MS_RDONLY
	}
	b.mount("remount root", "/", NoSymlinks, MustExist, MountOpts{Flags: rootFlags})
	return b.steps, b.err
}

func cgroupSteps(b *builder, cgs []Cgroup) {
	if len(cgs) == 0 {
		return
	}
	const root = "/sys/fs/cgroup"
	if len(cgs) == 1 && cgs[0].Dir == "" { // pure v2
		b.mount("mount cgroup2", root, NoSymlinks, MustExist, MountOpts{Source: "cgroup2", FSType: "cgroup2",
			Flags: cgroupFlags, Remount: unix.MS_RDONLY | cgroupFlags})
		return
	}
	b.mount("mount tmpfs", root, NoSymlinks, MustExist, MountOpts{Source: "cgroup", FSType: "tmpfs", Flags: cgroupFlags, Data: "mode=755,size=4k"})
	for _, cg := range cgs {
		dir := root + "/" + cg.Dir
		b.node(NewDir(dir, 0o755))
		// A new mount of an existing hierarchy shares its superblock with the host's:
		// mounted read-write, then made read-only for this mount only (cgroups inside
		// are read-only: CVE-2022-0492).
		b.mount("mount "+cg.FSType, dir, NoSymlinks, MustExist, MountOpts{Source: cg.FSType, FSType: cg.FSType,
			Flags: cgroupFlags, Data: cg.Options, Remount: unix.MS_RDONLY | cgroupFlags})
		for _, l := range cg.Links {
			if l != cg.Dir {
				b.node(NewSymlink(root+"/"+l, cg.Dir))
			}
		}
	}
	b.mount("make read-only", root, NoSymlinks, MustExist, MountOpts{Flags: unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY | cgroupFlags})
}

// bindSteps binds a host path. DST resolves inside the root, following the image's
// symlinks as if the root were /. A directory bind is nodev (it is a place where a
// node could be made); a file bind keeps the source's own flags, so that a bound
// device node works.
func bindSteps(b *builder, bind Bind) {
	st, err := os.Stat(bind.Src)
	if err != nil {
		b.fail(errs.Wrap("--bind "+bind.Src, err))
		return
	}
	create := uint32(CreateFile)
	var flags uintptr
	if st.IsDir() {
		create, flags = CreateDir, unix.MS_NODEV
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
	b.mount("bind "+bind.Src, bind.Dst, InRoot, create, MountOpts{Source: bind.Src, Flags: unix.MS_BIND, Remount: flags | unix.MS_NOSUID})
}

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

func (b *builder) mount(what, p string, resolve uint64, create uint32, o MountOpts) {
	t, err := NewTarget(p, resolve, create)
	if err != nil {
		b.fail(err)
		return
	}
	m, err := NewMount(t, o)
	if err != nil {
		b.fail(err)
		return
	}
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
