package mount

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestNewTargetSlots: a target is prepared relative to the mount of its slot: its path
// below that mount, its parent directory and last component there, and its components.
func TestNewTargetSlots(t *testing.T) {
	for _, tt := range []struct {
		base              int
		path              string
		rel, parent, name string
		comps             string // joined by spaces
	}{
		{SlotRoot, "/", ".", ".", ".", ""},
		{SlotRoot, "/tmp", "tmp", ".", "tmp", "tmp"},
		{SlotRoot, "/dev/pts", "dev/pts", "dev", "pts", "dev pts"},
		{SlotRoot, "/a/b/c", "a/b/c", "a/b", "c", "a b c"},
		{SlotProc, "/proc", ".", ".", ".", ""},
		{SlotProc, "/proc/sys", "sys", ".", "sys", "sys"},
		{SlotProc, "/proc/sys/kernel/hostname", "sys/kernel/hostname", "sys/kernel", "hostname", "sys kernel hostname"},
		{SlotDev, "/dev/shm", "shm", ".", "shm", "shm"},
		{SlotSys, "/sys/fs/cgroup", "fs/cgroup", "fs", "cgroup", "fs cgroup"},
		{SlotSys, "/sys/kernel/vmcoreinfo", "kernel/vmcoreinfo", "kernel", "vmcoreinfo", "kernel vmcoreinfo"},
		{SlotCgroup, "/sys/fs/cgroup", ".", ".", ".", ""},
		{SlotCgroup, "/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct", ".", "cpu,cpuacct", "cpu,cpuacct"},
	} {
		tg, err := newTarget(tt.base, tt.path, InRoot, CreateDir)
		if err != nil {
			t.Errorf("newTarget(%s, %q) = %v, want no error", slotPath[tt.base], tt.path, err)
			continue
		}
		var comps []string
		for _, c := range tg.comps {
			comps = append(comps, unix.BytePtrToString(c))
		}
		got := []string{unix.BytePtrToString(tg.rel), unix.BytePtrToString(tg.parent), unix.BytePtrToString(tg.name), strings.Join(comps, " ")}
		want := []string{tt.rel, tt.parent, tt.name, tt.comps}
		if strings.Join(got, "|") != strings.Join(want, "|") || tg.Path != tt.path || tg.base != tt.base {
			t.Errorf("newTarget(%s, %q) = rel, parent, name, comps %q (path %q, slot %d), want %q", slotPath[tt.base], tt.path,
				got, tg.Path, tg.base, want)
		}
		if tg.resolve != InRoot || tg.create != CreateDir {
			t.Errorf("newTarget(%s, %q): resolve %#x, create %#o; want InRoot and CreateDir", slotPath[tt.base], tt.path, tg.resolve, tg.create)
		}
	}
}

// TestNewTargetErrors: a path that is not clean and absolute, holds a NUL byte, or is
// not below its slot's mount is refused.
func TestNewTargetErrors(t *testing.T) {
	for _, tt := range []struct {
		base int
		path string
	}{
		{SlotRoot, ""},
		{SlotRoot, "tmp"},       // relative
		{SlotRoot, "./tmp"},     // relative
		{SlotRoot, "/a/../b"},   // not clean: ".." would climb
		{SlotRoot, "/a/./b"},    // not clean
		{SlotRoot, "/a/"},       // not clean
		{SlotRoot, "//a"},       // not clean
		{SlotRoot, "/a\x00b"},   // a NUL byte would end the C string early
		{SlotProc, "/procx"},    // beside /proc, not below it
		{SlotProc, "/sys/x"},    // another slot's
		{SlotDev, "/"},          // above /dev
		{SlotSys, "/sysfs"},     // beside /sys
		{SlotCgroup, "/sys/fs"}, // above the cgroup mount
		{SlotCgroup, "/sys/fs/cgroupx/memory"},
	} {
		if tg, err := newTarget(tt.base, tt.path, NoSymlinks, MustExist); err == nil {
			t.Errorf("newTarget(%s, %q) = %+v, want an error", slotPath[tt.base], tt.path, tg)
		}
	}
	if _, err := NewTarget("/proc/sys", NoSymlinks, MustExist); err != nil {
		t.Errorf("NewTarget(/proc/sys) = %v, want no error", err)
	}
}
