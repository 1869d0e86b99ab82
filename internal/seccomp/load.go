package seccomp

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// NoNewPrivs sets no_new_privs: from now on exec cannot grant privileges (set-user-ID
// bits and file capabilities are ignored), which also lets an unprivileged process load
// a filter. Runs in the child.
//
//go:nosplit
//go:norace
func NoNewPrivs() unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0)
	return e
}

// Load installs prog as the seccomp filter of the calling thread, the child's only
// one, with flags (SECCOMP_FILTER_FLAG_*). seccomp(2) is Linux 3.17; older kernels
// take the same program through prctl, without flags. Runs in the child.
//
//go:nosplit
//go:norace
func Load(prog *unix.SockFprog, flags uintptr) unix.Errno {
	_, e := load(prog, flags)
	return e
}

// load is Load, and returns what seccomp(2) returns: with
// SECCOMP_FILTER_FLAG_NEW_LISTENER, the listener.
//
//go:nosplit
//go:norace
func load(prog *unix.SockFprog, flags uintptr) (uintptr, unix.Errno) {
	// SAFETY: prog and the instructions it points to are the launcher's, alive for the
	// process's lifetime.
	r, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(prog)))
	if e == unix.ENOSYS && flags == 0 {
		r, _, e = unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(prog)), 0, 0, 0)
	}
	return r, e
}
