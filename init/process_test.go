package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/probe/expect"
	"launch/internal/testutil"
)

// started is a launcher running in the background.
type started struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr *bytes.Buffer
}

func startLaunch(t *testing.T, args ...string) *started {
	t.Helper()
	return startWith(t, launchIO{}, args...)
}

// startWith starts the launcher in the background with args as l says (its stdin,
// environment, descriptors and ENOSYS calls; not its output, which it keeps).
func startWith(t *testing.T, l launchIO, args ...string) *started {
	t.Helper()
	cmd := launchCmd(context.Background(), t, l, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &started{cmd: cmd, stdout: bufio.NewReader(out), stderr: new(bytes.Buffer)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	recordStart(cmd.Process.Pid)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return s
}

// line reads the next line the container prints, within a few seconds.
func (s *started) line(t *testing.T) string {
	t.Helper()
	return s.lineWithin(t, 10*time.Second)
}

// lineWithin reads the next line the container prints, within d.
func (s *started) lineWithin(t *testing.T, d time.Duration) string {
	t.Helper()
	c := make(chan string, 1)
	go func() {
		l, _ := s.stdout.ReadString('\n')
		c <- strings.TrimSpace(l)
	}()
	select {
	case l := <-c:
		return l
	case <-time.After(d):
		t.Fatalf("no output from the container within %v; stderr: %s", d, s.stderr)
		return ""
	}
}

// children returns the pids whose parent is pid, a child of any of its threads.
func children(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			out = append(out, n)
		}
	}
	return out
}

// gone waits, for up to five seconds, until pid has exited.
func gone(pid int) bool { return exited(pid, 5*time.Second) }

// exited waits, for up to d, until process pid has exited, and reports whether it has.
// A zombie has exited: it runs no more. The wait is on a pidfd (Linux 5.3), which
// becomes readable when its process exits; before 5.3 nothing tells the test when a
// process that is not its child exits, and kill(2) is polled instead.
func exited(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	fd, err := unix.PidfdOpen(pid, 0)
	switch {
	case err == unix.ESRCH:
		return true
	case err == unix.ENOSYS:
		for time.Now().Before(deadline) {
			if zombie(pid) {
				return true
			}
			time.Sleep(10 * time.Millisecond)
		}
		return false
	case err != nil:
		return false
	}
	defer unix.Close(fd)
	for {
		ms := time.Until(deadline).Milliseconds()
		if ms <= 0 {
			return false
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(ms))
		if err != unix.EINTR {
			return err == nil && n > 0
		}
	}
}

func TestSignalsReachCommand(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	s := startLaunch(t, rootfs, "/probe", "signals")
	if l := s.line(t); l != "ready" {
		t.Fatalf("probe said %q", l)
	}
	for _, sig := range []unix.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH, unix.SIGTERM} {
		if err := s.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		if got := s.line(t); got != unix.SignalName(sig) {
			t.Errorf("sent %s to launch, the container got %q", unix.SignalName(sig), got)
		}
	}
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("launch: %v (stderr %s)", err, s.stderr)
	}
}

// TestKilledLauncher: a container dies with its launcher, and the next launch
// removes the cgroups the killed one left.
func TestKilledLauncher(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	s := startLaunch(t, rootfs, "/probe", "signals")
	if l := s.line(t); l != "ready" {
		t.Fatalf("probe said %q", l)
	}
	kids := children(s.cmd.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("launch has children %v, want one", kids)
	}
	name := idOf(s.cmd.Process.Pid).prefix()
	if !strings.Contains(strings.Join(snapshot(t).cgroups, " "), name) {
		t.Fatalf("no cgroup named %s* while the container runs", name)
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	if !gone(kids[0]) {
		t.Fatalf("container process %d survived its launcher", kids[0])
	}
	if r := runLaunch(t, rootfs, "/probe", "exit", "0"); r.code != 0 {
		t.Fatalf("next launch: %d %s", r.code, r.stderr)
	}
	if left := strings.Join(snapshot(t).cgroups, " "); strings.Contains(left, name) {
		t.Errorf("cgroups of the killed launcher remain after the next launch: %s", left)
	}
}

func TestInit(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	// COMMAND is PID 2 under PID 1, and otherwise as without --init.
	w := wantDefault(t, rootfs)
	w.PID, w.PPID = 2, 1
	expectOK(t, probe(t, rootfs, "--init"), w, "pid1-namespaces", "capabilities", "seccomp", "descriptors", "environment", "identity")
	if r := runLaunch(t, "--init", rootfs, "/probe", "exit", "7"); r.code != 7 {
		t.Errorf("--init: exit %d, want COMMAND's 7", r.code)
	}
	// PID 1 is filtered, not dumpable and holds no descriptor beyond stdio.
	testutil.RequireBusybox(t)
	r := runLaunch(t, "--init", rootfs, "/bin/sh", "-c", "grep -E '^(Seccomp|CapEff):' /proc/1/status; ls /proc/1/fd; cat /proc/1/environ; readlink /proc/1/exe; echo end")
	if !strings.Contains(r.stdout, "Seccomp:\t2") || !strings.Contains(r.stdout, "CapEff:\t"+expect.DefaultCaps) {
		t.Errorf("--init: PID 1 is not confined like COMMAND:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "PATH=") || !strings.Contains(r.stderr, "Permission denied") {
		t.Errorf("--init: PID 1's memory, descriptors or executable are readable from the container:\n%s\n%s", r.stdout, r.stderr)
	}

	// Signals to the launcher reach COMMAND through PID 1; orphans are reaped.
	// The subshell leaves an orphan, which says when it exits.
	s := startLaunch(t, "--init", rootfs, "/bin/sh", "-c",
		"(sh -c 'sleep 0.2; echo orphan exits' &) ; trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done")
	for _, want := range []string{"ready", "orphan exits"} {
		if l := s.line(t); l != want {
			t.Fatalf("container said %q, want %q", l, want)
		}
	}
	kids := children(s.cmd.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("launch has children %v", kids)
	}
	// PID 1 reaps the orphan once it has exited. Nothing tells the host when a process
	// is reaped (a pidfd tells the exit, not the wait): polled, for up to five seconds.
	zombies := zombiesUnder(kids[0])
	for deadline := time.Now().Add(5 * time.Second); zombies > 0 && time.Now().Before(deadline); zombies = zombiesUnder(kids[0]) {
		time.Sleep(10 * time.Millisecond)
	}
	if zombies > 0 {
		t.Errorf("--init left %d zombies", zombies)
	}
	s.cmd.Process.Signal(unix.SIGTERM)
	if l := s.line(t); l != "got TERM" {
		t.Errorf("after SIGTERM the container said %q", l)
	}
	err := s.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("launch: %v, want exit status 3", err)
	}
}

func zombiesUnder(pid int) int {
	n := 0
	for _, c := range children(pid) {
		if s, _ := procState(strconv.Itoa(c)); s == 'Z' {
			n++
		}
		n += zombiesUnder(c)
	}
	return n
}

// openPTY returns a new pseudo-terminal's master and slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	unlock := 0
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, unlock); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// TestTerminal: with a terminal on stdin, COMMAND shares it, in the foreground, so
// that Ctrl-C reaches the container and not the launcher, and still cannot push input
// into it with TIOCSTI. When it exits, the launcher gives the foreground back.
func TestTerminal(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	master, slave := openPTY(t)
	// A shell of the host leads the terminal's session, as a login shell would, runs
	// launch, and then shows which group has the terminal (field 8 of its stat).
	script := launcher(t) + " " + rootfs + ` /bin/sh -c '/probe try tiocsti 0; /probe report | grep -E "\"(PGID|SID|TTY)\""; exec /probe signals'; echo "status $?"; cat /proc/self/stat`
	cmd := onTerminal(t, slave, testutil.Busybox(), "sh", "-c", script)
	var out bytes.Buffer
	readUntil := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		buf := make([]byte, 4096)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("terminal never showed %q:\n%s", want, out.String())
			}
			master.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, _ := master.Read(buf)
			out.Write(buf[:n])
		}
	}
	readUntil("ready")
	// TIOCSTI refused; a process group of its own in the caller's session (whose
	// leader the container cannot see, hence 0); a controlling terminal.
	for _, want := range []string{"EPERM", `"PGID": 1`, `"SID": 0`, `"TTY": "ok"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("terminal output lacks %s:\n%s", want, out.String())
		}
	}
	master.Write([]byte{3}) // Ctrl-C
	readUntil("SIGINT")
	launchers := children(cmd.Process.Pid)
	if len(launchers) != 1 {
		t.Fatalf("Ctrl-C ended the launcher (shell's children: %v)", launchers)
	}
	unix.Kill(launchers[0], unix.SIGTERM)
	readUntil("SIGTERM")
	readUntil("status 0")
	readUntil(")") // the stat line
	stat := out.String()[strings.LastIndex(out.String(), ")"):]
	f := strings.Fields(stat)
	if len(f) < 7 || f[3] != f[6] {
		t.Errorf("after launch exited, the terminal's foreground group is not the shell's (stat %q)", stat)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("shell: %v\n%s", err, out.String())
	}
}

// TestSignalDuringStart: SIGTERM to the launcher at 50 random moments of a start,
// from its exec to a little after COMMAND runs. Before COMMAND runs, the launch ends
// with 143 (or, before the launcher catches signals, by the signal itself, which a
// shell shows as 143 too); once it runs, the signal reaches it. COMMAND, under --init
// so that a signal it has no handler for yet ends it, exits 7 on SIGTERM and 0 after a
// moment if none came: 0 means a lost signal. Nothing is left on the host each time.
func TestSignalDuringStart(t *testing.T) {
	testutil.RequireBusybox(t)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	args := []string{"--init", rootfs, "/bin/sh", "-c", "trap 'exit 7' TERM; echo started; sleep 0.2; exit 0"}
	// How long a start takes here, to COMMAND's first line (the median of three).
	var times []time.Duration
	for i := 0; i < 3; i++ {
		start := time.Now()
		s := w.start(args...)
		if l := s.line(t); l != "started" {
			t.Fatalf("the container said %q; stderr %s", l, s.stderr)
		}
		times = append(times, time.Since(start))
		s.cmd.Wait()
	}
	slices.Sort(times)
	setup := times[1]
	seed := time.Now().UnixNano()
	t.Logf("seed %d; a start takes %v here", seed, setup.Round(time.Microsecond))
	rng := rand.New(rand.NewSource(seed))
	var killed, stopped, handled int
	for i := 0; i < 50; i++ {
		s := w.start(args...)
		delay := time.Duration(rng.Int63n(int64(setup) * 6 / 5))
		time.Sleep(delay)
		s.cmd.Process.Signal(unix.SIGTERM)
		out, _ := io.ReadAll(s.stdout)
		err := s.cmd.Wait()
		var ws syscall.WaitStatus
		if ee, ok := err.(*exec.ExitError); ok {
			ws = ee.Sys().(syscall.WaitStatus)
		}
		switch {
		case ws.Signaled() && ws.Signal() == unix.SIGTERM:
			killed++
		case ws.Exited() && ws.ExitStatus() == 143:
			stopped++
		case ws.Exited() && ws.ExitStatus() == 7:
			handled++
		default:
			t.Errorf("trial %d, SIGTERM after %v: %v, output %q, stderr %q; want 143, or 7 from COMMAND", i, delay, err, out, s.stderr)
		}
		failed := t.Failed()
		w.check()
		if t.Failed() && !failed {
			t.Fatalf("trial %d, SIGTERM after %v: the host changed (exit %v, stderr %q)", i, delay, err, s.stderr)
		}
	}
	t.Logf("the signal killed %d launchers before they caught it, ended %d launches with 143, reached COMMAND's handler %d times",
		killed, stopped, handled)
}

// TestCallerNofile: COMMAND gets the soft RLIMIT_NOFILE of the launcher's caller,
// which the launcher's runtime raised for itself, and not that of the launcher's
// parent process: here a shell lowers its own and execs the launcher.
func TestCallerNofile(t *testing.T) {
	bb := testutil.RequireBusybox(t)
	rootfs := testutil.Rootfs(t)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max < 256 {
		testutil.Skip(t, "needs a hard RLIMIT_NOFILE of 256 or more")
	}
	before := snapshot(t)
	cmd := exec.Command(bb, "sh", "-c", `ulimit -Sn 100 && exec "$0" "$@"`, launcher(t), rootfs, "/bin/sh", "-c", "ulimit -Sn; ulimit -Hn")
	cmd.Env = append(os.Environ(), "TMPDIR="+launchTmp)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	recordStart(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("launch: %v\n%s", err, out.String())
	}
	if got, want := out.String(), "100\n"+strconv.FormatUint(lim.Max, 10)+"\n"; got != want {
		t.Errorf("RLIMIT_NOFILE in the container (soft, hard) = %q, want %q", got, want)
	}
	before.unchanged(t)
}
