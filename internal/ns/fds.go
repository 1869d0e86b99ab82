package ns

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

var procSelfFD = unsafe.StringData("/proc/self/fd\x00")

// CloseOnExec marks every descriptor from 3 up close-on-exec, so that COMMAND starts
// with stdin, stdout and stderr only, whatever the launcher inherited or opened: a
// leaked directory descriptor of the host is a way out of the root (runc
// CVE-2024-21626). Marking instead of closing keeps the error pipe open until exec.
// Runs in the child, after /proc is mounted.
//
//go:nosplit
//go:norace
func CloseOnExec() unix.Errno { return closeFrom3(unix.CLOSE_RANGE_CLOEXEC) }

// CloseAll closes every descriptor from 3 up, for a process that stays in the
// container without exec: PID 1 of --init. Were it to keep the write end of the error
// pipe, the launcher would wait for ever for the exec that closes it. Runs in the
// child, after /proc is mounted.
//
//go:nosplit
//go:norace
func CloseAll() unix.Errno { return closeFrom3(0) }

// closeFrom3 closes the descriptors from 3 up, or with CLOSE_RANGE_CLOEXEC marks them
// close-on-exec. close_range is Linux 5.9 and CLOSE_RANGE_CLOEXEC 5.11 (5.9 and 5.10
// say EINVAL); before that, /proc/self/fd is listed and each descriptor in it closed
// or marked in turn. Closing while listing skips nothing: the listing goes by
// descriptor number, from where the last read ended.
//
//go:nosplit
//go:norace
func closeFrom3(flags uintptr) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_CLOSE_RANGE, 3, ^uintptr(0), flags)
	if e != unix.ENOSYS && e != unix.EINVAL {
		return e
	}
	// SAFETY: procSelfFD is a static string.
	dir, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(procSelfFD)),
		unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return e
	}
	var buf [256]byte
	for {
		// SAFETY: buf is on this stack.
		n, _, e := unix.RawSyscall(unix.SYS_GETDENTS64, dir, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		if e != 0 {
			unix.RawSyscall(unix.SYS_CLOSE, dir, 0, 0)
			return e
		}
		if n == 0 {
			break
		}
		// struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, char name[].
		for off := uintptr(0); off < n; {
			reclen := uintptr(buf[off+16]) | uintptr(buf[off+17])<<8
			if isBigEndian {
				reclen = uintptr(buf[off+16])<<8 | uintptr(buf[off+17])
			}
			fd, ok := uintptr(0), false
			for i := off + 19; i < off+reclen && buf[i] != 0; i++ {
				fd, ok = fd*10+uintptr(buf[i]-'0'), buf[i] >= '0' && buf[i] <= '9'
			}
			switch {
			case !ok || fd <= 2 || fd == dir:
			case flags&unix.CLOSE_RANGE_CLOEXEC != 0:
				unix.RawSyscall(unix.SYS_FCNTL, fd, unix.F_SETFD, unix.FD_CLOEXEC)
			default:
				unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
			}
			off += reclen
		}
	}
	unix.RawSyscall(unix.SYS_CLOSE, dir, 0, 0)
	return 0
}
