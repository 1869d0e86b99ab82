package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/caps"
	"launch/internal/profile"
)

// A bench is one run of the benchmark: what it prepared, what it measured, and what
// did not work.
type bench struct {
	cfg        *config
	repo       string // the module's root
	out        string // absolute output directory
	rootfs     string // OUT/rootfs
	launch     string // the launcher measured
	probe      bool   // the probe is in the root file system
	tiny       bool   // the tiny payload is in the root file system
	caps       []string
	seccomp    *profile.Profile
	state      string          // temporary directory for runc's and crun's state
	bundles    map[string]bool // payloads whose OCI bundle is written
	installErr map[string]error
	scratch    *scratch // runs the commands the bench starts itself
	unpriv     *unpriv  // the ordinary user of the unprivileged peers, once chosen
	remotes    []*remote
	tempDirs   []string
	notes      []string // what did not work, for the report
	cleaned    bool

	started time.Time
	elapsed time.Duration
	machine [][2]string
	ncpu    int         // CPUs in /proc/cpuinfo
	load    [2]string   // load average at the start and the end
	took    [][2]string // what each part of the run took
	peers   []*peer
	res     results
}

// logf reports progress on stderr; the report goes to stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// note records something that did not work; it goes into the report.
func (b *bench) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	logf("%s", msg)
	b.notes = append(b.notes, msg)
}

// run prepares, measures, cleans up and reports. Its error means the bench could not
// run at all; everything else is in the report.
func run(ctx context.Context, cfg *config) error {
	if os.Geteuid() != 0 {
		return errors.New("must run as root: containers need it (sudo go run ./internal/bench)")
	}
	b := &bench{cfg: cfg, started: time.Now(), bundles: map[string]bool{}, installErr: map[string]error{}}
	var err error
	if b.repo, err = findRepo(); err != nil {
		return err
	}
	if b.out, err = filepath.Abs(cfg.out); err != nil {
		return err
	}
	if err := os.MkdirAll(b.out, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	b.rootfs = filepath.Join(b.out, "rootfs")
	if b.scratch, err = newScratch(); err != nil {
		return err
	}
	defer b.cleanup()
	// The runtimes' state on a tmpfs, as engines keep it (/run/containerd/runc,
	// /run/runc): on a disk, a runtime that makes its state durable (launch's
	// renameio) would be timed for the disk's fsync, which /run never costs.
	stateParent := ""
	var fs unix.Statfs_t
	if unix.Statfs("/dev/shm", &fs) == nil && fs.Type == unix.TMPFS_MAGIC {
		stateParent = "/dev/shm"
	}
	if b.state, err = os.MkdirTemp(stateParent, "launch-bench-state-"); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}

	// Preparation: the peers, launch, the root file system, the OCI profile.
	b.installPeers()
	if err := b.buildLaunch(); err != nil {
		return err
	}
	if err := b.makeRootfs(); err != nil {
		return fmt.Errorf("make root file system %s: %w", b.rootfs, err)
	}
	// caps.txt, as compiled into launch.
	for _, n := range caps.Default.Names() {
		b.caps = append(b.caps, "CAP_"+n)
	}
	if b.seccomp, err = seccompProfile(filepath.Join(b.repo, "syscalls.txt")); err != nil {
		return fmt.Errorf("make seccomp profile: %w", err)
	}
	b.machine, b.ncpu = machineInfo()
	b.load[0] = loadAverage()
	b.peers = b.preflight(b.makePeers())
	for _, p := range b.peers {
		if p.bin != "" {
			p.version = versionOf(p.bin)
		}
		if p.err != nil {
			b.note("%s: %v", p.name, p.err)
		}
	}
	b.took = append(b.took, [2]string{"preparation (install, make build, root file system, first run of each peer)", since(b.started)})

	// Measurements, cheapest and most important first, so that an interrupted run
	// still reports something.
	steps := []struct {
		name string
		f    func(context.Context)
	}{
		{"startup, back to back", func(ctx context.Context) { b.res.startup[0] = b.measureStartup(ctx, 0) }},
		{"seccomp overhead", b.measureSeccomp},
		{"seccomp profiles compiled", b.measureProfiles},
		{"peak RSS", b.measureRSS},
		{"mount scaling", b.measureMounts},
		{"concurrent starts", b.measureConcurrency},
		{"container engines (podman, containerd)", b.measureEngines},
		{"startup, spaced", func(ctx context.Context) { b.res.startup[1] = b.measureStartup(ctx, cfg.spaced) }},
		{"a profile of launch (strace, perf)", b.profile},
	}
	if cfg.spaced == 0 {
		steps = slices.Delete(steps, len(steps)-2, len(steps)-1)
	}
	for _, s := range steps {
		if ctx.Err() != nil {
			break
		}
		logf("measuring %s", s.name)
		t := time.Now()
		s.f(ctx)
		b.took = append(b.took, [2]string{s.name, since(t)})
	}
	b.load[1] = loadAverage()
	b.measureBinaries()
	b.readMaxPath()
	b.cleanup()
	if ctx.Err() != nil {
		b.note("interrupted: the report is incomplete")
	}
	b.elapsed = time.Since(b.started)

	md := b.report()
	if err := os.WriteFile(filepath.Join(b.out, "results.md"), []byte(md), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(b.out, "startup.svg"), []byte(b.chart()), 0o644); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	fmt.Print(md)
	logf("done in %v: %s, %s", b.elapsed.Round(time.Second),
		filepath.Join(b.out, "results.md"), filepath.Join(b.out, "startup.svg"))
	return ctx.Err()
}

// since is the time from t to now, rounded for the report.
func since(t time.Time) string { return time.Since(t).Round(100 * time.Millisecond).String() }

// remote starts a runner and keeps it for cleanup.
func (b *bench) remote(setup string) (*remote, error) {
	r, err := startRemote(setup)
	if err != nil {
		return nil, err
	}
	b.remotes = append(b.remotes, r)
	return r, nil
}

// cleanup removes everything the bench made outside OUT: containers runc and crun
// left, their state, the runners and their mounts, temporary directories; then it
// checks that no cgroup of the bench's runs is left. It runs once.
func (b *bench) cleanup() {
	if b.cleaned {
		return
	}
	b.cleaned = true
	for _, p := range b.peers {
		// A peer that failed its first run was cleaned up after it.
		if p.remove == nil || p.err != nil {
			continue
		}
		out, _ := exec.Command(p.bin, "--root", b.stateDir(p.name), "list", "-q").Output()
		for _, id := range strings.Fields(string(out)) {
			b.note("%s left container %s: deleted", p.name, id)
			p.remove(id)
		}
	}
	for _, r := range b.remotes {
		if err := r.close(); err != nil {
			b.note("runner %s: %v", r.setup, err)
		}
	}
	b.remotes = nil
	for _, d := range append(b.tempDirs, b.state) {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	b.tempDirs = nil
	// Cgroups of runc and crun are named after the container id.
	prefix := fmt.Sprintf("lbench-%d-", os.Getpid())
	for _, d := range findCgroups(func(name string) bool { return strings.HasPrefix(name, prefix) }) {
		if err := unix.Rmdir(d); err != nil {
			b.note("cgroup %s left behind: rmdir: %v", d, err)
		} else {
			b.note("cgroup %s was left behind: removed", d)
		}
	}
	// launch removes its own; those of a launcher that was killed go with --gc.
	if b.launch != "" {
		if out, err := exec.Command(b.launch, "--gc").CombinedOutput(); err != nil {
			b.note("launch --gc: %v: %s", err, lastLine(string(out)))
		} else if s := strings.TrimSpace(string(out)); s != "" {
			b.note("launch --gc removed cgroups left behind: %s", strings.ReplaceAll(s, "\n", "; "))
		}
	}
	if b.scratch != nil {
		b.scratch.close()
	}
}

// findCgroups lists the cgroup directories whose name matches, in every hierarchy, up
// to three levels down.
func findCgroups(match func(name string) bool) []string {
	var found []string
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			p := filepath.Join(dir, e.Name())
			if match(e.Name()) {
				found = append(found, p)
			} else if depth < 3 {
				walk(p, depth+1)
			}
		}
	}
	walk("/sys/fs/cgroup", 0)
	return found
}

// machineInfo describes the machine for the report, and counts its CPUs.
func machineInfo() ([][2]string, int) {
	uname, _ := exec.Command("uname", "-a").Output()
	var u unix.Utsname
	unix.Uname(&u)
	model, cpus := "unknown", 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			switch strings.TrimSpace(k) {
			case "processor":
				cpus++
			case "model name":
				model = strings.TrimSpace(v)
			}
		}
	}
	mem := "unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.Join(strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:], " ")
	}
	return [][2]string{
		{"Machine", strings.TrimSpace(string(uname))},
		{"CPU", fmt.Sprintf("%s, %d CPUs", model, cpus)},
		{"Memory", mem},
		{"Kernel", unix.ByteSliceToString(u.Release[:])},
		{"Cgroups", cgroupLayout()},
		{"Date", time.Now().UTC().Format("2006-01-02 15:04 MST")},
		{"Bench built with", runtime.Version()},
	}, cpus
}

// loadAverage is the first three fields of /proc/loadavg: other work on the machine
// makes every figure noisier, and the report should say so.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// cgroupLayout names the cgroup layout from the file systems mounted at the usual place.
func cgroupLayout() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) != nil {
		return "none at /sys/fs/cgroup"
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2 (unified)"
	}
	if unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		ctl, _ := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
		c := strings.TrimSpace(string(ctl))
		if c == "" {
			c = "none"
		}
		return "hybrid: v1 controllers, cgroup2 at /sys/fs/cgroup/unified (controllers: " + c + ")"
	}
	return "v1"
}
