package ns

import "golang.org/x/sys/unix"

// SetUser switches the child to uid and gid with no supplementary groups. The kernel
// empties the permitted and effective capabilities when the user IDs leave 0 (no
// PR_SET_KEEPCAPS), and clears the parent-death signal when the effective IDs change,
// so DieWithParent's prctl is made again. Runs in the child.
//
//go:nosplit
//go:norace
func SetUser(uid, gid int) unix.Errno {
	if _, _, e := unix.RawSyscall(sysSetgroups, 0, 0, 0); e != 0 {
		return e
	}
	if _, _, e := unix.RawSyscall(sysSetresgid, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return e
	}
	if _, _, e := unix.RawSyscall(sysSetresuid, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return e
	}
	_, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0, 0)
	return e
}
