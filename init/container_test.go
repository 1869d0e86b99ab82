package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"launch/internal/caps"
	"launch/internal/probe/expect"
	"launch/internal/testutil"
)

// Each test here starts real containers as root on a root file system it builds, and
// checks a promise of the launcher from inside with the probe.

// TestDefaults: a container started without options looks from inside as the
// expectation table (internal/probe/expect) says, every check of it: the same table
// make test-vm runs in its machines.
func TestDefaults(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	expectOK(t, probe(t, rootfs), wantDefault(t, rootfs))
}

func TestHostnameAndHostNetwork(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	w := wantDefault(t, rootfs)
	w.Hostname, w.NetHost = "box-1", true
	expectOK(t, probe(t, rootfs, "--hostname", "box-1", "--net", "host"), w, "pid1-namespaces", "hostname", "network")
	if name, _ := os.Hostname(); name == "box-1" {
		t.Errorf("the container's hostname reached the host")
	}
}

// TestMaskedAndReadOnlyPaths: writes through the read-only paths fail. That each is
// masked or read-only is the expectation table's masked-paths check (TestDefaults).
func TestMaskedAndReadOnlyPaths(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	if got := try(t, rootfs, nil, "write", "/proc/sys/kernel/hostname", "x"); got != "EROFS" {
		t.Errorf("writing /proc/sys/kernel/hostname: %s, want EROFS", got)
	}
	if got := try(t, rootfs, nil, "create", "/sys/kernel/x"); got != "EROFS" {
		t.Errorf("creating a file in /sys: %s, want EROFS", got)
	}
}

// TestPivotRoot: nothing of the host is reachable by path from the container, and the
// host's mounts are as they were. That / is ROOTFS and nothing else is mounted is the
// expectation table's mounts check (TestDefaults).
func TestPivotRoot(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	before := snapshot(t)
	// A file only the host has.
	marker := filepath.Join(t.TempDir(), "host-only")
	os.WriteFile(marker, []byte("x"), 0o644)
	if got := try(t, rootfs, nil, "read", marker); got != "ENOENT" {
		t.Errorf("reading the host's %s from the container: %s, want ENOENT", marker, got)
	}
	if got := try(t, rootfs, nil, "read", "/proc/1/root"+marker); got != "ENOENT" {
		t.Errorf("reading the host's %s through /proc/1/root: %s, want ENOENT", marker, got)
	}
	before.unchanged(t)
}

func TestReadOnlyRoot(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	w := wantDefault(t, rootfs)
	w.ReadOnly = true
	expectOK(t, probe(t, rootfs, "--read-only"), w, "mounts")
	if got := try(t, rootfs, []string{"--read-only"}, "create", "/newfile"); got != "EROFS" {
		t.Errorf("--read-only: creating /newfile: %s, want EROFS", got)
	}
	if got := try(t, rootfs, []string{"--read-only"}, "create", "/tmp/newfile"); got != "ok" {
		t.Errorf("--read-only: creating /tmp/newfile: %s, want ok", got)
	}
	if got := try(t, rootfs, nil, "create", "/newfile"); got != "ok" {
		t.Errorf("creating /newfile: %s, want ok", got)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "newfile")); err != nil {
		t.Errorf("a file the container made in its root is not in ROOTFS: %v", err)
	}
}

func TestCapabilities(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	added := caps.Default | 1<<unix.CAP_SYS_ADMIN
	dropped := caps.Default &^ (1<<unix.CAP_CHOWN | 1<<unix.CAP_NET_RAW)
	for _, tt := range []struct {
		name     string
		opts     []string
		eff, bnd string
	}{
		{"default", nil, expect.DefaultCaps, expect.DefaultCaps},
		{"add", []string{"--cap-add", "SYS_ADMIN"}, added.Hex(), added.Hex()},
		{"drop", []string{"--cap-drop", "CHOWN", "--cap-drop", "cap_net_raw"}, dropped.Hex(), dropped.Hex()},
		{"drop all, add one", []string{"--cap-drop", "ALL", "--cap-add", "KILL"}, "0000000000000020", "0000000000000020"},
		{"non-root user", []string{"--user", "1000:1000"}, expect.NoCaps, expect.DefaultCaps},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := wantDefault(t, rootfs)
			w.CapEff, w.CapBnd = tt.eff, tt.bnd
			expectOK(t, probe(t, rootfs, tt.opts...), w, "capabilities", "seccomp")
		})
	}
}

// TestSeccomp: every container answers the operations of the expectation table as it
// promises (mount, unshare, user namespaces and more refused; clone3 and unknown calls
// ENOSYS); --seccomp=unconfined lifts the filter, with a warning.
func TestSeccomp(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	for _, op := range expect.Ops {
		if p := op.Problem(try(t, rootfs, nil, op.Args...)); p != "" {
			t.Errorf("%s: %s", op.Name, p)
		}
	}

	r := runLaunch(t, "--seccomp=unconfined", rootfs, "/probe", "try", "clone", fmt.Sprint(unix.CLONE_NEWUSER))
	if r.code != 0 || strings.TrimSpace(r.stdout) != "ok" || !strings.Contains(r.stderr, "launch: warning: --seccomp=unconfined") {
		t.Errorf("--seccomp=unconfined: exit %d, %q, stderr %q; want ok and a warning", r.code, r.stdout, r.stderr)
	}
}

func TestProcessEnvironment(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	t.Setenv("TERM", "vt220")
	t.Setenv("LAUNCH_SECRET", "host-only")
	w := wantDefault(t, rootfs)
	w.Env = []string{"PATH=" + expect.DefaultPath, "HOME=/home/x", "TERM=vt220", "FOO=bar"}
	w.Cwd = "/tmp"
	expectOK(t, probe(t, rootfs, "--env", "FOO=bar", "-e", "HOME=/home/x", "--workdir", "/tmp"), w, "environment", "identity")

	// Another user's HOME is /.
	w = wantDefault(t, rootfs)
	w.UID, w.GID = 1000, 2000
	w.Env[1] = "HOME=/"
	expectOK(t, probe(t, rootfs, "--user", "1000:2000"), w, "environment", "identity")
}

// TestDescriptors: COMMAND gets 0, 1 and 2 only, even when the launcher inherits
// others, among them a directory of the host (runc CVE-2024-21626).
func TestDescriptors(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	dir, err := os.Open("/")
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	// Clear close-on-exec so the launcher inherits it as fd 3 and more.
	if _, err := unix.FcntlInt(dir.Fd(), unix.F_SETFD, 0); err != nil {
		t.Fatal(err)
	}
	expectOK(t, probe(t, rootfs), wantDefault(t, rootfs), "descriptors")
}

func TestBind(t *testing.T) {
	testutil.RequireBusybox(t)
	rootfs := testutil.Rootfs(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "data"), []byte("from the host"), 0o644)
	file := filepath.Join(t.TempDir(), "one-file")
	os.WriteFile(file, []byte("single"), 0o644)
	before := snapshot(t)
	r := runLaunch(t, "--bind", src+":/mnt/rw", "--bind", src+":/mnt/ro:ro", "--bind", file+":/etc/one",
		rootfs, "/bin/sh", "-c", "cat /mnt/rw/data /etc/one; echo new > /mnt/rw/new; echo x > /mnt/ro/x; mount | grep /mnt")
	if !strings.HasPrefix(r.stdout, "from the hostsingle") {
		t.Errorf("bound files read %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("writing to a :ro bind did not fail with EROFS: %s", r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(src, "new")); err != nil || string(b) != "new\n" {
		t.Errorf("a write through the rw bind did not reach the host: %q %v", b, err)
	}
	if !strings.Contains(r.stdout, "/mnt/rw") || !strings.Contains(r.stdout, "nodev") {
		t.Errorf("directory binds should be nodev: %s", r.stdout)
	}
	before.unchanged(t)
}

// TestBindDestinationInsideRoot: a --bind destination reached through a symlink of the
// image that points at a host path resolves inside ROOTFS, absolute or through "..".
func TestBindDestinationInsideRoot(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	// Not below /tmp, which the container covers with its own tmpfs.
	hostDir, err := os.MkdirTemp("/var/tmp", "launch-test-host-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(hostDir) })
	os.Symlink(hostDir, filepath.Join(rootfs, "evil"))
	os.Symlink("../../../../../.."+hostDir, filepath.Join(rootfs, "evil2"))
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "data"), []byte("bound"), 0o644)
	before := snapshot(t)

	// The symlinks' targets do not exist inside ROOTFS: a clear error, nothing made.
	for _, dst := range []string{"/evil/target", "/evil2/target"} {
		r := runLaunch(t, "--bind", src+":"+dst, rootfs, "/probe", "exit", "0")
		if r.code != 125 || !strings.Contains(r.stderr, filepath.Join(rootfs, strings.Split(dst, "/")[1])) {
			t.Errorf("--bind to %s: exit %d, stderr %q; want 125 naming the path", dst, r.code, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(hostDir, "target")); err == nil {
			t.Errorf("--bind to %s created %s on the host", dst, filepath.Join(hostDir, "target"))
		}
	}

	// Once they do, the bind lands there, inside ROOTFS.
	if err := os.MkdirAll(filepath.Join(rootfs, hostDir), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{"/evil/target", "/evil2/target"} {
		r := runLaunch(t, "--bind", src+":"+dst, rootfs, "/probe", "try", "read", hostDir+"/target/data")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "ok" {
			t.Errorf("--bind to %s: exit %d, %q, stderr %q", dst, r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(hostDir, "target")); err == nil {
			t.Errorf("--bind to %s created %s on the host", dst, filepath.Join(hostDir, "target"))
		}
		if _, err := os.Stat(filepath.Join(rootfs, hostDir, "target")); err != nil {
			t.Errorf("the mount point should be inside ROOTFS: %v", err)
		}
	}
	before.unchanged(t)
}

func TestExitStatus(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	for _, tt := range []struct {
		args []string
		want int
	}{
		{[]string{"/probe", "exit", "0"}, 0},
		{[]string{"/probe", "exit", "3"}, 3},
		{[]string{"/probe", "exit", "255"}, 255},
	} {
		if r := runLaunch(t, append([]string{rootfs}, tt.args...)...); r.code != tt.want {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tt.args, r.code, tt.want, r.stderr)
		}
	}
	// COMMAND killed by a signal: 128+N. PID 1 cannot be killed from inside its own
	// namespace, so COMMAND runs under --init.
	testutil.RequireBusybox(t)
	if r := runLaunch(t, "--init", rootfs, "/bin/sh", "-c", "kill -TERM $$"); r.code != 128+15 {
		t.Errorf("COMMAND killed by SIGTERM: exit %d, want 143 (stderr %q)", r.code, r.stderr)
	}
}

func TestVerbose(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	r := runLaunch(t, "-v", rootfs, "/probe", "exit", "0")
	for _, want := range []string{"cgroups", "mount proc /proc", "pivot_root", "load seccomp filter", "exec /probe", "launch: phases (ms):"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("-v output lacks %q:\n%s", want, r.stderr)
		}
	}
}
