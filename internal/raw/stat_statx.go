//go:build linux && (mips64 || mips64le || loong64)

package raw

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// statx is the child's scratch for Fstat: the child is one thread, and its own copy of
// the launcher's memory.
var statx unix.Statx_t

// empty is the empty path of statx(2) with AT_EMPTY_PATH.
var empty = [1]byte{0}

// Fstat fills the type and mode, the device and the inode of st from statx(2) (Linux
// 4.11): no struct stat of the kernel matches unix.Stat_t here (see stat.go). The
// device is encoded as x/sys's Stat encodes it (unix.Mkdev).
//
//go:nosplit
//go:norace
func Fstat(fd int, st *unix.Stat_t) unix.Errno {
	// SAFETY: empty is NUL-terminated; statx is the child's own memory.
	_, _, e := unix.RawSyscall6(unix.SYS_STATX, uintptr(fd), uintptr(unsafe.Pointer(&empty[0])), unix.AT_EMPTY_PATH,
		unix.STATX_TYPE|unix.STATX_MODE|unix.STATX_INO, uintptr(unsafe.Pointer(&statx)), 0)
	if e != 0 {
		return e
	}
	setDev(st, unix.Mkdev(statx.Dev_major, statx.Dev_minor)) // inlined: no call in the child
	st.Ino = statx.Ino
	st.Mode = uint32(statx.Mode)
	return 0
}

// Fstatfs is fstatfs(2) into st (see stat.go).
//
//go:nosplit
//go:norace
func Fstatfs(fd int, st *unix.Statfs_t) unix.Errno {
	// SAFETY: st is the caller's, of the kernel's struct statfs layout here.
	_, _, e := unix.RawSyscall(unix.SYS_FSTATFS, uintptr(fd), uintptr(unsafe.Pointer(st)), 0)
	return e
}
