package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/testutil"
)

// TestLifetimeKilledLauncher: PID 1 tries to outlive its launcher: it clears its
// parent-death signal with prctl(2), or changes its user (as su-exec and gosu do,
// which clears it too). The launcher is killed with SIGKILL: every process of the
// container must die with it. The test is a child subreaper: whatever the kill orphans
// becomes its child, where it is seen.
func TestLifetimeKilledLauncher(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	// execthread: PID 1 execs from a thread that is not its first, which takes the
	// first's pid, and the first thread, the only one the launcher traced, is gone
	// (found by attack: such a PID 1 outlived every killed launcher).
	for _, mode := range []string{"pdeath", "setuid", "execthread"} {
		for _, opts := range [][]string{nil, {"--init"}} {
			cmd := []string{"/probe", "try", "orphan", mode}
			if mode == "execthread" {
				cmd = []string{"/probe", "try", "execthread", "/probe", "try", "orphan", "pdeath"}
			}
			s := w.start(append(append(append([]string{}, opts...), rootfs), cmd...)...)
			if l := s.line(t); l != "ready 0" {
				t.Fatalf("%s %v: the container said %q, want %q (its parent-death signal cleared); stderr %s", mode, opts, l, "ready 0", s.stderr)
			}
			s.cmd.Process.Kill()
			s.cmd.Wait()
			for _, pid := range children(os.Getpid()) {
				if !reaped(pid) {
					b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
					t.Errorf("%s %v: process %d (%q) survived its launcher", mode, opts, pid, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
					unix.Kill(pid, unix.SIGKILL)
					reaped(pid)
				}
			}
		}
	}
	if r := w.run(rootfs, "/probe", "exit", "0"); r.code != 0 {
		t.Fatalf("next launch: exit %d, %s", r.code, r.stderr)
	}
	w.check()
}

// TestLifetimeUmask: COMMAND gets the caller's umask, not the 0 the child uses to make
// device nodes: files it creates in a --bind directory are not world-writable.
func TestLifetimeUmask(t *testing.T) {
	testutil.RequireBusybox(t)
	rootfs := testutil.Rootfs(t)
	dir, _ := hostDir(t)
	for _, tt := range []struct {
		umask string
		mode  os.FileMode
	}{{"022", 0o644}, {"077", 0o600}} {
		name := "f" + tt.umask
		script := "umask " + tt.umask + " && exec " + launcher(t) + " --bind " + dir + ":/data " + rootfs + " /probe try create /data/" + name
		out, err := exec.Command(testutil.Busybox(), "sh", "-c", script).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Fatalf("umask %s: %v, %q", tt.umask, err, out)
		}
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tt.mode {
			t.Errorf("with the caller's umask %s, COMMAND created a file with mode %#o, want %#o", tt.umask, fi.Mode().Perm(), tt.mode)
		}
	}
}

// TestLifetimeInitCmdline: with --init, PID 1 is a fork of the launcher, and
// /proc/1/cmdline, which every process of the container may read, must not show the
// launcher's command line (its path, ROOTFS, the --env values, bind sources).
func TestLifetimeInitCmdline(t *testing.T) {
	testutil.RequireBusybox(t)
	rootfs := testutil.Rootfs(t)
	dir, _ := hostDir(t)
	r := runLaunch(t, "--init", "--env", "TOKEN=s3cret", "--bind", dir+":/data", rootfs, "/bin/sh", "-c", "cat /proc/1/cmdline; echo; cat /proc/1/comm")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || strings.TrimRight(lines[0], "\x00") != "launch-init" {
		t.Errorf("/proc/1/cmdline and comm = %q, want launch-init", r.stdout)
	}
	for _, secret := range []string{"s3cret", dir, rootfs, launcher(t)} {
		if strings.Contains(r.stdout, secret) {
			t.Errorf("PID 1 shows %q: %q", secret, r.stdout)
		}
	}
}

// ptyShell runs script in a shell of the host that leads a new session on a new
// pseudo-terminal, as a login shell would, and returns it, the terminal's master and
// what the terminal shows.
func ptyShell(t *testing.T, script string) (*exec.Cmd, *os.File, *screen) {
	t.Helper()
	master, slave := openPTY(t)
	cmd := onTerminal(t, slave, testutil.Busybox(), "sh", "-c", script)
	return cmd, master, watchScreen(master)
}

// onTerminal starts name with args in a session of its own whose controlling terminal
// is slave, its stdin, stdout and stderr: as a login shell runs. It is killed at the
// end of the test if still there.
func onTerminal(t *testing.T, slave *os.File, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// A screen collects what a terminal's master reads, in the background: a read of a
// master can block whatever deadline is set.
type screen struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed, and replaced, whenever buf grows
}

func watchScreen(master *os.File) *screen {
	s := &screen{changed: make(chan struct{})}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			s.mu.Lock()
			s.buf.Write(b[:n])
			close(s.changed)
			s.changed = make(chan struct{})
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return s
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *screen) Reset() {
	s.mu.Lock()
	s.buf.Reset()
	s.mu.Unlock()
}

// until waits, for up to ten seconds, for the screen to show want, looking again each
// time the terminal has written more.
func (s *screen) until(t *testing.T, want string) {
	t.Helper()
	s.untilAfter(t, "", want)
}

// untilAfter waits as until does for the screen to show want after first.
func (s *screen) untilAfter(t *testing.T, first, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		_, rest, found := strings.Cut(s.buf.String(), first)
		shown, changed := found && strings.Contains(rest, want), s.changed
		s.mu.Unlock()
		if shown {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("terminal never showed %q after %q:\n%s", want, first, s.String())
		}
	}
}

// TestLifetimeTerminalRestored: COMMAND turns echo off, takes the terminal for
// exclusive use, tries the N_NULL line discipline (refused) and suspends output. After
// launch, the caller's terminal is as it was: echo on, not exclusive, output flowing.
func TestLifetimeTerminalRestored(t *testing.T) {
	testutil.RequireBusybox(t)
	rootfs := testutil.Rootfs(t)
	// The shell shows the terminal's state after launch: the exclusive flag (which
	// /proc does not show, so TIOCGEXCL through the probe run on the host), and echo.
	script := launcher(t) + " " + rootfs + " /probe try tty; echo; echo status $?; " +
		testutil.Build(t, "./internal/probe") + " try ttystate; echo end"
	cmd, _, out := ptyShell(t, script)
	out.until(t, "end")
	got := out.String()
	for _, want := range []string{"echo=ok", "excl=ok", "ldisc=EPERM", "flow=ok", "status 0", "excl=0 echo=1"} {
		if !strings.Contains(got, want) {
			t.Errorf("terminal output lacks %q:\n%s", want, got)
		}
	}
	cmd.Wait()
}

// TestLifetimeTerminalOwner: COMMAND shares the caller's terminal, whose device node
// container root owns (it is host root): through /proc/self/fd/0 it gave the node to
// another user and made it readable by all, and that stayed after the container: a
// host process of that user then read what was typed into the caller's root shell.
// When the container ends, the node has its owner and mode back.
func TestLifetimeTerminalOwner(t *testing.T) {
	testutil.RequireBusybox(t)
	rootfs := testutil.Rootfs(t)
	master, slave := openPTY(t)
	var before unix.Stat_t
	if err := unix.Fstat(int(slave.Fd()), &before); err != nil {
		t.Fatal(err)
	}
	out := watchScreen(master)
	cmd := onTerminal(t, slave, launcher(t), rootfs, "/bin/sh", "-c",
		"chown 65534:65534 /proc/self/fd/0; chmod 666 /proc/self/fd/0; /bin/busybox stat -L -c 'inside %u %a' /proc/self/fd/0; echo end")
	out.until(t, "end")
	cmd.Wait()
	if !strings.Contains(out.String(), "inside 65534 666") {
		t.Fatalf("the container did not change the terminal's node (the attack did not run):\n%s", out.String())
	}
	var after unix.Stat_t
	if err := unix.Fstat(int(slave.Fd()), &after); err != nil {
		t.Fatal(err)
	}
	if after.Uid != before.Uid || after.Gid != before.Gid || after.Mode != before.Mode {
		t.Errorf("after the container the terminal is %d:%d %o, want %d:%d %o as before", after.Uid, after.Gid, after.Mode&0o7777,
			before.Uid, before.Gid, before.Mode&0o7777)
	}
}

// TestLifetimeInitJobControl: with --init and a terminal, Ctrl-Z stops COMMAND (PID 2),
// and the launcher stops too, as the job the caller's shell sees; fg continues both. A
// stop that a process of the container makes does not stop the caller's job (it did,
// before PID 1 told the terminal's stops from the container's by their sender).
// Without --init, a process of the container that stops PID 1 (ptrace, then a detach
// that leaves it stopped) cannot stop the launcher, nor can it attach: the launcher
// traces PID 1.
func TestLifetimeInitJobControl(t *testing.T) {
	testutil.RequireBusybox(t)
	rootfs := testutil.Rootfs(t)
	// An interactive shell of the host, with job control, runs launch in the
	// foreground; COMMAND prints ready and waits for a line. (What the terminal shows
	// includes the command lines typed: the words looked for are split there.)
	cmd, master, out := ptyShell(t, "exec "+testutil.Busybox()+" sh -i")
	master.Write([]byte(launcher(t) + " --init " + rootfs + " /bin/sh -c 'echo re\"\"ady; read x; echo got $x'\n"))
	out.until(t, "ready")
	master.Write([]byte{26}) // Ctrl-Z
	out.until(t, "Stopped")
	// fg prints the job's command line once the shell has read its own: what is typed
	// from then on is the job's input, not the shell's next command. (The Stopped line
	// showed it too, before fg was typed.)
	out.Reset()
	master.Write([]byte("fg\n"))
	out.untilAfter(t, "fg", "--init")
	master.Write([]byte("hello\n"))
	out.until(t, "got hello")
	master.Write([]byte("echo status $?\n"))
	out.until(t, "status 0")

	// With --init, a process of the container stops COMMAND, with SIGSTOP and then
	// SIGTSTP, and continues it: that is the container's own business, and the
	// caller's job is never stopped for it.
	out.Reset()
	master.Write([]byte(launcher(t) + " --init " + rootfs + " /bin/sh -c '(sleep 0.3; kill -STOP $$; sleep 0.3; kill -CONT $$; sleep 0.3; kill -TSTP $$; sleep 0.3; kill -CONT $$) & sleep 2; echo res\"\"umed'; echo sta\"\"tus $?\n"))
	out.until(t, "status")
	if got := out.String(); !strings.Contains(got, "resumed") || !strings.Contains(got, "status 0") || strings.Contains(got, "Stopped") {
		t.Errorf("with --init, a container that stops its COMMAND stopped the caller's job:\n%s", got)
	}

	// Without --init: a process of the container tries to stop PID 1.
	out.Reset()
	master.Write([]byte(launcher(t) + " " + rootfs + " /bin/sh -c '/probe try ptracestop 1; sleep 0.3; echo do\"\"ne'; echo sta\"\"tus $?\n"))
	out.until(t, "status")
	if !strings.Contains(out.String(), "attach EPERM") || !strings.Contains(out.String(), "done") || strings.Contains(out.String(), "Stopped") {
		t.Errorf("without --init, a container that tries to stop its PID 1:\n%s", out.String())
	}
	master.Write([]byte("exit\n"))
	cmd.Wait()
}

// TestLifetimeHangup: when the terminal goes away (its session leader and emulator
// gone), a container that ignores SIGHUP still ends, and its launcher with it.
func TestLifetimeHangup(t *testing.T) {
	testutil.RequireBusybox(t)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	master, slave := openPTY(t)
	// ready as a word of its own is only what the container prints: nothing is typed.
	cmd := onTerminal(t, slave, launcher(t), rootfs, "/bin/sh", "-c", "trap '' HUP; echo ready; sleep 60")
	w.started(cmd.Process.Pid)
	// Read until ready, and no further: a read still waiting on the master would keep
	// it open, and the terminal would never hang up.
	seen := make(chan string, 1)
	go func() {
		var b []byte
		buf := make([]byte, 256)
		for !bytes.Contains(b, []byte("ready")) {
			n, err := master.Read(buf)
			if err != nil {
				break
			}
			b = append(b, buf[:n]...)
		}
		seen <- string(b)
	}()
	select {
	case <-seen:
	case <-time.After(10 * time.Second):
		t.Fatal("the container never said ready")
	}
	slave.Close()
	master.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the terminal hung up, but launch still runs after 10 s")
	}
	if code := cmd.ProcessState.ExitCode(); code != 128+int(unix.SIGKILL) && code != 128+int(unix.SIGHUP) {
		t.Errorf("launch exited %d after the hangup, want 137 (or 129)", code)
	}
	w.check()
}

// TestLifetimeInflightDescriptors: a container sends its stdout and stderr, a socket
// pair and an open file of its /tmp over that pair to itself, and exits. The
// descriptors live on in the socket until the kernel's collector runs (43 s to more
// than 300 s were seen): the caller's pipe kept a writer, so $(launch ...) did not
// return, and the file's memory stayed in use. launch ends at once, its output
// complete, and the memory is given back.
func TestLifetimeInflightDescriptors(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	before := shmem(t)
	start := time.Now()
	cmd := exec.Command(launcher(t), "--memory", "0", rootfs, "/probe", "try", "inflight", "256")
	cmd.Env = append(os.Environ(), "TMPDIR="+launchTmp)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.started(cmd.Process.Pid)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(out) // until every writer of the pipe is gone
		got <- b
	}()
	select {
	case b := <-got:
		if string(b) != "sent\n" {
			t.Errorf("stdout = %q, want %q", b, "sent\n")
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the caller's pipe is still open 10 s after the container ended")
	}
	cmd.Wait()
	t.Logf("the pipe closed after %v", time.Since(start).Round(time.Millisecond))
	// Freeing the file's memory is nothing the host can wait on (no event tells that
	// Shmem fell): polled, for up to five seconds.
	deadline := time.Now().Add(5 * time.Second)
	for shmem(t) > before+128<<20 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if after := shmem(t); after > before+128<<20 {
		t.Errorf("the container's 256 MiB file in /tmp is still in memory after it ended: Shmem %d MiB, was %d MiB", after>>20, before>>20)
	}
	w.check()
}

// shmem returns the host's Shmem (tmpfs and shared memory) in bytes.
func shmem(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(l, "Shmem: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	t.Fatal("no Shmem in /proc/meminfo")
	return 0
}

// TestLifetimeGroups: a caller in supplementary groups 6, 26 and 999 started a
// container whose processes kept them, and with --cap-drop ALL it read a file of a
// bind that only group 999 may read. The container has no supplementary group unless
// --group-add gives it one.
func TestLifetimeGroups(t *testing.T) {
	testutil.RequireBusybox(t)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	dir, _ := hostDir(t)
	secret := filepath.Join(dir, "group-only")
	if err := os.WriteFile(secret, []byte("x"), 0o040); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(secret, 1234, 999); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		opts         []string
		groups, read string
	}{
		{nil, "", "EACCES"},
		{[]string{"--group-add", "999"}, "999", "ok"},
	} {
		args := append(append([]string{"--cap-drop", "ALL", "--bind", dir + ":/data:ro"}, tt.opts...),
			rootfs, "/bin/sh", "-c", "grep Groups /proc/self/status; /probe try read /data/group-only")
		cmd := launchCmd(context.Background(), t, launchIO{}, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{6, 26, 999}}}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", tt.opts, err)
		}
		w.started(cmd.Process.Pid)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 2 || strings.TrimSpace(strings.TrimPrefix(lines[0], "Groups:")) != tt.groups || lines[1] != tt.read {
			t.Errorf("caller in groups 6 26 999, %v: %q; want groups %q and the group-only file %s", tt.opts, out, tt.groups, tt.read)
		}
	}
	w.check()
}

// TestFaultingCommand: COMMAND faults (SIGSEGV at its default action, as a program
// without a handler, or with the signal blocked). Untraced, the kernel forces the
// signal on PID 1 and it dies; traced (without --init), the kernel would drop the
// signal the launcher passes on and PID 1 would fault again for ever, the launcher
// spinning with it. Either way launch ends at once with 139.
func TestFaultingCommand(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	for _, opts := range [][]string{nil, {"--init"}} {
		args := append(append([]string{}, opts...), rootfs, "/probe", "try", "fault")
		r := w.runWith(launchIO{timeout: 20 * time.Second}, args...)
		if r.code != 128+int(unix.SIGSEGV) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d", args, r.code, r.stdout, r.stderr, 128+int(unix.SIGSEGV))
		}
	}
	w.check()
}

// TestLifetimeContinuePID1: a process of the container sends PID 1 SIGCONT, and
// SIGSTOP or SIGTSTP, which an untraced PID 1 of a namespace ignores or takes as
// nothing. The traced PID 1 (without --init) was left in a tracing stop for good by a
// single SIGCONT: it ran no more, and the launcher's SIGTERM never reached it (10 of
// 10 tries wedged). PID 1 must go on running, and end on the launcher's SIGTERM.
func TestLifetimeContinuePID1(t *testing.T) {
	testutil.RequireBusybox(t)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	for _, attack := range []string{"kill -CONT 1", "kill -STOP 1", "kill -STOP 1; kill -CONT 1", "kill -TSTP 1; kill -CONT 1",
		"kill -CONT 1; kill -STOP 1; kill -CONT 1; kill -STOP 1"} {
		t.Run(attack, func(t *testing.T) {
			script := "trap 'echo term; exit 3' TERM; (sleep 0.2; " + attack + "; echo sent) & " +
				"while :; do echo tick; sleep 0.05; done"
			s := w.startPiped(rootfs, "/bin/sh", "-c", script)
			for l := s.line(t); l != "sent"; l = s.line(t) {
			}
			if l := s.lineWithin(t, 5*time.Second); l != "tick" {
				t.Fatalf("after %q, PID 1 printed %q, want it ticking on", attack, l)
			}
			s.cmd.Process.Signal(unix.SIGTERM)
			deadline := time.Now().Add(10 * time.Second)
			for l := s.line(t); l != "term"; l = s.line(t) {
				if time.Now().After(deadline) {
					t.Fatalf("after %q, PID 1 did not get the launcher's SIGTERM", attack)
				}
			}
			if err := s.cmd.Wait(); s.cmd.ProcessState.ExitCode() != 3 {
				t.Errorf("after %q, launch exited %d (%v), want PID 1's 3; stderr %q", attack, s.cmd.ProcessState.ExitCode(), err, s.stderr)
			}
		})
	}
	w.check()
}
