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
// close_range(CLOSE_RANGE_CLOEXEC) is Linux 5.11; before that, /proc/self/fd is listed.
// Runs in the child, after /proc is mounted.
//
//go:nosplit
//go:norace
func CloseOnExec() unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_CLOSE_RANGE, 3, ^uintptr(0), unix.CLOSE_RANGE_CLOEXEC)
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
			fd, ok := 0, false
			for i := off + 19; i < off+reclen && buf[i] != 0; i++ {
				fd, ok = fd*10+int(buf[i]-'0'), buf[i] >= '0' && buf[i] <= '9'
			}
			if ok && fd > 2 {
				unix.RawSyscall(unix.SYS_FCNTL, uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
			}
			off += reclen
		}
	}
	unix.RawSyscall(unix.SYS_CLOSE, dir, 0, 0)
	return 0
}
