package mount

import (
	"unsafe"

	"launch/internal/raw"

	"golang.org/x/sys/unix"
)

// The functions in this file run in the child: go:nosplit, go:norace, raw system
// calls on prepared data only.

// Static NUL-terminated strings. unsafe.StringData of a constant points at read-only
// data in the binary: no allocation.
var (
	dot   = unsafe.StringData(".\x00")
	slash = unsafe.StringData("/\x00")
	empty = unsafe.StringData("\x00")
)

// State is what the child's file-system steps share: the descriptors of the mounts
// in the slots, what the root is, which mount API the kernel has, and scratch space
// (the child's stack is small and checked by the linker, so buffers live here). The
// parent makes it with NewState; only the child writes to it, in its own copy.
type State struct {
	slot    [numSlots]int
	rootDev uint64
	rootIno uint64
	// The directory the launcher found at ROOTFS, which the root's mount must be made
	// on (see ExpectRoot); want false: any.
	wantDev, wantIno uint64
	want             bool
	legacy           bool       // the kernel lacks the new mount API (before 5.2): mount(2), verified
	seen             [64]uint64 // legacy: IDs of the mounts made so far
	nseen            int
	path             [2][32]byte
	buf              [160]byte
	how              unix.OpenHow
	st               unix.Stat_t // a target's, before a legacy bind onto itself
	st2              unix.Stat_t // sameFile's
	sfs              unix.Statfs_t
	attr             unix.MountAttr // an rbind's flags for mount_setattr(2)
}

// NewState returns the state of a child that has made no mount yet.
func NewState() *State {
	s := &State{}
	for i := range s.slot {
		s.slot[i] = -1
	}
	return s
}

// ExpectRoot makes the root's step check that the directory it finds at ROOTFS is the
// file dev and ino name, what the launcher found there: a neighbour who can write a
// directory on ROOTFS's path may have renamed another in its place, or a symlink to
// the host's /, meanwhile (ESTALE).
func (s *State) ExpectRoot(dev, ino uint64) { s.wantDev, s.wantIno, s.want = dev, ino, true }

// open resolves t from its base and returns an O_PATH descriptor for it, creating the
// last component first if t says so and it is missing.
//
// The child runs on a nosplit stack budget that the linker checks (about 800 bytes
// for the deepest chain of calls), so open calls openat2 and walk side by side
// rather than one through the other.
//
//go:nosplit
//go:norace
func open(s *State, t *Target) (int, unix.Errno) {
	base := s.slot[t.base]
	if base < 0 {
		return -1, unix.EBADF
	}
	fd, e := openat2(s, base, t.rel, t.resolve, false)
	if e == unix.ENOSYS {
		fd, e = walk(base, t.comps, false)
	}
	if e != unix.ENOENT || t.create == MustExist {
		return fd, e
	}
	pfd, e := openat2(s, base, t.parent, t.resolve, true)
	if e == unix.ENOSYS {
		var pcomps []*byte
		if len(t.comps) > 1 {
			pcomps = t.comps[:len(t.comps)-1]
		}
		pfd, e = walk(base, pcomps, true)
	}
	if e != 0 {
		return -1, e
	}
	if t.create == CreateDir {
		_, _, e = unix.RawSyscall6(unix.SYS_MKDIRAT, uintptr(pfd), uintptr(unsafe.Pointer(t.name)), 0o755, 0, 0, 0)
	} else {
		var f uintptr
		f, _, e = unix.RawSyscall6(unix.SYS_OPENAT, uintptr(pfd), uintptr(unsafe.Pointer(t.name)),
			unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644, 0, 0)
		if e == 0 {
			raw.Close(int(f))
		}
	}
	raw.Close(pfd)
	if e != 0 && e != unix.EEXIST {
		return -1, e
	}
	fd, e = openat2(s, base, t.rel, t.resolve, false)
	if e == unix.ENOSYS {
		fd, e = walk(base, t.comps, false)
	}
	return fd, e
}

// openat2 opens rel below root with openat2(2) and resolve. wantDir asks for a
// directory. ENOSYS means a kernel before 5.6. The open_how is in s: the chain of
// calls under Mount.Do is close to the nosplit stack budget on 64-bit ARM.
//
//go:nosplit
//go:norace
func openat2(s *State, root int, rel *byte, resolve uint64, wantDir bool) (int, unix.Errno) {
	s.how = unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: resolve}
	if wantDir {
		s.how.Flags |= unix.O_DIRECTORY
	}
	// SAFETY: rel is prepared by the parent; s.how is the child's own memory.
	return raw.Openat2(root, rel, &s.how)
}

// walk opens comps one at a time from root with O_NOFOLLOW, refusing every symlink:
// without openat2 there is no safe way to follow one inside a root.
//
//go:nosplit
//go:norace
func walk(root int, comps []*byte, wantDir bool) (int, unix.Errno) {
	cur := uintptr(root)
	if len(comps) == 0 {
		fd, _, e := unix.RawSyscall6(unix.SYS_FCNTL, cur, unix.F_DUPFD_CLOEXEC, 0, 0, 0, 0)
		return int(fd), e
	}
	for i, c := range comps {
		last := i == len(comps)-1
		flags := uintptr(unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW)
		if !last || wantDir {
			flags |= unix.O_DIRECTORY // a symlink fails with ENOTDIR
		}
		// SAFETY: c is prepared by the parent.
		fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, cur, uintptr(unsafe.Pointer(c)), flags, 0, 0, 0)
		if cur != uintptr(root) {
			unix.RawSyscall6(unix.SYS_CLOSE, cur, 0, 0, 0, 0, 0)
		}
		if e != 0 {
			return -1, e
		}
		cur = fd
	}
	// O_PATH|O_NOFOLLOW opens a final symlink as itself; readlinkat with an empty path
	// succeeds only on such a descriptor.
	var b [1]byte
	// SAFETY: b is on this stack.
	if _, _, e := unix.RawSyscall6(unix.SYS_READLINKAT, cur, uintptr(unsafe.Pointer(empty)), uintptr(unsafe.Pointer(&b[0])), 1, 0, 0); e == 0 {
		unix.RawSyscall6(unix.SYS_CLOSE, cur, 0, 0, 0, 0, 0)
		return -1, unix.ELOOP
	}
	return int(cur), 0
}

// mountID returns the ID of the mount fd's file is on, as /proc/self/fdinfo/FD tells
// it (the "mnt_id:" line, Linux 3.15), for kernels without the new mount API.
//
//go:nosplit
//go:norace
func mountID(s *State, fd int) (uint64, unix.Errno) {
	p := raw.ProcPath(&s.path[1], "/proc/self/fdinfo/", fd)
	// SAFETY: p is NUL-terminated in s; s.buf is the child's own scratch space.
	f, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(raw.AtFDCWD), uintptr(unsafe.Pointer(p)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, f, uintptr(unsafe.Pointer(&s.buf[0])), uintptr(len(s.buf)))
	raw.Close(int(f))
	if e != 0 {
		return 0, e
	}
	const key = "mnt_id:"
	for i := 0; i+len(key) <= int(n); i++ {
		if i > 0 && s.buf[i-1] != '\n' {
			continue
		}
		j := 0
		for j < len(key) && s.buf[i+j] == key[j] {
			j++
		}
		if j < len(key) {
			continue
		}
		i += j
		for i < int(n) && (s.buf[i] == ' ' || s.buf[i] == '\t') {
			i++
		}
		var id uint64
		digits := 0
		for ; i < int(n) && s.buf[i] >= '0' && s.buf[i] <= '9'; i++ {
			id = id*10 + uint64(s.buf[i]-'0')
			digits++
		}
		if digits == 0 {
			return 0, unix.EINVAL
		}
		return id, 0
	}
	return 0, unix.ENODATA
}
