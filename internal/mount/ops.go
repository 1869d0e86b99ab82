package mount

import (
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Mount is one prepared mount(2) inside the container root.
type Mount struct {
	Target   Target
	source   *byte // nil for none
	self     bool  // bind the target onto itself
	fstype   *byte
	flags    uintptr
	data     *byte
	remount  uintptr // if non-zero, remount the new mount with MS_REMOUNT|MS_BIND|remount
	optional bool    // a missing target is skipped
	closeFD  int     // a descriptor to close once mounted, or -1
}

// MountOpts describes a Mount.
type MountOpts struct {
	Source   string  // "" for none
	Self     bool    // source is the target itself (a read-only bind of a path onto itself)
	FSType   string  // "" for none (binds, remounts)
	Flags    uintptr // MS_* flags of the mount
	Data     string  // file-system options
	Remount  uintptr // per-mount flags to set on the new mount afterwards (MS_RDONLY, ...)
	Optional bool    // skip when the target does not exist (masks of files a kernel lacks)
	// CloseFD is a descriptor to close right after the mount: the /dev/fuse
	// connection of a FUSE mount, which the child must not keep (see procview).
	CloseFD *int
}

// NewMount prepares a mount on t.
func NewMount(t Target, o MountOpts) (*Mount, error) {
	m := &Mount{Target: t, self: o.Self, flags: o.Flags, remount: o.Remount, optional: o.Optional,
		closeFD: -1}
	if o.CloseFD != nil {
		m.closeFD = *o.CloseFD
	}
	var err error
	for _, s := range []struct {
		dst **byte
		v   string
	}{{&m.source, o.Source}, {&m.fstype, o.FSType}, {&m.data, o.Data}} {
		if s.v != "" {
			if *s.dst, err = CString(s.v); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// Do carries out m inside root. Runs in the child.
//
//go:nosplit
//go:norace
func (m *Mount) Do(root int) unix.Errno {
	fd, e := open(root, &m.Target)
	if e != 0 {
		if e == unix.ENOENT && m.optional {
			return 0
		}
		return e
	}
	var tbuf, sbuf [32]byte
	target := fdPath(&tbuf, fd)
	src := m.source
	if m.self {
		src = fdPath(&sbuf, fd)
	}
	// SAFETY: every pointer is a NUL-terminated string prepared by the parent or
	// built on this stack.
	_, _, e = unix.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(src)), uintptr(unsafe.Pointer(target)),
		uintptr(unsafe.Pointer(m.fstype)), m.flags, uintptr(unsafe.Pointer(m.data)), 0)
	closeFD(fd)
	if m.closeFD >= 0 {
		closeFD(m.closeFD)
	}
	if e != 0 || m.remount == 0 {
		return e
	}
	// The descriptor still names the file under the new mount; open the path again to
	// reach the mount itself.
	if fd, e = open(root, &m.Target); e != 0 {
		return e
	}
	target = fdPath(&tbuf, fd)
	_, _, e = unix.RawSyscall6(unix.SYS_MOUNT, 0, uintptr(unsafe.Pointer(target)), 0,
		unix.MS_REMOUNT|unix.MS_BIND|m.remount, 0, 0)
	closeFD(fd)
	return e
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

// EnsureDir prepares the directory p, resolved with resolve, made with mode 0755 if
// it is missing: the parents of a --bind destination, as mkdir -p would.
func EnsureDir(p string, resolve uint64) (*Node, error) {
	t, err := NewTarget(p, resolve, CreateDir)
	if err != nil {
		return nil, err
	}
	return &Node{Target: t, kind: kindEnsureDir}, nil
}

func newNode(p string, kind int, mode uint32, dev uint64, link string) (*Node, error) {
	t, err := NewTarget(p, NoSymlinks, MustExist)
	if err != nil {
		return nil, err
	}
	dir, err := NewTarget(parentOf(p), NoSymlinks, MustExist)
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

// Make creates n inside root. The umask must be 0 for modes to be exact. Runs in the
// child.
//
//go:nosplit
//go:norace
func (n *Node) Make(root int) unix.Errno {
	if n.kind == kindEnsureDir {
		fd, e := open(root, &n.Target)
		if e == 0 {
			closeFD(fd)
		}
		return e
	}
	dfd, e := open(root, &n.dir)
	if e != 0 {
		return e
	}
	// SAFETY: names are NUL-terminated strings prepared by the parent.
	switch n.kind {
	case kindDevice:
		_, _, e = unix.RawSyscall6(unix.SYS_MKNODAT, uintptr(dfd), uintptr(unsafe.Pointer(n.Target.name)), uintptr(n.mode), uintptr(n.dev), 0, 0)
	case kindSymlink:
		_, _, e = unix.RawSyscall6(unix.SYS_SYMLINKAT, uintptr(unsafe.Pointer(n.link)), uintptr(dfd), uintptr(unsafe.Pointer(n.Target.name)), 0, 0, 0)
	case kindDir:
		_, _, e = unix.RawSyscall6(unix.SYS_MKDIRAT, uintptr(dfd), uintptr(unsafe.Pointer(n.Target.name)), uintptr(n.mode), 0, 0, 0)
	}
	closeFD(dfd)
	return e
}

// OpenRoot binds rootfs onto itself, which makes it a mount point as pivot_root(2)
// requires, and returns a descriptor of the new mount's root. It runs after the
// mount namespace is made private, so neither the bind nor anything below it shows on
// the host. rootfs is the caller's own path, resolved by the parent. Runs in the child.
//
// The bind is not recursive: mounts the host has below ROOTFS stay out of the
// container. They would keep their own flags there, where the nodev and --read-only
// that the root's remount sets on this one mount do not reach them.
//
//go:nosplit
//go:norace
func OpenRoot(rootfs *byte) (int, unix.Errno) {
	// SAFETY: rootfs is prepared by the parent.
	_, _, e := unix.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(rootfs)), uintptr(unsafe.Pointer(rootfs)), 0,
		unix.MS_BIND, 0, 0)
	if e != 0 {
		return -1, e
	}
	fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(rootfs)),
		unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, 0, 0)
	return int(fd), e
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

// PivotRoot makes root the root of the mount namespace and detaches the old root.
// pivot_root(".", ".") stacks the old root on top of the new one, where
// umount2(MNT_DETACH) can take it away without a put_old directory in ROOTFS (see
// pivot_root(2), NOTES): nothing is created in the image, and no path leads back to
// the host once the old root is detached. Runs in the child.
//
//go:nosplit
//go:norace
func PivotRoot(root int) unix.Errno {
	if _, _, e := unix.RawSyscall(unix.SYS_FCHDIR, uintptr(root), 0, 0); e != 0 {
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

// MoveRoot makes root the root of the process where pivot_root(2) cannot: when / is
// the initramfs (rootfs), which can never be unmounted and so never pivoted away from.
// The bind of ROOTFS is moved over / and the process chroots into it. The initramfs
// stays underneath, and a process that can chroot could climb out of a chroot to
// it, so the caller also takes CAP_SYS_CHROOT away. Runs in the child.
//
//go:nosplit
//go:norace
func MoveRoot(root int) unix.Errno {
	if _, _, e := unix.RawSyscall6(unix.SYS_FCHDIR, uintptr(root), 0, 0, 0, 0, 0); e != 0 {
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

// RootIsInitramfs reports whether, by mountinfo (proc_pid_mountinfo(5)), the root of
// the mount namespace is the initramfs, where pivot_root(2) fails with EINVAL.
func RootIsInitramfs(mountinfo []byte) bool {
	for _, line := range strings.Split(string(mountinfo), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || f[4] != "/" {
			continue
		}
		for i, x := range f {
			if x == "-" && i+1 < len(f) {
				return f[i+1] == "rootfs"
			}
		}
	}
	return false
}

// Chdir changes to dir, a path in the container. Runs in the child.
//
//go:nosplit
//go:norace
func Chdir(dir *byte) unix.Errno {
	// SAFETY: dir is prepared by the parent.
	_, _, e := unix.RawSyscall6(unix.SYS_CHDIR, uintptr(unsafe.Pointer(dir)), 0, 0, 0, 0, 0)
	return e
}

// Umask sets the file mode creation mask to 0, so device nodes get their exact modes.
// Runs in the child.
//
//go:nosplit
//go:norace
func Umask() { unix.RawSyscall(unix.SYS_UMASK, 0, 0, 0) }

// atFDCWD is AT_FDCWD as a variable: the constant is negative and cannot be
// converted to uintptr directly.
var atFDCWD = unix.AT_FDCWD

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
