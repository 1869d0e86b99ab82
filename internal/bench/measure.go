package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"launch/internal/profile"
)

// results are the measurements, for the report.
type results struct {
	startup    [2]*startup // back to back, spaced
	rss        []*entry
	viewRSS    *entry // launch with a container reading its /proc view
	seccomp    []*entry
	sysinfo    [2]*entry // sysinfo(2) answered by launch (the /proc view's listener), by the kernel
	mounts     []*entry
	mountCount map[*entry]int // mount table size launch started from
	concurrent *concurrent
	engines    []*engine // podman and containerd, with runc and with launch
	binaries   []binary
	maxPath    [][2]string // GOARCH, instructions
	profiles   []profileCompile
	strace     string // strace -f -c of one launch, the top lines
	perf       string // perf stat of ten launches
}

// startup is one startup measurement: every peer with each payload, and launch -v.
type startup struct {
	spaced  time.Duration
	entries []*entry
	verbose []*entry // launch -v, per payload: the phases
}

// An entry is one row of a measurement: a peer, a payload, and how it is run.
type entry struct {
	label   string
	peer    *peer
	pay     payload
	ex      executor                 // nil: the peer's own
	argv    func(id string) []string // nil: the peer's command for pay
	rss     bool
	timeout time.Duration // 0: runtimeTimeout
	samples []sample
	failed  int
	err     error // the last failure
}

// once runs e one time. A run that did not exit 0 is an error with the peer's last
// words; runc and crun are told to delete what it may have left.
func (e *entry) once() (sample, error) {
	ex := e.ex
	if ex == nil {
		ex = e.peer.exec
	}
	id := newID()
	argv := e.peer.argv(e.pay, id)
	if e.argv != nil {
		argv = e.argv(id)
	}
	timeout := e.timeout
	if timeout == 0 {
		timeout = runtimeTimeout
	}
	smp, err := ex.run(job{Argv: argv, RSS: e.rss, Timeout: timeout, Cred: e.peer.cred})
	if err == nil && smp.Status != 0 {
		err = runError(smp)
	}
	if err != nil && e.peer.remove != nil {
		e.peer.remove(id)
	}
	return smp, err
}

// rounds runs every entry warm+runs times, interleaved: each round starts every entry
// once, and the order rotates by one from round to round, so that no entry always
// follows the same one. With spaced, starts are that far apart; the first warm rounds
// are not kept. An entry that failed three times without a success is dropped.
func (b *bench) rounds(ctx context.Context, es []*entry, warm, runs int, spaced time.Duration) {
	var last time.Time
	for r := 0; r < warm+runs; r++ {
		for i := range es {
			if ctx.Err() != nil {
				return
			}
			e := es[(i+r)%len(es)]
			if e.failed >= 3 && len(e.samples) == 0 {
				continue
			}
			if spaced > 0 && !last.IsZero() {
				time.Sleep(time.Until(last.Add(spaced)))
			}
			last = time.Now()
			smp, err := e.once()
			if err != nil {
				e.failed++
				e.err = err
				continue
			}
			if r >= warm {
				e.samples = append(e.samples, smp)
			}
		}
	}
}

// measureStartup times every peer that runs here with /bin/true and the tiny payload,
// and launch -v for its phases, all in the same rounds.
func (b *bench) measureStartup(ctx context.Context, spaced time.Duration) *startup {
	st := &startup{spaced: spaced}
	for _, pl := range b.payloads() {
		for _, p := range b.peers {
			e := &entry{label: p.name, peer: p, pay: pl}
			st.entries = append(st.entries, e)
		}
		launch := b.peers[0]
		v := &entry{label: "launch -v", peer: launch, pay: pl, argv: func(string) []string {
			return append([]string{b.launch, "-v", b.rootfs}, pl.args...)
		}}
		st.verbose = append(st.verbose, v)
	}
	b.rounds(ctx, runnable(append(st.entries, st.verbose...)), b.cfg.warmup, b.cfg.runs, spaced)
	return st
}

// find returns the entry of a peer and payload.
func (st *startup) find(peer string, pl payload) *entry {
	if st == nil {
		return nil
	}
	for _, e := range st.entries {
		// A peer run in a variant of its own ("runc, no blkio weight") counts as it.
		if (e.peer.name == peer || strings.HasPrefix(e.peer.name, peer+", ")) && e.pay.name == pl.name {
			return e
		}
	}
	return nil
}

// phases averages the phases launch -v printed on its last line, in the order launch
// printed them: "launch: phases (ms): prepare=1.2 cgroups=0.8 ...".
func phases(e *entry) (names []string, mean map[string]float64) {
	sum := map[string]float64{}
	count := map[string]int{}
	for _, s := range e.samples {
		lines := strings.Split(strings.TrimSpace(s.Stderr), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			rest, ok := strings.CutPrefix(lines[i], "launch: phases (ms):")
			if !ok {
				continue
			}
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					continue
				}
				if _, seen := count[k]; !seen {
					names = append(names, k)
				}
				sum[k] += x
				count[k]++
			}
			break
		}
	}
	mean = map[string]float64{}
	for k, v := range sum {
		// Over all runs: a phase that some runs lack (a removal of old cgroups) counts
		// as 0 in those.
		mean[k] = v / float64(len(e.samples))
	}
	return names, mean
}

// viewReads is how many times the container of the /proc view's RSS measurement
// reads /proc/meminfo.
const viewReads = 100000

// measureRSS runs every peer with sleep 0.3 and reads the peak RSS of the process the
// bench started while it runs. Then launch with a container that reads its /proc view
// viewReads times, in every way the probe knows (issue 12): the launcher serves each
// read, and its memory must not grow with them.
func (b *bench) measureRSS(ctx context.Context) {
	for _, p := range b.peers {
		b.res.rss = append(b.res.rss, &entry{label: p.name, peer: p, pay: payloadSleep, rss: true})
	}
	b.rounds(ctx, runnable(b.res.rss), 1, 3, 0)
	if !b.probe || b.peers[0].err != nil {
		return
	}
	args := []string{b.launch, "--memory", "64M", b.rootfs, "/bin/probe", "try", "viewload", strconv.Itoa(viewReads), "4"}
	b.res.viewRSS = &entry{label: "launch, /proc view", peer: b.peers[0], rss: true, timeout: 5 * time.Minute,
		argv: func(string) []string { return args }}
	b.rounds(ctx, []*entry{b.res.viewRSS}, 0, 2, 0)
}

// runnable returns the entries whose peer can run here.
func runnable(es []*entry) []*entry {
	var run []*entry
	for _, e := range es {
		if e.peer.err == nil {
			run = append(run, e)
		}
	}
	return run
}

// payloads are the programs the startup is timed with: /bin/true, and the tiny
// payload when it could be built.
func (b *bench) payloads() []payload {
	if b.tiny {
		return []payload{payloadTrue, payloadTiny}
	}
	return []payload{payloadTrue}
}

// measureSeccomp runs the probe's system-call loops in launch with its filter and
// without (--seccomp=unconfined).
func (b *bench) measureSeccomp(ctx context.Context) {
	if !b.probe {
		return
	}
	launch := b.peers[0]
	for _, call := range []string{"getppid", "personality"} {
		for _, mode := range []string{"default", "unconfined"} {
			args := []string{b.launch, "--seccomp=" + mode, b.rootfs, "/bin/probe", "loop", call, strconv.Itoa(b.cfg.loops)}
			b.res.seccomp = append(b.res.seccomp, &entry{label: call + " " + mode, peer: launch,
				argv: func(string) []string { return args }})
		}
	}
	// sysinfo(2), which the launcher answers for the container when the /proc view is
	// on (a round trip to it per call), and which the kernel answers with the view off:
	// a hundredth of the calls.
	n := strconv.Itoa(max(b.cfg.loops/100, 100))
	for i, mode := range []string{"on", "off"} {
		args := []string{b.launch, "--proc-view=" + mode, b.rootfs, "/bin/probe", "loop", "sysinfo", n}
		b.res.sysinfo[i] = &entry{label: "sysinfo, view " + mode, peer: launch, argv: func(string) []string { return args }}
	}
	runs := 5
	if b.cfg.quick {
		runs = 3
	}
	b.rounds(ctx, append(b.res.seccomp, b.res.sysinfo[:]...), 1, runs, 0)
}

// wallPerCall summarizes the wall time per call that the probe printed ("... wall
// 74839.30)"): the zero summary if nothing.
func wallPerCall(e *entry) summary {
	var xs []float64
	for _, s := range e.samples {
		if f := strings.Fields(s.Stdout); len(f) > 0 {
			if x, err := strconv.ParseFloat(strings.TrimSuffix(f[len(f)-1], ")"), 64); err == nil {
				xs = append(xs, x)
			}
		}
	}
	return summarize(xs)
}

// nsPerCall summarizes what the probe printed ("41.20 ns/call ..."): the zero summary
// if nothing.
func nsPerCall(e *entry) summary {
	var xs []float64
	for _, s := range e.samples {
		if f := strings.Fields(s.Stdout); len(f) > 0 {
			if x, err := strconv.ParseFloat(f[0], 64); err == nil {
				xs = append(xs, x)
			}
		}
	}
	return summarize(xs)
}

// measureMounts times launch /bin/true in runners whose mount namespace holds 0, 10,
// 100 and 500 extra tmpfs mounts: launch's new mount namespace copies them all, and
// making them private walks them all.
func (b *bench) measureMounts(ctx context.Context) {
	wc, _ := exec.LookPath("wc")
	b.res.mountCount = map[*entry]int{}
	launch := b.peers[0]
	for _, n := range []int{0, 10, 100, 500} {
		dir, err := os.MkdirTemp("", "launch-bench-mounts-")
		if err != nil {
			b.note("mount scaling: %v", err)
			return
		}
		b.tempDirs = append(b.tempDirs, dir)
		r, err := b.remote(fmt.Sprintf("mounts=%d:%s", n, dir))
		if err != nil {
			b.note("mount scaling with %d mounts: %v", n, err)
			continue
		}
		e := &entry{label: fmt.Sprintf("+%d", n), peer: launch, pay: payloadTrue, ex: r}
		b.res.mounts = append(b.res.mounts, e)
		if wc != "" {
			if s, err := r.run(job{Argv: []string{wc, "-l", "/proc/self/mountinfo"}, Timeout: runtimeTimeout}); err == nil {
				b.res.mountCount[e], _ = strconv.Atoi(strings.Fields(s.Stdout + " 0")[0])
			}
		}
	}
	b.rounds(ctx, b.res.mounts, b.cfg.warmup, b.cfg.runs, 0)
}

// concurrent is the result of starting launches all at once.
type concurrent struct {
	n, repeats  int
	walls       []float64 // each launch's start to exit, ms
	throughputs []float64 // launches per second, per batch
	failed      int
	err         error
}

// measureConcurrency starts 20 launches at the same instant, 5 times (after one batch
// to warm up), and waits for all of them.
func (b *bench) measureConcurrency(ctx context.Context) {
	c := &concurrent{n: 20, repeats: 5}
	if b.cfg.quick {
		c.repeats = 2
	}
	b.res.concurrent = c
	launch := b.peers[0]
	scratches := make([]*scratch, c.n)
	for i := range scratches {
		s, err := newScratch()
		if err != nil {
			c.err = err
			return
		}
		defer s.close()
		scratches[i] = s
	}
	for rep := 0; rep <= c.repeats && ctx.Err() == nil; rep++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var walls []float64
		go1 := make(chan struct{})
		for i := 0; i < c.n; i++ {
			e := &entry{peer: launch, pay: payloadTrue, ex: scratches[i]}
			wg.Go(func() {
				<-go1
				s, err := e.once()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					c.failed++
					c.err = err
					return
				}
				walls = append(walls, ms(s.Wall))
			})
		}
		t0 := time.Now()
		close(go1)
		wg.Wait()
		el := time.Since(t0)
		if rep == 0 {
			continue // warm-up
		}
		c.walls = append(c.walls, walls...)
		c.throughputs = append(c.throughputs, float64(len(walls))/el.Seconds())
	}
}

// profile runs launch /bin/true once under strace -f -c and ten times under perf stat,
// where they are installed, for the note on missed targets. Their outputs are kept in
// OUT; the report quotes them. Neither touches the timed runs.
func (b *bench) profile(ctx context.Context) {
	if ctx.Err() != nil || b.peers[0].err != nil {
		return
	}
	argv := []string{b.launch, b.rootfs, "/bin/true"}
	if strace, err := exec.LookPath("strace"); err == nil {
		f := filepath.Join(b.out, "strace-launch.txt")
		cmd := exec.Command(strace, append([]string{"-f", "-c", "-S", "time", "-o", f}, argv...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.note("strace -f -c launch: %v: %s", err, lastLine(string(out)))
		} else if data, err := os.ReadFile(f); err == nil {
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			b.res.strace = strings.Join(lines[:min(len(lines), 14)], "\n")
		}
	}
	if perf, err := exec.LookPath("perf"); err == nil {
		f := filepath.Join(b.out, "perf-stat-launch.txt")
		cmd := exec.Command(perf, append([]string{"stat", "-r", "10", "-e", "task-clock,context-switches,cpu-migrations,page-faults", "-o", f}, argv...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.note("perf stat launch: %v: %s", err, lastLine(string(out)))
		} else if data, err := os.ReadFile(f); err == nil {
			var keep []string
			for _, l := range strings.Split(string(data), "\n") {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
					keep = append(keep, l)
				}
			}
			b.res.perf = strings.Join(keep, "\n")
		}
	}
}

// A binary is one row of the size table.
type binary struct {
	name, path string
	info       elfFacts
	ldd        int
	err        error
}

// measureBinaries reads the size and the dynamic dependencies of launch, of each
// peer's program and of the payloads.
func (b *bench) measureBinaries() {
	add := func(name, path string) {
		bin := binary{name: name, path: path}
		bin.info, bin.err = elfInfo(path)
		if bin.err == nil && !bin.info.static {
			bin.ldd = lddCount(path)
		}
		b.res.binaries = append(b.res.binaries, bin)
	}
	name := "launch"
	if b.cfg.launch == "" {
		name = "launch (make build, copied)"
	}
	add(name, b.launch)
	rel := filepath.Join(b.repo, "build", "release", "launch-linux-"+runtime.GOARCH)
	if _, err := os.Stat(rel); err == nil {
		add("launch (release)", rel)
	}
	// The launcher's row is above; the peers that run it again (with --userns, as OCI
	// runtime, from a copy that is gone by now) add none.
	seen := map[string]bool{b.launch: true}
	if b.unpriv != nil {
		seen[b.unpriv.launch] = true
	}
	for _, p := range b.peers {
		if p.bin != "" && p.name != "launch" && !seen[p.bin] {
			seen[p.bin] = true
			add(filepath.Base(p.bin), p.bin)
		}
	}
	if chroot, err := exec.LookPath("chroot"); err == nil {
		add("chroot (floor)", chroot)
	}
	add("busybox (payload)", filepath.Join(b.rootfs, "bin", "busybox"))
	if b.tiny {
		add("tiny (payload)", filepath.Join(b.rootfs, "bin", "tiny"))
	}
}

// readMaxPath reads the worst-case BPF path of each GOARCH's generated filter.
func (b *bench) readMaxPath() {
	files, _ := filepath.Glob(filepath.Join(b.repo, "internal", "seccomp", "zfilter_linux_*.go"))
	re := regexp.MustCompile(`(?m)^const maxPath = (\d+)`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.note("read %s: %v", f, err)
			continue
		}
		arch := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "zfilter_linux_"), ".go")
		if arch == "other" {
			continue // the fail-closed stub of GOARCHes without a filter
		}
		m := re.FindSubmatch(data)
		if m == nil {
			b.note("%s: no const maxPath", f)
			continue
		}
		b.res.maxPath = append(b.res.maxPath, [2]string{arch, string(m[1])})
	}
	sort.Slice(b.res.maxPath, func(i, j int) bool { return b.res.maxPath[i][0] < b.res.maxPath[j][0] })
}

// profileCompile is how long one seccomp profile takes to read and compile, as
// launch --seccomp=FILE does it at a start, and what it compiles to.
type profileCompile struct {
	name           string
	err            error
	runs           int
	median, min    time.Duration
	insns, maxPath int
	abis           []string
}

// measureProfiles reads and compiles the bench's profile (launch's own filter, written
// as OCI JSON) and podman's default one, where installed, in this process, with the
// collector off as in the launcher.
func (b *bench) measureProfiles(ctx context.Context) {
	ours, err := json.Marshal(b.seccomp)
	if err != nil {
		b.note("seccomp profile: %v", err)
		return
	}
	podman, err := os.ReadFile(podmanProfile)
	inputs := []struct {
		name string
		data []byte
		err  error
	}{
		{"syscalls.txt as an OCI profile (what runc and crun run here)", ours, nil},
		{"podman's default (" + podmanProfile + ")", podman, err},
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	c := profile.Container{Kernel: profile.RunningKernel(), Caps: b.caps}
	for _, in := range inputs {
		pc := profileCompile{name: in.name, err: in.err}
		var times []time.Duration
		for i := 0; pc.err == nil && i < 200 && ctx.Err() == nil; i++ {
			t := time.Now()
			var p *profile.Profile
			if p, pc.err = profile.Parse(bytes.NewReader(in.data)); pc.err != nil {
				break
			}
			prog, err := p.Compile(c)
			times = append(times, time.Since(t))
			if pc.err = err; err != nil {
				break
			}
			pc.insns, pc.maxPath, pc.abis = len(prog.Filter), prog.MaxPath, prog.ABIs
			if i%20 == 19 {
				runtime.GC() // the collector is off: keep the heap small between batches
			}
		}
		if len(times) > 0 {
			slices.Sort(times)
			pc.runs, pc.median, pc.min = len(times), times[len(times)/2], times[0]
		}
		b.res.profiles = append(b.res.profiles, pc)
	}
}

// podmanProfile is where podman's default profile is installed (containers-common).
const podmanProfile = "/usr/share/containers/seccomp.json"
