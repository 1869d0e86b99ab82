package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/probe/report"
)

// cgroupRoot is where vminit mounts cgroup2.
const cgroupRoot = "/sys/fs/cgroup"

// callerLimit is the memory.max of the cgroups the launcher is started in below: a
// service's MemoryMax=100M.
const callerLimit = "104857600"

// delegation starts the launcher as a service manager starts a service, in a cgroup of
// its own below the root with memory.max 100M, and checks that the container ends up
// below that cgroup, never beside it, and that its limit holds:
//   - alone in it (systemd's Delegate=yes): the launcher moves into a leaf of it and
//     the container gets its own limits too;
//   - started in that leaf (systemd's DelegateSubgroup=launch-supervisor): nothing
//     moves, and the same holds;
//   - with another process in it: the container gets no controller of its own but
//     stays below, bound by the 100M, with a warning; a limit asked for by option is
//     an error with a hint;
//   - --cgroup-parent, a cgroup without processes: the container is below it, with
//     its limits;
//
// and that cgroup.subtree_control is never written above the caller's cgroup. It also
// reports what the launcher's move costs, starts 0.5 s apart.
func (c *checker) delegation() {
	rootBefore := readTrim(filepath.Join(cgroupRoot, "cgroup.subtree_control"))
	alone := mkCgroup(c, "service-alone", callerLimit)
	shared := mkCgroup(c, "service-shared", callerLimit)
	parent := mkCgroup(c, "containers", "")
	if alone == "" || shared == "" || parent == "" {
		return
	}
	defer rmCgroups(alone, shared, parent)
	leafDir := filepath.Join(alone, "launch-supervisor")

	// Alone: the launcher moves, the container gets its limits, the caller's bound it.
	r := c.launchIn(alone, "-v", "/rootfs", "/probe", "report")
	err := r.failure(0)
	leaf := containerCgroup(r.stderr)
	if err == nil {
		err = below(leaf, alone)
	}
	if err == nil && !strings.Contains(r.stderr, "moved launch into "+leafDir) {
		err = errors.New("launch -v does not say it moved into " + leafDir)
	}
	if err == nil {
		err = limitInside(r.stdout, "memory.max", "67108864")
	}
	c.report("delegate-alone", err, "container in "+leaf+", its memory.max 64M")

	// Started in the leaf: nothing moves; the 100M of the service hold.
	r = c.launchIn(leafDir, "-v", "--memory", "max", "/rootfs", "/probe", "alloc", "200")
	err = r.failure(137)
	leaf = containerCgroup(r.stderr)
	if err == nil {
		err = below(leaf, alone)
	}
	if err == nil && strings.Contains(r.stderr, "moved launch") {
		err = errors.New("launch moved, started in " + leafDir)
	}
	c.report("delegate-leaf-limit", err, fmt.Sprintf("200M in %s, with --memory max, in a cgroup of 100M: exit %d", leaf, r.code))

	// Shared with another process: the container goes below anyway, bound by the 100M.
	sleeper := exec.Command("/rootfs/bin/sleep", "600")
	fd, err := unix.Open(shared, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == nil {
		sleeper.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
		err = sleeper.Start()
		unix.Close(fd)
	}
	if err != nil {
		c.report("delegate-shared", err, "start a process in "+shared)
		return
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	r = c.launchIn(shared, "-v", "--memory", "max", "/rootfs", "/probe", "alloc", "200")
	err = r.failure(137)
	leaf = containerCgroup(r.stderr)
	if err == nil {
		err = below(leaf, shared)
	}
	if err == nil && !strings.Contains(r.stderr, "launch: warning: cgroup v2: "+shared+" holds processes other than launch") {
		err = errors.New("no warning that " + shared + " cannot hand controllers down")
	}
	c.report("delegate-shared", err, "200M in "+leaf+", with --memory max, in a cgroup of 100M with another process: exit "+strconv.Itoa(r.code))
	r = c.launchIn(shared, "--memory", "64M", "/rootfs", "/probe", "exit", "0")
	err = r.failure(125)
	if err == nil && !strings.Contains(r.stderr, "launch: hint: run launch in a cgroup of its own") {
		err = fmt.Errorf("no hint: %q", r.stderr)
	}
	c.report("delegate-shared-explicit", err, strings.TrimSpace(r.stderr))

	// --cgroup-parent: a cgroup without processes, chosen by the user.
	r = c.launch("-v", "--cgroup-parent", "/containers", "/rootfs", "/probe", "report")
	err = r.failure(0)
	leaf = containerCgroup(r.stderr)
	if err == nil {
		err = below(leaf, parent)
	}
	if err == nil {
		err = limitInside(r.stdout, "memory.max", "67108864")
	}
	c.report("cgroup-parent", err, "container in "+leaf+", its memory.max 64M")

	// Nothing above the callers' cgroups was written, and nothing of launch is left
	// in them but the launchers' leaf.
	var left []string
	for _, d := range []string{alone, shared, parent} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if e.IsDir() && e.Name() != "launch-supervisor" {
				left = append(left, filepath.Join(d, e.Name()))
			}
		}
	}
	after := readTrim(filepath.Join(cgroupRoot, "cgroup.subtree_control"))
	err = nil
	if after != rootBefore {
		err = fmt.Errorf("%s/cgroup.subtree_control went from %q to %q", cgroupRoot, rootBefore, after)
	} else if len(left) > 0 {
		err = fmt.Errorf("cgroups left: %s", strings.Join(left, " "))
	}
	c.report("delegate-above-untouched", err, "root cgroup.subtree_control "+after+"; "+alone+": "+
		readTrim(filepath.Join(alone, "cgroup.subtree_control"))+"; "+shared+": "+readTrim(filepath.Join(shared, "cgroup.subtree_control")))

	c.moveCost(leafDir)
}

// moveCost runs launch -v, 0.5 s apart, in turn: in vminit's cgroup (the root, where
// nothing moves), alone in a new cgroup (the launcher moves into a leaf and enables
// the controllers) and in the leaf of an earlier one, leaf (nothing moves), five times
// each, and reports the median of the "cgroups" phase of each: what the move costs
// when starts are spaced out. Under TCG the figures are those of an emulated CPU.
func (c *checker) moveCost(leaf string) {
	times := map[string][]float64{}
	for i := 0; i < 15; i++ {
		time.Sleep(500 * time.Millisecond)
		var in, kind string
		switch i % 3 {
		case 0:
			kind = "root"
		case 1:
			kind = "move"
			if in = mkCgroup(c, "service-"+strconv.Itoa(i), callerLimit); in == "" {
				return
			}
		case 2:
			kind, in = "leaf", leaf
		}
		r := c.launchIn(in, "-v", "/rootfs", "/bin/true")
		if kind == "move" {
			rmCgroups(in)
		}
		ms, ok := phase(r.stderr, "cgroups")
		if r.failure(0) != nil || !ok {
			c.report("move-cost", errors.New("no cgroups phase in the -v trace"), r.String())
			return
		}
		times[kind] = append(times[kind], ms)
		if ms, ok := noteTime(r.stderr, "moved launch into"); ok {
			times["move and enable"] = append(times["move and enable"], ms)
		}
	}
	say("INFO move-cost: launch -v, starts 0.5 s apart, median of the \"cgroups\" phase: %.3f ms in the root cgroup, "+
		"%.3f ms alone in a new cgroup (of which %.3f ms to move the launcher into a leaf and enable the controllers), %.3f ms started in such a leaf",
		median(times["root"]), median(times["move"]), median(times["move and enable"]), median(times["leaf"]))
}

// noteTime returns the time in the -v note of launch that starts with what
// ("launch: note: cgroup v2: moved launch into DIR and enabled ... (12.345 ms)").
func noteTime(trace, what string) (float64, bool) {
	for _, line := range strings.Split(trace, "\n") {
		rest, ok := strings.CutPrefix(line, "launch: note: cgroup v2: "+what)
		if !ok {
			continue
		}
		_, rest, _ = strings.Cut(rest, "(")
		ms, _, _ := strings.Cut(rest, " ms)")
		v, err := strconv.ParseFloat(ms, 64)
		return v, err == nil
	}
	return 0, false
}

// phase returns the milliseconds of the first trace line of phase name in a -v trace
// ("launch:    0.350 ms  cgroups      v2: /sys/fs/cgroup/...").
func phase(trace, name string) (float64, bool) {
	for _, line := range strings.Split(trace, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "launch:" && f[2] == "ms" && f[3] == name {
			ms, err := strconv.ParseFloat(f[1], 64)
			return ms, err == nil
		}
	}
	return 0, false
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	return s[len(s)/2]
}

// containerCgroup returns the container's cgroup v2 from the launcher's -v trace (its
// "cgroups" phase names it), "" if it names none.
func containerCgroup(trace string) string {
	for _, line := range strings.Split(trace, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "launch:" || f[3] != "cgroups" {
			continue
		}
		for _, w := range f[4:] {
			if strings.HasPrefix(w, cgroupRoot+"/") {
				return w
			}
		}
	}
	return ""
}

// below fails unless leaf is a launch-* cgroup right below dir.
func below(leaf, dir string) error {
	if filepath.Dir(leaf) != dir || !strings.HasPrefix(filepath.Base(leaf), "launch-") {
		return fmt.Errorf("the container's cgroup is %q, want %s/launch-*", leaf, dir)
	}
	return nil
}

// limitInside checks a limit file of the container as probe report saw it.
func limitInside(stdout, file, want string) error {
	var rep report.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		return fmt.Errorf("probe report: %w", err)
	}
	if got := rep.Limits[cgroupRoot+"/"+file]; got != want {
		return fmt.Errorf("%s inside = %q, want %s", file, got, want)
	}
	return nil
}

// mkCgroup makes the cgroup name below the root with memory.max limit (none if "")
// and returns its directory, or "" after reporting why it could not.
func mkCgroup(c *checker, name, limit string) string {
	dir := filepath.Join(cgroupRoot, name)
	err := os.Mkdir(dir, 0o755)
	if err == nil && limit != "" {
		err = os.WriteFile(filepath.Join(dir, "memory.max"), []byte(limit), 0)
	}
	if err != nil {
		c.report("delegate-setup", err, "make "+dir)
		return ""
	}
	return dir
}

// rmCgroups removes the cgroups the checks made, leaves first.
func rmCgroups(dirs ...string) {
	for _, d := range dirs {
		os.Remove(filepath.Join(d, "launch-supervisor"))
		os.Remove(d)
	}
}

func readTrim(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}
