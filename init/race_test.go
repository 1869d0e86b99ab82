package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"launch/internal/mountinfo"
	"launch/internal/testutil"
)

// TestRaceBindOntoRoot: a bind destination that is a symlink to / (or that climbs
// there) would stack the bind on the container's root, with none of its flags: the
// host file bound read-only was overwritten and a device node made there opened. It
// is refused.
func TestRaceBindOntoRoot(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	src, _ := hostDir(t)
	for _, target := range []string{"/", ".", "..", "../../..", "/proc/.."} {
		link := filepath.Join(rootfs, "data")
		os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		r := w.run("--read-only", "--bind", src+":/data:ro", rootfs, "/probe", "try", "create", "/data/x")
		want := "launch: error: bind " + src + ": " + link + ": invalid cross-device link\n"
		if r.code != 125 || !strings.HasPrefix(r.stderr, want) {
			t.Errorf("/data -> %s: exit %d, stdout %q, stderr %q; want 125 and %q", target, r.code, r.stdout, r.stderr, want)
		}
		if _, err := os.Stat(filepath.Join(src, "x")); err == nil {
			t.Errorf("/data -> %s: the container wrote into the read-only bind source", target)
		}
	}
	w.check()
}

// TestRaceMountTargets: a neighbour that can write ROOTFS renames its entries while
// launch sets the container up, swapping mount targets with each other, with another
// directory and with a symlink, as fast as it can. Each mount must end up with its
// own flags wherever it lands: /sys, every /proc path that is masked or read-only,
// /dev once its nodes exist, the cgroups and the read-only bind. A start may fail; no
// container may run with a mount that lacks its flags. Before mounts were made and
// flagged by descriptor, such a racer won in 15–40 % of starts. 10 starts for each
// pair of names and each way of mounting in make test, 200 in make test-long.
func TestRaceMountTargets(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	src, _ := hostDir(t)
	for _, d := range []string{"data", "other"} {
		if err := os.Mkdir(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/tmp", filepath.Join(rootfs, "link")); err != nil {
		t.Fatal(err)
	}
	starts := testutil.Count(t, "starts for each pair of names swapped and each way of mounting", 10, 200)
	// Kernels before 5.2 have no mount API of descriptors: launch mounts with mount(2)
	// there and finds each mount again, checking it is the one it made.
	type mode struct {
		name  string
		nosys []string
	}
	modes := []mode{{"descriptors", nil}, {"mount(2)", []string{"fsopen", "fsconfig", "fsmount", "move_mount", "open_tree"}}}
	for _, md := range modes {
		for _, pair := range [][2]string{{"sys", "proc"}, {"dev", "tmp"}, {"data", "link"}, {"data", "other"}, {"proc", "data"}} {
			t.Run(md.name+"/"+pair[0]+"<->"+pair[1], func(t *testing.T) {
				sw := swapper(filepath.Join(rootfs, pair[0]), filepath.Join(rootfs, pair[1]))
				// Against a fast racer most starts may be refused: where none of the
				// first starts ran, more are made (up to 20 times as many) until one
				// does, so that a run is checked at all.
				ran, failed, i := 0, 0, 0
				for ; i < starts || ran == 0 && i < 20*starts; i++ {
					s := startWith(t, launchIO{nosys: md.nosys}, "--bind", src+":/data:ro", rootfs, "/probe", "signals")
					w.started(s.cmd.Process.Pid)
					mi, ok := containerMounts(t, s)
					if !ok {
						s.cmd.Wait()
						failed++
						continue
					}
					ran++
					if bad := wrongFlags(mi, src); len(bad) > 0 {
						t.Errorf("start %d: the container runs with mounts that lack their flags:\n%s\n(mountinfo:\n%s)", i, strings.Join(bad, "\n"), mi)
					}
					s.cmd.Process.Signal(unix.SIGTERM) // forwarded: probe signals exits
					s.cmd.Wait()
				}
				swaps := sw.stop()
				// Put the names back for the next pair.
				for _, n := range pair {
					if fi, err := os.Lstat(filepath.Join(rootfs, n)); err == nil && (n == "link") != (fi.Mode()&os.ModeSymlink != 0) {
						unix.Renameat2(unix.AT_FDCWD, filepath.Join(rootfs, pair[0]), unix.AT_FDCWD, filepath.Join(rootfs, pair[1]), unix.RENAME_EXCHANGE)
						break
					}
				}
				t.Logf("%d starts while %d swaps: %d containers ran, every mount flagged; %d refused", i, swaps, ran, failed)
				if ran == 0 {
					t.Errorf("no container ran at all")
				}
			})
		}
	}
	w.check()
}

// containerMounts returns the mount table of s's container, running /probe signals,
// once COMMAND runs (it says "ready"), as the container sees it; false if the launch
// ended before that.
func containerMounts(t *testing.T, s *started) (string, bool) {
	t.Helper()
	if l := s.line(t); l != "ready" {
		return "", false // the launch failed: no output, and the launcher has ended
	}
	kids := children(s.cmd.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("the launcher has children %v, want its container's PID 1", kids)
	}
	mi, err := os.ReadFile("/proc/" + strconv.Itoa(kids[0]) + "/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(mi), true
}

// wrongFlags checks every mount of a container's mount table against the flags
// launch gives it, wherever it landed. Mount points are no help here: mountinfo
// computes them as it is read, from names the racer keeps changing; a mount's ID, its
// parent's and its root (the path within its own file system) are what stay.
func wrongFlags(mi, bindSrc string) []string {
	ms, err := mountinfo.Parse([]byte(mi))
	if err != nil {
		return []string{err.Error()}
	}
	var bad []string
	ro := func(m mountinfo.Mount, why string) {
		if !slices.Contains(m.Options, "ro") {
			bad = append(bad, m.Point+" ("+m.FSType+" "+m.Root+"): not read-only, "+why)
		}
	}
	children := func(parent mountinfo.Mount, fstype, root string) []mountinfo.Mount {
		var out []mountinfo.Mount
		for _, c := range ms {
			if c.Parent == parent.ID && c.FSType == fstype && c.Root == root {
				out = append(out, c)
			}
		}
		return out
	}
	masks := 0
	for _, p := range []string{"kcore", "keys", "latency_stats", "sched_debug", "timer_list", "timer_stats", "slabinfo", "vmallocinfo",
		"kpageflags", "kpagecount", "kpagecgroup", "pagetypeinfo"} {
		if _, err := os.Stat("/proc/" + p); err == nil {
			masks++
		}
	}
	for _, m := range ms {
		switch {
		case m.FSType == "sysfs", m.FSType == "cgroup", m.FSType == "cgroup2", m.FSType == "fuse", m.FSType == "devtmpfs":
			ro(m, "as every "+m.FSType+" mount of a container")
		case m.FSType == "proc" && m.Root != "/":
			ro(m, "a read-only path of /proc")
		case m.FSType == "proc":
			// Wherever /proc landed, its read-only and masked paths came with it.
			for _, p := range []string{"/sys", "/bus", "/irq", "/fs"} {
				if len(children(m, "proc", p)) == 0 {
					bad = append(bad, p+": not read-only below the proc mount "+strconv.Itoa(m.ID))
				}
			}
			if n := len(children(m, "devtmpfs", "/null")); n != masks {
				bad = append(bad, "the proc mount "+strconv.Itoa(m.ID)+" has "+strconv.Itoa(n)+" masked files, want "+strconv.Itoa(masks))
			}
		case m.FSType == "devpts":
			for _, p := range ms {
				if p.ID == m.Parent {
					ro(p, "the /dev holding devpts, once its nodes exist")
				}
			}
		case strings.HasPrefix(m.Root, bindSrc):
			for _, o := range []string{"ro", "nosuid", "nodev"} {
				if !slices.Contains(m.Options, o) {
					bad = append(bad, m.Point+": the --bind "+bindSrc+":ro lacks "+o)
				}
			}
		}
	}
	return bad
}
