package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/errs"
	"launch/internal/rawfile"
)

// Who may remove a container's cgroup. A launcher holds an exclusive flock(2) on a file
// of each cgroup it made, from the moment the directory exists until it has removed
// it: the v1 tasks file or the v2 cgroup.procs, the very descriptors the child joins
// through. A lock belongs to an open file, not to a pid, so it means the same in every
// PID namespace, and the kernel drops it when the launcher dies, however it dies. The
// GC (gc.go) removes a cgroup only if it can take that lock and the cgroup holds no
// process; it never kills.
//
// Between mkdir(2) and flock(2) a cgroup is empty and unlocked. A GC that removes it
// then leaves the launcher a lock on a file that no directory holds any more; so the
// launcher checks, once it holds the lock, that the path still leads to the file it
// locked, and makes the cgroup again if not.

// lockFile is the file of a cgroup that its launcher keeps locked.
func lockFile(v2 bool) string {
	if v2 {
		return "cgroup.procs"
	}
	return "tasks"
}

// A made is a cgroup that Create made and that its launcher holds.
type made struct {
	dir  string
	file string // dir's lock file
	fd   int    // the lock file, open for writing (the child joins through it), locked
}

// mkdirLocked makes the cgroup dir and returns it locked. The error names the step
// and the path.
func mkdirLocked(dir string, v2 bool) (made, error) {
	m := made{dir: dir, file: filepath.Join(dir, lockFile(v2)), fd: -1}
	for try := 0; ; try++ {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return m, errs.Wrap("create cgroup", err)
		}
		fd, err := unix.Open(m.file, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			m.fd = fd
			err = lock(fd, m.file)
		}
		if err == nil && m.ours() {
			return m, nil
		}
		if m.fd >= 0 {
			unix.Close(m.fd)
			m.fd = -1
		}
		if err == nil {
			// A GC removed the cgroup between mkdir and flock: make it again.
			err = &os.PathError{Op: "lock cgroup", Path: dir, Err: errors.New("removed while being made")}
		} else if !errors.Is(err, unix.ENOENT) {
			unix.Rmdir(dir)
			return m, err
		}
		if try == 2 {
			return m, err
		}
	}
}

// lock takes the exclusive lock on fd, the open file path. A GC holds it for the
// moment it takes to look at the cgroup and remove it, so a refusal is retried for
// up to about a second.
func lock(fd int, path string) error {
	delay := 100 * time.Microsecond
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || delay > 250*time.Millisecond {
			return &os.PathError{Op: "lock", Path: path, Err: err}
		}
		time.Sleep(delay)
		delay *= 2
	}
}

// ours reports whether m.dir is still the cgroup whose lock file m holds: the path
// leads to the same inode. It is not when the cgroup was removed (by anyone, as the
// lock binds only those who ask for it), whatever has taken its name since.
func (m made) ours() bool {
	var held, now unix.Stat_t
	if unix.Fstat(m.fd, &held) != nil || unix.Stat(m.file, &now) != nil {
		return false
	}
	return held.Dev == now.Dev && held.Ino == now.Ino
}

// Name returns the cgroup name of the calling launcher:
// launch-<pid>-<start time>-<PID namespace>. The pid and its start time (field 22 of
// /proc/self/stat, in clock ticks after boot) name the launcher within its PID
// namespace, pid reuse included; the inode number of the namespace makes the name
// unique on the host, where launchers in two namespaces can have the same pid.
func Name() (string, error) {
	start, err := startTime("self")
	if err != nil {
		return "", err
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return "", &os.PathError{Op: "stat", Path: "/proc/self/ns/pid", Err: err}
	}
	return NameFor(os.Getpid(), start, st.Ino), nil
}

// NameFor returns the cgroup name of the launcher with the given pid, start time and
// PID namespace inode.
func NameFor(pid int, start, pidns uint64) string {
	return "launch-" + strconv.Itoa(pid) + "-" + strconv.FormatUint(start, 10) + "-" + strconv.FormatUint(pidns, 10)
}

// parseName returns the pid and start time a cgroup name of launch carries, and whether
// it is of the form of launchers before the lock (launch-PID-START, without the PID
// namespace), which hold no lock on their cgroups.
func parseName(name string) (pid int, start uint64, old, ok bool) {
	rest, found := strings.CutPrefix(name, "launch-")
	f := strings.Split(rest, "-")
	if !found || len(f) < 2 || len(f) > 3 {
		return 0, 0, false, false
	}
	for _, s := range f {
		if n, err := strconv.ParseUint(s, 10, 64); err != nil || strconv.FormatUint(n, 10) != s {
			return 0, 0, false, false
		}
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return 0, 0, false, false
	}
	start, _ = strconv.ParseUint(f[1], 10, 64)
	return pid, start, len(f) == 2, true
}

// StartTime returns field 22 of /proc/PID/stat, the process's start time in clock
// ticks after boot: with the pid it names a process uniquely, pid reuse included.
func StartTime(pid int) (uint64, error) { return startTime(strconv.Itoa(pid)) }

func startTime(pid string) (uint64, error) {
	_, start, err := procStat(pid)
	return start, err
}

// Running reports whether process pid runs (is not a zombie) and has the start time
// start: whether it is still the process that start was read of.
func Running(pid int, start uint64) bool {
	state, t, err := procStat(strconv.Itoa(pid))
	return err == nil && state != "Z" && state != "X" && t == start
}

// procStat returns the state (field 3) and start time (field 22) of /proc/PID/stat.
func procStat(pid string) (string, uint64, error) {
	p := "/proc/" + pid + "/stat"
	data, err := rawfile.ReadFile(p)
	if err != nil {
		return "", 0, err
	}
	// The command name (field 2) is in parentheses and may contain anything, so
	// count fields from the last ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return "", 0, errors.New(p + ": no command field")
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return "", 0, errors.New(p + ": " + strconv.Itoa(len(f)) + " fields after the command")
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	return f[0], start, err
}
