package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/cgroup"
	"launch/internal/probe/report"
	"launch/internal/testutil"
)

// Faults and load: the launcher killed at random moments, a thousand launches in a
// row, twenty at once, and a temporary directory or ROOTFS that cannot be written.
// The long ones run a part of their counts unless LAUNCH_TEST_LONG=1 (make
// test-long; see testutil.Count).

// TestLoadKillLauncher: SIGKILL to the launcher at 100 random moments (20 in make
// test), half of them while it sets the container up (from its own start to the clone and the child's
// steps) and half while COMMAND runs, with and without --init. No process of the
// container survives its launcher: the test process is a child subreaper, so that any
// process orphaned by the kill becomes its child, where the test sees it and waits
// for it to die. After the next launch, which removes the cgroups the killed ones
// left, no mount, cgroup, temporary file or process of any of them remains.
func TestLoadKillLauncher(t *testing.T) {
	kills := testutil.Count(t, "kills", 20, 100)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	// How long setup takes here, from the launcher's start to COMMAND's first line
	// (the median of five): the kills during setup fall anywhere in that time.
	var times []time.Duration
	for i := 0; i < 5; i++ {
		start := time.Now()
		s := w.start(rootfs, "/probe", "signals")
		if l := s.line(t); l != "ready" {
			t.Fatalf("the container said %q; stderr %s", l, s.stderr)
		}
		times = append(times, time.Since(start))
		s.cmd.Process.Kill()
		s.cmd.Wait()
		for _, pid := range children(os.Getpid()) {
			reaped(pid)
		}
	}
	slices.Sort(times)
	setup := times[len(times)/2]
	seed := time.Now().UnixNano()
	t.Logf("seed %d; setup takes %v here", seed, setup.Round(time.Microsecond))
	rng := rand.New(rand.NewSource(seed))
	orphans := [2]int{} // kills that orphaned a process, during setup and during the run
	for i := 0; i < kills; i++ {
		var opts []string
		if i%4 >= 2 {
			opts = []string{"--init"}
		}
		s := w.start(append(opts, rootfs, "/probe", "signals")...)
		running := i%2 == 1
		if !running {
			time.Sleep(time.Duration(rng.Int63n(int64(setup))))
		} else {
			if l := s.line(t); l != "ready" {
				t.Fatalf("trial %d: the container said %q; stderr %s", i, l, s.stderr)
			}
			time.Sleep(time.Duration(rng.Intn(5000)) * time.Microsecond)
		}
		s.cmd.Process.Kill()
		s.cmd.Wait()
		// Whatever the kill orphaned is the test's child now, and must die.
		kids := children(os.Getpid())
		if len(kids) > 0 {
			orphans[i%2]++
		}
		for _, pid := range kids {
			if !reaped(pid) {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				t.Errorf("trial %d (%v): process %d (%q) survived its launcher", i, opts, pid, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
				unix.Kill(pid, unix.SIGKILL)
				reaped(pid)
			}
		}
	}
	t.Logf("%d kills during setup, %d of them after the clone; %d during the run, %d orphaning the container; every orphan died",
		kills/2, orphans[0], kills/2, orphans[1])
	if r := w.run(rootfs, "/probe", "exit", "0"); r.code != 0 {
		t.Fatalf("next launch: exit %d, %s", r.code, r.stderr)
	}
	w.check()
}

// reaped waits, for up to ten seconds, until pid, a child of the test process, exits
// (see exited), and reaps it.
func reaped(pid int) bool {
	if !exited(pid, 10*time.Second) {
		return false
	}
	var ws unix.WaitStatus
	p, err := unix.Wait4(pid, &ws, unix.WNOHANG|unix.WALL, nil)
	return p == pid || err == unix.ECHILD
}

// A hostFigures is what a launch might leak, measured on the host.
type hostFigures struct {
	mounts       int // in the test's mount namespace
	cgroups      int // named launch-*, anyone's
	ours         int // of them, made by this test's launchers
	fds          int // of the test process
	zombies      int // children of the test process not yet reaped
	allZombies   int // on the machine
	memAvailable int64
	memcgs       int   // memory cgroups in /proc/cgroups, removed ones still in use included
	memcgUsage   int64 // memory charged to the test's own memory cgroup, -1 if unknown
}

func measure(t *testing.T, w *watch) hostFigures {
	t.Helper()
	var f hostFigures
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	f.mounts = bytes.Count(mi, []byte{'\n'})
	f.cgroups = len(snapshot(t).cgroups)
	f.ours = len(w.cgroups())
	fds, _ := os.ReadDir("/proc/self/fd")
	f.fds = len(fds) - 1 // the listing's own
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		state, ppid := procState(e.Name())
		if state != 'Z' {
			continue
		}
		f.allZombies++
		if ppid == strconv.Itoa(os.Getpid()) {
			f.zombies++
		}
	}
	mem, _ := os.ReadFile("/proc/meminfo")
	f.memAvailable = int64(meminfoKB(string(mem))["MemAvailable"]) << 10
	f.memcgUsage = ownMemoryUsage(t)
	cgs, _ := os.ReadFile("/proc/cgroups")
	for _, l := range strings.Split(string(cgs), "\n") {
		if c := strings.Fields(l); len(c) == 4 && c[0] == "memory" {
			f.memcgs, _ = strconv.Atoi(c[2])
		}
	}
	return f
}

// ownMemoryUsage returns the memory charged to the test process's memory cgroup,
// which holds the cgroups of the launchers and containers it starts, and, once those
// are removed, what they left charged. Another process on the machine can make it
// shrink (by reclaim), not grow.
func ownMemoryUsage(t *testing.T) int64 {
	mi, err1 := os.ReadFile("/proc/self/mountinfo")
	cg, err2 := os.ReadFile("/proc/self/cgroup")
	if err1 != nil || err2 != nil {
		return -1
	}
	l, err := cgroup.Detect(mi, cg)
	if err != nil {
		return -1
	}
	var file string
	for _, h := range l.V1 {
		if h.Has("memory") {
			file = filepath.Join(h.Dir, "memory.usage_in_bytes")
		}
	}
	if file == "" && l.V2 != nil {
		file = filepath.Join(l.V2.Dir, "memory.current")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// TestLoadSequential: a thousand launches (a hundred in make test), one after the
// other. At the end the host has the same mounts, no cgroup of theirs, the test
// process the same descriptors and no zombie, and about as much memory available as
// before.
//
// MemAvailable is the kernel's estimate for the whole machine: it moves with the page
// cache, the slab caches and whatever else runs, and removed memory cgroups linger
// while pages are still charged to them. It may drop by 64 MiB, 64 KiB a launch of
// the thousand: what is left of a launch that leaks its namespaces or its cgroups
// (their kernel objects, a tmpfs, per-CPU statistics) is more than that. (A hundred
// launches find a leak of 640 KiB a launch.) On a machine shared with other
// work, MemAvailable also moves with that work: a larger drop fails the test only if
// the test's own memory cgroup, which is charged with what the launchers and
// containers allocate and leave behind, grew by as much.
func TestLoadSequential(t *testing.T) {
	launches := testutil.Count(t, "launches", 100, 1000)
	const warmup = 20
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	for i := 0; i < warmup; i++ { // page cache and slab caches settle
		w.run(rootfs, "/probe", "exit", "0")
	}
	before := measure(t, w)
	start := time.Now()
	for i := 0; i < launches; i++ {
		if r := w.run(rootfs, "/probe", "exit", "0"); r.code != 0 {
			t.Fatalf("launch %d: exit %d, %s", i, r.code, r.stderr)
		}
	}
	elapsed := time.Since(start)
	after := measure(t, w)
	t.Logf("%d launches in %v, %v each", launches, elapsed.Round(time.Millisecond), (elapsed / time.Duration(launches)).Round(time.Microsecond))
	t.Logf("before: %+v", before)
	t.Logf("after:  %+v", after)
	t.Logf("MemAvailable %+d KiB, the test's memory cgroup %+d KiB, memory cgroups %+d, cgroups named launch-* %+d (of this test's launchers: %d)",
		(after.memAvailable-before.memAvailable)>>10, (after.memcgUsage-before.memcgUsage)>>10, after.memcgs-before.memcgs,
		after.cgroups-before.cgroups, after.ours)
	if after.mounts != before.mounts {
		t.Errorf("mounts: %d, were %d", after.mounts, before.mounts)
	}
	if after.ours != 0 {
		t.Errorf("%d cgroups of this test's launchers remain", after.ours)
	}
	if after.fds != before.fds {
		t.Errorf("descriptors of the test process: %d, were %d", after.fds, before.fds)
	}
	if after.zombies != 0 {
		t.Errorf("%d zombie children of the test process", after.zombies)
	}
	const tolerance = 64 << 20
	if drop := before.memAvailable - after.memAvailable; drop > tolerance {
		grew := after.memcgUsage - before.memcgUsage
		if before.memcgUsage < 0 || after.memcgUsage < 0 || grew > tolerance {
			t.Errorf("MemAvailable dropped by %d MiB over %d launches, more than 64 MiB; the test's memory cgroup grew by %d MiB",
				drop>>20, launches, grew>>20)
		} else {
			t.Logf("MemAvailable dropped by %d MiB, but the test's memory cgroup changed by %+d MiB only: other work on the machine", drop>>20, grew>>20)
		}
	}
	w.check()
}

// TestLoadConcurrent: twenty launches at once, three times over (once in make test).
// Each succeeds and sees its own hostname and its own memory and pids limits.
func TestLoadConcurrent(t *testing.T) {
	rounds := testutil.Count(t, "rounds of 20 launches at once", 1, 3)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	for round := 0; round < rounds; round++ {
		var wg sync.WaitGroup
		errs := make([]string, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				host := fmt.Sprintf("box-%d-%d", round, i)
				mem, pids := (64+i)<<20, 20+i
				r, err := w.exec(launchIO{}, "--hostname", host, "--memory", fmt.Sprint(mem), "--pids", fmt.Sprint(pids), rootfs, "/probe", "report")
				if err != nil || r.code != 0 {
					errs[i] = fmt.Sprintf("%s: exit %d, %v, stderr %q", host, r.code, err, r.stderr)
					return
				}
				var rep report.Report
				if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
					errs[i] = fmt.Sprintf("%s: %v", host, err)
					return
				}
				var bad []string
				if rep.Hostname != host {
					bad = append(bad, fmt.Sprintf("hostname %q", rep.Hostname))
				}
				memFile := "memory.limit_in_bytes"
				if limit(t, rep.Limits, memFile) == "(absent)" {
					memFile = "memory.max" // cgroup v2
				}
				for file, want := range map[string]string{memFile: fmt.Sprint(mem), "pids.max": fmt.Sprint(pids)} {
					if got := limit(t, rep.Limits, file); got != want {
						bad = append(bad, fmt.Sprintf("%s %s, want %s", file, got, want))
					}
				}
				if len(bad) > 0 {
					errs[i] = host + ": " + strings.Join(bad, "; ")
				}
			}()
		}
		wg.Wait()
		for _, e := range errs {
			if e != "" {
				t.Errorf("round %d: %s", round, e)
			}
		}
	}
	w.check()
}

// TestLoadUnwritableTmp: the launcher writes no temporary file, so a TMPDIR that is
// read-only, or on a full file system, changes nothing: it starts the container as
// usual and leaves the directory as it was. The file systems are mounted in the
// test's own mount namespace, in a new directory below /var/tmp.
func TestLoadUnwritableTmp(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	base, err := os.MkdirTemp("/var/tmp", "launch-test-tmpdirs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	readOnly, full := filepath.Join(base, "read-only"), filepath.Join(base, "full")
	mountTmpfs(t, readOnly, unix.MS_RDONLY, "size=64k,nr_inodes=64")
	mountTmpfs(t, full, 0, "size=64k,nr_inodes=64")
	fill(t, full)
	w.before = snapshot(t) // with the two mounts
	for _, dir := range []string{readOnly, full} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			before := listing(t, dir)
			r := w.runWith(launchIO{env: []string{"TMPDIR=" + dir}}, rootfs, "/probe", "exit", "0")
			if r.code != 0 {
				t.Errorf("TMPDIR %s: exit %d, stderr %q; want 0", dir, r.code, r.stderr)
			}
			if after := listing(t, dir); after != before {
				t.Errorf("TMPDIR %s changed:\n%s\nwas\n%s", dir, after, before)
			}
		})
	}
	w.check()
}

// TestLoadUnwritableRootfs: launch writes into ROOTFS only the mount points it lacks.
// On a full file system, a complete ROOTFS starts as usual; one that lacks /tmp fails
// with ENOSPC, and on a read-only one with EROFS and a hint, each naming the path.
// Nothing is left in ROOTFS or on the host.
func TestLoadUnwritableRootfs(t *testing.T) {
	w := newWatch(t)
	base, err := os.MkdirTemp("/var/tmp", "launch-test-rootfs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	for _, tt := range []struct {
		name     string
		noTmp    bool
		readOnly bool
		code     int
		want     string
	}{
		{"full", false, false, 0, ""},
		{"full, without /tmp", true, false, 125, "launch: error: mount tmpfs: %s/tmp: no space left on device\n"},
		{"read-only, without /tmp", true, true, 125, "launch: error: mount tmpfs: %s/tmp: read-only file system\nlaunch: hint: ROOTFS is read-only"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(base, strings.NewReplacer(" ", "-", ",", "", "/", "").Replace(tt.name))
			mountTmpfs(t, dir, 0, "size=16m,nr_inodes=256")
			rootfs := filepath.Join(dir, "rootfs")
			copyTree(t, testutil.Rootfs(t), rootfs)
			if tt.noTmp {
				if err := os.Remove(filepath.Join(rootfs, "tmp")); err != nil {
					t.Fatal(err)
				}
			}
			if tt.readOnly {
				if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
					t.Fatal(err)
				}
			} else {
				fill(t, dir)
			}
			before := listing(t, rootfs)
			r := w.run(rootfs, "/probe", "exit", "0")
			want := tt.want
			if want != "" {
				want = fmt.Sprintf(tt.want, rootfs)
			}
			if r.code != tt.code || !strings.HasPrefix(r.stderr, want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.code, want)
			}
			if after := listing(t, rootfs); after != before {
				t.Errorf("ROOTFS changed:\n%s\nwas\n%s", after, before)
			}
		})
	}
	w.check()
}

// mountTmpfs mounts a tmpfs on a new directory dir, in the test's mount namespace,
// until the test ends.
func mountTmpfs(t *testing.T, dir string, flags uintptr, data string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", flags, data); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
}

// fill fills the file system of dir, its blocks and then its inodes, until it
// answers ENOSPC.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, ".fill"))
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 4096)
	for err == nil {
		_, err = f.Write(block)
	}
	f.Close()
	if !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("filling %s: %v, want ENOSPC", dir, err)
	}
	for i := 0; ; i++ {
		g, err := os.Create(filepath.Join(dir, fmt.Sprintf(".fill-%d", i)))
		if err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				t.Fatalf("filling %s: %v, want ENOSPC", dir, err)
			}
			return
		}
		g.Close()
	}
}

// listing describes a tree: each entry's path, mode and size.
func listing(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d\n", strings.TrimPrefix(p, dir), info.Mode(), info.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// copyTree copies the directories, files and symlinks of src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		to := filepath.Join(dst, strings.TrimPrefix(p, src))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Mkdir(to, info.Mode().Perm())
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, to)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, b, info.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}
