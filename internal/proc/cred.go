package proc

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// SetUser switches the child to uid and gid with exactly the supplementary groups
// groups (none, unless asked for: the caller's groups are not the container's), or
// with the groups it has if keepGroups. The
// kernel empties the permitted and effective capabilities when the user IDs leave 0
// (no PR_SET_KEEPCAPS), and clears the parent-death signal when the effective IDs
// change, so DieWithParent's prctl is made again. Runs in the child.
//
//go:nosplit
//go:norace
func SetUser(uid, gid int, groups []uint32, keepGroups bool) unix.Errno {
	var list uintptr
	if len(groups) > 0 {
		// SAFETY: groups is prepared by the parent; gid_t is 32 bits on Linux.
		list = uintptr(unsafe.Pointer(&groups[0]))
	}
	// keepGroups: the user namespace of an unprivileged caller, where setgroups(2) is
	// denied.
	if !keepGroups {
		if _, _, e := unix.RawSyscall(sysSetgroups, uintptr(len(groups)), list, 0); e != 0 {
			return e
		}
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
