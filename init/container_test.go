package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"launch/internal/caps"
	"launch/internal/mountinfo"
	"launch/internal/testutil"
)

// Each test here starts real containers as root on a root file system it builds, and
// checks a promise of the launcher from inside with the probe.

func TestNamespaces(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	rep := probe(t, rootfs)
	if rep.PID != 1 {
		t.Errorf("COMMAND has pid %d, want 1", rep.PID)
	}
	for _, n := range []string{"cgroup", "ipc", "mnt", "net", "pid", "uts"} {
		host, _ := os.Readlink("/proc/self/ns/" + n)
		if rep.NS[n] == "" || rep.NS[n] == host {
			t.Errorf("%s namespace = %q, want a new one (the host's is %q)", n, rep.NS[n], host)
		}
	}
	if host, _ := os.Readlink("/proc/self/ns/user"); rep.NS["user"] != host {
		t.Errorf("user namespace = %q, want the host's %q", rep.NS["user"], host)
	}
	if rep.Hostname != "launch" {
		t.Errorf("hostname = %q, want launch", rep.Hostname)
	}
	if len(rep.Interfaces) != 1 || !rep.Interfaces["lo"] {
		t.Errorf("interfaces = %v, want only lo, up", rep.Interfaces)
	}
	for _, l := range rep.Cgroup {
		if !strings.HasSuffix(l, ":/") {
			t.Errorf("/proc/self/cgroup line %q: want the container's cgroup to be /", l)
		}
	}
}

func TestHostnameAndHostNetwork(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	rep := probe(t, rootfs, "--hostname", "box-1", "--net", "host")
	if rep.Hostname != "box-1" {
		t.Errorf("hostname = %q, want box-1", rep.Hostname)
	}
	host, _ := os.Readlink("/proc/self/ns/net")
	if rep.NS["net"] != host {
		t.Errorf("--net host: network namespace %q, want the host's %q", rep.NS["net"], host)
	}
	if name, _ := os.Hostname(); name == "box-1" {
		t.Errorf("the container's hostname reached the host")
	}
}

func TestFileSystems(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	rep := probe(t, rootfs)
	for _, tt := range []struct {
		point, fstype string
		opts          []string
	}{
		{"/proc", "proc", []string{"rw", "nosuid", "nodev", "noexec"}},
		{"/sys", "sysfs", []string{"ro", "nosuid", "nodev", "noexec"}},
		{"/tmp", "tmpfs", []string{"rw", "nosuid", "nodev"}},
		{"/dev", "tmpfs", []string{"nosuid", "mode=755"}},
		{"/dev/pts", "devpts", []string{"nosuid", "noexec", "ptmxmode=666", "gid=5"}},
		{"/dev/shm", "tmpfs", []string{"nosuid", "nodev", "noexec"}},
		{"/dev/mqueue", "mqueue", []string{"nosuid", "nodev", "noexec"}},
	} {
		m := mountAt(t, rep, tt.point)
		if m.FSType != tt.fstype || !m.Has(tt.opts...) {
			t.Errorf("%s: %s %v %v, want %s with %v", tt.point, m.FSType, m.Options, m.SuperOptions, tt.fstype, tt.opts)
		}
	}
	for name, want := range map[string]string{
		"null": "c 0666 1:3", "zero": "c 0666 1:5", "full": "c 0666 1:7", "random": "c 0666 1:8",
		"urandom": "c 0666 1:9", "tty": "c 0666 5:0", "ptmx": "l pts/ptmx", "fd": "l /proc/self/fd",
		"stdin": "l /proc/self/fd/0", "stdout": "l /proc/self/fd/1", "stderr": "l /proc/self/fd/2",
		"pts": "d 0755", "shm": "d 1777",
	} {
		if got := rep.Files[name]; got != want {
			t.Errorf("/dev/%s = %q, want %q", name, got, want)
		}
	}
	// /dev holds only what the launcher made, whatever the image's /dev had.
	if len(rep.Files) != 14 {
		t.Errorf("/dev has %d entries, want 14: %v", len(rep.Files), rep.Files)
	}
}

func TestMaskedAndReadOnlyPaths(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	rep := probe(t, rootfs)
	points := map[string]mountinfo.Mount{}
	for _, m := range reportMounts(t, rep) {
		points[m.Point] = m
	}
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats",
		"/proc/slabinfo", "/proc/vmallocinfo", "/proc/kpageflags", "/proc/kpagecount", "/proc/kpagecgroup",
		"/proc/pagetypeinfo", "/sys/kernel/vmcoreinfo"} {
		if _, err := os.Stat(p); err != nil {
			continue // this kernel has no such file: nothing to mask
		}
		if m, ok := points[p]; !ok || m.Root != "/null" {
			t.Errorf("%s is not masked with /dev/null: %+v", p, m)
		}
	}
	for _, p := range []string{"/proc/acpi", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap", "/sys/kernel/slab"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if m, ok := points[p]; !ok || m.FSType != "tmpfs" || !m.Has("ro") {
			t.Errorf("%s is not masked with a read-only tmpfs: %+v", p, m)
		}
	}
	for _, p := range []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if m, ok := points[p]; !ok || !m.Has("ro") {
			t.Errorf("%s is not read-only: %+v", p, m)
		}
	}
	if got := try(t, rootfs, nil, "write", "/proc/sys/kernel/hostname", "x"); got != "EROFS" {
		t.Errorf("writing /proc/sys/kernel/hostname: %s, want EROFS", got)
	}
	if got := try(t, rootfs, nil, "create", "/sys/kernel/x"); got != "EROFS" {
		t.Errorf("creating a file in /sys: %s, want EROFS", got)
	}
}

func TestPivotRoot(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	before := snapshot(t)
	rep := probe(t, rootfs)
	root := mountAt(t, rep, "/")
	// The container's / is the bind of ROOTFS: its root within the file system is
	// ROOTFS's path there (on this machine's single root file system, the path itself).
	var st unix.Statfs_t
	unix.Statfs("/", &st)
	if !strings.HasSuffix(rootfs, root.Root) || root.Root == "/" {
		t.Errorf("container / shows %q of its file system, want ROOTFS %s", root.Root, rootfs)
	}
	for _, m := range reportMounts(t, rep) {
		if m.Point != "/" && !strings.HasPrefix(m.Point, "/proc") && !strings.HasPrefix(m.Point, "/sys") &&
			!strings.HasPrefix(m.Point, "/dev") && m.Point != "/tmp" {
			t.Errorf("unexpected mount in the container: %+v", m)
		}
	}
	// Nothing of the host is reachable by path: a file only the host has.
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
		{"default", nil, caps.Default.Hex(), caps.Default.Hex()},
		{"add", []string{"--cap-add", "SYS_ADMIN"}, added.Hex(), added.Hex()},
		{"drop", []string{"--cap-drop", "CHOWN", "--cap-drop", "cap_net_raw"}, dropped.Hex(), dropped.Hex()},
		{"drop all, add one", []string{"--cap-drop", "ALL", "--cap-add", "KILL"}, "0000000000000020", "0000000000000020"},
		{"non-root user", []string{"--user", "1000:1000"}, "0000000000000000", caps.Default.Hex()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep := probe(t, rootfs, tt.opts...)
			if got := rep.Status["CapEff"]; got != tt.eff || rep.Status["CapPrm"] != tt.eff {
				t.Errorf("CapEff = %s, CapPrm = %s, want %s", got, rep.Status["CapPrm"], tt.eff)
			}
			if got := rep.Status["CapBnd"]; got != tt.bnd {
				t.Errorf("CapBnd = %s, want %s", got, tt.bnd)
			}
			if rep.Status["CapInh"] != "0000000000000000" || rep.Status["CapAmb"] != "0000000000000000" {
				t.Errorf("CapInh = %s, CapAmb = %s, want both empty", rep.Status["CapInh"], rep.Status["CapAmb"])
			}
			if rep.Status["NoNewPrivs"] != "1" {
				t.Errorf("NoNewPrivs = %s, want 1", rep.Status["NoNewPrivs"])
			}
		})
	}
}

func TestSeccomp(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	rep := probe(t, rootfs)
	if rep.Status["Seccomp"] != "2" {
		t.Errorf("Seccomp = %s, want 2 (filter)", rep.Status["Seccomp"])
	}
	// A user namespace needs no capability, so only the filter refuses it.
	for _, tt := range []struct {
		op   []string
		want string
	}{
		{[]string{"unshare", fmt.Sprint(unix.CLONE_NEWUSER)}, "EPERM"},
		{[]string{"clone", fmt.Sprint(unix.CLONE_NEWUSER)}, "EPERM"},
		{[]string{"clone3"}, "ENOSYS"},
		{[]string{"clone", "0"}, "ok"},
		{[]string{"personality", "0xffffffff"}, "ok"},
		{[]string{"personality", "0x40000"}, "EPERM"},
		{[]string{"socket", fmt.Sprint(unix.AF_VSOCK)}, "EPERM"},
		{[]string{"syscall", "1000"}, "ENOSYS"},
	} {
		if got := try(t, rootfs, nil, tt.op...); got != tt.want {
			t.Errorf("%v: %s, want %s", tt.op, got, tt.want)
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
	rep := probe(t, rootfs, "--env", "FOO=bar", "-e", "HOME=/home/x", "--workdir", "/tmp")
	want := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/home/x", "TERM=vt220", "FOO=bar"}
	if !slices.Equal(rep.Env, want) {
		t.Errorf("environment = %q, want %q", rep.Env, want)
	}
	if rep.Cwd != "/tmp" {
		t.Errorf("cwd = %q, want /tmp", rep.Cwd)
	}
	if rep.UID != 0 || rep.GID != 0 || len(rep.Groups) != 0 {
		t.Errorf("uid %d gid %d groups %v, want 0 0 []", rep.UID, rep.GID, rep.Groups)
	}
	rep = probe(t, rootfs, "--user", "1000:2000")
	if rep.UID != 1000 || rep.GID != 2000 || len(rep.Groups) != 0 {
		t.Errorf("--user 1000:2000: uid %d gid %d groups %v", rep.UID, rep.GID, rep.Groups)
	}
	if rep.Cwd != "/" {
		t.Errorf("cwd = %q, want /", rep.Cwd)
	}
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
	rep := probe(t, rootfs)
	keys := make([]string, 0, len(rep.FDs))
	for k := range rep.FDs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"0", "1", "2"}) {
		t.Errorf("descriptors in the container: %v, want 0 1 2", rep.FDs)
	}
}

func TestSessionWithoutTerminal(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	rep := probe(t, rootfs)
	if rep.SID != 1 || rep.PGID != 1 {
		t.Errorf("sid %d pgid %d, want a new session led by COMMAND (1 1)", rep.SID, rep.PGID)
	}
	if rep.TTY != "ENXIO" {
		t.Errorf("opening /dev/tty: %s, want ENXIO (no controlling terminal)", rep.TTY)
	}
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
