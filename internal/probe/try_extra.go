package main

import (
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"launch/internal/probe/report"
)

// Operations of probe try added for the VM tests (internal/vminit), which check that a
// container can leave neither its namespaces nor its root, also when the host's / is
// an initramfs and the launcher could not use pivot_root(2).
//
//	try setns NS       join the namespace /proc/self/ns/NS (mnt, net, ...) again
//	try pivot_root     pivot_root(".", "."), as the launcher itself does
//	try escape         chroot into a subdirectory, climb with "..", and look where
//	                   that ends: "contained" or "escaped: <what it sees there>"
func init() {
	moreOps["setns"] = trySetns
	moreOps["pivot_root"] = tryPivotRoot
	moreOps["escape"] = tryEscape
}

// trySetns opens the namespace file of this very process and joins it. Even that is
// refused to a container: setns needs CAP_SYS_ADMIN, and the filter refuses the call.
func trySetns(a []string) string {
	fd, err := unix.Open("/proc/self/ns/"+arg(a, 0), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "open " + report.ErrName(err)
	}
	defer unix.Close(fd)
	return report.ErrName(unix.Setns(fd, 0))
}

func tryPivotRoot([]string) string {
	return report.ErrName(unix.PivotRoot(".", "."))
}

// tryEscape is the classic way out of a chroot (chroot(2), NOTES): a process that may
// chroot makes a subdirectory its root while its working directory stays outside,
// and from there ".." is no longer stopped at the root. The climb ends at the top of
// the mount tree the container can reach; if that is not the container's own root,
// the container sees something of the host. It needs CAP_SYS_CHROOT; without it the
// answer is "chroot EPERM". The process's root is changed for good: run it alone.
func tryEscape([]string) string {
	var root, top unix.Stat_t
	if err := unix.Stat("/", &root); err != nil {
		return "stat / " + report.ErrName(err)
	}
	if failed := chrootBelow("escape-"); failed != "" {
		return failed
	}
	if err := climb(); err != nil {
		return "chdir .. " + report.ErrName(err)
	}
	if err := unix.Stat(".", &top); err != nil {
		return "stat . " + report.ErrName(err)
	}
	if top.Dev == root.Dev && top.Ino == root.Ino {
		return "contained"
	}
	names := []string{}
	if f, err := os.Open("."); err == nil {
		names, _ = f.Readdirnames(-1)
		f.Close()
	}
	sort.Strings(names)
	return "escaped: " + strings.Join(names, " ")
}
