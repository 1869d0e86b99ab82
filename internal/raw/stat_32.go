//go:build linux && (386 || arm || mips || mipsle)

package raw

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Fstat is fstat64(2) into st, whose layout is struct stat64 here (see stat.go).
//
//go:nosplit
//go:norace
func Fstat(fd int, st *unix.Stat_t) unix.Errno {
	// SAFETY: st is the caller's, of struct stat64's layout here.
	_, _, e := unix.RawSyscall(unix.SYS_FSTAT64, uintptr(fd), uintptr(unsafe.Pointer(st)), 0)
	return e
}

// Fstatfs is fstatfs64(2) into st, whose layout is struct statfs64 here (see stat.go).
//
//go:nosplit
//go:norace
func Fstatfs(fd int, st *unix.Statfs_t) unix.Errno {
	// SAFETY: st is the caller's, of struct statfs64's layout and size here.
	_, _, e := unix.RawSyscall(unix.SYS_FSTATFS64, uintptr(fd), unsafe.Sizeof(*st), uintptr(unsafe.Pointer(st)))
	return e
}
