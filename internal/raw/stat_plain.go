//go:build linux && (amd64 || arm64 || riscv64 || ppc64 || ppc64le || s390x)

package raw

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Fstat is fstat(2) into st (see stat.go).
//
//go:nosplit
//go:norace
func Fstat(fd int, st *unix.Stat_t) unix.Errno {
	// SAFETY: st is the caller's, of the kernel's struct stat layout here.
	_, _, e := unix.RawSyscall(unix.SYS_FSTAT, uintptr(fd), uintptr(unsafe.Pointer(st)), 0)
	return e
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
