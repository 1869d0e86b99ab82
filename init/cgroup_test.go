package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/probe/expect"
	"launch/internal/probe/report"
	"launch/internal/testutil"
)

// limit returns the value of the cgroup file named file as the container sees it.
func limit(t *testing.T, limits map[string]string, file string) string {
	t.Helper()
	for path, v := range limits {
		if filepath.Base(path) == file {
			return v
		}
	}
	return "(absent)"
}

// TestCgroupLimits: the limits of each cgroup file the container sees, in the
// hierarchy of its controller on this host (v1, v2 or hybrid; see expect.Limit).
func TestCgroupLimits(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	for _, tt := range []struct {
		name   string
		opts   []string
		limits []expect.Limit
	}{
		{"defaults", nil, expect.DefaultLimits},
		{"options", []string{"--memory", "128M", "--cpu-shares", "512", "--cpus", "0.5", "--pids", "10"}, []expect.Limit{
			{Version: 1, Controller: "memory", File: "memory.limit_in_bytes", Want: "134217728"},
			{Version: 2, Controller: "memory", File: "memory.max", Want: "134217728"},
			{Version: 1, Controller: "cpu", File: "cpu.shares", Want: "512"},
			{Version: 1, Controller: "cpu", File: "cpu.cfs_quota_us", Want: "50000"},
			{Version: 2, Controller: "cpu", File: "cpu.max", Want: "50000 100000"},
			{Version: 1, Controller: "pids", File: "pids.max", Want: "10"},
			{Version: 2, Controller: "pids", File: "pids.max", Want: "10"},
		}},
		{"unlimited", []string{"--memory", "max", "--pids", "0", "--cpu-shares", "0"}, []expect.Limit{
			{Version: 1, Controller: "memory", File: "memory.limit_in_bytes", Want: "9223372036854771712"},
			{Version: 1, Controller: "memory", File: "memory.swappiness", Want: "0"},
			{Version: 2, Controller: "memory", File: "memory.max", Want: "max"},
			{Version: 2, Controller: "memory", File: "memory.swap.max", Want: "0", IfPresent: true},
			{Version: 1, Controller: "cpu", File: "cpu.shares", Want: "1024"},
			{Version: 2, Controller: "cpu", File: "cpu.weight", Want: "100"},
			{Version: 1, Controller: "pids", File: "pids.max", Want: "max"},
			{Version: 2, Controller: "pids", File: "pids.max", Want: "max"},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := wantDefault(t, rootfs)
			w.Limits = tt.limits
			expectOK(t, probe(t, rootfs, tt.opts...), w, "cgroup-limits")
		})
	}
}

// TestIOWeight: --io-weight sets the weight where the kernel has one, and is an error
// naming the missing file where it has none (no BFQ scheduler); the default weight is
// then only a note under -v, not a warning at every start.
func TestIOWeight(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	file, ok := hostIOWeight(t)
	r := runLaunch(t, "--io-weight", "100", rootfs, "/probe", "report")
	if !ok {
		if r.code != 125 || !strings.Contains(r.stderr, "--io-weight: no ") {
			t.Errorf("--io-weight on a kernel without %s: exit %d, stderr %q; want 125 and the missing weight named", file, r.code, r.stderr)
		}
		r = runLaunch(t, rootfs, "/probe", "exit", "0")
		if r.code != 0 || r.stderr != "" {
			t.Errorf("the default weight on a kernel without one: exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
		}
		r = runLaunch(t, "-v", rootfs, "/probe", "exit", "0")
		if !strings.Contains(r.stderr, "launch: note: no ") || !strings.Contains(r.stderr, "weight in this kernel") {
			t.Errorf("-v does not say the weight is missing: %q", r.stderr)
		}
		return
	}
	if r.code != 0 {
		t.Fatalf("--io-weight 100: exit %d, stderr %q", r.code, r.stderr)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	want := "100"
	if file == "io.bfq.weight" {
		want = "default 100"
	} else if file == "io.weight" {
		want = "default 1000" // 100 in blkio's range, as io.weight's
	}
	if got := limit(t, rep.Limits, file); got != want {
		t.Errorf("%s = %q, want %q", file, got, want)
	}
}

// hostIOWeight returns the name of the weight file a new cgroup of the host's I/O
// controller has, trying them in the launcher's order, and whether there is one.
func hostIOWeight(t *testing.T) (string, bool) {
	t.Helper()
	own, _ := os.ReadFile("/proc/self/cgroup")
	for _, line := range strings.Split(strings.TrimSpace(string(own)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		var base string
		var files []string
		switch {
		case slices.Contains(strings.Split(f[1], ","), "blkio"):
			base, files = "/sys/fs/cgroup/"+f[1], []string{"blkio.weight", "blkio.bfq.weight"}
		case f[1] == "" && f[0] == "0":
			continue // v2: the v1 blkio line decides on hybrid hosts, and pure v2 is checked below
		default:
			continue
		}
		dir, err := os.MkdirTemp(filepath.Join(base, f[2]), "launch-test-io-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.Remove(dir)
		for _, name := range files {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return name, true
			}
		}
		return files[1], false
	}
	// Pure v2: a child of a cgroup whose subtree_control has io.
	data, _ := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control")
	if !strings.Contains(string(data), "io") {
		return "io.weight", false
	}
	dir, err := os.MkdirTemp("/sys/fs/cgroup", "launch-test-io-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	for _, name := range []string{"io.bfq.weight", "io.weight"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return name, true
		}
	}
	return "io.weight", false
}

// TestCgroupPlacement: the container's cgroups are below the launcher's own, the
// launcher stays out of them, and they are gone when the container is.
func TestCgroupPlacement(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	before := snapshot(t)
	s := startLaunch(t, rootfs, "/probe", "signals")
	if l := s.line(t); l != "ready" {
		t.Fatalf("probe said %q", l)
	}
	own, _ := os.ReadFile("/proc/self/cgroup")
	launcherCg, _ := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/cgroup")
	// On pure v2, a launcher alone in a cgroup other than the root moves into a leaf
	// of it, so that the cgroup can hand controllers down.
	pureV2 := strings.HasPrefix(string(own), "0::") && !strings.Contains(strings.TrimSpace(string(own)), "\n")
	moved := "0::" + path.Join(v2Own(string(own)), "launch-supervisor") + "\n"
	if string(launcherCg) != string(own) && !(pureV2 && string(launcherCg) == moved) {
		t.Errorf("the launcher moved out of its own cgroups:\n%s\nwant\n%s", launcherCg, own)
	}
	kid := children(s.cmd.Process.Pid)[0]
	kidCg, _ := os.ReadFile("/proc/" + strconv.Itoa(kid) + "/cgroup")
	for _, line := range strings.Split(strings.TrimSpace(string(kidCg)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if !slices.Contains([]string{"memory", "pids", "cpu", "cpuacct", "cpu,cpuacct", "blkio", ""}, f[1]) {
			continue
		}
		// The same line of the launcher, plus /launch-PID-START-PIDNS.
		for _, ol := range strings.Split(string(own), "\n") {
			of := strings.SplitN(ol, ":", 3)
			if len(of) == 3 && of[1] == f[1] {
				prefix := strings.TrimSuffix(of[2], "/") + "/" + idOf(s.cmd.Process.Pid).prefix()
				if !strings.HasPrefix(f[2], prefix) {
					t.Errorf("container in %s cgroup %s, want below the launcher's %s", f[1], f[2], of[2])
				}
			}
		}
	}
	s.cmd.Process.Signal(os.Interrupt)
	s.line(t)
	s.cmd.Process.Signal(os.Kill)
	s.cmd.Wait()
	// The container dies with its launcher; once it has, the next launch removes the
	// cgroups the killed one left.
	if !gone(kid) {
		t.Fatalf("container process %d survived its launcher", kid)
	}
	runLaunch(t, rootfs, "/probe", "exit", "0")
	before.unchanged(t)
}

func TestMemoryLimitKill(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	before := snapshot(t)
	for _, opts := range [][]string{nil, {"--init"}} {
		args := append(append([]string{}, opts...), "--memory", "32M", rootfs, "/probe", "alloc", "256")
		r := runLaunch(t, args...)
		if r.code != 137 {
			t.Errorf("%v: a memory hog under --memory 32M: exit %d, want 137 (stdout %q, stderr %q)", opts, r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, "memory limit reached: 32M") {
			t.Errorf("%v: stderr does not say the memory limit was hit: %q", opts, r.stderr)
		}
		before.unchanged(t)
	}
	if r := runLaunch(t, "--memory", "256M", rootfs, "/probe", "alloc", "64"); r.code != 0 || !strings.Contains(r.stdout, "done 64") {
		t.Errorf("64 MiB under --memory 256M: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestPidsLimit(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	r := runLaunch(t, "--pids", "10", rootfs, "/probe", "spawn", "100")
	// The probe itself and its runtime's threads count against the limit, so fewer
	// than 10 children start; the 100th never does.
	var started int
	var why string
	if _, err := fmt.Sscanf(r.stdout, "started %d %s", &started, &why); err != nil || started >= 10 || started == 0 || why != "EAGAIN" {
		t.Errorf("spawning 100 under --pids 10: %q (stderr %q); want fewer than 10 started, then EAGAIN", r.stdout, r.stderr)
	}
	// The host and the next launch are fine.
	if r := runLaunch(t, rootfs, "/probe", "exit", "0"); r.code != 0 {
		t.Errorf("next launch: %d %s", r.code, r.stderr)
	}
}

// TestCgroupsReadOnlyInside: from inside, no limit can be raised, no process moved
// and no release notified, and no cgroup made, in any of the container's cgroups,
// whatever the host's layout (v1, v2 or hybrid); nothing can be made where they are
// mounted.
func TestCgroupsReadOnlyInside(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	rep := probe(t, rootfs)
	var files []string
	for p := range rep.Limits {
		files = append(files, p)
	}
	if len(files) == 0 {
		t.Fatal("no cgroup files visible")
	}
	for _, p := range files {
		if got := try(t, rootfs, nil, "write", p, "max"); got != "EROFS" {
			t.Errorf("raising %s from inside: %s, want EROFS", p, got)
		}
	}
	cgroups := wantDefault(t, rootfs).Host.Cgroups
	for _, p := range cgroupControls(cgroups) {
		if got := try(t, rootfs, nil, "write", p, "1"); got != "EROFS" {
			t.Errorf("writing %s from inside: %s, want EROFS", p, got)
		}
	}
	for _, d := range cgroups.Dirs() {
		if got := try(t, rootfs, nil, "mkdir", d.Path+"/escape"); got != "EROFS" {
			t.Errorf("making a cgroup in %s from inside: %s, want EROFS", d.Path, got)
		}
	}
	if got := try(t, rootfs, nil, "create", "/sys/fs/cgroup/escape"); got != "EROFS" {
		t.Errorf("creating a file in /sys/fs/cgroup: %s, want EROFS", got)
	}
}

// cgroupControls returns the files of the container's cgroups, as it sees them, that
// move processes, hand controllers down or notify of a cgroup's release: each must be
// read-only inside.
func cgroupControls(c expect.Cgroups) []string {
	var out []string
	for _, d := range c.Dirs() {
		names := []string{"cgroup.procs", "cgroup.subtree_control"}
		if d.Version == 1 {
			names = []string{"cgroup.procs", "tasks", "notify_on_release"}
		}
		for _, n := range names {
			out = append(out, d.Path+"/"+n)
		}
	}
	return out
}

// TestNoCgroupLeftAfterManyRuns: 100 runs, some of them with the launcher killed at a
// random moment; after the last, no cgroup of launch remains.
func TestNoCgroupLeftAfterManyRuns(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	before := snapshot(t)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 100; i++ {
		if i%4 != 3 {
			if r := runLaunch(t, rootfs, "/probe", "exit", "0"); r.code != 0 {
				t.Fatalf("run %d: %d %s", i, r.code, r.stderr)
			}
			continue
		}
		s := startLaunch(t, rootfs, "/probe", "sleep", "10")
		time.Sleep(time.Duration(rng.Intn(30)) * time.Millisecond)
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
	if r := runLaunch(t, rootfs, "/probe", "exit", "0"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	// Killed containers die with their launcher, and the GC removes their cgroups
	// once they have: wait for what is left in them to exit.
	var left []string
	for _, d := range snapshot(t).cgroups {
		if startedByUs(d) {
			left = append(left, d)
		}
	}
	emptied(t, left)
	if r := runLaunch(t, "--gc"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	before.unchanged(t)
}

// v2Own returns the cgroup v2 path of a /proc/PID/cgroup file, "" if it has none.
func v2Own(procCgroup string) string {
	for _, line := range strings.Split(procCgroup, "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	return ""
}

// cgroupParent makes a cgroup of the test's own in every mounted hierarchy, at the
// same path, for --cgroup-parent: what launchers place there is the test's alone, and
// no other launcher on the machine looks there. It returns the path; the cleanup
// removes what is left there, then the cgroup.
func cgroupParent(t *testing.T) string {
	t.Helper()
	p := fmt.Sprintf("/launch-test-parent-%d-%d", os.Getpid(), time.Now().UnixNano())
	for _, m := range hostMounts(t) {
		if (m.FSType != "cgroup" && m.FSType != "cgroup2") || m.Root != "/" {
			continue
		}
		dir := filepath.Join(m.Point, p)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// Only the test's own launchers made cgroups here; what ran in them
			// may still be on its way out.
			var subs []string
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if e.IsDir() {
					subs = append(subs, filepath.Join(dir, e.Name()))
				}
			}
			emptied(t, append(subs, dir))
			for _, d := range append(subs, dir) {
				if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("cannot remove the test's cgroup: %v", err)
				}
			}
		})
	}
	return p
}

// gcLine reports whether the output of launch --gc has a line that starts with verb
// and dir, followed by ": " and why for a "left" line.
func gcLine(out, verb, dir, why string) bool {
	for _, line := range strings.Split(out, "\n") {
		if verb == "removed" && line == "removed "+dir {
			return true
		}
		if rest, ok := strings.CutPrefix(line, verb+" "+dir+": "); ok && strings.HasPrefix(rest, why) {
			return true
		}
	}
	return false
}

// TestGCAcrossPIDNamespaces: launch --gc run in a PID namespace of its own, with its
// own /proc, where no pid of the host means anything (unshare -p -f --mount-proc),
// while containers run. It never kills and removes only what is free: the running
// containers go on, their cgroups stay and are reported as in use, in the default
// place and below --cgroup-parent; the cgroups of a launcher killed with SIGKILL,
// whose container died with it, are removed and reported; those of a killed launcher
// with a process still in them are left and reported, until the process is gone.
func TestGCAcrossPIDNamespaces(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		testutil.Skip(t, "needs unshare(1) of util-linux")
	}
	before := snapshot(t)
	parent := cgroupParent(t)
	a := startLaunch(t, rootfs, "/probe", "signals")
	b := startLaunch(t, "--cgroup-parent", parent, rootfs, "/probe", "signals")
	killed := startLaunch(t, "--cgroup-parent", parent, rootfs, "/probe", "signals")
	occupied := startLaunch(t, "--cgroup-parent", parent, rootfs, "/probe", "signals")
	dirs := map[*started][]string{}
	for _, s := range []*started{a, b, killed, occupied} {
		if l := s.line(t); l != "ready" {
			t.Fatalf("probe said %q; stderr %s", l, s.stderr)
		}
		dirs[s] = cgroupDirs(t, s.cmd.Process.Pid)
		if len(dirs[s]) < 2 {
			t.Fatalf("launcher %d has cgroups %v", s.cmd.Process.Pid, dirs[s])
		}
	}
	for _, s := range []*started{b, killed, occupied} {
		for _, d := range dirs[s] {
			if !strings.Contains(d, parent+"/launch-") {
				t.Errorf("--cgroup-parent %s: the container's cgroup is %s", parent, d)
			}
		}
	}

	// A process of the test in the cgroups of occupied.
	sleep := exec.Command("sleep", "600")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })
	for _, d := range dirs[occupied] {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(sleep.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*started{killed, occupied} {
		kids := children(s.cmd.Process.Pid)
		s.cmd.Process.Kill()
		s.cmd.Wait()
		for _, k := range kids {
			if !gone(k) {
				t.Fatalf("container process %d survived its launcher", k)
			}
		}
	}

	gc := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(unshare, append([]string{"-p", "-f", "--mount-proc", launcher(t), "--gc"}, args...)...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("unshare -p -f --mount-proc launch --gc %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.String()
	}
	outDefault := gc()
	outParent := gc("--cgroup-parent", parent)
	t.Logf("launch --gc in a new PID namespace:\n%s--cgroup-parent %s:\n%s", outDefault, parent, outParent)

	for _, s := range []*started{a, b} {
		if err := s.cmd.Process.Signal(unix.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		if l := s.line(t); l != "SIGUSR1" {
			t.Errorf("a running container after the GC: said %q, want SIGUSR1", l)
		}
	}
	for _, tt := range []struct {
		s        *started
		out      string
		verb     string
		why      string
		exists   bool
		whatItIs string
	}{
		{a, outDefault, "left", "in use", true, "running container"},
		{b, outParent, "left", "in use", true, "running container below --cgroup-parent"},
		{killed, outParent, "removed", "", false, "killed launcher's"},
		{occupied, outParent, "left", "holds processes", true, "killed launcher's, with a process in them,"},
	} {
		for _, d := range dirs[tt.s] {
			if !gcLine(tt.out, tt.verb, d, tt.why) {
				t.Errorf("launch --gc does not say %q of the %s cgroup %s", tt.verb+" "+tt.why, tt.whatItIs, d)
			}
			if _, err := os.Stat(d); (err == nil) != tt.exists {
				t.Errorf("the %s cgroup %s: exists %v after launch --gc, want %v", tt.whatItIs, d, err == nil, tt.exists)
			}
		}
	}
	if err := sleep.Process.Signal(unix.Signal(0)); err != nil {
		t.Errorf("the process in the cgroups of the killed launcher: %v", err)
	}

	sleep.Process.Kill()
	sleep.Wait()
	out := gc("--cgroup-parent", parent)
	for _, d := range dirs[occupied] {
		if !gcLine(out, "removed", d, "") {
			t.Errorf("launch --gc once the process is gone does not remove %s:\n%s", d, out)
		}
	}
	for _, s := range []*started{a, b} {
		s.cmd.Process.Signal(unix.SIGTERM)
		if l := s.line(t); l != "SIGTERM" {
			t.Errorf("container said %q, want SIGTERM", l)
		}
		if err := s.cmd.Wait(); err != nil {
			t.Errorf("launch: %v; stderr %s", err, s.stderr)
		}
	}
	before.unchanged(t)
}

// TestCgroupParent: --cgroup-parent names an existing cgroup; the container gets its
// limits there.
func TestCgroupParent(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	parent := cgroupParent(t)
	rep := probe(t, rootfs, "--cgroup-parent", parent)
	if got := limit(t, rep.Limits, "pids.max"); got != "64" {
		t.Errorf("pids.max below --cgroup-parent = %q, want 64", got)
	}
	for _, tt := range []struct {
		arg, stderr string
	}{
		{parent + "-missing", "launch: error: --cgroup-parent " + parent + "-missing: find cgroup /sys/fs/cgroup/"},
		{"relative", "launch: error: --cgroup-parent relative: want an absolute path"},
		{"/a/../b", "launch: error: --cgroup-parent /a/../b: want an absolute path"},
	} {
		r := runLaunch(t, "--cgroup-parent", tt.arg, rootfs, "/probe", "exit", "0")
		if r.code != 125 || !strings.HasPrefix(r.stderr, tt.stderr) {
			t.Errorf("--cgroup-parent %s: exit %d, stderr %q; want 125 and %q...", tt.arg, r.code, r.stderr, tt.stderr)
		}
	}
}
