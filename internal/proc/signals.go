package proc

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Signals builds a kernel signal set of sigs, for Block and Reap.
func Signals(sigs ...unix.Signal) *unix.Sigset_t {
	set := new(unix.Sigset_t)
	bits := uint(unsafe.Sizeof(set.Val[0])) * 8
	for _, s := range sigs {
		set.Val[uint(s-1)/bits] |= 1 << (uint(s-1) % bits)
	}
	return set
}

// SetSignalMask sets the signal mask to set. Runs in the child.
//
//go:nosplit
//go:norace
func SetSignalMask(set *unix.Sigset_t) unix.Errno {
	// SAFETY: set is prepared by the parent.
	_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(set)), 0, SigsetSize, 0, 0)
	return e
}
