package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"launch/internal/testutil"
)

// TestStdinFileRelayed: the caller gives COMMAND a host file as stdin, opened for
// reading (`launch ... < file`), the file owned by another user. Through
// /proc/self/fd/0, a magic link, container root could reopen that file for writing,
// chown it and set its set-user-ID bit (host root for the next user who runs it). A
// stdin that is a file comes through a pipe: the file stays as it was, COMMAND reads
// all of it, and what COMMAND leaves unread is still there for the caller's next
// command.
func TestStdinFileRelayed(t *testing.T) {
	testutil.RequireBusybox(t)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	dir, _ := hostDir(t)
	input := filepath.Join(dir, "input.txt")
	content := bytes.Repeat([]byte("0123456789abcdef\n"), 1<<16) // 1.1 MB, past a pipe's worth
	if err := os.WriteFile(input, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(input, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(input)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Read to the end first: a write to a full pipe would wait for a reader.
	attack := "readlink /proc/self/fd/0; cat >/dev/null; chown 0:0 /proc/self/fd/0; chmod 4755 /proc/self/fd/0; echo written >> /proc/self/fd/0; exit 0"
	r := w.runWith(launchIO{stdin: f}, rootfs, "/bin/sh", "-c", attack)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "pipe:[") {
		t.Errorf("/proc/self/fd/0 in the container is %q, want a pipe", strings.TrimSpace(r.stdout))
	}
	var st unix.Stat_t
	if err := unix.Stat(input, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 65534 || st.Gid != 65534 || st.Mode&0o7777 != 0o644 {
		t.Errorf("the host's stdin file is now %d:%d mode %o, want 65534:65534 644", st.Uid, st.Gid, st.Mode&0o7777)
	}
	if b, _ := os.ReadFile(input); !bytes.Equal(b, content) {
		t.Errorf("the container changed the host's stdin file (%d bytes, want %d)", len(b), len(content))
	}

	// COMMAND reads all of it, through the pipe.
	f.Seek(0, 0)
	r = w.runWith(launchIO{stdin: f}, rootfs, "/bin/busybox", "wc", "-c")
	if strings.TrimSpace(r.stdout) != "1114112" {
		t.Errorf("wc -c of stdin in the container = %q, want %d", r.stdout, len(content))
	}

	// What COMMAND does not read is left for the caller's next command: the offset
	// is put back by what the relay read ahead.
	script := launcher(t) + " " + rootfs + " /bin/sh -c 'read x; echo got $x'; " + testutil.Busybox() + " head -c 17"
	cmd := exec.Command(testutil.Busybox(), "sh", "-c", script)
	f.Seek(0, 0)
	cmd.Stdin = f
	out, err := cmd.CombinedOutput()
	if want := "got 0123456789abcdef\n0123456789abcdef\n"; err != nil || string(out) != want {
		t.Errorf("the caller's next command after a container that read one line: %q %v, want %q", out, err, want)
	}

	// A character device that is not a terminal (the caller's `< /dev/null`): container
	// root made the host's /dev/null 0600 for every other user. A node of its own here,
	// 1:3 as /dev/null, which the attack may change without harm to the host.
	null := filepath.Join(dir, "null")
	if err := unix.Mknod(null, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(null, 0o666); err != nil { // past the test's umask
		t.Fatal(err)
	}
	nf, err := os.Open(null)
	if err != nil {
		t.Fatal(err)
	}
	defer nf.Close()
	r = w.runWith(launchIO{stdin: nf}, rootfs, "/bin/sh", "-c", "readlink /proc/self/fd/0; chown 65534:65534 /proc/self/fd/0; chmod 600 /proc/self/fd/0; /bin/busybox wc -c")
	if f := strings.Fields(r.stdout); r.code != 0 || len(f) != 2 || !strings.HasPrefix(f[0], "pipe:[") || f[1] != "0" {
		t.Errorf("with a device on stdin: exit %d, output %q, want a pipe and 0 bytes read", r.code, r.stdout)
	}
	if err := unix.Stat(null, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 || st.Mode&0o7777 != 0o666 {
		t.Errorf("the host's device node on stdin is now owned by %d, mode %o; want 0, 666", st.Uid, st.Mode&0o7777)
	}
	w.check()
}
