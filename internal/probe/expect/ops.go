package expect

import (
	"fmt"
	"slices"
	"strings"
)

// An Op is an operation of probe try, and what a container must answer when it tries
// it: "ok", or the name of the errno.
type Op struct {
	Name string
	Args []string // probe try ARGS...
	Want []string // the answers accepted
}

// Ops are what every container must answer, whatever the host. The filter refuses
// mount, umount, pivot_root, unshare, setns and user namespaces (which need no
// capability, so only the filter stops them, by call and by clone's flag argument) with
// EPERM; clone3 and calls newer than the arch's table get ENOSYS, so that programs fall
// back (moby#42680); a plain clone and personality(0xffffffff) (a query) are allowed,
// turning address-space randomization off is not; AF_VSOCK sockets reach the
// hypervisor. Climbing out of a chroot ends at the container's own root; on an
// initramfs root, where launch drops CAP_SYS_CHROOT, there is no chroot to climb out of.
var Ops = []Op{
	{"mount", []string{"mount", "/tmp/m"}, []string{"EPERM"}},
	{"umount", []string{"umount", "/proc"}, []string{"EPERM"}},
	{"pivot_root", []string{"pivot_root"}, []string{"EPERM"}},
	{"unshare", []string{"unshare", "0x20000"}, []string{"EPERM"}},         // CLONE_NEWNS
	{"unshare-user", []string{"unshare", "0x10000000"}, []string{"EPERM"}}, // CLONE_NEWUSER
	{"clone-user", []string{"clone", "0x10000000"}, []string{"EPERM"}},     // CLONE_NEWUSER
	{"setns", []string{"setns", "mnt"}, []string{"EPERM"}},
	{"clone3", []string{"clone3"}, []string{"ENOSYS"}},
	// Past every arch's table (MIPS's start at 4000 and 5000), below x32's and ARM's
	// private numbers: a call newer than the table.
	{"syscall-newer", []string{"syscall", "0xfff0"}, []string{"ENOSYS"}},
	{"clone", []string{"clone", "0"}, []string{"ok"}},
	{"personality-query", []string{"personality", "0xffffffff"}, []string{"ok"}},
	{"personality-norandom", []string{"personality", "0x40000"}, []string{"EPERM"}}, // ADDR_NO_RANDOMIZE
	{"socket-vsock", []string{"socket", "40"}, []string{"EPERM"}},                   // AF_VSOCK
	{"escape", []string{"escape"}, []string{"contained", "chroot EPERM"}},
}

// Problem returns what is wrong with got as the answer to o, "" if nothing.
func (o Op) Problem(got string) string {
	if slices.Contains(o.Want, got) {
		return ""
	}
	return fmt.Sprintf("probe try %s = %q, want %s", strings.Join(o.Args, " "), got, strings.Join(o.Want, " or "))
}
