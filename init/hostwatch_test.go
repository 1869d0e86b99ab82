package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The hardening tests (attack_test.go, hostile_test.go, load_test.go) run many
// containers and check after each attack or fault that the host is as it was:
// snapshot and unchanged (helpers_test.go), which tell the launchers of this test
// binary from other people's, and, here, no process left of them. A watch runs the
// launchers of one test with more control than runLaunch gives (stdin, descriptors,
// environment) and remembers them by pid.
type watch struct {
	t      *testing.T
	before hostState
	mu     sync.Mutex
	ids    map[launcherID]bool // the launchers it started
}

// newWatch builds the launcher and records the host's state.
func newWatch(t *testing.T) *watch {
	t.Helper()
	launcher(t)
	return &watch{t: t, before: snapshot(t), ids: map[launcherID]bool{}}
}

// started remembers the launcher pid, which has not been waited for yet.
func (w *watch) started(pid int) {
	recordStart(pid)
	id := idOf(pid)
	w.mu.Lock()
	w.ids[id] = true
	w.mu.Unlock()
}

// A launchIO is how one run of the launcher is made.
type launchIO struct {
	stdin          io.Reader
	stdout, stderr *os.File            // instead of capturing the output
	env            []string            // added to the test's environment and TMPDIR (launchTmp)
	files          []*os.File          // descriptors 3 and up of the launcher
	nosys          []string            // system calls that answer ENOSYS (see nosys_test.go)
	timeout        time.Duration       // instead of a minute
	bin            string              // the launcher to run instead of this GOARCH's
	cred           *syscall.Credential // the user to run the launcher as, instead of root
}

// run runs the launcher with args and waits for it, within a minute.
func (w *watch) run(args ...string) result { return w.runWith(launchIO{}, args...) }

func (w *watch) runWith(l launchIO, args ...string) result {
	w.t.Helper()
	r, err := w.exec(l, args...)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// exec runs the launcher as runWith does, and returns an error instead of ending
// the test, for goroutines other than the test's.
func (w *watch) exec(l launchIO, args ...string) (result, error) {
	return execLaunch(w.t, l, w.started, args...)
}

// try runs /probe try OP... in a container on rootfs with options opts, expects it to
// exit 0, and returns what it printed.
func (w *watch) try(rootfs string, opts []string, op ...string) string {
	w.t.Helper()
	args := tryArgs(rootfs, opts, op)
	return tryOutput(w.t, args, w.run(args...))
}

// recovered checks what must hold after an attack on resources: the next launch, of
// /probe with args, works, and the host is as before (see check).
func (w *watch) recovered(rootfs string, args ...string) {
	w.t.Helper()
	if r := w.run(append([]string{rootfs, "/probe"}, args...)...); r.code != 0 {
		w.t.Errorf("next launch: exit %d, %s", r.code, r.stderr)
	}
	w.check()
}

// start starts the launcher in the background, as startLaunch does.
func (w *watch) start(args ...string) *started {
	w.t.Helper()
	s := startLaunch(w.t, args...)
	w.started(s.cmd.Process.Pid)
	return s
}

// check fails the test if the host differs from before (see unchanged), or if a
// process of a launcher the watch started remains. Launchers killed during the test
// leave cgroups that the next launch removes: call check after one.
func (w *watch) check() {
	w.t.Helper()
	w.before.unchanged(w.t)
	if left := w.processes(); len(left) > 0 {
		w.t.Errorf("processes of this test's containers remain: %s", strings.Join(left, "; "))
	}
}

// cgroups returns the cgroups of launchers the watch started that still exist.
func (w *watch) cgroups() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, dir := range snapshot(w.t).cgroups {
		if w.ids[owner(filepath.Base(dir))] {
			out = append(out, dir)
		}
	}
	return out
}

// processes returns the processes, zombies aside, that are in a cgroup of a launcher
// the watch started, or whose executable is the launcher.
func (w *watch) processes() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	bin := launcher(w.t)
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || zombie(pid) {
			continue
		}
		cg, _ := os.ReadFile("/proc/" + e.Name() + "/cgroup")
		exe, _ := os.Readlink("/proc/" + e.Name() + "/exe")
		mine := exe == bin
		for _, line := range strings.Split(string(cg), "\n") {
			if i := strings.Index(line, "/launch-"); i >= 0 && w.ids[owner(strings.SplitN(line[i+1:], "/", 2)[0])] {
				mine = true
			}
		}
		if mine {
			cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			out = append(out, fmt.Sprintf("%d %s (%q)", pid, exe, bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
		}
	}
	return out
}

// procState returns the state letter (R, S, Z, ...) and the parent's pid of the
// process pid, from /proc/PID/stat; state 0 if that cannot be read.
func procState(pid string) (state byte, ppid string) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, ""
	}
	i := bytes.LastIndexByte(b, ')') // the command name may hold anything but ends there
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 2 || len(f[0]) != 1 {
		return 0, ""
	}
	return f[0][0], f[1]
}

// zombie reports whether pid has exited and waits to be reaped (or is gone).
func zombie(pid int) bool {
	s, _ := procState(strconv.Itoa(pid))
	return s == 0 || s == 'Z' || s == 'X'
}

// hostDir makes a directory on the host outside /tmp, which every container covers
// with a tmpfs of its own, holding a file named marker: something only the host has.
// It returns the directory and the marker's path.
func hostDir(t *testing.T) (dir, marker string) {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "launch-test-host-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	marker = filepath.Join(dir, "marker")
	if err := os.WriteFile(marker, []byte("host only\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, marker
}

// A piped launcher runs in the background with a pipe to its stdin.
type piped struct {
	*started
	stdin io.WriteCloser
}

// startPiped starts the launcher with a pipe on its stdin, which COMMAND inherits.
func (w *watch) startPiped(args ...string) *piped {
	t := w.t
	t.Helper()
	cmd := exec.Command(launcher(t), args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+launchTmp)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &piped{started: &started{cmd: cmd, stdout: bufio.NewReader(out), stderr: new(bytes.Buffer)}, stdin: in}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.started(cmd.Process.Pid)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return s
}

// cgroupDirs returns the cgroup directories, in every hierarchy, of the launcher pid,
// which has not been waited for yet.
func cgroupDirs(t *testing.T, pid int) []string {
	var out []string
	prefix := idOf(pid).prefix()
	for _, d := range snapshot(t).cgroups {
		if strings.HasPrefix(filepath.Base(d), prefix) {
			out = append(out, d)
		}
	}
	return out
}

// emptied waits, for up to ten seconds, until no process is left in the cgroups dirs
// (those gone already count as empty): until each process listed has exited (see
// exited), then reads the lists again, which a process forked meanwhile would be on.
// An exited process is no longer listed, and its cgroup can be removed.
func emptied(t *testing.T, dirs []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pids []int
		for _, d := range dirs {
			b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			for _, f := range strings.Fields(string(b)) {
				pid, _ := strconv.Atoi(f)
				pids = append(pids, pid)
			}
		}
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			if !exited(pid, time.Until(deadline)) {
				t.Fatalf("process %d is still in one of the cgroups %v after 10 s", pid, dirs)
			}
		}
	}
}
