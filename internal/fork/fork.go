package fork

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The runtime's fork hooks, which package syscall declares for its own fork and exec.
// BeforeFork blocks signals and poisons the goroutine's stack guard, so that any
// attempt to grow the stack between fork and exec crashes at once instead of
// corrupting memory; AfterFork undoes both in the parent; AfterForkInChild resets
// the signal handlers the runtime installed and restores the signal mask.

//go:linkname beforeFork syscall.runtime_BeforeFork
func beforeFork()

//go:linkname afterFork syscall.runtime_AfterFork
func afterFork()

//go:linkname afterForkInChild syscall.runtime_AfterForkInChild
func afterForkInChild()

// BeforeFork must be called right before Fork, in the function that runs the child's
// steps. From then on, until AfterFork in the parent or exec in the child, the only
// functions that may be called are those marked go:nosplit.
//
//go:nosplit
func BeforeFork() { beforeFork() }

// AfterFork is called in the parent once Fork has returned.
//
//go:nosplit
func AfterFork() { afterFork() }

// AfterForkInChild resets signal handlers to their defaults and restores the signal
// mask of the forking thread. Runs in the child.
//
//go:nosplit
func AfterForkInChild() { afterForkInChild() }

// cloneArgs is struct clone_args of linux/sched.h, version 2 (CLONE_ARGS_SIZE_VER2,
// Linux 5.7). x/sys has its constants but not the struct.
type cloneArgs struct {
	flags      uint64
	pidfd      uint64
	childTID   uint64
	parentTID  uint64
	exitSignal uint64
	stack      uint64
	stackSize  uint64
	tls        uint64
	setTID     uint64
	setTIDSize uint64
	cgroup     uint64
}

// A Clone is the prepared creation of the child.
type Clone struct {
	flags    uintptr // CLONE_NEW* flags
	cgroupFD int     // a cgroup2 directory to start the child in, or -1
	args     cloneArgs
}

// NewClone prepares a child with the namespace flags in flags (CLONE_NEW*). If
// cgroupFD is a cgroup2 directory, the child is started inside that cgroup with
// clone3's CLONE_INTO_CGROUP: it never runs a single instruction elsewhere, and no
// write to cgroup.procs has to wait for an RCU grace period.
func NewClone(flags uintptr, cgroupFD int) *Clone {
	return &Clone{
		flags:    flags,
		cgroupFD: cgroupFD,
		args: cloneArgs{
			flags:      uint64(flags) | unix.CLONE_INTO_CGROUP,
			exitSignal: uint64(unix.SIGCHLD),
			cgroup:     uint64(cgroupFD),
		},
	}
}

// Fork creates the child, fork-like: no CLONE_VM, so the child runs on a private copy
// of this stack and may return from here. It returns twice: in the parent with the
// child's pid, in the child with pid 0. inCgroup reports (in both) whether the child
// started inside the cgroup of cgroupFD; if not, it has to join it itself.
//
// clone3 is tried first when there is a cgroup to start in; ENOSYS (before 5.3),
// E2BIG or EINVAL (CLONE_INTO_CGROUP before 5.7) or EPERM (a seccomp profile that
// refuses clone3, as older container runtimes had) fall back to clone.
//
//go:nosplit
//go:norace
func (c *Clone) Fork() (pid int, inCgroup bool, err unix.Errno) {
	if c.cgroupFD >= 0 {
		// SAFETY: c.args lives in the heap object c, which the caller keeps alive
		// across the call; the kernel only reads it.
		r, _, e := unix.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&c.args)), unsafe.Sizeof(c.args), 0)
		switch e {
		case 0:
			return int(r), true, 0
		case unix.ENOSYS, unix.E2BIG, unix.EINVAL, unix.EPERM:
		default:
			return 0, false, e
		}
	}
	r, e := RawClone(c.flags)
	return int(r), false, e
}

// RawClone is a fork-like clone(2) with flags, the child signalling SIGCHLD at its
// exit. Only the flags argument is set: a zero stack means "this one, copied", and
// the tid and tls arguments are unused.
//
//go:nosplit
//go:norace
func RawClone(flags uintptr) (uintptr, unix.Errno) {
	if isS390x {
		r, _, e := unix.RawSyscall6(unix.SYS_CLONE, 0, flags|uintptr(unix.SIGCHLD), 0, 0, 0, 0)
		return r, e
	}
	r, _, e := unix.RawSyscall6(unix.SYS_CLONE, flags|uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	return r, e
}

// CloneArgs are the arguments RawClone(flags) gives clone(2), as a seccomp filter sees
// them.
func CloneArgs(flags uintptr) []uint64 {
	if isS390x {
		return []uint64{0, uint64(flags | uintptr(unix.SIGCHLD))}
	}
	return []uint64{uint64(flags | uintptr(unix.SIGCHLD))}
}

// isS390x: clone(2) takes the stack first and the flags second there.
const isS390x = runtime.GOARCH == "s390x"

// Exit ends the child at once. Runs in the child.
//
//go:nosplit
//go:norace
func Exit(code int) {
	for {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, uintptr(code), 0, 0)
	}
}

// Now returns CLOCK_MONOTONIC in nanoseconds, for -v's step timings. The vDSO is
// runtime code and not safe here; the system call costs well under a microsecond.
//
//go:nosplit
//go:norace
func Now() int64 {
	var ts unix.Timespec
	// SAFETY: ts is on this stack for the duration of the call.
	unix.RawSyscall(unix.SYS_CLOCK_GETTIME, unix.CLOCK_MONOTONIC, uintptr(unsafe.Pointer(&ts)), 0)
	return int64(ts.Sec)*1e9 + int64(ts.Nsec)
}
