package cgroup

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
	"golang.org/x/tools/txtar"

	"launch/internal/testutil"
)

func hostLayout(t *testing.T) *Layout {
	t.Helper()
	testutil.RequireRoot(t)
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Detect(mi, pc)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var seedLimits = Limits{Memory: 64 << 20, CPUShares: 256, Pids: 64, IOWeight: 50, Explicit: map[string]bool{}}

// TestCreate makes real cgroups with the seed's limits on this host, reads the limits
// back from the files, and removes them.
func TestCreate(t *testing.T) {
	l := hostLayout(t)
	c, err := Create(l, "launch-test-create", seedLimits)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	c.Close()
	if len(c.Dirs()) == 0 {
		t.Fatal("no cgroup was made")
	}
	found := 0
	for _, dir := range c.Dirs() {
		if filepath.Base(dir) != "launch-test-create" {
			t.Errorf("cgroup %s does not carry the name", dir)
		}
		for file, want := range map[string]string{
			"memory.limit_in_bytes": "67108864", "memory.max": "67108864", "memory.swappiness": "0",
			"memory.swap.max": "0", "cpu.shares": "256", "cpu.weight": "35", "pids.max": "64",
			"blkio.bfq.weight": "50", "io.bfq.weight": "50",
		} {
			b, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				continue // not this hierarchy's file
			}
			found++
			if got := strings.TrimSpace(string(b)); got != want && !(file == "io.bfq.weight" && got == "default "+want) {
				t.Errorf("%s/%s = %q, want %q", dir, file, got, want)
			}
		}
	}
	if found < 4 {
		t.Errorf("only %d limit files found in %v", found, c.Dirs())
	}
	for _, w := range c.Warnings {
		t.Logf("warning: %s", w)
	}
	// /proc/diskstats reads the container's I/O counters in one of them: v1's blkio
	// files, or v2's io.stat, there if the io controller could be enabled (the seed
	// asks for an I/O weight).
	dir, v2 := c.IODir()
	if !slices.Contains(c.Dirs(), dir) {
		t.Errorf("IODir() = %q, not one of %v", dir, c.Dirs())
	} else if _, err := os.Stat(filepath.Join(dir, "blkio.throttle.io_service_bytes")); err != nil && !v2 {
		t.Errorf("IODir() = %q (v1): %v", dir, err)
	}
	dirs := c.Dirs() // Destroy forgets them
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s remains after Destroy", dir)
		}
	}
}

// TestMissingController: a controller the kernel lacks is a warning for a default
// limit and an error for one the user asked for; either way nothing is left behind.
// This kernel has pids, so the test takes it away in each cgroup version the host
// mounts (see withoutPids): in v1 by leaving its hierarchy out of the layout; in v2,
// where launch reads what the kernel has from the root's cgroup.controllers, by
// covering that file, in a helper process's own mount namespace, with one that lacks
// pids. A pure cgroup v2 host thus runs the v2 case, a hybrid one both.
func TestMissingController(t *testing.T) {
	if testutil.IsHelper(t.Name()) {
		l := hostLayout(t)
		v := withoutPids(l, os.Getenv("LAUNCH_TEST_V2_CONTROLLERS"))
		i := slices.IndexFunc(v, func(p pidsless) bool { return p.name == "v2" })
		if i < 0 {
			t.Fatal("helper: no cgroup v2 case on this host")
		}
		fake := filepath.Join(t.TempDir(), "cgroup.controllers")
		if err := os.WriteFile(fake, []byte(v[i].controllers+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		real := filepath.Join(l.V2.Mount, "cgroup.controllers")
		if err := unix.Mount(fake, real, "", unix.MS_BIND, ""); err != nil {
			t.Fatalf("bind %s on %s: %v", fake, real, err)
		}
		if data, _ := readFile(l.V2.Mount, "cgroup.controllers"); strings.Contains(data, "pids") {
			t.Fatalf("%s still lists pids: %q", real, data)
		}
		createWithoutPids(t, &v[i].layout)
		return
	}
	l := hostLayout(t)
	controllers := ""
	if l.V2 != nil {
		controllers, _ = readFile(l.V2.Mount, "cgroup.controllers")
	}
	cases := withoutPids(l, controllers)
	if len(cases) == 0 {
		testutil.Skip(t, "needs a cgroup file system")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name != "v2" {
				createWithoutPids(t, &c.layout)
				return
			}
			helper := exec.Command(os.Args[0], "-test.run=^TestMissingController$", "-test.v")
			helper.Env = append(os.Environ(), testutil.HelperEnv+"=TestMissingController", "LAUNCH_TEST_V2_CONTROLLERS="+controllers)
			helper.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
			out, err := helper.CombinedOutput()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			t.Logf("helper:\n%s", out)
		})
	}
}

// A pidsless is a way to run Create on this host as if its kernel had no pids
// controller: with layout, and, for v2, the root's cgroup.controllers covered with
// controllers.
type pidsless struct {
	name        string // v1, v2, or kernel (the kernel has none: the host's layout as it is)
	layout      Layout
	controllers string
}

// withoutPids returns the ways to run Create on layout l, whose v2 root (if any) lists
// v2Controllers, as if the kernel had no pids controller: v1 where a v1 hierarchy has
// pids (the layout without it), v2 where there is a v2 hierarchy (without that v1
// hierarchy either, and with the controllers less pids), and the layout as it is if
// neither version has pids.
func withoutPids(l *Layout, v2Controllers string) []pidsless {
	var rest []Hierarchy
	inV1 := false
	for _, h := range l.V1 {
		if h.Has("pids") {
			inV1 = true
		} else {
			rest = append(rest, h)
		}
	}
	var out []pidsless
	if inV1 {
		out = append(out, pidsless{name: "v1", layout: Layout{V1: rest, V2: l.V2}})
	}
	if l.V2 != nil {
		ctls := slices.DeleteFunc(strings.Fields(v2Controllers), func(c string) bool { return c == "pids" })
		out = append(out, pidsless{name: "v2", layout: Layout{V1: rest, V2: l.V2}, controllers: strings.Join(ctls, " ")})
	}
	if len(out) == 0 && len(l.V1) > 0 {
		out = append(out, pidsless{name: "kernel", layout: *l})
	}
	return out
}

// createWithoutPids runs Create on l, which has no pids controller, with the seed's
// limits: a warning; then with --pids asked for: an error naming it. Nothing is left.
func createWithoutPids(t *testing.T, l *Layout) {
	t.Helper()
	c, err := Create(l, "launch-test-missing", seedLimits)
	if err != nil {
		t.Fatalf("default limits without a pids controller: %v", err)
	}
	c.Close()
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(c.Warnings, "\n"), "the kernel has no pids cgroup controller") {
		t.Errorf("no warning about the missing pids controller: %q", c.Warnings)
	}

	lim := seedLimits
	lim.Explicit = map[string]bool{"pids": true}
	if _, err := Create(l, "launch-test-missing", lim); err == nil || !strings.Contains(err.Error(), "--pids") {
		t.Errorf("--pids without a pids controller: %v, want an error naming --pids", err)
	}
	dirs := []string{}
	for _, h := range l.V1 {
		dirs = append(dirs, h.Parent)
	}
	if l.V2 != nil {
		dirs = append(dirs, l.V2.Parent)
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "launch-test-missing")); err == nil {
			t.Errorf("a failed Create left %s", filepath.Join(d, "launch-test-missing"))
		}
	}
}

// TestWithoutPids: which ways TestMissingController has to take pids away, on the
// layouts of testdata/*.txtar and the controllers of their v2 root.
func TestWithoutPids(t *testing.T) {
	for _, tt := range []struct {
		fixture, v2Controllers string
		want                   string
	}{
		{"hybrid.txtar", "", "v1: v1 [name=systemd] [blkio] [freezer] [devices] [memory] [cpuset] [cpuacct] [cpu], v2 /sys/fs/cgroup/unified; " +
			"v2: v1 [name=systemd] [blkio] [freezer] [devices] [memory] [cpuset] [cpuacct] [cpu], v2 /sys/fs/cgroup/unified, controllers \"\""},
		{"v1.txtar", "", "v1: v1 [freezer] [blkio] [memory] [cpu cpuacct]"},
		{"missing.txtar", "", "kernel: v1 [cpu cpuacct]"},
		{"v2-root.txtar", "cpuset cpu io memory pids", "v2: v2 /sys/fs/cgroup, controllers \"cpuset cpu io memory\""},
		{"v2-systemd.txtar", "cpu io memory pids", "v2: v2 /sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope, controllers \"cpu io memory\""},
		{"v2-root.txtar", "cpu memory", "v2: v2 /sys/fs/cgroup, controllers \"cpu memory\""},
	} {
		ar, err := txtar.ParseFile(filepath.Join("testdata", tt.fixture))
		if err != nil {
			t.Fatal(err)
		}
		fx := testutil.Fixture{Archive: ar}
		l, err := Detect(fx.File("mountinfo"), fx.File("cgroup"))
		if err != nil {
			t.Fatal(err)
		}
		var cases []string
		for _, c := range withoutPids(l, tt.v2Controllers) {
			var parts []string
			if len(c.layout.V1) > 0 {
				var v1 []string
				for _, h := range c.layout.V1 {
					v1 = append(v1, fmt.Sprint(h.Controllers))
				}
				parts = append(parts, "v1 "+strings.Join(v1, " "))
			}
			if c.layout.V2 != nil {
				parts = append(parts, "v2 "+c.layout.V2.Dir)
			}
			if c.name == "v2" {
				parts = append(parts, fmt.Sprintf("controllers %q", c.controllers))
			}
			cases = append(cases, c.name+": "+strings.Join(parts, ", "))
		}
		if got := strings.Join(cases, "; "); got != tt.want {
			t.Errorf("withoutPids(%s, %q) = %s\nwant %s", tt.fixture, tt.v2Controllers, got, tt.want)
		}
	}
}

func TestStartTime(t *testing.T) {
	a, err := StartTime(os.Getpid())
	if err != nil || a == 0 {
		t.Fatalf("StartTime(self) = %d, %v", a, err)
	}
	if b, _ := StartTime(os.Getpid()); a != b {
		t.Errorf("StartTime changed: %d then %d", a, b)
	}
	if _, err := StartTime(1 << 30); err == nil {
		t.Error("StartTime of a pid that cannot exist succeeded")
	}
}

// TestCheckMissing: limits whose controller the v2 parent cannot hand down are one
// warning per reason, with the hint, when they are defaults, and an error that
// ErrNoDelegation marks when asked for by option ("--memory max" asks for none).
func TestCheckMissing(t *testing.T) {
	busy := "/x holds processes other than launch"
	need := []string{"cpu", "io", "memory", "pids"}
	why := map[string]string{"cpu": busy, "io": busy, "memory": busy, "pids": busy}
	c := &Cgroups{Layout: &Layout{}}
	if err := c.checkMissing(seedLimits, need, nil, why); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	want := "cgroup v2: " + busy + "; running without the cpu-shares, io-weight, memory and pids limits, within those of the cgroups launch runs in"
	if len(c.Warnings) != 1 || c.Warnings[0] != want || c.Hint != DelegationHint {
		t.Errorf("defaults: warnings %q, hint %q; want [%q] and the hint", c.Warnings, c.Hint, want)
	}

	lim := seedLimits
	lim.Memory, lim.Explicit = 0, map[string]bool{"memory": true}
	c = &Cgroups{Layout: &Layout{}}
	if err := c.checkMissing(lim, need, nil, why); err != nil || len(c.Warnings) != 1 {
		t.Errorf("--memory max: %v, warnings %q; want no error and one warning", err, c.Warnings)
	}

	lim = seedLimits
	lim.Explicit = map[string]bool{"pids": true}
	err := (&Cgroups{Layout: &Layout{}}).checkMissing(lim, need, []string{"cpu"}, why)
	if !errors.Is(err, ErrNoDelegation) || !strings.HasPrefix(err.Error(), "--pids: ") {
		t.Errorf("--pids 64: %v, want an error on --pids that wraps ErrNoDelegation", err)
	}

	c = &Cgroups{Layout: &Layout{}}
	if err := c.checkMissing(seedLimits, []string{"pids"}, nil, nil); err != nil || len(c.Warnings) != 1 ||
		!strings.Contains(c.Warnings[0], "the kernel has no pids cgroup controller") || c.Hint != "" {
		t.Errorf("a controller the kernel lacks: %v, warnings %q, hint %q", err, c.Warnings, c.Hint)
	}
}
