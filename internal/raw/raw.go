// Package raw holds the few helpers that the container's child, between its fork and
// its exec, shares across packages: what it may call there is only go:nosplit code
// that makes raw system calls on data the parent prepared, without allocating (see
// package fork).
package raw

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BigEndian is the byte order of the running machine.
var BigEndian = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

// AtFDCWD is AT_FDCWD as a variable: the constant is negative and cannot be converted
// to uintptr directly.
var AtFDCWD = unix.AT_FDCWD

// FdPath writes "/proc/self/fd/<fd>" with a NUL into buf and returns it: the name of
// the file fd refers to, for system calls that take paths.
//
//go:nosplit
//go:norace
func FdPath(buf *[32]byte, fd int) *byte {
	return ProcPath(buf, "/proc/self/fd/", fd)
}

// ProcPath writes prefix and the decimal n, NUL-terminated, into buf and returns it.
// prefix and the digits must fit in 31 bytes.
//
//go:nosplit
//go:norace
func ProcPath(buf *[32]byte, prefix string, n int) *byte {
	i := 0
	for ; i < len(prefix); i++ {
		buf[i] = prefix[i]
	}
	var digits [12]byte
	d := 0
	for v := uint(n); ; v /= 10 {
		digits[d] = byte('0' + v%10)
		d++
		if v < 10 {
			break
		}
	}
	for d > 0 {
		d--
		buf[i] = digits[d]
		i++
	}
	buf[i] = 0
	return &buf[0]
}

// Close closes fd, ignoring the result: what the child closes it no longer needs.
//
//go:nosplit
//go:norace
func Close(fd int) { unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0) }

// Openat2 opens path below dirfd with openat2(2) (Linux 5.6; ENOSYS before). A
// resolution scoped to a root (RESOLVE_IN_ROOT, RESOLVE_BENEATH) fails with EAGAIN when
// anything on the system was renamed while it went through "..": it is tried again,
// a bounded number of times, as openat2(2) asks of its callers.
//
//go:nosplit
//go:norace
func Openat2(dirfd int, path *byte, how *unix.OpenHow) (int, unix.Errno) {
	var e unix.Errno
	for try := 0; try < 256; try++ {
		var fd uintptr
		// SAFETY: path is NUL-terminated and how points to an OpenHow, both kept
		// alive by the caller for the call.
		fd, _, e = unix.RawSyscall6(unix.SYS_OPENAT2, uintptr(dirfd), uintptr(unsafe.Pointer(path)),
			uintptr(unsafe.Pointer(how)), unsafe.Sizeof(*how), 0, 0)
		if e != unix.EAGAIN {
			return int(fd), e
		}
	}
	return -1, e
}
