package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
func TestMissingController(t *testing.T) {
	l := hostLayout(t)
	var without Layout
	without.V2 = l.V2
	for _, h := range l.V1 {
		if !h.Has("pids") {
			without.V1 = append(without.V1, h)
		}
	}
	if len(without.V1) == len(l.V1) {
		testutil.Skip(t, "this host has no v1 pids hierarchy to leave out")
	}
	if l.V2 != nil {
		if data, _ := readFile(l.V2.Dir, "cgroup.controllers"); strings.Contains(data, "pids") {
			testutil.Skip(t, "pids is available on v2 here")
		}
	}
	c, err := Create(&without, "launch-test-missing", seedLimits)
	if err != nil {
		t.Fatalf("default limits without a pids controller: %v", err)
	}
	c.Close()
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(c.Warnings, "\n"), "pids") {
		t.Errorf("no warning about the missing pids controller: %q", c.Warnings)
	}

	lim := seedLimits
	lim.Explicit = map[string]bool{"pids": true}
	if _, err := Create(&without, "launch-test-missing", lim); err == nil || !strings.Contains(err.Error(), "--pids") {
		t.Errorf("--pids without a pids controller: %v, want an error naming --pids", err)
	}
	for _, h := range l.V1 {
		if _, err := os.Stat(filepath.Join(h.Dir, "launch-test-missing")); err == nil {
			t.Errorf("a failed Create left %s", filepath.Join(h.Dir, "launch-test-missing"))
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
