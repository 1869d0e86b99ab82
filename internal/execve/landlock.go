package execve

import (
	"unsafe"

	"launch/internal/raw"

	"golang.org/x/sys/unix"
)

// ExecBeneathRoot lets the child and everything it starts execute only files below
// its root, with a Landlock rule set (Linux 5.13) that handles nothing but execution.
// Until COMMAND's image has replaced it, the child is the launcher, and
// /proc/self/exe names the launcher's binary on the host: a #! line, or an ELF
// program's PT_INTERP, that says /proc/self/exe would have the kernel run the host's
// binary inside the container (the CVE-2019-5736 class). Paths the kernel resolves
// while it executes are out of the launcher's reach; the rule is not: a file of
// another mount namespace is below no directory of this one. Runs in the child after
// pivot_root, while it still has CAP_SYS_ADMIN, which landlock_restrict_self(2) asks
// for without no_new_privs.
//
// A kernel without Landlock (ENOSYS, or EOPNOTSUPP when it is not enabled at boot)
// is no error: the launcher says so under -v, and the child's own checks of COMMAND's
// #! lines still refuse magic links (see Exec).
//
//go:nosplit
//go:norace
func ExecBeneathRoot() unix.Errno { return execBeneathRoot(false) }

// landlockAttr is the rule set's attributes, in the child's own copy of the
// variable: on the stack it would not fit the nosplit budget of a hook's chain.
var landlockAttr unix.LandlockRulesetAttr

// execBeneathRoot is ExecBeneathRoot; scoped also keeps the domain from signalling
// any process outside it (LANDLOCK_SCOPE_SIGNAL, Landlock ABI 6, Linux 6.12), where
// the kernel has that: a startContainer hook cannot stop the process that times it.
//
//go:nosplit
//go:norace
func execBeneathRoot(scoped bool) unix.Errno {
	landlockAttr = unix.LandlockRulesetAttr{Handled_access_fs: unix.LANDLOCK_ACCESS_FS_EXECUTE}
	var rs uintptr
	e := unix.ENOSYS
	if scoped {
		landlockAttr.Scoped = unix.LANDLOCK_SCOPE_SIGNAL
		// The fields up to Scoped; a kernel that knows none of Scoped refuses them
		// (E2BIG, or EINVAL for a scope it lacks) and gets the first field alone.
		// SAFETY: landlockAttr is the child's own memory.
		rs, _, e = unix.RawSyscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&landlockAttr)),
			unsafe.Offsetof(landlockAttr.Scoped)+unsafe.Sizeof(landlockAttr.Scoped), 0)
	}
	if e != 0 && e != unix.EOPNOTSUPP {
		// Only the first field: older kernels know no other and refuse a larger size
		// whose extra bytes are not zero; a smaller one is always accepted.
		// SAFETY: landlockAttr is the child's own memory.
		rs, _, e = unix.RawSyscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&landlockAttr)),
			unsafe.Sizeof(landlockAttr.Handled_access_fs), 0)
	}
	if e == unix.ENOSYS || e == unix.EOPNOTSUPP {
		return 0
	}
	if e != 0 {
		return e
	}
	// SAFETY: slash is a static string.
	root, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(raw.AtFDCWD), uintptr(unsafe.Pointer(slash)),
		unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		unix.RawSyscall(unix.SYS_CLOSE, rs, 0, 0)
		return e
	}
	rule := unix.LandlockPathBeneathAttr{Allowed_access: unix.LANDLOCK_ACCESS_FS_EXECUTE, Parent_fd: int32(root)}
	// SAFETY: rule is on this stack; the kernel reads its packed 12 bytes.
	_, _, e = unix.RawSyscall6(unix.SYS_LANDLOCK_ADD_RULE, rs, unix.LANDLOCK_RULE_PATH_BENEATH,
		uintptr(unsafe.Pointer(&rule)), 0, 0, 0)
	unix.RawSyscall(unix.SYS_CLOSE, root, 0, 0)
	if e == 0 {
		_, _, e = unix.RawSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, rs, 0, 0)
	}
	unix.RawSyscall(unix.SYS_CLOSE, rs, 0, 0)
	return e
}

var slash = unsafe.StringData("/\x00")

// LandlockABI returns the Landlock ABI version of the running kernel, 0 if it has none
// (or it is not enabled). For -v.
func LandlockABI() int {
	v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return 0
	}
	return int(v)
}
