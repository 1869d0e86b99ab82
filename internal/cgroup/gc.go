package cgroup

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/rawfile"
)

// oldGrace is how long the GC leaves an empty cgroup named by a launcher of a version
// before the lock (launch-PID-START), which holds no lock: such a launcher may be
// between making its cgroups and starting its container in them, which takes
// milliseconds, in a PID namespace where its pid means nothing.
const oldGrace = 10 * time.Second

// A Leftover is a cgroup of launch that GC found and left, and why.
type Leftover struct {
	Dir, Why string
}

// Collected is what GC did: the cgroups it removed and those it left.
type Collected struct {
	Removed []string
	Left    []Leftover
}

// GC removes the cgroups that launchers which no longer exist (killed with SIGKILL,
// say) left behind, where Create would make them: below each hierarchy's Parent,
// and, when that is the launcher's own cgroup, on v2 below its ancestors too, where
// versions of launch before the lock made them. It removes a cgroup only if no
// launcher holds its lock (see lock.go) and no process is in it, and never kills. A
// cgroup it leaves is reported with the reason; an error is a failure to look.
func GC(l *Layout) (Collected, error) {
	type place struct {
		dir string
		v2  bool
	}
	var places []place
	for _, h := range l.V1 {
		places = append(places, place{h.Parent, false})
	}
	if h := l.V2; h != nil {
		places = append(places, place{h.Parent, true})
		if h.Parent == h.Dir {
			for d := h.Dir; d != h.Mount && d != "/"; {
				d = path.Dir(d)
				places = append(places, place{d, true})
			}
		}
	}
	var (
		c    Collected
		errs []error
	)
	// The names' end for launchers of this PID namespace, whose pids this GC can
	// look up.
	ns := ""
	var st unix.Stat_t
	if unix.Stat("/proc/self/ns/pid", &st) == nil {
		ns = "-" + strconv.FormatUint(st.Ino, 10)
	}
	for _, p := range places {
		names, err := rawfile.ReadDirNames(p.dir)
		if err != nil {
			continue
		}
		for _, name := range names {
			pid, start, old, ok := parseName(name)
			if !ok {
				continue
			}
			dir := filepath.Join(p.dir, name)
			why := ""
			switch {
			case old:
				why = oldLeft(dir, pid, start)
			case ns != "" && strings.HasSuffix(name, ns) && Running(pid, start):
				// Its launcher runs: it may be between its mkdir and its lock,
				// where the lock alone would not keep this GC from removing it (20
				// launchers started at once saw one of them lose three times).
				why = InUse
			}
			if why == "" {
				var err error
				if why, err = collect(dir, p.v2); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			switch why {
			case "":
				c.Removed = append(c.Removed, dir)
			case gone:
			default:
				c.Left = append(c.Left, Leftover{dir, why})
			}
		}
	}
	return c, errors.Join(errs...)
}

// InUse is GC's reason for leaving a cgroup whose launcher holds it.
const InUse = "in use: its launcher runs"

// gone is collect's answer for a cgroup that someone else removed meanwhile.
const gone = "gone"

// collect removes the cgroup dir if it is free: it returns "" if it did, gone if the
// cgroup was not there any more, or why it left it.
func collect(dir string, v2 bool) (string, error) {
	file := filepath.Join(dir, lockFile(v2))
	fd, err := unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return gone, nil
	}
	if err != nil {
		return "", &os.PathError{Op: "open", Path: file, Err: err}
	}
	// Closing drops the lock, after the rmdir.
	defer unix.Close(fd)
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); errors.Is(err, unix.EWOULDBLOCK) {
		return InUse, nil
	} else if err != nil {
		return "", &os.PathError{Op: "lock", Path: file, Err: err}
	}
	if busy, err := populated(dir, v2); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return gone, nil
		}
		return "", err
	} else if busy {
		return occupied, nil
	}
	// rmdir(2) removes only a cgroup without processes and without cgroups below it,
	// whatever the checks above saw.
	switch err := unix.Rmdir(dir); {
	case err == nil:
		return "", nil
	case errors.Is(err, unix.ENOENT):
		return gone, nil
	case errors.Is(err, unix.EBUSY):
		if names, _ := rawfile.ReadDirNames(dir); slices.ContainsFunc(names, func(n string) bool { return isDir(filepath.Join(dir, n)) }) {
			return "busy: it has cgroups below it", nil
		}
		return occupied, nil
	default:
		return "", &os.PathError{Op: "remove cgroup", Path: dir, Err: err}
	}
}

// occupied is GC's reason for leaving a cgroup that no launcher holds but that is not
// empty. On v1 the processes of other PID namespaces are not listed: rmdir(2) tells.
const occupied = "holds processes, but no launcher holds it: stop them to have it removed"

// populated reports whether any process is in the cgroup dir: on v2 in it or below it
// (cgroup.events, which counts every process), on v1 in it as far as the caller's PID
// namespace shows them (cgroup.procs).
func populated(dir string, v2 bool) (bool, error) {
	if v2 {
		data, err := readFile(dir, "cgroup.events")
		return keyValue(data, "populated") != "0", err
	}
	data, err := readFile(dir, "cgroup.procs")
	return strings.TrimSpace(data) != "", err
}

// oldLeft returns why the GC leaves dir, a cgroup named by a launcher before the lock,
// or "" if it may go if free: its launcher runs in this PID namespace, or it was made
// less than oldGrace ago.
func oldLeft(dir string, pid int, start uint64) string {
	if st, err := StartTime(pid); err == nil && st == start {
		return InUse
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return gone
	}
	// cgroupfs stamps a directory when it is made (or first looked up, which is later).
	if age := time.Since(time.Unix(st.Mtim.Unix())); age < oldGrace {
		return "made " + strconv.Itoa(int(age.Seconds())) + " s ago by a launcher without lock, which may still be starting"
	}
	return ""
}
