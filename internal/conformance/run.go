package conformance

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"launch/internal/mountinfo"
)

// DefaultTimeout is how long a program may run. The slowest on this machine take
// 10-14 s (delete, kill, pidfile: they poll the state once a second).
const DefaultTimeout = 60 * time.Second

// A Result is what one program did with one runtime.
type Result struct {
	Test string
	TAP
	// Exit is the program's exit status: -1 when it was killed (TimedOut).
	Exit     int
	TimedOut bool
	Elapsed  time.Duration
	// Stderr is the end of the program's standard error, where util.Fatal writes.
	Stderr string
	// Removed is what the program left behind and Run removed: containers the
	// runtime still knew and cgroups of the suite's fixed paths.
	Removed []string
	// Left is what Run could not remove.
	Left []string
}

// OK reports the program's own verdict: it ended in time with status 0 (the _fail
// programs and util.Fatal exit 1 when the runtime did not do as it must) and did not
// bail out; and when it ran no test at all, it printed no diagnostic (the hooks
// programs print an error as YAML, under a plan of 1..0, and exit 0).
func (r *Result) OK() bool {
	return !r.TimedOut && r.Exit == 0 && !r.Bailed && !(r.Pass+r.Fail == 0 && r.Diagnostics > 0)
}

// Status says in a word or two why the program is not OK, or "ok".
func (r *Result) Status() string {
	switch {
	case r.TimedOut:
		return "timed out"
	case r.Exit != 0:
		return "exit " + strconv.Itoa(r.Exit)
	case r.Bailed:
		return "bailed out"
	case !r.OK():
		return "error"
	}
	return "ok"
}

// Options tune RunAll.
type Options struct {
	// Timeout limits each program; DefaultTimeout if 0.
	Timeout time.Duration
	// Parallel is how many programs run at once, 1 if 0. The Exclusive ones run one
	// after the other, beside the rest.
	Parallel int
	// Progress, if set, is called with each result as its program ends, from one
	// goroutine at a time.
	Progress func(*Result)
}

// RunAll runs every program of the suite with the runtime binary rt (a path, or a
// name looked up in PATH) and returns their results in the order of s.Tests. It
// needs root. Two RunAlls, in this process or another, do not run at once.
func (s *Suite) RunAll(ctx context.Context, rt string, opt Options) ([]*Result, error) {
	if opt.Timeout == 0 {
		opt.Timeout = DefaultTimeout
	}
	opt.Parallel = max(opt.Parallel, 1)
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()

	// The cgroups of the suite's fixed paths are removed after each exclusive
	// program; this finds any a shared one made, which would be a bug of Exclusive.
	before, err := suiteCgroups()
	if err != nil {
		return nil, err
	}
	results := make([]*Result, len(s.Tests))
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		slots = make(chan struct{}, opt.Parallel)
	)
	do := func(i int, exclusive bool) {
		slots <- struct{}{}
		r, err := s.run(ctx, s.Tests[i], rt, opt.Timeout, exclusive)
		<-slots
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			first = cmp.Or(first, err)
			return
		}
		results[i] = r
		if opt.Progress != nil {
			opt.Progress(r)
		}
	}
	// The exclusive programs one after the other, beside the shared ones: opt.Parallel
	// programs at a time in all. The slowest (delete, kill, pidfile) mostly sleep.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, test := range s.Tests {
			if slices.Contains(s.Exclusive, test) {
				do(i, true)
			}
		}
	}()
	for i, test := range s.Tests {
		if !slices.Contains(s.Exclusive, test) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				do(i, false)
			}()
		}
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	removed, left, err := removeCgroups(before)
	if err != nil {
		return nil, err
	}
	if stray := append(removed, left...); len(stray) > 0 {
		return nil, fmt.Errorf("programs not in Exclusive made the suite's cgroups: %s", strings.Join(stray, ", "))
	}
	return results, nil
}

// Run runs one program alone (see RunAll).
func (s *Suite) Run(ctx context.Context, test, rt string, timeout time.Duration) (*Result, error) {
	if !slices.Contains(s.Tests, test) {
		return nil, fmt.Errorf("no test %q in runtime-tools %s", test, Version)
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.run(ctx, test, rt, cmp.Or(timeout, DefaultTimeout), true)
}

// lock takes the suite's lock file: its programs use fixed cgroup paths, and Run's
// cleanup removes what it finds there.
func (s *Suite) lock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.Dir, "run.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	return func() { f.Close() }, nil
}

// run runs test with rt in a directory of its own, then removes what it left: the
// containers it created and, with cgroups set, the suite's cgroups it made.
func (s *Suite) run(ctx context.Context, test, rt string, timeout time.Duration, cgroups bool) (*Result, error) {
	real, err := exec.LookPath(rt)
	if err == nil {
		real, err = filepath.Abs(real)
	}
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	work, err := os.MkdirTemp("", "launch-test-conformance-")
	if err != nil {
		return nil, err
	}
	r := &Result{Test: test}
	defer func() {
		if err := os.RemoveAll(work); err != nil {
			r.Left = append(r.Left, err.Error())
		}
	}()
	// MkdirTemp makes it 0700; the bundles inside must be reachable by the
	// container's root where a user namespace maps it to another user
	// (linux_uid_mappings: runc's bind mount of the bundle fails with EACCES).
	if err := os.Chmod(work, 0o755); err != nil {
		return nil, err
	}

	// The working directory: what the program reads there, the wrapper that logs
	// the runtime's command lines and, through TMPDIR, the bundles.
	rootfs := "rootfs-" + runtime.GOARCH + ".tar.gz"
	if err := os.Symlink(filepath.Join(s.Dir, rootfs), filepath.Join(work, rootfs)); err != nil {
		return nil, err
	}
	// A copy, not a symlink: fileutils.CopyFile copies a symlink as a symlink, which
	// would point out of the container's root.
	if err := copyFile(filepath.Join(work, "runtimetest"), filepath.Join(s.Dir, "runtimetest")); err != nil {
		return nil, err
	}
	wrapper, log := filepath.Join(work, "runtime"), filepath.Join(work, "runtime.log")
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >>" + shellQuote(log) + "\nexec " + shellQuote(real) + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		return nil, err
	}
	stdout, err := os.Create(filepath.Join(work, "stdout"))
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(work, "stderr"))
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	var before map[string]bool
	if cgroups {
		if before, err = suiteCgroups(); err != nil {
			return nil, err
		}
	}

	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, filepath.Join(s.Dir, "bin", test))
	cmd.Dir = work
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "RUNTIME=") || strings.HasPrefix(kv, "TMPDIR=")
	}), "RUNTIME="+wrapper, "TMPDIR="+work)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so that a time-out kills the runtimes it waits for too.
		Setpgid: true,
		// Its own mount namespace, every mount private (the child side of os/exec
		// makes / MS_REC|MS_PRIVATE after unshare(2) with CLONE_NEWNS): a test that
		// gives the container no mount namespace has the runtime mount the bundle and
		// its /proc, /dev and /sys in the caller's, and not always unmount them
		// (linux_ns_itype with runc leaves 7 mounts). The machine's mounts have no
		// shared peers, so the tests see the same propagation as without.
		Unshareflags: syscall.CLONE_NEWNS,
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	err = cmd.Run()
	r.Elapsed = time.Since(start)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Exit = ee.ExitCode()
		r.TimedOut = tctx.Err() != nil
	default:
		return nil, fmt.Errorf("run %s: %w", test, err)
	}

	out, err := os.ReadFile(stdout.Name())
	if err != nil {
		return nil, err
	}
	r.TAP = ParseTAP(string(out))
	errOut, err := os.ReadFile(stderr.Name())
	if err != nil {
		return nil, err
	}
	r.Stderr = tail(string(errOut), 2048)

	// What the program left: containers, then their cgroups.
	ids, err := createdIDs(log)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		removed, left := removeContainer(ctx, real, id)
		r.Removed = append(r.Removed, removed...)
		r.Left = append(r.Left, left...)
	}
	if cgroups {
		removed, left, err := removeCgroups(before)
		if err != nil {
			return nil, err
		}
		r.Removed = append(r.Removed, removed...)
		r.Left = append(r.Left, left...)
	}
	return r, nil
}

// copyFile copies the executable src to dst: a hard link if it can.
func copyFile(dst, src string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o755)
}

// createdIDs reads the wrapper's log: the IDs of the containers the program asked
// the runtime to create, the last word of each create command line.
func createdIDs(log string) ([]string, error) {
	data, err := os.ReadFile(log)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && slices.Contains(f, "create") && !slices.Contains(ids, f[len(f)-1]) {
			ids = append(ids, f[len(f)-1])
		}
	}
	return ids, nil
}

// removeContainer removes container id if rt still knows it, as util.Runtime.Clean
// does (kill KILL, wait until stopped, delete), then with delete --force.
func removeContainer(ctx context.Context, rt, id string) (removed, left []string) {
	status, ok := state(ctx, rt, id)
	if !ok {
		return nil, nil
	}
	runtimeCmd(ctx, rt, "kill", id, "KILL")
	for deadline := time.Now().Add(10 * time.Second); status != "stopped" && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		if status, ok = state(ctx, rt, id); !ok {
			break
		}
	}
	runtimeCmd(ctx, rt, "delete", id)
	if _, ok := state(ctx, rt, id); ok {
		runtimeCmd(ctx, rt, "delete", "--force", id)
	}
	what := "container " + id + " (" + status + ")"
	if _, ok := state(ctx, rt, id); ok {
		return nil, []string{what}
	}
	return []string{what}, nil
}

// state returns the status of container id, and whether rt knows it.
func state(ctx context.Context, rt, id string) (string, bool) {
	out, err := runtimeCmd(ctx, rt, "state", id)
	if err != nil {
		return "", false
	}
	var st struct{ Status string }
	if json.Unmarshal(out, &st) != nil {
		return "unknown", true
	}
	return st.Status, true
}

// runtimeCmd runs rt with args, for at most 10 s, and returns its standard output.
func runtimeCmd(ctx context.Context, rt string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, rt, args...).Output()
}

// suiteNames are the cgroup directories the suite's fixed paths make:
// cgroups.AbsCgroupPath is /cgrouptest, cgroups.RelCgroupPath testdir/cgrouptest/container.
var suiteNames = []string{"cgrouptest", "testdir"}

// suiteCgroups returns the directories of every mounted cgroup hierarchy (v1 or v2)
// whose path names one of suiteNames.
func suiteCgroups() (map[string]bool, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	ms, err := mountinfo.Parse(data)
	if err != nil {
		return nil, err
	}
	dirs := map[string]bool{}
	for _, m := range ms {
		if m.FSType != "cgroup" && m.FSType != "cgroup2" {
			continue
		}
		filepath.WalkDir(m.Point, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(m.Point, path)
			for _, c := range strings.Split(rel, string(filepath.Separator)) {
				if slices.Contains(suiteNames, c) {
					dirs[path] = true
				}
			}
			return nil
		})
	}
	return dirs, nil
}

// removeCgroups removes the suite's cgroups that are not in before, the deepest
// first. A cgroup that still holds a process stays, in left.
func removeCgroups(before map[string]bool) (removed, left []string, err error) {
	after, err := suiteCgroups()
	if err != nil {
		return nil, nil, err
	}
	var dirs []string
	for d := range after {
		if !before[d] {
			dirs = append(dirs, d)
		}
	}
	// A child's path is longer than its parent's.
	slices.SortFunc(dirs, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	for _, d := range dirs {
		if err := os.Remove(d); err != nil {
			left = append(left, "cgroup "+err.Error())
			continue
		}
		removed = append(removed, "cgroup "+d)
	}
	return removed, left, nil
}

// shellQuote quotes s for sh(1).
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// tail returns the last n bytes of s, from a line's start.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
