package execve

import (
	"unsafe"

	"launch/internal/raw"

	"golang.org/x/sys/unix"
)

var procSelfFD = unsafe.StringData("/proc/self/fd\x00")

// direntBuf is CloseAll's buffer for getdents64(2): on the stack it would not fit the
// nosplit budget of 32-bit arches. The child, and PID 1 under --init, each write their
// own copy of it.
var direntBuf [256]byte

// CloseAll closes every descriptor from from (3, or above a bundle's --preserve-fds)
// up but keep1 to keep4 (the child's pipes to the launcher, a bundle's start FIFO,
// console socket and startContainer hooks' state, or -1). Marking them close-on-exec
// is not enough: until execve is done with COMMAND's #! interpreter and its dynamic
// loader, every descriptor is still open, and /proc/self/fd/N/.. climbs from a directory of the host to the host's /
// (runc CVE-2024-21626; found in this project by attacking it). A pipe leads nowhere.
// close_range(2) is Linux 5.11; before that, /proc/self/fd is listed. Runs in the
// child, after pivot_root: /proc is then the container's, which lists the child's own
// descriptors.
//
//go:nosplit
//go:norace
func CloseAll(from, keep1, keep2, keep3, keep4 int) unix.Errno {
	keep := [4]int{keep1, keep2, keep3, keep4}
	for i := 1; i < len(keep); i++ {
		for j := i; j > 0 && keep[j-1] > keep[j]; j-- {
			keep[j-1], keep[j] = keep[j], keep[j-1]
		}
	}
	lo := max(from, 3)
	e := unix.Errno(0)
	for _, k := range keep {
		if k < lo {
			continue
		}
		if k > lo {
			if e = closeRange(lo, k-1); e != 0 {
				break
			}
		}
		lo = k + 1
	}
	if e == 0 {
		e = closeRange(lo, -1)
	}
	if e != unix.ENOSYS && e != unix.EINVAL {
		return e
	}
	// SAFETY: procSelfFD is a static string.
	dir, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(raw.AtFDCWD), uintptr(unsafe.Pointer(procSelfFD)),
		unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return e
	}
	buf := &direntBuf
	for {
		// SAFETY: buf is this process's own memory.
		n, _, e := unix.RawSyscall(unix.SYS_GETDENTS64, dir, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		if e != 0 {
			unix.RawSyscall(unix.SYS_CLOSE, dir, 0, 0)
			return e
		}
		if n == 0 {
			break
		}
		for off := uintptr(0); off < n; {
			reclen := direntReclen(buf, off)
			fd, ok := direntFD(buf, off, reclen)
			if ok && fd >= max(from, 3) && fd != keep1 && fd != keep2 && fd != keep3 && fd != keep4 && uintptr(fd) != dir {
				unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
			}
			off += reclen
		}
	}
	unix.RawSyscall(unix.SYS_CLOSE, dir, 0, 0)
	return 0
}

// closeRange closes lo to hi (-1: every descriptor from lo up).
//
//go:nosplit
//go:norace
func closeRange(lo, hi int) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_CLOSE_RANGE, uintptr(lo), uintptr(hi), 0)
	return e
}

// direntReclen returns d_reclen of the struct linux_dirent64 at off in buf: u64 ino,
// s64 off, u16 reclen, u8 type, char name[].
//
//go:nosplit
//go:norace
func direntReclen(buf *[256]byte, off uintptr) uintptr {
	if raw.BigEndian {
		return uintptr(buf[off+16])<<8 | uintptr(buf[off+17])
	}
	return uintptr(buf[off+16]) | uintptr(buf[off+17])<<8
}

// direntFD parses the name of the dirent at off as a descriptor number.
//
//go:nosplit
//go:norace
func direntFD(buf *[256]byte, off, reclen uintptr) (int, bool) {
	fd, ok := 0, false
	for i := off + 19; i < off+reclen && buf[i] != 0; i++ {
		if buf[i] < '0' || buf[i] > '9' {
			return 0, false
		}
		fd, ok = fd*10+int(buf[i]-'0'), true
	}
	return fd, ok
}
