package main

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"launch/internal/probe/report"
)

// Operations against the user namespace (init/userns_test.go): what container root
// tries with the capabilities it has there.
func init() {
	moreOps["chown"] = func(a []string) string { // chown PATH UID GID
		return report.ErrName(os.Lchown(arg(a, 0), atoi(arg(a, 1)), atoi(arg(a, 2))))
	}
	moreOps["setresuid"] = func(a []string) string { // setresuid UID
		u := atoi(arg(a, 0))
		return report.ErrName(unix.Setresuid(u, u, u))
	}
	moreOps["setgroups"] = func(a []string) string { // setgroups GID...
		var gs []int
		for _, g := range a {
			gs = append(gs, atoi(g))
		}
		return report.ErrName(unix.Setgroups(gs))
	}
	moreOps["owner"] = func(a []string) string { // owner PATH: its uid:gid as the container sees them
		var st unix.Stat_t
		if err := unix.Lstat(arg(a, 0), &st); err != nil {
			return report.ErrName(err)
		}
		return strconv.FormatUint(uint64(st.Uid), 10) + ":" + strconv.FormatUint(uint64(st.Gid), 10)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func init() {
	// setattr-rw PATH: clear the read-only flag of the mount at PATH with
	// mount_setattr(2), through that mount's own descriptor.
	moreOps["setattr-rw"] = func(a []string) string {
		attr := unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY}
		return report.ErrName(unix.MountSetattr(unix.AT_FDCWD, arg(a, 0), 0, &attr))
	}
}
