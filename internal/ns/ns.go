package ns

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The functions in this file run in the child, between fork and exec (see package fork).

// Unshare moves the child into new namespaces of the kinds in flags.
//
//go:nosplit
//go:norace
func Unshare(flags uintptr) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_UNSHARE, flags, 0, 0)
	return e
}

// Sethostname sets the UTS namespace's hostname to the n bytes at name.
//
//go:nosplit
//go:norace
func Sethostname(name *byte, n int) unix.Errno {
	// SAFETY: name points into a byte slice the parent prepared and keeps alive.
	_, _, e := unix.RawSyscall(unix.SYS_SETHOSTNAME, uintptr(unsafe.Pointer(name)), uintptr(n), 0)
	return e
}

// LoopbackUp brings up lo in the new network namespace, which starts down: ifr is
// an ifreq naming lo with IFF_UP set.
//
//go:nosplit
//go:norace
func LoopbackUp(ifr *unix.Ifreq) unix.Errno {
	s, _, e := unix.RawSyscall(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		return e
	}
	// SAFETY: ifr is prepared by the parent; x/sys's Ifreq is the kernel's struct ifreq.
	_, _, e = unix.RawSyscall(unix.SYS_IOCTL, s, unix.SIOCSIFFLAGS, uintptr(unsafe.Pointer(ifr)))
	unix.RawSyscall(unix.SYS_CLOSE, s, 0, 0)
	return e
}

// Write writes the n bytes at p to fd, for joining a cgroup by writing "0" to its
// tasks or cgroup.procs file.
//
//go:nosplit
//go:norace
func Write(fd int, p *byte, n int) unix.Errno {
	// SAFETY: p points into a byte slice the parent prepared and keeps alive.
	_, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(p)), uintptr(n))
	return e
}

// Setns moves the child into the namespace fd, of kind nstype (a bundle's namespace
// joined by path), and closes fd: it is the host's.
//
//go:nosplit
//go:norace
func Setns(fd int, nstype int) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_SETNS, uintptr(fd), uintptr(nstype), 0)
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	return e
}

// Setdomainname sets the UTS namespace's NIS domain name to the n bytes at name.
//
//go:nosplit
//go:norace
func Setdomainname(name *byte, n int) unix.Errno {
	// SAFETY: name points into a byte slice the parent prepared and keeps alive.
	_, _, e := unix.RawSyscall(unix.SYS_SETDOMAINNAME, uintptr(unsafe.Pointer(name)), uintptr(n), 0)
	return e
}
