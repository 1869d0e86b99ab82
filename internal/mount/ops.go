package mount

import (
	"strings"
	"unsafe"

	"launch/internal/mountinfo"
	"launch/internal/raw"

	"golang.org/x/sys/unix"
)

// What a Mount does.
const (
	kindNew   = iota // mount a new file system
	kindBind         // bind a host path
	kindSelf         // bind the target onto itself, to give it flags of its own
	kindFlags        // change the per-mount flags of a mount in a slot
)

// sourceKey is fsconfig(2)'s key for what mount(2) calls the source.
var sourceKey = unsafe.StringData("source\x00")

// An option is one key (and value) of a file system's mount options, for fsconfig(2).
type option struct{ key, val *byte } // val nil: a flag

// A Mount is one prepared mount inside the container. Its flags are set on the mount
// itself: a new file system gets them from fsmount(2) before it is attached, a bind
// from a remount through the descriptor of the new mount, never through a path that
// would be resolved again (a neighbour may rename entries of ROOTFS between two steps).
type Mount struct {
	Target   Target
	kind     int
	fstype   *byte
	source   *byte    // mount(2) source, for kernels without the new mount API
	opts     []option // the file system's options, for fsconfig(2)
	data     *byte    // the same joined with commas, for mount(2)
	bindSrc  *byte    // kindBind: the host path, absolute, walked without following symlinks
	srcComps []*byte  // its components, the first one absolute, for kernels without openat2
	srcDev   uint64   // kindBind: what the parent found there, checked in the child
	srcIno   uint64
	flags    uintptr // per-mount MS_* flags the mount ends with
	attr     uint64  // the same as MOUNT_ATTR_* for fsmount(2)
	magic    int64   // the file system's statfs type, checked on the legacy path
	shared   bool    // its superblock may be the host's (sysfs, cgroups): read-only per mount only
	keep     int     // the slot to keep the new mount's descriptor in, or -1
	ref      int     // kindFlags: the slot of the mount to change
	optional bool    // a missing target is skipped
	notRoot  bool    // a target that is the container's root is refused
	closeFD  int     // a descriptor to close once mounted, or -1
	// recursive: a bind of the source's whole tree (rbind); the flags are set on its
	// top mount.
	recursive bool
	// prop is the propagation a bundle asks for the mount (MS_SHARED, MS_SLAVE,
	// MS_PRIVATE or MS_UNBINDABLE, with MS_REC): in the container's own mount
	// namespace, where every mount was made private first, so that no mount of the
	// host is its peer or master.
	prop uintptr
}

// MountOpts describes a Mount.
type MountOpts struct {
	Source   string  // mount(2) source of a new file system ("proc", "tmpfs")
	FSType   string  // the file system type of a new file system
	Data     string  // its options, comma-separated
	Flags    uintptr // per-mount flags it ends with: MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, atime
	Optional bool    // skip when the target does not exist (masks of files a kernel lacks)
	Keep     int     // a slot to keep the mount's descriptor in; 0 (the root's) for none
	// CloseFD is a descriptor to close right after the mount: the /dev/fuse
	// connection of a FUSE mount, which the child must not keep (see procview).
	CloseFD *int
}

// magics are the statfs types of the file systems launch mounts (statfs(2)); x/sys
// lacks mqueue's, whose mounts are checked by their mount ID alone.
var magics = map[string]int64{
	"proc": unix.PROC_SUPER_MAGIC, "tmpfs": unix.TMPFS_MAGIC, "sysfs": unix.SYSFS_MAGIC,
	"devpts": unix.DEVPTS_SUPER_MAGIC, "cgroup": unix.CGROUP_SUPER_MAGIC,
	"cgroup2": unix.CGROUP2_SUPER_MAGIC, "fuse": unix.FUSE_SUPER_MAGIC,
}

// sharedSuper are the file systems whose new mount may share its superblock with the
// host's mounts: sysfs under --net host, and the hierarchies of the cgroups. A
// read-only flag on the mount would make the superblock, and so the host's mounts,
// read-only with mount(2); see legacyMount.
var sharedSuper = map[string]bool{"sysfs": true, "cgroup": true, "cgroup2": true}

// newFS prepares the mount of a new file system on t.
func newFS(t Target, o MountOpts) (*Mount, error) {
	m := &Mount{Target: t, kind: kindNew, flags: o.Flags, attr: attrs(o.Flags), magic: magics[o.FSType],
		shared: sharedSuper[o.FSType], optional: o.Optional, keep: keepSlot(o.Keep), closeFD: -1}
	if o.CloseFD != nil {
		m.closeFD = *o.CloseFD
	}
	var err error
	if m.fstype, err = CString(o.FSType); err != nil {
		return nil, err
	}
	if m.source, err = CString(o.Source); err != nil {
		return nil, err
	}
	if o.Data != "" {
		if m.data, err = CString(o.Data); err != nil {
			return nil, err
		}
		for _, kv := range strings.Split(o.Data, ",") {
			k, v, hasValue := strings.Cut(kv, "=")
			opt := option{key: cstr(k)}
			if hasValue {
				opt.val = cstr(v)
			}
			m.opts = append(m.opts, opt)
		}
	}
	return m, nil
}

func keepSlot(s int) int {
	if s == SlotRoot {
		return -1
	}
	return s
}

// attrs converts per-mount MS_* flags to the MOUNT_ATTR_* flags of fsmount(2).
func attrs(ms uintptr) uint64 {
	var a uint64
	for _, f := range []struct {
		ms   uintptr
		attr uint64
	}{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY}, {unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV}, {unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
		{unix.MS_NOATIME, unix.MOUNT_ATTR_NOATIME}, {unix.MS_STRICTATIME, unix.MOUNT_ATTR_STRICTATIME},
		{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
	} {
		if ms&f.ms != 0 {
			a |= f.attr
		}
	}
	return a
}

// Do carries out m. Runs in the child.
//
//go:nosplit
//go:norace
func (m *Mount) Do(s *State) unix.Errno {
	if m.kind == kindFlags {
		if s.slot[m.ref] < 0 {
			return unix.EBADF
		}
		return remount(s, s.slot[m.ref], m.flags)
	}
	t, e := open(s, &m.Target)
	if e != 0 {
		if e == unix.ENOENT && m.optional {
			return 0
		}
		return e
	}
	if m.notRoot {
		if sameFile(s, t, s.rootDev, s.rootIno) == 0 {
			raw.Close(t)
			return unix.EXDEV
		}
	}
	// A bind's source, opened here rather than below: the chain of calls under Do
	// is close to the nosplit stack budget.
	src := -1
	if m.kind == kindBind {
		if src, e = m.openSource(s); e != 0 {
			raw.Close(t)
			return e
		}
	}
	var mfd int
	if !s.legacy {
		mfd, e = m.attach(s, t, src)
		if e == unix.ENOSYS {
			e = s.goLegacy()
		}
	}
	if s.legacy && e == 0 {
		if e = m.legacyMount(s, t, src); e == 0 {
			mfd, e = m.legacyFind(s)
		}
	}
	raw.Close(t)
	if src >= 0 {
		raw.Close(src)
	}
	if m.closeFD >= 0 {
		raw.Close(m.closeFD)
	}
	if e != 0 {
		return e
	}
	if m.prop != 0 && mfd >= 0 {
		// SAFETY: the path is NUL-terminated in s.
		_, _, e = unix.RawSyscall6(unix.SYS_MOUNT, 0, uintptr(unsafe.Pointer(raw.FdPath(&s.path[0], mfd))), 0, m.prop, 0, 0)
	}
	if m.keep >= 0 {
		s.slot[m.keep] = mfd
	} else if mfd >= 0 {
		raw.Close(mfd)
	}
	return e
}

// attach makes the mount with the new mount API (Linux 5.2): the mount is made
// detached, given its flags, and moved onto the target descriptor t. It returns the
// descriptor of the attached mount. ENOSYS: the kernel lacks the API.
//
//go:nosplit
//go:norace
func (m *Mount) attach(s *State, t, src int) (int, unix.Errno) {
	var mfd int
	var e unix.Errno
	switch m.kind {
	case kindNew:
		mfd, e = m.fsNew()
	case kindBind:
		// The source is resolved again in the child's own mount namespace, which
		// open_tree(2) needs; it must still be what the parent checked.
		var rec uintptr
		if m.recursive {
			rec = unix.AT_RECURSIVE
		}
		mfd, e = openTree(src, empty, unix.AT_EMPTY_PATH|rec)
	case kindSelf:
		mfd, e = openTree(t, empty, unix.AT_EMPTY_PATH)
	}
	if e != 0 {
		return -1, e
	}
	// SAFETY: empty is a static string.
	if _, _, e = unix.RawSyscall6(unix.SYS_MOVE_MOUNT, uintptr(mfd), uintptr(unsafe.Pointer(empty)), uintptr(t),
		uintptr(unsafe.Pointer(empty)), unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH, 0); e != 0 {
		if e == unix.EINVAL {
			e = mismatch(s, mfd, t)
		}
		raw.Close(mfd)
		if e == unix.ENOSYS {
			e = unix.EINVAL // open_tree worked: the API is there
		}
		return -1, e
	}
	if m.kind != kindNew {
		// A clone keeps its source's flags; these are set through the new mount's own
		// descriptor, which names that mount and nothing else.
		if e = remount(s, mfd, m.flags); e != 0 {
			raw.Close(mfd)
			return -1, e
		}
	}
	if m.recursive {
		// An rbind's mounts below its top keep their own flags: ro, nosuid, nodev
		// and noexec are added to each of them (mount_setattr(2), Linux 5.12), so that nodev and ro
		// hold for the whole tree. ENOSYS: too old a kernel for an rbind.
		// The flags that guard the host; an atime mode would need MOUNT_ATTR__ATIME
		// cleared with it, and stays each mount's own.
		s.attr = unix.MountAttr{Attr_set: m.attr & (unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC)}
		// SAFETY: empty is a static string; s.attr is the child's own memory.
		if _, _, e = unix.RawSyscall6(unix.SYS_MOUNT_SETATTR, uintptr(mfd), uintptr(unsafe.Pointer(empty)),
			unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, uintptr(unsafe.Pointer(&s.attr)), unsafe.Sizeof(s.attr), 0); e != 0 {
			raw.Close(mfd)
			return -1, e
		}
	}
	return mfd, 0
}

// openSource opens the bind source for the child, refusing a symlink anywhere on its way
// (which a container that can write a directory there could have planted), and checks
// that it is the file the parent found.
//
//go:nosplit
//go:norace
func (m *Mount) openSource(s *State) (int, unix.Errno) {
	fd, e := openat2(s, raw.AtFDCWD, m.bindSrc, unix.RESOLVE_NO_SYMLINKS|unix.RESOLVE_NO_MAGICLINKS, false)
	if e == unix.ENOSYS {
		fd, e = walk(raw.AtFDCWD, m.srcComps, false)
	}
	if e != 0 {
		return -1, e
	}
	if e = sameFile(s, fd, m.srcDev, m.srcIno); e != 0 {
		raw.Close(fd)
		return -1, e
	}
	return fd, 0
}

// mismatch explains move_mount(2)'s EINVAL as mount(2) would: ENOTDIR for a directory
// over anything else (a FIFO or device node of the image, say), EISDIR for a file over
// a directory.
//
//go:nosplit
//go:norace
func mismatch(s *State, mfd, t int) unix.Errno {
	// SAFETY: s is the child's own memory.
	if e := raw.Fstat(mfd, &s.st); e != 0 {
		return unix.EINVAL
	}
	if e := raw.Fstat(t, &s.st2); e != 0 {
		return unix.EINVAL
	}
	srcDir, dstDir := s.st.Mode&unix.S_IFMT == unix.S_IFDIR, s.st2.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case srcDir && !dstDir:
		return unix.ENOTDIR
	case !srcDir && dstDir:
		return unix.EISDIR
	}
	return unix.EINVAL
}

// fsNew makes a new file system with fsopen(2), fsconfig(2) and fsmount(2), its
// per-mount flags set, not yet attached anywhere.
//
//go:nosplit
//go:norace
func (m *Mount) fsNew() (int, unix.Errno) {
	// SAFETY: every pointer is a NUL-terminated string prepared by the parent.
	fs, _, e := unix.RawSyscall(unix.SYS_FSOPEN, uintptr(unsafe.Pointer(m.fstype)), unix.FSOPEN_CLOEXEC, 0)
	if e != 0 {
		return -1, e
	}
	// The source only names the mount in mountinfo.
	if _, _, e = unix.RawSyscall6(unix.SYS_FSCONFIG, fs, unix.FSCONFIG_SET_STRING, uintptr(unsafe.Pointer(sourceKey)),
		uintptr(unsafe.Pointer(m.source)), 0, 0); e != 0 {
		raw.Close(int(fs))
		return -1, e
	}
	for i := range m.opts {
		o := &m.opts[i]
		cmd, val := uintptr(unix.FSCONFIG_SET_FLAG), uintptr(0)
		if o.val != nil {
			cmd, val = unix.FSCONFIG_SET_STRING, uintptr(unsafe.Pointer(o.val))
		}
		if _, _, e = unix.RawSyscall6(unix.SYS_FSCONFIG, fs, cmd, uintptr(unsafe.Pointer(o.key)), val, 0, 0); e != 0 {
			raw.Close(int(fs))
			return -1, e
		}
	}
	if _, _, e = unix.RawSyscall6(unix.SYS_FSCONFIG, fs, unix.FSCONFIG_CMD_CREATE, 0, 0, 0, 0); e != 0 {
		raw.Close(int(fs))
		return -1, e
	}
	mfd, _, e := unix.RawSyscall(unix.SYS_FSMOUNT, fs, unix.FSMOUNT_CLOEXEC, uintptr(m.attr))
	raw.Close(int(fs))
	if e == unix.ENOSYS {
		e = unix.EINVAL // fsopen worked: the API is there
	}
	return int(mfd), e
}

// openTree clones the mount at path below dirfd, not its submounts, as a detached
// mount: open_tree(2) with OPEN_TREE_CLONE.
//
//go:nosplit
//go:norace
func openTree(dirfd int, path *byte, flags uintptr) (int, unix.Errno) {
	// SAFETY: path is a NUL-terminated string prepared by the parent, or static.
	fd, _, e := unix.RawSyscall(unix.SYS_OPEN_TREE, uintptr(dirfd), uintptr(unsafe.Pointer(path)),
		unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|flags)
	return int(fd), e
}

// remount sets the per-mount flags of the mount whose root mfd is to exactly flags.
// /proc/self/fd/MFD names that mount itself, whatever has happened to the paths that
// lead to it since.
//
//go:nosplit
//go:norace
func remount(s *State, mfd int, flags uintptr) unix.Errno {
	p := raw.FdPath(&s.path[0], mfd)
	// SAFETY: p is NUL-terminated in s.
	_, _, e := unix.RawSyscall6(unix.SYS_MOUNT, 0, uintptr(unsafe.Pointer(p)), 0, unix.MS_REMOUNT|unix.MS_BIND|flags, 0, 0)
	return e
}

// sameFile reports ESTALE unless fd is the file dev and ino name.
//
//go:nosplit
//go:norace
func sameFile(s *State, fd int, dev, ino uint64) unix.Errno {
	// SAFETY: s is the child's own memory.
	if e := raw.Fstat(fd, &s.st2); e != 0 {
		return e
	}
	if uint64(s.st2.Dev) != dev || s.st2.Ino != ino {
		return unix.ESTALE
	}
	return 0
}

// goLegacy switches to mount(2) for the rest of the mounts, the kernel having no new
// mount API: the root's mount is the first one seen.
//
//go:nosplit
//go:norace
func (s *State) goLegacy() unix.Errno {
	s.legacy = true
	if s.nseen > 0 {
		return 0
	}
	id, e := mountID(s, s.slot[SlotRoot])
	if e != 0 {
		return e
	}
	s.seen[0], s.nseen = id, 1
	return 0
}

// legacyMount makes the mount with mount(2), for kernels before 5.2. mount(2) cannot
// make a mount without attaching it, and a bind (or a read-only mount of a shared
// superblock) takes its flags only from a second call, so the new mount is found again
// by its path (legacyFind).
//
//go:nosplit
//go:norace
func (m *Mount) legacyMount(s *State, t, src int) unix.Errno {
	tp := raw.FdPath(&s.path[0], t)
	var e unix.Errno
	// SAFETY: every pointer is a NUL-terminated string prepared by the parent or in s.
	switch m.kind {
	case kindNew:
		flags := m.flags
		if m.shared {
			flags &^= unix.MS_RDONLY // with the remount below
		}
		_, _, e = unix.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(m.source)), uintptr(unsafe.Pointer(tp)),
			uintptr(unsafe.Pointer(m.fstype)), flags, uintptr(unsafe.Pointer(m.data)), 0)
	case kindBind:
		if m.recursive {
			return unix.ENOSYS // mount(2) cannot set flags on a tree's every mount
		}
		_, _, e = unix.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(raw.FdPath(&s.path[1], src))),
			uintptr(unsafe.Pointer(tp)), 0, unix.MS_BIND, 0, 0)
	case kindSelf:
		// What the target is before the bind covers it, for check.
		if e = raw.Fstat(t, &s.st); e != 0 {
			return e
		}
		_, _, e = unix.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(tp)), uintptr(unsafe.Pointer(tp)),
			0, unix.MS_BIND, 0, 0)
	}
	return e
}

// legacyFind finds the mount legacyMount made again, when it needs its flags or a
// slot keeps it, and checks that it is the mount just made: a mount not seen before
// (its mount ID), of the right file system or source; ESTALE otherwise. A new file
// system of its own got its flags at once, and is found again only if a slot keeps
// it: never a FUSE file of the /proc view, whose server answers nothing before
// COMMAND runs. It returns an O_PATH descriptor of the new mount's root, or -1.
//
//go:nosplit
//go:norace
func (m *Mount) legacyFind(s *State) (int, unix.Errno) {
	again := m.kind != kindNew || (m.shared && m.flags&unix.MS_RDONLY != 0) || m.prop != 0
	if !again && m.keep < 0 {
		return -1, 0
	}
	r, e := open(s, &m.Target)
	if e != 0 {
		return -1, e
	}
	if e = m.check(s, r); e == 0 && again {
		e = remount(s, r, m.flags)
	}
	if e != 0 {
		raw.Close(r)
		return -1, e
	}
	return r, 0
}

// check reports ESTALE unless r is the mount just made (see legacyFind); s.st holds
// the target's own stat before a kindSelf bind.
//
//go:nosplit
//go:norace
func (m *Mount) check(s *State, r int) unix.Errno {
	id, e := mountID(s, r)
	if e != 0 {
		return e
	}
	for i := 0; i < s.nseen; i++ {
		if s.seen[i] == id {
			return unix.ESTALE
		}
	}
	switch m.kind {
	case kindNew:
		// SAFETY: s is the child's own memory.
		if e := raw.Fstatfs(r, &s.sfs); e != 0 {
			return e
		}
		if m.magic != 0 && int64(s.sfs.Type) != m.magic {
			return unix.ESTALE
		}
	case kindBind:
		if e := sameFile(s, r, m.srcDev, m.srcIno); e != 0 {
			return e
		}
	case kindSelf:
		if e := sameFile(s, r, uint64(s.st.Dev), s.st.Ino); e != 0 {
			return e
		}
	}
	if s.nseen < len(s.seen) {
		s.seen[s.nseen] = id
		s.nseen++
	}
	return 0
}

// What a Node makes.
const (
	kindDevice = iota
	kindSymlink
	kindDir
	kindEnsureDir
)

// A Node is a device node, symlink or directory made in a directory of the container.
type Node struct {
	Target Target // the node's own path, for messages and its parent
	dir    Target
	kind   int
	mode   uint32
	dev    uint64
	link   *byte
	chown  bool // a device of a bundle's: owned by uid and gid
	uid    uint32
	gid    uint32
}

// NewDevice prepares a character device node at p (in a directory the launcher made,
// such as its /dev tmpfs) with mode perm and device number dev.
func NewDevice(p string, perm uint32, dev uint64) (*Node, error) {
	return newNode(p, kindDevice, unix.S_IFCHR|perm, dev, "")
}

// NewSymlink prepares a symlink at p pointing to to.
func NewSymlink(p, to string) (*Node, error) { return newNode(p, kindSymlink, 0, 0, to) }

// NewDir prepares a directory at p with mode perm.
func NewDir(p string, perm uint32) (*Node, error) { return newNode(p, kindDir, perm, 0, "") }

// EnsureDir prepares the directory p, resolved from the root with resolve, made with
// mode 0755 if it is missing: the parents of a --bind destination, as mkdir -p would.
func EnsureDir(p string, resolve uint64) (*Node, error) {
	t, err := NewTarget(p, resolve, CreateDir)
	if err != nil {
		return nil, err
	}
	return &Node{Target: t, kind: kindEnsureDir}, nil
}

// newNode prepares a node below the file system it belongs to: /dev's, /sys/fs/cgroup's
// or, for anything else, the root.
func newNode(p string, kind int, mode uint32, dev uint64, link string) (*Node, error) {
	base := baseOf(p)
	t, err := newTarget(base, p, NoSymlinks, MustExist)
	if err != nil {
		return nil, err
	}
	dir, err := newTarget(base, parentOf(p), NoSymlinks, MustExist)
	if err != nil {
		return nil, err
	}
	n := &Node{Target: t, dir: dir, kind: kind, mode: mode, dev: dev}
	if link != "" {
		if n.link, err = CString(link); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Make creates n. The umask must be 0 for modes to be exact. Runs in the child.
//
//go:nosplit
//go:norace
func (n *Node) Make(s *State) unix.Errno {
	if n.kind == kindEnsureDir {
		fd, e := open(s, &n.Target)
		if e == 0 {
			raw.Close(fd)
		}
		return e
	}
	dfd, e := open(s, &n.dir)
	if e != 0 {
		return e
	}
	// SAFETY: names are NUL-terminated strings prepared by the parent.
	switch n.kind {
	case kindDevice:
		_, _, e = unix.RawSyscall6(unix.SYS_MKNODAT, uintptr(dfd), uintptr(unsafe.Pointer(n.Target.name)), uintptr(n.mode), uintptr(n.dev), 0, 0)
		if e == 0 && n.chown {
			_, _, e = unix.RawSyscall6(unix.SYS_FCHOWNAT, uintptr(dfd), uintptr(unsafe.Pointer(n.Target.name)), uintptr(n.uid), uintptr(n.gid), unix.AT_SYMLINK_NOFOLLOW, 0)
		}
	case kindSymlink:
		_, _, e = unix.RawSyscall6(unix.SYS_SYMLINKAT, uintptr(unsafe.Pointer(n.link)), uintptr(dfd), uintptr(unsafe.Pointer(n.Target.name)), 0, 0, 0)
	case kindDir:
		_, _, e = unix.RawSyscall6(unix.SYS_MKDIRAT, uintptr(dfd), uintptr(unsafe.Pointer(n.Target.name)), uintptr(n.mode), 0, 0, 0)
	}
	raw.Close(dfd)
	return e
}

// OpenRoot binds rootfs onto itself, which makes it a mount point as pivot_root(2)
// requires, and keeps a descriptor of the new mount in the root slot. It runs after
// the mount namespace is made private, so neither the bind nor anything below it shows
// on the host. rootfs is the caller's own path, resolved by the parent: trusted.
// Runs in the child.
//
// The bind is not recursive: mounts the host has below ROOTFS stay out of the
// container. They would keep their own flags there, where the nodev and --read-only
// that the root's last step sets on this one mount do not reach them.
//
//go:nosplit
//go:norace
func OpenRoot(s *State, rootfs *byte) unix.Errno { return AttachRoot(s, rootfs, -1) }

// AttachRoot is OpenRoot with the mount tree, detached, for the root: an idmapped
// copy of ROOTFS's mount that the launcher made (see package userns). -1: a copy made
// here. The tree is closed in every case. Runs in the child.
//
//go:nosplit
//go:norace
func AttachRoot(s *State, rootfs *byte, tree int) unix.Errno {
	// SAFETY: rootfs is prepared by the parent.
	dir, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(raw.AtFDCWD), uintptr(unsafe.Pointer(rootfs)),
		unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		if tree >= 0 {
			raw.Close(tree)
		}
		return e
	}
	if s.want {
		if e = sameFile(s, int(dir), s.wantDev, s.wantIno); e != 0 {
			raw.Close(int(dir))
			if tree >= 0 {
				raw.Close(tree)
			}
			return e
		}
	}
	mfd := tree
	if tree < 0 {
		mfd, e = openTree(int(dir), empty, unix.AT_EMPTY_PATH)
	}
	if e == 0 {
		// SAFETY: empty is a static string.
		_, _, e = unix.RawSyscall6(unix.SYS_MOVE_MOUNT, uintptr(mfd), uintptr(unsafe.Pointer(empty)), dir,
			uintptr(unsafe.Pointer(empty)), unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH, 0)
		if e != 0 {
			raw.Close(mfd)
		}
	} else if e == unix.ENOSYS {
		s.legacy = true
		mfd, e = legacyRoot(s, rootfs)
	}
	raw.Close(int(dir))
	if e != 0 {
		return e
	}
	s.slot[SlotRoot] = mfd
	// SAFETY: s is the child's own memory.
	if e := raw.Fstat(mfd, &s.st); e != 0 {
		return e
	}
	s.rootDev, s.rootIno = uint64(s.st.Dev), s.st.Ino
	return 0
}

// legacyRoot is OpenRoot with mount(2). The new mount is found again by the caller's
// path, which no neighbour can change (the launcher trusts it); its mount ID is the
// first the child has seen.
//
//go:nosplit
//go:norace
func legacyRoot(s *State, rootfs *byte) (int, unix.Errno) {
	// SAFETY: rootfs is prepared by the parent.
	if _, _, e := unix.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(rootfs)), uintptr(unsafe.Pointer(rootfs)), 0,
		unix.MS_BIND, 0, 0); e != 0 {
		return -1, e
	}
	fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(raw.AtFDCWD), uintptr(unsafe.Pointer(rootfs)),
		unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	id, e := mountID(s, int(fd))
	if e != 0 {
		raw.Close(int(fd))
		return -1, e
	}
	s.seen[0], s.nseen = id, 1
	return int(fd), 0
}

// MakePrivate turns every mount of the new namespace private, recursively, before
// anything is mounted: otherwise a mount below a shared mount would propagate to the
// host's namespace. Runs in the child.
//
//go:nosplit
//go:norace
func MakePrivate() unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_MOUNT, 0, uintptr(unsafe.Pointer(slash)), 0, unix.MS_REC|unix.MS_PRIVATE, 0, 0)
	return e
}

// PivotRoot makes the root slot's mount the root of the mount namespace and detaches
// the old root. pivot_root(".", ".") stacks the old root on top of the new one, where
// umount2(MNT_DETACH) can take it away without a put_old directory in ROOTFS (see
// pivot_root(2), NOTES): nothing is created in the image, and no path leads back to
// the host once the old root is detached. Runs in the child.
//
//go:nosplit
//go:norace
func PivotRoot(s *State) unix.Errno {
	if _, _, e := unix.RawSyscall(unix.SYS_FCHDIR, uintptr(s.slot[SlotRoot]), 0, 0); e != 0 {
		return e
	}
	// SAFETY: dot and slash are static strings.
	if _, _, e := unix.RawSyscall(unix.SYS_PIVOT_ROOT, uintptr(unsafe.Pointer(dot)), uintptr(unsafe.Pointer(dot)), 0); e != 0 {
		return e
	}
	if _, _, e := unix.RawSyscall(unix.SYS_UMOUNT2, uintptr(unsafe.Pointer(dot)), unix.MNT_DETACH, 0); e != 0 {
		return e
	}
	_, _, e := unix.RawSyscall6(unix.SYS_CHDIR, uintptr(unsafe.Pointer(slash)), 0, 0, 0, 0, 0)
	return e
}

// MoveRoot makes the root slot's mount the root of the process where pivot_root(2)
// cannot: when / is the initramfs (rootfs), which can never be unmounted and so never
// pivoted away from. The bind of ROOTFS is moved over / and the process chroots into
// it. The initramfs stays underneath, and a process that can chroot could climb out of
// a chroot to it, so the caller also takes CAP_SYS_CHROOT away. Runs in the child.
//
//go:nosplit
//go:norace
func MoveRoot(s *State) unix.Errno {
	if _, _, e := unix.RawSyscall6(unix.SYS_FCHDIR, uintptr(s.slot[SlotRoot]), 0, 0, 0, 0, 0); e != 0 {
		return e
	}
	// SAFETY: dot and slash are static strings.
	if _, _, e := unix.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(dot)), uintptr(unsafe.Pointer(slash)), 0, unix.MS_MOVE, 0, 0); e != 0 {
		return e
	}
	if _, _, e := unix.RawSyscall6(unix.SYS_CHROOT, uintptr(unsafe.Pointer(dot)), 0, 0, 0, 0, 0); e != 0 {
		return e
	}
	_, _, e := unix.RawSyscall6(unix.SYS_CHDIR, uintptr(unsafe.Pointer(slash)), 0, 0, 0, 0, 0)
	return e
}

// RootIsInitramfs reports whether, by the contents of /proc/self/mountinfo, the root of
// the mount namespace is the initramfs, where pivot_root(2) fails with EINVAL: the first
// mount at /, the process's root, is of type rootfs. A line that cannot be read is
// passed over.
func RootIsInitramfs(mi []byte) bool {
	mounts, _ := mountinfo.Parse(mi)
	for _, m := range mounts {
		if m.Point == "/" {
			return m.FSType == "rootfs"
		}
	}
	return false
}

// Umask sets the file mode creation mask to mask: 0 while the child makes device
// nodes, so that their modes are exact, and the caller's again before COMMAND runs.
// Runs in the child.
//
//go:nosplit
//go:norace
func Umask(mask int) { unix.RawSyscall(unix.SYS_UMASK, uintptr(mask), 0, 0) }

// Dev encodes a device number the way mknodat(2) takes it: the kernel's 32-bit
// new_encode_dev, which differs from glibc's dev_t (unix.Mkdev) for large numbers.
func Dev(major, minor uint32) uint64 {
	return uint64(minor&0xff | major<<8 | (minor&^0xff)<<12)
}

func parentOf(p string) string {
	i := len(p) - 1
	for i > 0 && p[i] != '/' {
		i--
	}
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// baseOf returns the slot a path is resolved from: the file system launch mounted
// that holds it, or the root.
func baseOf(p string) int {
	for s := numSlots - 1; s > SlotRoot; s-- {
		if p == slotPath[s] || strings.HasPrefix(p, slotPath[s]+"/") {
			return s
		}
	}
	return SlotRoot
}
