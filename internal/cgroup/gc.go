package cgroup

import (
	"errors"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"launch/internal/rawfile"
)

// parseName returns the pid and start time a cgroup named launch-PID-START carries.
func parseName(name string) (pid int, start uint64, ok bool) {
	rest, ok := strings.CutPrefix(name, "launch-")
	p, s, ok2 := strings.Cut(rest, "-")
	if !ok || !ok2 {
		return 0, 0, false
	}
	pid, err := strconv.Atoi(p)
	if err != nil || pid <= 0 || strconv.Itoa(pid) != p {
		return 0, 0, false
	}
	start, err = strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(start, 10) != s {
		return 0, 0, false
	}
	return pid, start, true
}

// StartTime returns field 22 of /proc/PID/stat, the process's start time in clock
// ticks after boot: with the pid it names a process uniquely, pid reuse included.
func StartTime(pid int) (uint64, error) {
	data, err := rawfile.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may contain anything, so
	// count fields from the last ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, errors.New("/proc/" + strconv.Itoa(pid) + "/stat: no command field")
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return 0, errors.New("/proc/" + strconv.Itoa(pid) + "/stat: " + strconv.Itoa(len(f)) + " fields after the command")
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// alive reports whether the launcher that named a cgroup launch-PID-START still runs.
func alive(pid int, start uint64) bool {
	st, err := StartTime(pid)
	return err == nil && st == start
}

// GC removes the cgroups that launchers which no longer exist (killed with SIGKILL,
// say) left behind, where Create would make them: below each hierarchy's Parent, and,
// when that is the launcher's own cgroup, on v2 below its ancestors too, where earlier
// versions of launch made them. It returns what it removed.
func GC(l *Layout) ([]string, error) {
	var dirs []string
	for _, h := range l.V1 {
		dirs = append(dirs, h.Parent)
	}
	if h := l.V2; h != nil {
		dirs = append(dirs, h.Parent)
		if h.Parent == h.Dir {
			for d := h.Dir; d != h.Mount && d != "/"; {
				d = path.Dir(d)
				dirs = append(dirs, d)
			}
		}
	}
	var (
		removed []string
		errs    []error
	)
	for _, dir := range dirs {
		names, err := rawfile.ReadDirNames(dir)
		if err != nil {
			continue
		}
		for _, name := range names {
			pid, start, ok := parseName(name)
			if !ok || alive(pid, start) {
				continue
			}
			p := filepath.Join(dir, name)
			if err := removeCgroup(p); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, p)
		}
	}
	return removed, errors.Join(errs...)
}
