package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"launch/internal/cgroup"
	"launch/internal/mountinfo"
	"launch/internal/probe/expect"
	"launch/internal/probe/report"
	"launch/internal/rawfile"
	"launch/internal/testutil"

	"golang.org/x/sys/unix"
)

var (
	startedMu  sync.Mutex
	startedIDs = map[launcherID]bool{} // the launchers this test binary started
)

// recordStart remembers the launcher pid, which has not been waited for yet.
func recordStart(pid int) {
	id := idOf(pid)
	startedMu.Lock()
	startedIDs[id] = true
	startedMu.Unlock()
}

// startedByUs reports whether a cgroup named launch-PID-START-PIDNS belongs to one of the
// launchers this test binary started.
func startedByUs(cgroupPath string) bool {
	startedMu.Lock()
	defer startedMu.Unlock()
	return startedIDs[owner(filepath.Base(cgroupPath))]
}

// A launcherID names a launcher as the names of its cgroups do (launch-PID-START-PIDNS):
// by its pid and its start time. Pids alone do not do: they wrap (at 32768 on the
// development VM) while other people's launchers run on the machine, and a test
// binary that starts thousands of launchers would take theirs for its own.
type launcherID struct {
	pid   int
	start uint64 // field 22 of /proc/PID/stat
}

// idOf returns the launcherID of process pid, which must exist (a zombie does).
func idOf(pid int) launcherID {
	start, _ := cgroup.StartTime(pid)
	return launcherID{pid, start}
}

// owner returns the launcher that named a cgroup launch-PID-START-PIDNS, or the zero
// launcherID for another name.
func owner(name string) launcherID {
	f := strings.Split(name, "-")
	if len(f) != 4 || f[0] != "launch" {
		return launcherID{}
	}
	pid, _ := strconv.Atoi(f[1])
	start, _ := strconv.ParseUint(f[2], 10, 64)
	return launcherID{pid, start}
}

// prefix is how the names of the launcher's cgroups start: launch-PID-START-.
func (id launcherID) prefix() string {
	return "launch-" + strconv.Itoa(id.pid) + "-" + strconv.FormatUint(id.start, 10) + "-"
}

// launchTmp is the TMPDIR of every launcher the tests start: it must stay empty.
var launchTmp string

func TestMain(m *testing.M) {
	if calls := os.Getenv(nosysEnv); calls != "" {
		nosysExec(calls) // see nosys_test.go; does not return
	}
	dir, err := os.MkdirTemp("", "launch-test-tmpdir-")
	if err != nil {
		panic(err)
	}
	launchTmp = dir
	code := testutil.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is how a run of the launcher ended.
type result struct {
	stdout, stderr string
	code           int
}

// launcher returns the launch binary, built once, after checking that the test may
// start containers.
func launcher(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	return testutil.Build(t, "./init")
}

// runLaunch runs the launcher with args, stdin from /dev/null, and a time limit.
func runLaunch(t *testing.T, args ...string) result {
	t.Helper()
	r, err := execLaunch(t, launchIO{}, recordStart, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// execLaunch runs the launcher with args as l says, within a time limit, and calls
// started with its pid. It returns an error instead of ending the test, for
// goroutines other than the test's.
func execLaunch(t *testing.T, l launchIO, started func(pid int), args ...string) (result, error) {
	limit := time.Minute
	if l.timeout > 0 {
		limit = l.timeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := launchCmd(ctx, t, l, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if l.stdout != nil {
		cmd.Stdout = l.stdout
	}
	if l.stderr != nil {
		cmd.Stderr = l.stderr
	}
	if err := cmd.Start(); err != nil {
		return result{}, fmt.Errorf("launch %q: %w", args, err)
	}
	started(cmd.Process.Pid)
	err := cmd.Wait()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		return r, fmt.Errorf("launch %q: %w", args, err)
	}
	if ctx.Err() != nil {
		return r, fmt.Errorf("launch %q: timed out\nstderr: %s", args, r.stderr)
	}
	return r, nil
}

// launchCmd is the command that runs the launcher with args as l says, killed when
// ctx is done.
func launchCmd(ctx context.Context, t *testing.T, l launchIO, args ...string) *exec.Cmd {
	name := launcher(t)
	if l.bin != "" {
		name = l.bin
	}
	env := append(append(os.Environ(), "TMPDIR="+launchTmp), l.env...)
	if len(l.nosys) > 0 {
		// The test binary, re-executed, makes these calls answer ENOSYS and execs the
		// launcher, which keeps the pid.
		name, args = os.Args[0], append([]string{name}, args...)
		env = append(env, nosysEnv+"="+strings.Join(l.nosys, ","))
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin, cmd.Env, cmd.ExtraFiles = l.stdin, env, l.files
	if l.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: l.cred}
	}
	return cmd
}

// probe runs /probe report in a container on rootfs with options opts and returns the
// report.
func probe(t *testing.T, rootfs string, opts ...string) report.Report {
	t.Helper()
	args := append(append([]string{}, opts...), rootfs, "/probe", "report")
	r := runLaunch(t, args...)
	if r.code != 0 {
		t.Fatalf("launch %v: exit %d\nstderr: %s", args, r.code, r.stderr)
	}
	return parseReport(t, r.stdout)
}

// parseReport reads what /probe report printed.
func parseReport(t *testing.T, out string) report.Report {
	t.Helper()
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("probe report: %v\n%s", err, out)
	}
	return rep
}

// try runs /probe try OP ARGS... in a container on rootfs with options opts, expects
// it to exit 0, and returns what it printed.
func try(t *testing.T, rootfs string, opts []string, op ...string) string {
	t.Helper()
	args := tryArgs(rootfs, opts, op)
	return tryOutput(t, args, runLaunch(t, args...))
}

// tryArgs is the launcher's command line for /probe try OP... on rootfs.
func tryArgs(rootfs string, opts, op []string) []string {
	return append(append(append([]string{}, opts...), rootfs, "/probe", "try"), op...)
}

// tryOutput returns what /probe try printed in the run r of args, which must exit 0.
func tryOutput(t *testing.T, args []string, r result) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("launch %q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

// hostMounts returns the mount table of the test process.
func hostMounts(t *testing.T) []mountinfo.Mount {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := mountinfo.Parse(mi)
	if err != nil {
		t.Fatalf("/proc/self/mountinfo: %v", err)
	}
	return ms
}

// wantDefault returns what a container started on rootfs without options must look
// like on this machine (see internal/probe/expect), as the launchers the test starts
// see it: in the test's namespaces, with its environment as it is now.
func wantDefault(t *testing.T, rootfs string) expect.Want {
	t.Helper()
	h, err := expect.ThisHost()
	if err != nil {
		t.Fatal(err)
	}
	return expect.Default(h, rootfs)
}

// expectOK fails t with each problem that the checks of the expectation table named
// (every check if none is) find in rep against w.
func expectOK(t *testing.T, rep report.Report, w expect.Want, checks ...string) {
	t.Helper()
	for _, res := range expect.Run(&rep, &w, checks...) {
		for _, p := range res.Problems {
			t.Errorf("%s: %s", res.Name, p)
		}
	}
}

// hostState is what a run of the launcher must leave as it found it.
type hostState struct {
	mounts  []string
	cgroups []string
	tmp     []string
}

func snapshot(t *testing.T) hostState {
	t.Helper()
	var s hostState
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(mi)), "\n") {
		f := strings.Fields(l)
		// Mount IDs and peer groups stay; only the entries' identity matters.
		s.mounts = append(s.mounts, strings.Join(f[1:], " "))
	}
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.HasPrefix(d.Name(), "launch-") {
			s.cgroups = append(s.cgroups, p)
		}
		return nil
	})
	// The launcher makes no temporary files at all. Anything it made by mistake would
	// be in its TMPDIR (a directory of its own, see runLaunch) or, under a name of its
	// own, in /tmp; other programs on the machine may use /tmp meanwhile.
	for _, dir := range []string{launchTmp, os.TempDir()} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if dir == launchTmp || (strings.Contains(e.Name(), "launch") && !strings.HasPrefix(e.Name(), "launch-test-") && !strings.HasPrefix(e.Name(), "launch-bench-")) {
				s.tmp = append(s.tmp, filepath.Join(dir, e.Name()))
			}
		}
	}
	return s
}

// unchanged fails t if the host differs from before.
func (before hostState) unchanged(t *testing.T) {
	t.Helper()
	after := snapshot(t)
	if !slices.Equal(before.mounts, after.mounts) {
		t.Errorf("host mount table changed:\nbefore:\n%s\nafter:\n%s", strings.Join(before.mounts, "\n"), strings.Join(after.mounts, "\n"))
	}
	// Only the launchers of this test binary count: other programs on the machine may
	// be running launch meanwhile.
	for _, cg := range after.cgroups {
		if !slices.Contains(before.cgroups, cg) && startedByUs(cg) {
			t.Errorf("cgroup left behind: %s", cg)
		}
	}
	for _, e := range after.tmp {
		if !slices.Contains(before.tmp, e) {
			t.Errorf("%s appeared", e)
		}
	}
}

// A swap is a neighbour exchanging two names with renameat2(RENAME_EXCHANGE) in a
// loop, on a thread of its own, until stop.
type swap struct {
	done  atomic.Bool
	swaps atomic.Int64
	wg    sync.WaitGroup
}

// swapper starts exchanging a and b.
func swapper(a, b string) *swap {
	sw := &swap{}
	sw.wg.Add(1)
	go func() {
		defer sw.wg.Done()
		runtime.LockOSThread()
		for !sw.done.Load() {
			if unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE) == nil {
				sw.swaps.Add(1)
			}
		}
	}()
	return sw
}

// stop ends the exchanges and returns how many were made.
func (sw *swap) stop() int64 {
	sw.done.Store(true)
	sw.wg.Wait()
	return sw.swaps.Load()
}

// addProbe32 puts the probe built for GOARCH 386 into rootfs as /probe32: a 32-bit
// program of the compat ABI of an amd64 kernel.
func addProbe32(t *testing.T, rootfs string) {
	t.Helper()
	if err := rawfile.CopyFile(testutil.BuildFor(t, "./internal/probe", "386"), filepath.Join(rootfs, "probe32"), 0o755); err != nil {
		t.Fatal(err)
	}
}
