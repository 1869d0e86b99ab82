package main

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"launch/internal/testutil"
)

// TestPtyOwnTerminal: with --pty, COMMAND gets a terminal of the container's own, made
// from the container's devpts, and the caller's terminal never reaches it. Shared, the
// caller's terminal was container root's to chown and chmod through /proc/self/fd/0,
// and a process of the host let in meanwhile could read the caller's keystrokes for
// good. Here the container does the same to its own terminal: the caller's keeps its
// owner, mode and modes. What is typed reaches COMMAND, Ctrl-C signals the
// container's foreground group, the size is the caller's, and COMMAND's status is
// launch's.
func TestPtyOwnTerminal(t *testing.T) {
	testutil.RequireBusybox(t)
	rootfs := testutil.Rootfs(t)
	master, slave := openPTY(t)
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 100}); err != nil {
		t.Fatal(err)
	}
	var before unix.Stat_t
	if err := unix.Fstat(int(slave.Fd()), &before); err != nil {
		t.Fatal(err)
	}
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	script := "/bin/busybox tty; /bin/busybox stty size; /bin/busybox stat -L -c 'dev %d' /proc/self/fd/0; " +
		"chown 65534:65534 /proc/self/fd/0; chmod 666 /proc/self/fd/0; /probe report | /bin/busybox tr -d ' \\n' | /bin/busybox grep -o '\"FDs\":{[^}]*}'; " +
		"trap 'echo INT; exit 5' INT; echo re''ady; read x; echo got $x; while :; do sleep 0.05; done"
	out := watchScreen(master)
	cmd := onTerminal(t, slave, launcher(t), "--pty", rootfs, "/bin/sh", "-c", script)
	out.until(t, "ready")
	// While it runs, not only once launch has put things back.
	var during unix.Stat_t
	if err := unix.Fstat(int(slave.Fd()), &during); err != nil {
		t.Fatal(err)
	}
	if during.Uid != before.Uid || during.Mode != before.Mode {
		t.Errorf("while the container runs the caller's terminal is %d %o, want %d %o", during.Uid, during.Mode&0o7777, before.Uid, before.Mode&0o7777)
	}
	master.Write([]byte("typed words\r"))
	out.until(t, "got typed words")
	master.Write([]byte{3}) // Ctrl-C
	out.until(t, "INT")
	cmd.Wait()
	got := out.String()
	if code := cmd.ProcessState.ExitCode(); code != 5 {
		t.Errorf("launch exited %d, want COMMAND's 5 (after its SIGINT trap):\n%s", code, got)
	}
	for _, want := range []string{"/dev/pts/0", "40 100"} {
		if !strings.Contains(got, want) {
			t.Errorf("the container's terminal: output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "dev "+strconv.FormatUint(uint64(before.Dev), 10)+"\r") {
		t.Errorf("COMMAND's stdin is on the caller's devpts (device %d):\n%s", before.Dev, got)
	}
	if !strings.Contains(got, `"FDs":{"0":"/dev/pts/0","1":"pipe:`) || !strings.Contains(got, `"2":"/dev/pts/0"}`) {
		t.Errorf("COMMAND's descriptors, want 0, 1 and 2 only:\n%s", got)
	}
	var after unix.Stat_t
	if err := unix.Fstat(int(slave.Fd()), &after); err != nil {
		t.Fatal(err)
	}
	if after.Uid != before.Uid || after.Gid != before.Gid || after.Mode != before.Mode {
		t.Errorf("the caller's terminal is now %d:%d %o, want %d:%d %o", after.Uid, after.Gid, after.Mode&0o7777,
			before.Uid, before.Gid, before.Mode&0o7777)
	}
	if now, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS); err != nil || now.Lflag != tio.Lflag || now.Iflag != tio.Iflag || now.Oflag != tio.Oflag {
		t.Errorf("the caller's terminal modes are not restored (raw mode left on): %+v, want %+v (%v)", now, tio, err)
	}
}

// TestPtyWithoutCallerTerminal: --pty with stdin and stdout that are pipes. What the
// caller writes reaches COMMAND through the container's terminal, and the end of
// stdin is the terminal's end of input; --init runs COMMAND in the terminal's session.
func TestPtyWithoutCallerTerminal(t *testing.T) {
	testutil.RequireBusybox(t)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	for _, opts := range [][]string{{"--pty"}, {"--pty", "--init"}} {
		args := append(append([]string{}, opts...), rootfs, "/bin/sh", "-c", "/bin/busybox tty; /bin/busybox cat; echo end $$")
		cmd := exec.Command(launcher(t), args...)
		cmd.Stdin = strings.NewReader("first line\nsecond line\n")
		out, err := cmd.CombinedOutput()
		w.started(cmd.Process.Pid)
		got := string(out)
		pid := "1"
		if len(opts) > 1 {
			pid = "2"
		}
		for _, want := range []string{"/dev/pts/0", "first line", "second line", "end " + pid} {
			if !strings.Contains(got, want) {
				t.Errorf("%v: output lacks %q (%v):\n%s", opts, want, err, got)
			}
		}
		if err != nil {
			t.Errorf("%v: %v\n%s", opts, err, got)
		}
	}
	w.check()
}
