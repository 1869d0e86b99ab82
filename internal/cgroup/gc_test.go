package cgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseName(t *testing.T) {
	for _, tt := range []struct {
		name       string
		pid        int
		start      uint64
		old, valid bool
	}{
		{"launch-12-345-4026531836", 12, 345, false, true},
		{"launch-12-345", 12, 345, true, true},
		{"launch-12", 0, 0, false, false},
		{"launch-12-345-1-2", 0, 0, false, false},
		{"launch-0-345", 0, 0, false, false},
		{"launch-012-345", 0, 0, false, false},
		{"launch-12--1", 0, 0, false, false},
		{"launch-supervisor", 0, 0, false, false},
		{"launch-test-gc-1", 0, 0, false, false},
		{"other-12-345", 0, 0, false, false},
	} {
		pid, start, old, ok := parseName(tt.name)
		if pid != tt.pid || start != tt.start || old != tt.old || ok != tt.valid {
			t.Errorf("parseName(%q) = %d, %d, %v, %v; want %d, %d, %v, %v", tt.name, pid, start, old, ok, tt.pid, tt.start, tt.old, tt.valid)
		}
	}
	name, err := Name()
	if err != nil {
		t.Fatal(err)
	}
	if pid, _, old, ok := parseName(name); !ok || old || pid != os.Getpid() {
		t.Errorf("Name() = %q: parseName gives pid %d, old %v, valid %v", name, pid, old, ok)
	}
}

// testLayout returns the host's layout with every hierarchy's Parent a cgroup of the
// test's own, made below the test's cgroup: launch's GC on this machine (the test's
// and any other launcher's) looks below Parent, and other launchers look elsewhere.
// The cleanup removes whatever the test left there.
func testLayout(t *testing.T) *Layout {
	t.Helper()
	l := hostLayout(t)
	name := "launch-test-gc-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	hs := slices.Clone(l.V1)
	l.V1 = hs
	var all []*Hierarchy
	for i := range l.V1 {
		all = append(all, &l.V1[i])
	}
	if l.V2 != nil {
		v2 := *l.V2
		l.V2 = &v2
		all = append(all, l.V2)
	}
	for _, h := range all {
		dir := filepath.Join(h.Dir, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if h.Has("cpuset") {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, _ := readFile(h.Dir, f)
				writeFile(dir, f, strings.TrimSpace(v))
			}
		}
		h.Parent = dir
		t.Cleanup(func() {
			names, _ := os.ReadDir(dir)
			for _, n := range names {
				if n.IsDir() {
					os.Remove(filepath.Join(dir, n.Name()))
				}
			}
			if err := os.Remove(dir); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
	}
	return l
}

// dropLocks does to c what the death of its launcher does: its lock files close.
func dropLocks(c *Cgroups) {
	c.Close()
	for _, m := range c.made {
		unix.Close(m.fd)
	}
	c.made = nil
}

// leftFor returns the reasons GC gave for leaving each of dirs, "" for one not left.
func leftFor(c Collected, dirs []string) []string {
	var out []string
	for _, d := range dirs {
		why := ""
		for _, l := range c.Left {
			if l.Dir == d {
				why = l.Why
			}
		}
		out = append(out, why)
	}
	return out
}

// TestGCLock: the cgroups of a live launcher are left, whatever they hold (here:
// nothing, as between mkdir and clone); once its locks are gone, they are removed and
// reported. Nothing is read from /proc: the same holds in any PID namespace.
func TestGCLock(t *testing.T) {
	l := testLayout(t)
	c, err := Create(l, NameFor(os.Getpid(), 1, 2), seedLimits)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	c.Close()
	dirs := c.Dirs()
	got, err := GC(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Removed) > 0 {
		t.Errorf("GC removed %v of a running launcher", got.Removed)
	}
	for i, why := range leftFor(got, dirs) {
		if why != InUse {
			t.Errorf("GC left %s with %q, want %q", dirs[i], why, InUse)
		}
		if _, err := os.Stat(dirs[i]); err != nil {
			t.Errorf("%s of a running launcher: %v", dirs[i], err)
		}
	}

	dropLocks(c)
	got, err = GC(l)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got.Removed)
	slices.Sort(dirs)
	if !slices.Equal(got.Removed, dirs) || len(got.Left) > 0 {
		t.Errorf("GC after the launcher's end: removed %v, left %v; want removed %v", got.Removed, got.Left, dirs)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s remains", d)
		}
	}
}

// sleeper starts a process for the test and stops it at the end.
func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// TestGCOccupied: a cgroup that no launcher holds but a process is in (a launcher
// killed, and something of its container still running) is left and reported, and
// its process lives on; removed once the process is gone.
func TestGCOccupied(t *testing.T) {
	l := testLayout(t)
	c, err := Create(l, NameFor(os.Getpid(), 3, 4), seedLimits)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	dirs := c.Dirs()
	s := sleeper(t)
	for _, d := range dirs {
		if err := writeFile(d, "cgroup.procs", strconv.Itoa(s.Process.Pid)); err != nil {
			t.Fatal(err)
		}
	}
	dropLocks(c)
	got, err := GC(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Removed) > 0 {
		t.Errorf("GC removed %v, which hold a process", got.Removed)
	}
	for i, why := range leftFor(got, dirs) {
		if !strings.HasPrefix(why, "holds processes") {
			t.Errorf("GC left %s with %q, want \"holds processes...\"", dirs[i], why)
		}
	}
	if err := s.Process.Signal(unix.Signal(0)); err != nil {
		t.Fatalf("the process in the cgroups: %v", err)
	}
	s.Process.Kill()
	s.Wait()
	got, err = GC(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Removed) != len(dirs) {
		t.Errorf("GC once the process is gone: removed %v, left %v; want %v", got.Removed, got.Left, dirs)
	}
}

// TestGCOldNames: a cgroup named by a launcher before the lock (launch-PID-START) is
// left while its launcher runs in this PID namespace, and for oldGrace after it was
// made, as such a launcher may be about to start its container there from another
// PID namespace; removed after that.
func TestGCOldNames(t *testing.T) {
	l := testLayout(t)
	h := l.V1[0]
	self, err := StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(h.Parent, "launch-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(self, 10))
	other := filepath.Join(h.Parent, "launch-1-1") // pid 1 did not start at tick 1
	for _, d := range []string{mine, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got, err := GC(l)
	if err != nil {
		t.Fatal(err)
	}
	why := leftFor(got, []string{mine, other})
	if why[0] != InUse || !strings.Contains(why[1], "without lock") || len(got.Removed) > 0 {
		t.Errorf("GC of new old-style cgroups: removed %v, left %v", got.Removed, got.Left)
	}
	past := time.Now().Add(-2 * oldGrace)
	for _, d := range []string{mine, other} {
		if err := os.Chtimes(d, past, past); err != nil {
			t.Fatal(err)
		}
	}
	got, err = GC(l)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Removed, []string{other}) || leftFor(got, []string{mine})[0] != InUse {
		t.Errorf("GC of old old-style cgroups: removed %v, left %v; want %s removed and %s left", got.Removed, got.Left, other, mine)
	}
}

// TestDestroyRetries: a cgroup that cannot be removed stays listed, the error names
// it, and the next Destroy removes it.
func TestDestroyRetries(t *testing.T) {
	l := testLayout(t)
	c, err := Create(l, NameFor(os.Getpid(), 5, 6), seedLimits)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	stuck := c.Dirs()[0]
	// A cgroup below it makes rmdir(2) fail with EBUSY, with no process to kill.
	below := filepath.Join(stuck, "below")
	if err := os.Mkdir(below, 0o755); err != nil {
		t.Fatal(err)
	}
	err = c.Destroy()
	if err == nil || !strings.Contains(err.Error(), stuck) {
		t.Errorf("Destroy with %s busy = %v, want an error naming it", stuck, err)
	}
	if got := c.Dirs(); !slices.Equal(got, []string{stuck}) {
		t.Errorf("after a failed Destroy, Dirs() = %v, want [%s]", got, stuck)
	}
	if err := os.Remove(below); err != nil {
		t.Fatal(err)
	}
	if err := c.Destroy(); err != nil {
		t.Errorf("Destroy again: %v", err)
	}
	if _, err := os.Stat(stuck); err == nil {
		t.Errorf("%s remains after the second Destroy", stuck)
	}
}

// TestDestroyLeavesOthers: a cgroup that someone removed behind the launcher's back,
// and whose name someone else took since, is not the launcher's to kill in or remove.
func TestDestroyLeavesOthers(t *testing.T) {
	l := testLayout(t)
	c, err := Create(l, NameFor(os.Getpid(), 7, 8), seedLimits)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	dir := c.Dirs()[0]
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := sleeper(t)
	if err := writeFile(dir, "cgroup.procs", strconv.Itoa(s.Process.Pid)); err != nil {
		t.Fatal(err)
	}
	if err := c.Destroy(); err != nil {
		t.Errorf("Destroy: %v", err)
	}
	if err := s.Process.Signal(unix.Signal(0)); err != nil {
		t.Errorf("the process in the cgroup that took the name: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the cgroup that took the name: %v", err)
	}
	// Once the process is reaped, it has left the cgroup.
	s.Process.Kill()
	s.Wait()
	if err := os.Remove(dir); err != nil {
		t.Errorf("remove the cgroup once its process is gone: %v", err)
	}
}
