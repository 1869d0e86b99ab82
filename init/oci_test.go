package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/execve"
	"launch/internal/probe/report"
	"launch/internal/testutil"
)

// A bundle is an OCI bundle for the tests: a root file system with the probe and
// busybox, and a config.json made from launch spec's, changed by the test.
type bundle struct {
	t      *testing.T
	dir    string
	root   string // --root of the runtime
	config map[string]any
}

func newBundle(t *testing.T) *bundle {
	t.Helper()
	testutil.RequireBusybox(t)
	dir := t.TempDir()
	rootfs := testutil.Rootfs(t)
	if err := os.Rename(rootfs, filepath.Join(dir, "rootfs")); err != nil {
		t.Fatal(err)
	}
	b := &bundle{t: t, dir: dir, root: filepath.Join(t.TempDir(), "state")}
	r := b.oci("spec", "--bundle", dir)
	if r.code != 0 {
		t.Fatalf("launch spec: exit %d: %s", r.code, r.stderr)
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &b.config); err != nil {
		t.Fatal(err)
	}
	b.process()["terminal"] = false
	b.process()["args"] = []any{"/probe", "report"}
	// The cgroups of the test's containers are named after it, for the check that
	// none is left.
	b.linux()["cgroupsPath"] = "/launch-test-oci/" + strconv.Itoa(os.Getpid()) + "-" + t.Name()
	t.Cleanup(func() {
		ents, _ := os.ReadDir(b.root)
		for _, e := range ents {
			b.oci("delete", "--force", e.Name())
		}
		// The parent create made, as mkdir -p does, in each hierarchy: removed once empty.
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/launch-test-oci")
		for _, d := range dirs {
			unix.Rmdir(d)
		}
	})
	return b
}

func (b *bundle) process() map[string]any { return b.config["process"].(map[string]any) }
func (b *bundle) linux() map[string]any   { return b.config["linux"].(map[string]any) }

// write writes config.json.
func (b *bundle) write() {
	b.t.Helper()
	data, err := json.Marshal(b.config)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "config.json"), data, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// oci runs launch with runc's command line under the bundle's --root.
func (b *bundle) oci(args ...string) result {
	b.t.Helper()
	return b.ociWith(launchIO{}, args...)
}

// ociWith runs launch as l says. Its output goes to files, not pipes: the process of
// a container that launch create (or run --detach, exec --detach) leaves behind
// inherits them, and would hold a pipe open for as long as it runs.
func (b *bundle) ociWith(l launchIO, args ...string) result {
	b.t.Helper()
	dir := b.t.TempDir()
	var files [2]*os.File
	for i, name := range []string{"stdout", "stderr"} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			b.t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	if l.stdout == nil {
		l.stdout = files[0]
	}
	if l.stderr == nil {
		l.stderr = files[1]
	}
	r, err := execLaunch(b.t, l, recordStart, append([]string{"--root", b.root}, args...)...)
	if err != nil {
		b.t.Fatal(err)
	}
	out, _ := os.ReadFile(files[0].Name())
	errb, _ := os.ReadFile(files[1].Name())
	r.stdout, r.stderr = string(out), string(errb)
	return r
}

// state returns launch state ID, decoded.
func (b *bundle) state(id string) map[string]any {
	b.t.Helper()
	r := b.oci("state", id)
	if r.code != 0 {
		b.t.Fatalf("state %s: exit %d: %s", id, r.code, r.stderr)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		b.t.Fatalf("state %s: %v: %s", id, err, r.stdout)
	}
	return st
}

// cgroupDirs returns the container's cgroup directories, from its state.
func (b *bundle) cgroupDirs(id string) []string {
	b.t.Helper()
	data, err := os.ReadFile(filepath.Join(b.root, id, "state.json"))
	if err != nil {
		b.t.Fatal(err)
	}
	var st struct{ Cgroups []string }
	if err := json.Unmarshal(data, &st); err != nil {
		b.t.Fatal(err)
	}
	if len(st.Cgroups) == 0 {
		b.t.Fatal("no cgroups in the state")
	}
	return st.Cgroups
}

// gone fails the test if any of dirs, or the container's state, is still there.
func (b *bundle) gone(id string, dirs []string) {
	b.t.Helper()
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			b.t.Errorf("cgroup %s left behind", d)
		}
	}
	if _, err := os.Stat(filepath.Join(b.root, id)); err == nil {
		b.t.Errorf("state of %s left behind", id)
	}
}

// runProbe runs the bundle with launch run and returns the probe's report.
func (b *bundle) runProbe(id string) report.Report {
	b.t.Helper()
	b.write()
	r := b.oci("run", "--bundle", b.dir, id)
	if r.code != 0 {
		b.t.Fatalf("run: exit %d\nstderr: %s", r.code, r.stderr)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		b.t.Fatalf("probe report: %v\n%s", err, r.stdout)
	}
	return rep
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestOCILifecycle drives one container through create, state, start, kill and
// delete as containerd's shim does, and checks each status from the process itself.
func TestOCILifecycle(t *testing.T) {
	before := snapshot(t)
	b := newBundle(t)
	b.process()["args"] = []any{"/probe", "signals"}
	b.write()
	out := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pidFile := filepath.Join(t.TempDir(), "init.pid")
	log := filepath.Join(t.TempDir(), "log.json")
	r := b.ociWith(launchIO{stdout: f}, "--log", log, "--log-format", "json", "create", "--bundle", b.dir, "--pid-file", pidFile, "c1")
	if r.code != 0 {
		t.Fatalf("create: exit %d: %s", r.code, r.stderr)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(data))
	if err != nil {
		t.Fatalf("pid file %q: not a decimal pid without a newline", data)
	}
	st := b.state("c1")
	if st["status"] != "created" || int(st["pid"].(float64)) != pid || st["bundle"] != b.dir || st["id"] != "c1" {
		t.Errorf("state after create: %v (pid file %d)", st, pid)
	}
	if _, err := time.Parse(time.RFC3339Nano, st["created"].(string)); err != nil {
		t.Errorf("created %q: %v", st["created"], err)
	}
	dirs := b.cgroupDirs("c1")
	// Created: the process waits before its exec; nothing of the probe has run.
	if got, _ := os.ReadFile(out); len(got) != 0 {
		t.Errorf("output before start: %q", got)
	}
	if r := b.oci("create", "--bundle", b.dir, "c1"); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("second create of c1: exit %d, %q", r.code, r.stderr)
	}
	if r := b.oci("start", "c1"); r.code != 0 {
		t.Fatalf("start: exit %d: %s", r.code, r.stderr)
	}
	if st := b.state("c1"); st["status"] != "running" {
		t.Errorf("state after start: %v", st["status"])
	}
	if r := b.oci("start", "c1"); r.code != 1 {
		t.Errorf("second start: exit %d", r.code)
	}
	if r := b.oci("delete", "c1"); r.code != 1 || !strings.Contains(r.stderr, "not stopped") {
		t.Errorf("delete of a running container: exit %d, %q", r.code, r.stderr)
	}
	// The probe prints the signals it gets; SIGUSR1 by name without SIG, then SIGTERM
	// by number ends it.
	waitFor(t, "the probe's signal handler", func() bool { got, _ := os.ReadFile(out); return bytes.Contains(got, []byte("ready")) })
	if r := b.oci("kill", "c1", "USR1"); r.code != 0 {
		t.Errorf("kill USR1: exit %d: %s", r.code, r.stderr)
	}
	waitFor(t, "SIGUSR1", func() bool { got, _ := os.ReadFile(out); return bytes.Contains(got, []byte("SIGUSR1")) })
	if r := b.oci("kill", "c1", "15"); r.code != 0 {
		t.Errorf("kill 15: exit %d: %s", r.code, r.stderr)
	}
	waitFor(t, "stopped", func() bool { return b.state("c1")["status"] == "stopped" })
	if st := b.state("c1"); st["pid"].(float64) != 0 {
		t.Errorf("pid of a stopped container: %v", st["pid"])
	}
	r = b.oci("--log", log, "--log-format", "json", "kill", "c1", "KILL")
	if r.code != 1 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("kill of a stopped container: exit %d, %q", r.code, r.stderr)
	}
	if r := b.oci("delete", "c1"); r.code != 0 {
		t.Errorf("delete: exit %d: %s", r.code, r.stderr)
	}
	b.gone("c1", dirs)
	r = b.oci("--log", log, "--log-format", "json", "state", "c1")
	if r.code != 1 || !strings.Contains(r.stderr, "does not exist") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("state of a deleted container: exit %d, %q", r.code, r.stderr)
	}
	if r := b.oci("delete", "--force", "c1"); r.code != 0 {
		t.Errorf("delete --force of a deleted container: exit %d: %s", r.code, r.stderr)
	}
	// The log holds one JSON line per error, as the shim reads them.
	logData, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(logData)), "\n")
	if len(lines) != 2 {
		t.Fatalf("log: %d lines, want 2:\n%s", len(lines), logData)
	}
	for i, want := range []string{"not running", "does not exist"} {
		var e struct{ Level, Msg, Time string }
		if err := json.Unmarshal([]byte(lines[i]), &e); err != nil || e.Level != "error" || !strings.Contains(e.Msg, want) || e.Time == "" {
			t.Errorf("log line %d: %q (%v), want an error saying %q", i, lines[i], err, want)
		}
	}
	before.unchanged(t)
}

// TestOCIProcess checks from inside that the bundle is the policy: its capabilities,
// user and groups, environment, working directory, hostname, rlimits, no_new_privs
// and seccomp profile, and the namespaces it asks for.
func TestOCIProcess(t *testing.T) {
	b := newBundle(t)
	p := b.process()
	p["user"] = map[string]any{"uid": 1000, "gid": 1001, "additionalGids": []any{5, 7}}
	p["env"] = []any{"PATH=/bin", "ONLY=this"}
	p["cwd"] = "/tmp"
	p["capabilities"] = map[string]any{"bounding": []any{"CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"},
		"effective": []any{"CAP_KILL"}, "permitted": []any{"CAP_KILL"}, "inheritable": []any{"CAP_KILL"}, "ambient": []any{"CAP_KILL"}}
	p["rlimits"] = []any{map[string]any{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}}
	p["noNewPrivileges"] = true
	b.config["hostname"] = "oci-host"
	b.linux()["seccomp"] = map[string]any{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": []any{map[string]any{"names": []any{"getcwd"}, "action": "SCMP_ACT_ERRNO"}}}
	rep := b.runProbe("p1")
	if rep.UID != 1000 || rep.GID != 1001 || !equalInts(rep.Groups, []int{5, 7}) {
		t.Errorf("ids %d:%d groups %v, want 1000:1001 [5 7]", rep.UID, rep.GID, rep.Groups)
	}
	if strings.Join(rep.Env, " ") != "PATH=/bin ONLY=this" {
		t.Errorf("env %q", rep.Env)
	}
	if rep.Hostname != "oci-host" {
		t.Errorf("hostname %q", rep.Hostname)
	}
	// The profile refuses getcwd: the probe cannot learn its directory.
	if rep.Cwd != "" || rep.Status["Seccomp"] != "2" || rep.Status["NoNewPrivs"] != "1" {
		t.Errorf("cwd %q, Seccomp %q, NoNewPrivs %q: want no cwd (getcwd refused), 2, 1", rep.Cwd, rep.Status["Seccomp"], rep.Status["NoNewPrivs"])
	}
	kill := "0000000000000020"
	want := map[string]string{"CapBnd": "0000000000002021", "CapEff": kill, "CapPrm": kill, "CapInh": kill, "CapAmb": kill}
	for k, v := range want {
		if rep.Status[k] != v {
			t.Errorf("%s = %s, want %s", k, rep.Status[k], v)
		}
	}
	if rep.Limits["RLIMIT_NOFILE"] != "" && rep.Limits["RLIMIT_NOFILE"] != "123 456" {
		t.Errorf("RLIMIT_NOFILE %q", rep.Limits["RLIMIT_NOFILE"])
	}
	self, _ := os.Readlink("/proc/self/ns/pid")
	if rep.NS["pid"] == self || rep.PID != 1 {
		t.Errorf("pid namespace %s (host %s), pid %d: want a new one, pid 1", rep.NS["pid"], self, rep.PID)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestOCIMounts checks the promises for a hostile root in a bundle's mounts: the root
// and every mount but /dev nodev, /dev read-only once made, masked and read-only paths,
// and a destination that is a symlink of the image resolved inside the root.
func TestOCIMounts(t *testing.T) {
	b := newBundle(t)
	rootfs := filepath.Join(b.dir, "rootfs")
	// The image points a mount destination at the host's /etc.
	if err := os.Symlink("/etc", filepath.Join(rootfs, "evil")); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "file"), []byte("shared"), 0o644); err != nil {
		t.Fatal(err)
	}
	mounts := b.config["mounts"].([]any)
	mounts = append(mounts, map[string]any{"destination": "/evil/sub", "type": "bind", "source": src, "options": []any{"rbind", "ro"}},
		map[string]any{"destination": "/../../../data", "type": "tmpfs", "source": "tmpfs", "options": []any{"size=1m"}})
	b.config["mounts"] = mounts
	rep := b.runProbe("m1")
	byPoint := map[string]string{}
	for _, l := range rep.Mounts {
		f := strings.Fields(l)
		if len(f) > 5 {
			byPoint[f[4]] = f[5]
		}
	}
	// /evil/sub is /etc/sub in the container: the image's symlink resolved inside it.
	for point, flag := range map[string]string{"/": "nodev", "/dev": "ro", "/etc/sub": "ro", "/data": "nodev",
		"/proc/sys": "ro", "/proc/keys": "ro", "/sys/firmware": "ro"} {
		if !strings.Contains(byPoint[point], flag) {
			t.Errorf("mount %s: options %q, want %s", point, byPoint[point], flag)
		}
	}
	if _, err := os.Stat("/etc/sub"); err == nil {
		t.Errorf("the mount through the image's symlink landed on the host's /etc/sub")
	}
	if fi, err := os.Stat(filepath.Join(rootfs, "etc/sub")); err != nil || !fi.IsDir() {
		t.Errorf("the mount through the image's symlink: %v, want the root's /etc/sub made", err)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "data")); err != nil {
		t.Errorf("/../../../data: %v, want /data in the root", err)
	}
}

// TestOCIExec starts processes in a running container as the shim and CRI-O do, and
// checks they join its namespaces and get the asked-for process.
func TestOCIExec(t *testing.T) {
	b := newBundle(t)
	b.process()["args"] = []any{"/probe", "sleep", "60"}
	b.write()
	if r := b.oci("run", "--detach", "--bundle", b.dir, "e1"); r.code != 0 {
		t.Fatalf("run --detach: exit %d: %s", r.code, r.stderr)
	}
	r := b.oci("exec", "e1", "/probe", "report")
	if r.code != 0 {
		t.Fatalf("exec: exit %d: %s", r.code, r.stderr)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	initPid := int(b.state("e1")["pid"].(float64))
	for _, ns := range []string{"pid", "mnt", "net", "ipc", "uts"} {
		want, _ := os.Readlink("/proc/" + strconv.Itoa(initPid) + "/ns/" + ns)
		if rep.NS[ns] != want {
			t.Errorf("exec'd process's %s namespace %s, the container's %s", ns, rep.NS[ns], want)
		}
	}
	if rep.PID == 1 || rep.PPID != 0 {
		t.Errorf("exec'd process: pid %d ppid %d, want a pid other than 1 and a parent outside", rep.PID, rep.PPID)
	}
	// Its exit status passes through; --process as the shim writes it.
	proc := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(proc, []byte(`{"args":["/probe","exit","7"],"cwd":"/","user":{"uid":0,"gid":0},"env":["PATH=/bin"]}`), 0o644)
	if r := b.oci("exec", "--process", proc, "e1"); r.code != 7 {
		t.Errorf("exec --process exit 7: exit %d: %s", r.code, r.stderr)
	}
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	if r := b.oci("exec", "-d", "--pid-file", pidFile, "e1", "/probe", "sleep", "60"); r.code != 0 {
		t.Errorf("exec -d: exit %d: %s", r.code, r.stderr)
	}
	if data, err := os.ReadFile(pidFile); err != nil {
		t.Error(err)
	} else if pid, err := strconv.Atoi(string(data)); err != nil {
		t.Errorf("exec pid file %q", data)
	} else if unix.Kill(pid, 0) != nil {
		// It outlives launch exec --detach (a parent-death signal killed it once).
		t.Errorf("the process of exec -d is gone once launch exec ended")
	}
	if r := b.oci("exec", "e1", "/missing"); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("exec of a missing file: exit %d, %q", r.code, r.stderr)
	}
	dirs := b.cgroupDirs("e1")
	if r := b.oci("delete", "--force", "e1"); r.code != 0 {
		t.Errorf("delete --force of a running container: exit %d: %s", r.code, r.stderr)
	}
	b.gone("e1", dirs)
	if r := b.oci("exec", "e1", "/probe", "exit", "0"); r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("exec in a deleted container: exit %d, %q", r.code, r.stderr)
	}
}

// TestOCIConsoleSocket plays the engine's side of --console-socket: one message whose
// data names the master and whose one ancillary message carries it; the process has
// the slave as its terminal.
func TestOCIConsoleSocket(t *testing.T) {
	b := newBundle(t)
	b.process()["terminal"] = true
	b.process()["consoleSize"] = map[string]any{"height": 33, "width": 101}
	b.process()["args"] = []any{"/bin/sh", "-c", "tty; stty size; echo done"}
	b.write()
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan *os.File, 1)
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		buf, oob := make([]byte, 64), make([]byte, unix.CmsgSpace(8))
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			t.Errorf("console message: %v, %d control messages", err, len(msgs))
			got <- nil
			return
		}
		fds, _ := unix.ParseUnixRights(&msgs[0])
		if len(fds) != 1 || string(buf[:n]) == "" {
			t.Errorf("console message: %d descriptors, data %q", len(fds), buf[:n])
			got <- nil
			return
		}
		got <- os.NewFile(uintptr(fds[0]), string(buf[:n]))
	}()
	if r := b.oci("create", "--bundle", b.dir, "--console-socket", sock, "t1"); r.code != 0 {
		t.Fatalf("create: exit %d: %s", r.code, r.stderr)
	}
	master := <-got
	if master == nil {
		t.FailNow()
	}
	defer master.Close()
	if r := b.oci("start", "t1"); r.code != 0 {
		t.Fatalf("start: exit %d: %s", r.code, r.stderr)
	}
	var out []byte
	buf := make([]byte, 512)
	master.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !bytes.Contains(out, []byte("done")) {
		n, err := master.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	if !bytes.Contains(out, []byte("/dev/pts/0")) || !bytes.Contains(out, []byte("33 101")) {
		t.Errorf("terminal output %q: want /dev/pts/0 and the size 33 101", out)
	}
}

// TestOCIBadBundles gives create what a hostile or broken bundle holds: each gets one
// clear line, exit 1, and leaves nothing behind.
func TestOCIBadBundles(t *testing.T) {
	before := snapshot(t)
	b := newBundle(t)
	good, _ := json.Marshal(b.config)
	huge := append([]byte(`{"annotations":{"x":"`), bytes.Repeat([]byte("a"), 5<<20)...)
	huge = append(huge, `"}}`...)
	// Within the size limit, as many values as fit: fastjson took 1 GB for it.
	values := `{"annotations":{"x":[` + strings.Repeat("0,", 2<<20-20) + `0]}}`
	for _, c := range []struct {
		name, config, want string
	}{
		{"malformed", `{"ociVersion": "1.0.2",`, "config.json"},
		{"huge", string(huge), "larger than"},
		{"4 MiB of values", values, "more than 131072 values"},
		{"a field launch does not honour", strings.Replace(string(good), `"linux":{`, `"linux":{"intelRdt":{"closID":"x"},`, 1), "linux.intelRdt: not supported"},
		{"missing command", strings.Replace(string(good), `"/probe"`, `"/nonexistent"`, 1), "not found"},
		{"user namespace without maps", strings.Replace(string(good), `{"type":"pid"}`, `{"type":"user"}`, 1), "linux.uidMappings: a user namespace of the container's needs one"},
		{"user namespace joined by path", strings.Replace(string(good), `{"type":"pid"}`, `{"type":"user","path":"/proc/1/ns/user"}`, 1), "joined by path: not supported yet"},
		{"relative startContainer hook", strings.Replace(string(good), `"hostname"`, `"hooks":{"startContainer":[{"path":"bin/true"}]},"hostname"`, 1), "hooks.startContainer[0].path"},
		{"startContainer hook's timeout", strings.Replace(string(good), `"hostname"`, `"hooks":{"startContainer":[{"path":"/bin/true","timeout":0}]},"hostname"`, 1), "hooks.startContainer[0].timeout"},
		{"startContainer hook with CAP_SYS_ADMIN", strings.Replace(strings.Replace(string(good), `"hostname"`, `"hooks":{"startContainer":[{"path":"/bin/true"}]},"hostname"`, 1), `"CAP_KILL"`, `"CAP_KILL","CAP_SYS_ADMIN"`, 1), "not with CAP_SYS_ADMIN or CAP_PERFMON"},
		{"startContainer hook with CAP_PERFMON", strings.Replace(strings.Replace(string(good), `"hostname"`, `"hooks":{"startContainer":[{"path":"/bin/true"}]},"hostname"`, 1), `"CAP_KILL"`, `"CAP_KILL","CAP_PERFMON"`, 1), "not with CAP_SYS_ADMIN or CAP_PERFMON"},
		{"relative destination", strings.Replace(string(good), `"destination":"/proc"`, `"destination":"proc"`, 1), "not absolute"},
		{"no mount namespace", strings.Replace(string(good), `{"type":"mount"}`, `{"type":"ipc"}`, 1), "given twice"},
		{"bad capability", strings.Replace(string(good), `"CAP_KILL"`, `"CAP_NOPE"`, 1), "unknown capability"},
		// What runc (encoding/json) reads into one value, merging the second copy
		// into the first: a checker reading it so would not see what launch would
		// have run (the second copy alone: uid 0, no no_new_privs). Refused.
		{"process given twice", strings.Replace(string(good), `"process":{`, `"process":{"user":{"uid":1000},"noNewPrivileges":true},"process":{`, 1), "process: given twice"},
		{"a device number that is not -1 (any) nor a number", strings.Replace(string(good), `"devices":[`, `"devices":[{"allow":true,"type":"c","major":-1,"minor":-5},`, 1), "-5 is not a device number"},
		{"130 000 masked paths", strings.Replace(string(good), `"maskedPaths":[`, `"maskedPaths":[`+strings.Repeat(`"/m",`, 130000), 1), "at most 4096"},
		{"a NUL in a mount destination", strings.Replace(string(good), `"destination":"/proc"`, `"destination":"/tmp\u0000/../../proc"`, 1), "holds a NUL"},
		// The profile is compiled while the cgroups are made: its errors come after.
		{"bad seccomp action", strings.Replace(string(good), `"linux":{`, `"linux":{"seccomp":{"defaultAction":"SCMP_ACT_DENY"},`, 1), `linux.seccomp: defaultAction: unknown action "SCMP_ACT_DENY"`},
		{"seccomp profile refusing the exec", strings.Replace(string(good), `"linux":{`, `"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execve"],"action":"SCMP_ACT_ERRNO"}]},`, 1), "refuses what launch needs to start the process: execve"},
	} {
		if err := os.WriteFile(filepath.Join(b.dir, "config.json"), []byte(c.config), 0o644); err != nil {
			t.Fatal(err)
		}
		r := b.oci("create", "--bundle", b.dir, "bad")
		if r.code != 1 || !strings.Contains(r.stderr, c.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q: want exit 1 and one line with %q", c.name, r.code, r.stderr, c.want)
		}
		if _, err := os.Stat(filepath.Join(b.root, "bad")); err == nil {
			t.Errorf("%s: state left behind", c.name)
		}
	}
	for _, id := range []string{"../x", "a/b", "..", ""} {
		if r := b.oci("create", "--bundle", b.dir, id); r.code != 1 {
			t.Errorf("create with id %q: exit %d", id, r.code)
		}
	}
	before.unchanged(t)
	if ents, _ := os.ReadDir(b.root); len(ents) != 0 {
		t.Errorf("state directories left: %v", ents)
	}
}

// TestOCIKilledCreate kills launch create while it sets the container up; whatever it
// left, delete --force removes.
func TestOCIKilledCreate(t *testing.T) {
	b := newBundle(t)
	b.write()
	bin := launcher(t)
	n := testutil.Count(t, "killed creates", 10, 100)
	for i := 0; i < n; i++ {
		id := "k" + strconv.Itoa(i)
		cmd := exec.Command(bin, "--root", b.root, "create", "--bundle", b.dir, id)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i%10) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		if r := b.oci("delete", "--force", id); r.code != 0 {
			t.Errorf("delete --force after a killed create: exit %d: %s", r.code, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(b.root, id)); err == nil {
			t.Errorf("%s: state left", id)
		}
	}
}

// TestOCIHooks runs the hooks a bundle asks for at their points: prestart and
// createRuntime once the namespaces and mounts exist, with the state ("creating", the
// pid) on stdin; poststart after start; poststop at delete. A failing prestart hook
// fails create and leaves nothing.
func TestOCIHooks(t *testing.T) {
	b := newBundle(t)
	b.process()["args"] = []any{"/probe", "exit", "0"}
	out := t.TempDir()
	hook := func(name string) map[string]any {
		// The hook saves the state it got and, for the pid in it, its network namespace.
		script := `cat > ` + out + `/` + name + `; pid=$(sed 's/.*"pid":\([0-9]*\).*/\1/' ` + out + `/` + name + `); readlink /proc/$pid/ns/net > ` + out + `/` + name + `.net 2>&1 || true`
		return map[string]any{"path": "/bin/sh", "args": []any{"sh", "-c", script}, "timeout": 10}
	}
	b.config["hooks"] = map[string]any{"prestart": []any{hook("prestart")}, "createRuntime": []any{hook("createRuntime")},
		"poststart": []any{hook("poststart")}, "poststop": []any{hook("poststop")}}
	b.write()
	if r := b.oci("create", "--bundle", b.dir, "h1"); r.code != 0 {
		t.Fatalf("create: exit %d: %s", r.code, r.stderr)
	}
	host, _ := os.Readlink("/proc/self/ns/net")
	for _, name := range []string{"prestart", "createRuntime"} {
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("%s hook did not run: %v", name, err)
		}
		var st map[string]any
		if err := json.Unmarshal(data, &st); err != nil || st["status"] != "creating" || st["pid"].(float64) <= 0 || st["id"] != "h1" {
			t.Errorf("%s hook's state: %s (%v)", name, data, err)
		}
		ns, _ := os.ReadFile(filepath.Join(out, name+".net"))
		if !strings.HasPrefix(string(ns), "net:[") || strings.TrimSpace(string(ns)) == host {
			t.Errorf("%s hook saw the network namespace %q (host %s): want the container's, made already", name, ns, host)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "poststart")); err == nil {
		t.Error("poststart hook ran before start")
	}
	if r := b.oci("start", "h1"); r.code != 0 {
		t.Fatalf("start: exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "poststart")); err != nil {
		t.Errorf("poststart hook: %v", err)
	}
	waitFor(t, "stopped", func() bool { return b.state("h1")["status"] == "stopped" })
	if r := b.oci("delete", "h1"); r.code != 0 {
		t.Fatalf("delete: exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "poststop")); err != nil {
		t.Errorf("poststop hook: %v", err)
	}

	before := snapshot(t)
	b.config["hooks"] = map[string]any{"prestart": []any{map[string]any{"path": "/bin/false"}}}
	b.write()
	if r := b.oci("create", "--bundle", b.dir, "h2"); r.code != 1 || !strings.Contains(r.stderr, "hook /bin/false") {
		t.Errorf("create with a failing prestart hook: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(b.root, "h2")); err == nil {
		t.Error("state left after a failing hook")
	}
	before.unchanged(t)
}

// TestOCICreateContainerHooks: createContainer hooks run, as the runtime spec has
// them, with paths resolved in launch's namespaces and in the container's namespaces
// before pivot_root: a hook sees the container's mount and network namespaces and,
// as the container's PID namespace is new, is in it; it gets the state on its stdin;
// a #! script works. A failing hook, or one past its timeout, fails create and
// leaves nothing behind.
func TestOCICreateContainerHooks(t *testing.T) {
	b := newBundle(t)
	b.process()["args"] = []any{"/probe", "exit", "0"}
	out := t.TempDir()
	script := filepath.Join(out, "hook.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ncat > "+out+"/$1.state\n"+
		"readlink /proc/self/ns/mnt /proc/self/ns/net /proc/self/ns/pid > "+out+"/$1.ns\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hook := func(name string) map[string]any {
		return map[string]any{"path": script, "args": []any{"hook.sh", name}, "timeout": 10}
	}
	b.config["hooks"] = map[string]any{"createContainer": []any{hook("first"), hook("second")}}
	b.write()
	if r := b.oci("create", "--bundle", b.dir, "cc1"); r.code != 0 {
		t.Fatalf("create: exit %d: %s", r.code, r.stderr)
	}
	pid := int(b.state("cc1")["pid"].(float64))
	for _, name := range []string{"first", "second"} {
		data, err := os.ReadFile(filepath.Join(out, name+".state"))
		var st map[string]any
		if err != nil || json.Unmarshal(data, &st) != nil || st["status"] != "creating" || int(st["pid"].(float64)) != pid || st["id"] != "cc1" {
			t.Errorf("%s hook's state: %s (%v)", name, data, err)
		}
		ns, _ := os.ReadFile(filepath.Join(out, name+".ns"))
		var want []string
		for _, n := range []string{"mnt", "net", "pid"} {
			l, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + n)
			want = append(want, l)
		}
		if strings.Fields(string(ns)) == nil || strings.Join(strings.Fields(string(ns)), " ") != strings.Join(want, " ") {
			t.Errorf("%s hook's namespaces %q, want the container's %q", name, ns, want)
		}
	}
	if r := b.oci("delete", "--force", "cc1"); r.code != 0 {
		t.Fatalf("delete: exit %d: %s", r.code, r.stderr)
	}

	notProgram := filepath.Join(out, "not-a-program")
	if err := os.WriteFile(notProgram, []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t)
	for _, c := range []struct {
		hook map[string]any
		want string
	}{
		{map[string]any{"path": "/bin/sh", "args": []any{"sh", "-c", "exit 3"}}, "createContainer hook /bin/sh: failed: exit status 3"},
		{map[string]any{"path": "/bin/sleep", "args": []any{"sleep", "30"}, "timeout": 1}, "createContainer hook /bin/sleep: timed out after 1 s"},
		{map[string]any{"path": "/nonexistent/hook"}, "no such file or directory"},
		{map[string]any{"path": notProgram}, "createContainer hook: " + notProgram + ": permission denied"},
	} {
		b.config["hooks"] = map[string]any{"createContainer": []any{c.hook}}
		b.write()
		start := time.Now()
		if r := b.oci("create", "--bundle", b.dir, "cc2"); r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("create with the createContainer hook %v: exit %d, %q: want %q", c.hook, r.code, r.stderr, c.want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("create with the createContainer hook %v took %v", c.hook, d)
		}
		if _, err := os.Stat(filepath.Join(b.root, "cc2")); err == nil {
			t.Error("state left after a failing hook")
		}
	}
	before.unchanged(t)
}

// TestOCIStartContainerHooks: startContainer hooks run after start and before the
// process, as the runtime spec has them: in the container (the hook's path is the
// root's, a file the host does not have), as the process's user, each with the state
// (status created, the process's pid) on its stdin, which a hook cannot change for the
// next one. A failing hook, or one past its timeout, ends the process with status 125
// and a line on its stderr, before it runs.
func TestOCIStartContainerHooks(t *testing.T) {
	b := newBundle(t)
	out := t.TempDir()
	if err := os.Chmod(out, 0o777); err != nil {
		t.Fatal(err)
	}
	hookPath := "/launch-test-start-hook.sh"
	if _, err := os.Stat(hookPath); err == nil {
		t.Fatalf("%s is on the host: the test needs a path only the container has", hookPath)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "rootfs", hookPath), []byte("#!/bin/sh\ncat > /out/$1.state\n"+
		"echo tampered >&0 2>/dev/null\nreadlink /proc/self/ns/mnt > /out/$1.ns\nid -u > /out/$1.uid\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	b.config["mounts"] = append(b.config["mounts"].([]any), map[string]any{"destination": "/out", "type": "bind", "source": out, "options": []any{"rbind", "rw"}})
	b.process()["user"] = map[string]any{"uid": 1000, "gid": 1000}
	b.process()["args"] = []any{"/bin/sh", "-c", "ls /out > /out/process.seen"}
	hook := func(name string) map[string]any {
		return map[string]any{"path": hookPath, "args": []any{"hook.sh", name}, "timeout": 10}
	}
	b.config["hooks"] = map[string]any{"startContainer": []any{hook("first"), hook("second")}}
	b.write()
	// A file that is no program: its exec's errno, not the child's status 127.
	if err := os.WriteFile(filepath.Join(b.dir, "rootfs", "launch-test-not-a-program"), []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := b.oci("create", "--bundle", b.dir, "sc1"); r.code != 0 {
		t.Fatalf("create: exit %d: %s", r.code, r.stderr)
	}
	pid := int(b.state("sc1")["pid"].(float64))
	mnt, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/mnt")
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("hooks ran before start: %v", ents)
	}
	if r := b.oci("start", "sc1"); r.code != 0 {
		t.Fatalf("start: exit %d: %s", r.code, r.stderr)
	}
	seen := ""
	for range 100 {
		if data, err := os.ReadFile(filepath.Join(out, "process.seen")); err == nil && len(data) > 0 {
			seen = string(data)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, name := range []string{"first", "second"} {
		data, err := os.ReadFile(filepath.Join(out, name+".state"))
		var st map[string]any
		if err != nil || json.Unmarshal(data, &st) != nil || st["status"] != "created" || int(st["pid"].(float64)) != pid || st["id"] != "sc1" {
			t.Errorf("%s hook's state: %q (%v)", name, data, err)
		}
		if ns, _ := os.ReadFile(filepath.Join(out, name+".ns")); strings.TrimSpace(string(ns)) != mnt {
			t.Errorf("%s hook's mount namespace %q, want the container's %q", name, ns, mnt)
		}
		if uid, _ := os.ReadFile(filepath.Join(out, name+".uid")); strings.TrimSpace(string(uid)) != "1000" {
			t.Errorf("%s hook ran as %q, want the process's user 1000", name, uid)
		}
		if !strings.Contains(seen, name+".state") {
			t.Errorf("the process saw %q in /out: the %s hook had not run before it", seen, name)
		}
	}
	b.oci("delete", "--force", "sc1")

	before := snapshot(t)
	for _, c := range []struct {
		hook map[string]any
		want string
	}{
		{map[string]any{"path": "/bin/sh", "args": []any{"sh", "-c", "exit 3"}}, "startContainer hook /bin/sh: exit status 3"},
		{map[string]any{"path": "/bin/sh", "args": []any{"sh", "-c", "kill -9 $$"}}, "startContainer hook /bin/sh: killed by signal 9"},
		{map[string]any{"path": "/bin/sleep", "args": []any{"sleep", "30"}, "timeout": 1}, "startContainer hook /bin/sleep: timed out after 1 s"},
		{map[string]any{"path": "/nonexistent/hook"}, "startContainer hook /nonexistent/hook: no such file or directory"},
		{map[string]any{"path": "/launch-test-not-a-program"}, "startContainer hook /launch-test-not-a-program: permission denied"},
	} {
		b.config["hooks"] = map[string]any{"startContainer": []any{c.hook}}
		os.Remove(filepath.Join(out, "process.seen"))
		start := time.Now()
		r := b.runOut("sc2")
		if r.code != 125 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("run with the startContainer hook %v: exit %d, %q: want 125, %q", c.hook, r.code, r.stderr, c.want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("run with the startContainer hook %v took %v", c.hook, d)
		}
		if _, err := os.Stat(filepath.Join(out, "process.seen")); err == nil {
			t.Errorf("the process ran after the startContainer hook %v failed", c.hook)
		}
	}
	before.unchanged(t)
}

// TestOCIAttackStartContainerHooks: a startContainer hook is a program of the image,
// run while the process is still launch's binary: with CAP_SYS_PTRACE it cannot open
// /proc/1/exe (the launcher's binary on the host, which it could write once the
// process has exec'd), it runs with no_new_privs and under the filter when the bundle
// asks for them (a set-user-ID program of the image gains nothing), and its stdin is
// a pipe of its own, not a descriptor the next hook shares; where Landlock scopes
// signals, it cannot signal the process either.
func TestOCIAttackStartContainerHooks(t *testing.T) {
	b := newBundle(t)
	out := t.TempDir()
	hookPath := "/launch-test-attack-hook.sh"
	if err := os.WriteFile(filepath.Join(b.dir, "rootfs", hookPath), []byte("#!/bin/sh\n"+
		"if cat /proc/1/exe > /dev/null 2>&1; then echo read; else echo refused; fi > /out/$1.exe\n"+
		"cat /proc/self/status > /out/$1.status\nreadlink /proc/self/fd/0 > /out/$1.stdin\n"+
		"if kill -0 1 2>/dev/null; then echo sent; else echo refused; fi > /out/$1.signal\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	b.config["mounts"] = append(b.config["mounts"].([]any), map[string]any{"destination": "/out", "type": "bind", "source": out, "options": []any{"rbind", "rw"}})
	caps := []any{"CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE", "CAP_KILL"}
	b.process()["capabilities"] = map[string]any{"bounding": caps, "effective": caps, "permitted": caps}
	b.process()["noNewPrivileges"] = true
	b.process()["args"] = []any{"/bin/true"}
	b.linux()["seccomp"] = map[string]any{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": []any{map[string]any{"names": []any{"getppid"}, "action": "SCMP_ACT_ERRNO"}}}
	hook := func(name string) map[string]any {
		return map[string]any{"path": hookPath, "args": []any{"hook.sh", name}, "timeout": 10}
	}
	b.config["hooks"] = map[string]any{"startContainer": []any{hook("first"), hook("second")}}
	if r := b.runOut("atk"); r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	var pipes []string
	for _, name := range []string{"first", "second"} {
		if exe, _ := os.ReadFile(filepath.Join(out, name+".exe")); strings.TrimSpace(string(exe)) != "refused" {
			t.Errorf("%s hook, with CAP_SYS_PTRACE, and /proc/1/exe (launch's binary): %q, want refused", name, exe)
		}
		status, _ := os.ReadFile(filepath.Join(out, name+".status"))
		for _, want := range []string{"NoNewPrivs:\t1", "Seccomp:\t2"} {
			if !strings.Contains(string(status), want) {
				t.Errorf("%s hook's status has no %q:\n%s", name, want, status)
			}
		}
		stdin, _ := os.ReadFile(filepath.Join(out, name+".stdin"))
		if !strings.HasPrefix(string(stdin), "pipe:") || slices.Contains(pipes, string(stdin)) {
			t.Errorf("%s hook's stdin %q: want a pipe of its own (others: %q)", name, stdin, pipes)
		}
		pipes = append(pipes, string(stdin))
		// Landlock's signal scope (ABI 6): the hook cannot stop the process that
		// times it.
		if sig, _ := os.ReadFile(filepath.Join(out, name+".signal")); execve.LandlockABI() >= 6 && strings.TrimSpace(string(sig)) != "refused" {
			t.Errorf("%s hook's kill -0 of the process: %q, want refused", name, sig)
		}
	}
}

// TestOCIJoinNamespaces: a pod's container joins the sandbox's PID, IPC, UTS and
// network namespaces by path, as Kubernetes asks.
func TestOCIJoinNamespaces(t *testing.T) {
	b := newBundle(t)
	b.process()["args"] = []any{"/probe", "sleep", "60"}
	b.write()
	if r := b.oci("run", "-d", "--bundle", b.dir, "sandbox"); r.code != 0 {
		t.Fatalf("run sandbox: exit %d: %s", r.code, r.stderr)
	}
	pid := strconv.Itoa(int(b.state("sandbox")["pid"].(float64)))
	b.process()["args"] = []any{"/probe", "report"}
	var nss []any
	for _, n := range []string{"pid", "ipc", "uts", "network"} {
		proc := map[string]string{"network": "net"}[n]
		if proc == "" {
			proc = n
		}
		nss = append(nss, map[string]any{"type": n, "path": "/proc/" + pid + "/ns/" + proc})
	}
	nss = append(nss, map[string]any{"type": "mount"}, map[string]any{"type": "cgroup"})
	b.linux()["namespaces"] = nss
	delete(b.config, "hostname")
	b.linux()["cgroupsPath"] = b.linux()["cgroupsPath"].(string) + "-member"
	// The sandbox's network namespace is the member's own: its sysctls may be set
	// (podman sets net.ipv4.ping_group_range in the one its network made).
	b.linux()["sysctl"] = map[string]any{"net.ipv4.ping_group_range": "0 0"}
	rep := b.runProbe("member")
	for _, ns := range []string{"pid", "ipc", "uts", "net"} {
		want, _ := os.Readlink("/proc/" + pid + "/ns/" + ns)
		if rep.NS[ns] != want {
			t.Errorf("%s namespace %s, the sandbox's %s", ns, rep.NS[ns], want)
		}
	}
	if rep.PID == 1 {
		t.Errorf("the member is PID 1 of the sandbox's PID namespace")
	}
	if rep.Hostname != "launch" {
		t.Errorf("hostname %q: want the sandbox's", rep.Hostname)
	}
	before, _ := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	b.process()["args"] = []any{"/bin/cat", "/proc/sys/net/ipv4/ping_group_range"}
	if r := b.runOut("member2"); r.code != 0 || strings.Join(strings.Fields(r.stdout), " ") != "0 0" {
		t.Errorf("a sysctl of the joined network namespace: exit %d, %q, %s", r.code, r.stdout, r.stderr)
	}
	if after, _ := os.ReadFile("/proc/sys/net/ipv4/ping_group_range"); string(after) != string(before) {
		t.Errorf("the host's ping_group_range changed: %q, was %q", after, before)
	}
}

// TestOCIJoinMountNamespace: a bundle may join a mount namespace by path, which then
// gets the container's mounts and root, and nothing of them leaks to its peers: the
// namespace joined is a copy of one where the bundle's directory is a shared mount,
// so every mount made below it would propagate back unless launch makes the mounts
// private first. launch's own mount namespace (the host's) is refused.
func TestOCIJoinMountNamespace(t *testing.T) {
	b := newBundle(t)
	dir := t.TempDir()
	script := `mount --bind "$1" "$1" && mount --make-shared "$1" || exit 1
unshare --mount --propagation unchanged sleep 60 &
echo $! > "$2.tmp" && mv "$2.tmp" "$2"
exec sleep 60`
	peer := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", b.dir, filepath.Join(dir, "holder"))
	peer.Stderr = os.Stderr
	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { peer.Process.Kill(); peer.Wait() }()
	var holder string
	for range 100 {
		if data, err := os.ReadFile(filepath.Join(dir, "holder")); err == nil {
			holder = strings.TrimSpace(string(data))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if holder == "" {
		t.Fatal("the holder of the mount namespace did not start")
	}
	if n, err := strconv.Atoi(holder); err == nil {
		defer unix.Kill(n, unix.SIGKILL)
	}
	peerMounts := func() []string {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(peer.Process.Pid) + "/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range strings.Split(string(data), "\n") {
			if f := strings.Fields(l); len(f) > 4 {
				out = append(out, f[0]+" "+f[4])
			}
		}
		return out
	}
	before, host := peerMounts(), snapshot(t)
	if !slices.ContainsFunc(before, func(m string) bool { return strings.HasSuffix(m, " "+b.dir) }) {
		t.Fatalf("the peer has no mount at %s: %v", b.dir, before)
	}
	nss := b.linux()["namespaces"].([]any)
	for i, n := range nss {
		if n.(map[string]any)["type"] == "mount" {
			nss[i] = map[string]any{"type": "mount", "path": "/proc/" + holder + "/ns/mnt"}
		}
	}
	rep := b.runProbe("joined")
	if want, _ := os.Readlink("/proc/" + holder + "/ns/mnt"); rep.NS["mnt"] != want {
		t.Errorf("mount namespace %s, want the one joined, %s", rep.NS["mnt"], want)
	}
	if !slices.ContainsFunc(rep.Mounts, func(m string) bool { return strings.Contains(m, " /proc ") && strings.Contains(m, " - proc ") }) {
		t.Errorf("the container's mounts are not in the namespace it joined: %v", rep.Mounts)
	}
	if after := peerMounts(); !slices.Equal(before, after) {
		t.Errorf("mounts reached the joined namespace's peer:\nbefore %v\nafter  %v", before, after)
	}
	host.unchanged(t)

	nss[slices.IndexFunc(nss, func(n any) bool { return n.(map[string]any)["type"] == "mount" })] =
		map[string]any{"type": "mount", "path": "/proc/" + strconv.Itoa(os.Getpid()) + "/ns/mnt"}
	b.write()
	if r := b.oci("create", "--bundle", b.dir, "own"); r.code != 1 || !strings.Contains(r.stderr, "launch's own mount namespace or init's") {
		t.Errorf("create joining launch's own mount namespace: exit %d, %q: want refused", r.code, r.stderr)
	}
	// init's, from a launch in a mount namespace of its own (an engine's, a
	// service's): the host's all the same. Here init is PID 1 of a PID namespace of
	// the test's, in a mount namespace of its own, and launch in another below it.
	nss[slices.IndexFunc(nss, func(n any) bool { return n.(map[string]any)["type"] == "mount" })] =
		map[string]any{"type": "mount", "path": "/proc/1/ns/mnt"}
	b.write()
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount", "--mount-proc", "--propagation", "private",
		"unshare", "--mount", launcher(t), "--root", b.root, "create", "--bundle", b.dir, "init")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "launch's own mount namespace or init's") {
		t.Errorf("create joining init's mount namespace from a namespace of launch's own: %v, %q: want refused", err, out)
	}
	host.unchanged(t)
}

// TestOCIRaces runs kill, delete --force and state at once against containers whose
// process is ending by itself: each answers with a result or one of the errors
// engines expect, and nothing is left.
func TestOCIRaces(t *testing.T) {
	b := newBundle(t)
	// root.path may be a symlink: the engine's path, resolved once by launch.
	if err := os.Symlink("rootfs", filepath.Join(b.dir, "root-link")); err != nil {
		t.Fatal(err)
	}
	b.config["root"] = map[string]any{"path": "root-link", "readonly": true}
	b.process()["args"] = []any{"/probe", "sleep", "0.02"}
	b.write()
	n := testutil.Count(t, "raced containers", 5, 50)
	for i := 0; i < n; i++ {
		id := "r" + strconv.Itoa(i)
		if r := b.oci("run", "-d", "--bundle", b.dir, id); r.code != 0 {
			t.Fatalf("run -d: exit %d: %s", r.code, r.stderr)
		}
		dirs := b.cgroupDirs(id)
		done := make(chan result, 3)
		for _, args := range [][]string{{"kill", id, "KILL"}, {"delete", "--force", id}, {"state", id}} {
			go func() {
				r, err := execLaunch(t, launchIO{}, recordStart, append([]string{"--root", b.root}, args...)...)
				if err != nil {
					r = result{code: -1, stderr: err.Error()}
				}
				done <- r
			}()
		}
		for j := 0; j < 3; j++ {
			r := <-done
			ok := r.code == 0 || (r.code == 1 && (strings.Contains(r.stderr, "does not exist") || strings.Contains(r.stderr, "not running")))
			if !ok || strings.Count(r.stderr, "\n") > 1 {
				t.Errorf("%s: exit %d, %q", id, r.code, r.stderr)
			}
		}
		if r := b.oci("delete", "--force", id); r.code != 0 {
			t.Errorf("final delete --force: exit %d: %s", r.code, r.stderr)
		}
		b.gone(id, dirs)
	}
}

// runOut runs the bundle with launch run and returns what it printed and its status.
func (b *bundle) runOut(id string) result {
	b.t.Helper()
	b.write()
	return b.oci("run", "--bundle", b.dir, id)
}

// TestOCIAttackDeviceNodes: a container with CAP_MKNOD makes a node for /dev/kmsg
// (whose writes would show in the host's log) wherever it can write, and never opens
// one; a bundle that would let it (a second /dev, a dev option, rules that end
// denying) is refused.
func TestOCIAttackDeviceNodes(t *testing.T) {
	b := newBundle(t)
	caps := []any{"CAP_MKNOD", "CAP_DAC_OVERRIDE"}
	b.process()["capabilities"] = map[string]any{"bounding": caps, "effective": caps, "permitted": caps}
	b.config["root"] = map[string]any{"path": "rootfs"}
	mounts := append(b.config["mounts"].([]any), map[string]any{"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"})
	b.config["mounts"] = mounts
	for _, dir := range []string{"/dev", "/dev/shm", "/scratch", "/tmp", "/"} {
		b.process()["args"] = []any{"/probe", "try", "node", "c", dir + "/kmsg-attack", "1", "11", "launch-attack"}
		r := b.runOut("n" + strconv.Itoa(len(dir)))
		got := strings.TrimSpace(r.stdout)
		t.Logf("node in %s: %s", dir, got)
		if got == "ok" || (!strings.HasPrefix(got, "mknod ") && !strings.HasPrefix(got, "open ")) {
			t.Errorf("node in %s: %q (exit %d, %s): want mknod or open refused", dir, got, r.code, r.stderr)
		}
	}
	for _, c := range []struct {
		name, want string
		change     func(map[string]any)
	}{
		{"a second /dev", "second mount of /dev", func(c map[string]any) {
			c["mounts"] = append(c["mounts"].([]any), map[string]any{"destination": "/dev", "type": "tmpfs", "source": "tmpfs"})
		}},
		{"dev option", `"dev"`, func(c map[string]any) {
			c["mounts"] = append(c["mounts"].([]any), map[string]any{"destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": []any{"dev"}})
		}},
		{"a bound device denied", "denies", func(c map[string]any) {
			c["mounts"] = append(c["mounts"].([]any), map[string]any{"destination": "/kmsg", "type": "bind", "source": "/dev/kmsg"})
		}},
	} {
		saved, _ := json.Marshal(b.config)
		c.change(b.config)
		b.write()
		if r := b.oci("create", "--bundle", b.dir, "bad"); r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d, %q: want refused (%q)", c.name, r.code, r.stderr, c.want)
		}
		b.config = nil
		json.Unmarshal(saved, &b.config)
	}
	// A node of linux.devices that the rules deny is there and cannot be opened; one
	// they allow can (its writes show in the host's kernel log).
	b.linux()["devices"] = []any{map[string]any{"type": "c", "path": "/dev/kmsg", "major": 1, "minor": 11, "fileMode": 0o600}}
	for _, c := range []struct {
		rules []any
		want  string
	}{
		{[]any{map[string]any{"allow": false, "access": "rwm"}}, "EACCES"},
		{[]any{map[string]any{"allow": false, "access": "rwm"}, map[string]any{"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rw"}}, "ok"},
		// Allowed for reading only: the node is usable, and the devices cgroup (v1)
		// or the device filter (v2) refuses the write.
		{[]any{map[string]any{"allow": false, "access": "rwm"}, map[string]any{"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}}, "EPERM"},
	} {
		b.linux()["resources"].(map[string]any)["devices"] = c.rules
		b.process()["args"] = []any{"/probe", "try", "write", "/dev/kmsg", "launch-test: a node of linux.devices"}
		if got := strings.TrimSpace(b.runOut("dev").stdout); got != c.want {
			t.Errorf("write to /dev/kmsg with rules %v: %q, want %s", c.rules, got, c.want)
		}
	}
	delete(b.linux(), "devices")
	// Rules that end denying c 1:11 after allowing all leave /dev read-only.
	b.linux()["resources"].(map[string]any)["devices"] = []any{
		map[string]any{"allow": true, "access": "rwm"}, map[string]any{"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rwm"}}
	b.process()["args"] = []any{"/probe", "try", "node", "c", "/dev/kmsg-attack", "1", "11", "launch-attack"}
	if got := strings.TrimSpace(b.runOut("rules").stdout); got != "mknod EROFS" {
		t.Errorf("node in /dev after rules that end denying: %q, want mknod EROFS", got)
	}
}

// TestOCIAttackCgroupMounts: a bundle that mounts cgroup2 gets the container's own
// cgroups read-only, and a container that made a cgroup below its own cannot keep
// delete from removing everything.
func TestOCIAttackCgroupMounts(t *testing.T) {
	b := newBundle(t)
	mounts := b.config["mounts"].([]any)
	for i, m := range mounts {
		if m.(map[string]any)["destination"] == "/sys/fs/cgroup" {
			mounts[i] = map[string]any{"destination": "/sys/fs/cgroup", "type": "cgroup2", "source": "cgroup2", "options": []any{"rw"}}
		}
	}
	b.process()["args"] = []any{"/probe", "try", "mkdir", "/sys/fs/cgroup/memory/escape"}
	r := b.runOut("cg")
	if strings.TrimSpace(r.stdout) != "EROFS" {
		t.Errorf("mkdir in the container's cgroups: %q (exit %d, %s), want EROFS", r.stdout, r.code, r.stderr)
	}
	// A cgroup made below the container's (here by the host, as a container that could
	// would) is removed with it.
	b.process()["args"] = []any{"/probe", "sleep", "60"}
	b.write()
	if r := b.oci("run", "-d", "--bundle", b.dir, "cg2"); r.code != 0 {
		t.Fatalf("run -d: exit %d: %s", r.code, r.stderr)
	}
	dirs := b.cgroupDirs("cg2")
	if err := os.Mkdir(filepath.Join(dirs[0], "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	if r := b.oci("delete", "-f", "cg2"); r.code != 0 {
		t.Errorf("delete -f with a cgroup below the container's: exit %d: %s", r.code, r.stderr)
	}
	b.gone("cg2", dirs)
}

// TestOCISysctl: namespaced sysctls are written before /proc/sys is made read-only;
// a host's sysctl is refused.
func TestOCISysctl(t *testing.T) {
	b := newBundle(t)
	b.linux()["sysctl"] = map[string]any{"kernel.shmmni": "1234", "net.ipv4.ip_forward": "1"}
	b.process()["args"] = []any{"/bin/cat", "/proc/sys/kernel/shmmni", "/proc/sys/net/ipv4/ip_forward"}
	r := b.runOut("s1")
	if r.code != 0 || strings.Fields(r.stdout)[0] != "1234" || strings.Fields(r.stdout)[1] != "1" {
		t.Errorf("sysctls: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	host, _ := os.ReadFile("/proc/sys/kernel/shmmni")
	if strings.TrimSpace(string(host)) == "1234" {
		t.Error("the host's kernel.shmmni changed")
	}
	b.linux()["sysctl"] = map[string]any{"kernel.core_pattern": "|/evil"}
	b.write()
	if r := b.oci("create", "--bundle", b.dir, "s2"); r.code != 1 || !strings.Contains(r.stderr, "not a sysctl of the container") {
		t.Errorf("host sysctl: exit %d, %q", r.code, r.stderr)
	}
}

// TestOCIInputs: a directory as stdin, a FIFO as config.json, the host's / as the
// root; and an exec that fails after start says so and exits 127.
func TestOCIInputs(t *testing.T) {
	b := newBundle(t)
	b.write()
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if r := b.ociWith(launchIO{stdin: dir}, "run", "--bundle", b.dir, "i1"); r.code != 1 || !strings.Contains(r.stderr, "stdin") {
		t.Errorf("a directory as stdin: exit %d, %q", r.code, r.stderr)
	}
	fifoBundle := t.TempDir()
	if err := unix.Mkfifo(filepath.Join(fifoBundle, "config.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := b.oci("create", "--bundle", fifoBundle, "i2"); r.code != 1 || !strings.Contains(r.stderr, "not a regular file") {
		t.Errorf("a FIFO as config.json: exit %d, %q", r.code, r.stderr)
	}
	b.config["root"] = map[string]any{"path": "/"}
	b.write()
	if r := b.oci("create", "--bundle", b.dir, "i3"); r.code != 1 || !strings.Contains(r.stderr, "host's root") {
		t.Errorf("the host's / as root.path: exit %d, %q", r.code, r.stderr)
	}
	b.config["root"] = map[string]any{"path": "rootfs", "readonly": true}
	// /tmp is a mount of the bundle's: launch cannot check the command below it at
	// create, and the exec fails after start.
	b.config["mounts"] = append(b.config["mounts"].([]any), map[string]any{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
	b.process()["args"] = []any{"/tmp/missing"}
	r := b.runOut("i4")
	if r.code != 127 || !strings.Contains(r.stderr, "exec /tmp/missing: no such file or directory") {
		t.Errorf("exec after start of a missing file: exit %d, %q", r.code, r.stderr)
	}
}

// TestOCIAttackHostNamespaces: a bundle that joins the host's own UTS or network
// namespace by path cannot set the host's hostname or network sysctls through it.
func TestOCIAttackHostNamespaces(t *testing.T) {
	b := newBundle(t)
	hostName, _ := os.Hostname()
	nss := []any{map[string]any{"type": "pid"}, map[string]any{"type": "mount"}, map[string]any{"type": "ipc"},
		map[string]any{"type": "uts", "path": "/proc/self/ns/uts"}}
	b.linux()["namespaces"] = nss
	b.config["hostname"] = "launch-attack"
	b.write()
	if r := b.oci("create", "--bundle", b.dir, "u1"); r.code != 1 || !strings.Contains(r.stderr, "hostname") {
		t.Errorf("hostname in the host's uts namespace: exit %d, %q", r.code, r.stderr)
	}
	if h, _ := os.Hostname(); h != hostName {
		unix.Sethostname([]byte(hostName))
		t.Fatalf("the host's hostname became %q", h)
	}
	delete(b.config, "hostname")
	b.linux()["namespaces"] = append(nss[:3], map[string]any{"type": "network", "path": "/proc/self/ns/net"})
	b.linux()["sysctl"] = map[string]any{"net.ipv4.ip_forward": "1"}
	b.write()
	if r := b.oci("create", "--bundle", b.dir, "u2"); r.code != 1 || !strings.Contains(r.stderr, "not a sysctl of the container") {
		t.Errorf("a net sysctl in the host's network namespace: exit %d, %q", r.code, r.stderr)
	}
}

// TestOCIAttackRbindSubmounts: an rbind's mounts below its top get its ro and nodev
// too: through an rbind of the host's /, a container whose rules allow every device
// still cannot open the host's /dev/kmsg (devtmpfs, a submount), nor create a file in
// the host's /dev/shm (a tmpfs below it).
func TestOCIAttackRbindSubmounts(t *testing.T) {
	b := newBundle(t)
	b.linux()["resources"].(map[string]any)["devices"] = []any{map[string]any{"allow": true, "access": "rwm"}}
	b.config["mounts"] = append(b.config["mounts"].([]any),
		map[string]any{"destination": "/host", "type": "bind", "source": "/", "options": []any{"rbind", "ro", "strictatime", "rshared"}})
	for _, c := range []struct{ op, path, want string }{{"write", "/host/dev/kmsg", "EACCES"}, {"create", "/host/dev/shm/launch-attack", "EROFS"}} {
		b.process()["args"] = []any{"/probe", "try", c.op, c.path, "launch-attack: rbind submount"}
		r := b.runOut("rb")
		if got := strings.TrimSpace(r.stdout); got != c.want {
			t.Errorf("write %s: %q (exit %d, %s), want %s", c.path, got, r.code, r.stderr, c.want)
		}
	}
}

// TestOCIAttackCgroupReuse: delete kills only what is in the container's own cgroups:
// not a later container's that took the same path, not one made inside another's.
func TestOCIAttackCgroupReuse(t *testing.T) {
	a := newBundle(t)
	a.process()["args"] = []any{"/probe", "sleep", "60"}
	a.write()
	if r := a.oci("run", "-d", "--bundle", a.dir, "a"); r.code != 0 {
		t.Fatalf("run a: exit %d: %s", r.code, r.stderr)
	}
	dirs := a.cgroupDirs("a")
	// a's process ends, and its cgroups are removed from outside.
	if r := a.oci("kill", "a", "KILL"); r.code != 0 {
		t.Fatalf("kill a: %s", r.stderr)
	}
	waitFor(t, "a stopped", func() bool { return a.state("a")["status"] == "stopped" })
	for i := len(dirs) - 1; i >= 0; i-- {
		for unix.Rmdir(dirs[i]) == unix.EBUSY {
			time.Sleep(10 * time.Millisecond)
		}
	}
	// b, under another --root, takes the same cgroup path.
	b := &bundle{t: t, dir: a.dir, root: filepath.Join(t.TempDir(), "state-b"), config: a.config}
	if r := b.oci("run", "-d", "--bundle", a.dir, "b"); r.code != 0 {
		t.Fatalf("run b: exit %d: %s", r.code, r.stderr)
	}
	defer b.oci("delete", "-f", "b")
	if r := a.oci("delete", "a"); r.code != 0 {
		t.Errorf("delete a: exit %d: %s", r.code, r.stderr)
	}
	if st := b.state("b")["status"]; st != "running" {
		t.Errorf("b after delete a: %v, want running", st)
	}
	// c inside b's cgroup is refused.
	c := &bundle{t: t, dir: a.dir, root: filepath.Join(t.TempDir(), "state-c"), config: a.config}
	c.linux()["cgroupsPath"] = a.linux()["cgroupsPath"].(string) + "/c"
	c.write()
	if r := c.oci("create", "--bundle", a.dir, "c"); r.code != 1 || !strings.Contains(r.stderr, "holds processes") {
		t.Errorf("create inside b's cgroup: exit %d, %q", r.code, r.stderr)
	}
}

// TestOCIPreserveFDs: --preserve-fds passes the caller's descriptors from 3 up to the
// process, as socket activation wants; a directory among them is refused.
func TestOCIPreserveFDs(t *testing.T) {
	b := newBundle(t)
	b.process()["args"] = []any{"/bin/cat", "/proc/self/fd/3"}
	b.write()
	f, err := os.CreateTemp(t.TempDir(), "preserved")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("passed through\n")
	f.Seek(0, 0)
	defer f.Close()
	r := b.ociWith(launchIO{files: []*os.File{f}}, "run", "--preserve-fds", "1", "--bundle", b.dir, "p1")
	if r.code != 0 || r.stdout != "passed through\n" {
		t.Errorf("run --preserve-fds 1: exit %d, %q, %s", r.code, r.stdout, r.stderr)
	}
	r = b.ociWith(launchIO{files: []*os.File{f}}, "run", "--bundle", b.dir, "p2")
	if r.code == 0 {
		t.Errorf("without --preserve-fds the descriptor reached the container: %q", r.stdout)
	}
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if r := b.ociWith(launchIO{files: []*os.File{dir}}, "run", "--preserve-fds", "1", "--bundle", b.dir, "p3"); r.code != 1 || !strings.Contains(r.stderr, "is a directory") {
		t.Errorf("a directory preserved: exit %d, %q", r.code, r.stderr)
	}
}

// TestOCIRunSignals: launch run forwards the signals it gets to the process (runc's
// run does), and a signal at any moment of its start leaves nothing behind: before
// run catches signals it has made nothing and the signal ends it; after, until the
// process runs, SIGTERM ends run, which removes what it made and exits 143; after
// that, the process gets it. The process is its PID namespace's init, so the kernel
// drops a signal it has no handler for yet (as with runc): the test then signals
// again once the probe's handler is in place.
func TestOCIRunSignals(t *testing.T) {
	b := newBundle(t)
	b.process()["args"] = []any{"/probe", "signals"}
	b.write()
	cgroups := "/sys/fs/cgroup/*" + b.linux()["cgroupsPath"].(string)
	left := func(id string) {
		t.Helper()
		if d, _ := filepath.Glob(cgroups); len(d) > 0 {
			t.Errorf("%s: cgroups left: %v", id, d)
		}
		if _, err := os.Stat(filepath.Join(b.root, id)); err == nil {
			t.Errorf("%s: state left", id)
		}
	}
	// run starts launch run with the probe's output to a file, and returns the
	// launcher's pid, a channel for its result, and what the probe printed so far.
	run := func(id string) (int, <-chan result, func() string) {
		out, err := os.Create(filepath.Join(t.TempDir(), id))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { out.Close() })
		pids, done := make(chan int, 1), make(chan result, 1)
		go func() {
			r, err := execLaunch(t, launchIO{stdout: out}, func(pid int) { recordStart(pid); pids <- pid },
				"--root", b.root, "run", "--bundle", b.dir, id)
			if err != nil {
				r = result{code: -2, stderr: err.Error()}
			}
			done <- r
		}()
		return <-pids, done, func() string { got, _ := os.ReadFile(out.Name()); return string(got) }
	}

	pid, done, printed := run("s0")
	waitFor(t, "the probe's signal handler", func() bool { return printed() == "ready\n" })
	unix.Kill(pid, unix.SIGUSR1)
	waitFor(t, "SIGUSR1 forwarded", func() bool { return strings.Contains(printed(), "SIGUSR1") })
	unix.Kill(pid, unix.SIGTERM)
	if r := <-done; r.code != 0 || printed() != "ready\nSIGUSR1\nSIGTERM\n" {
		t.Errorf("run: exit %d, stderr %q, probe printed %q; want 0 and ready, SIGUSR1, SIGTERM", r.code, r.stderr, printed())
	}
	left("s0")

	n := testutil.Count(t, "runs signalled while they start", 12, 60)
	outcomes := map[string]int{}
	for i := 0; i < n; i++ {
		id := "s" + strconv.Itoa(i+1)
		pid, done, printed := run(id)
		time.Sleep(time.Duration(i%12) * 500 * time.Microsecond)
		unix.Kill(pid, unix.SIGTERM)
		var r result
		select {
		case r = <-done:
		case <-time.After(300 * time.Millisecond):
			// Still running: the signal waits to be forwarded, or the process
			// dropped it before its handler was there.
			waitFor(t, id+": the probe's signal handler", func() bool { return strings.HasPrefix(printed(), "ready\n") })
			if printed() == "ready\n" {
				unix.Kill(pid, unix.SIGTERM)
				outcomes["dropped by the process before its handler"]++
			}
			r = <-done
		}
		// The launcher is ended by the signal before it catches it (killed, or exit
		// status 2, the Go runtime's way out when the signal it raises again does
		// not end it at once), with nothing made; or the process gets it: its
		// handler prints it, or the probe's runtime, which has a handler of its own
		// from its start, ends with status 2 for one that comes before the probe
		// asked for it.
		switch {
		case (r.code == -1 || r.code == 2) && printed() == "":
			outcomes["ended the launcher"]++
		case r.code == 128+int(unix.SIGTERM) && printed() == "":
			outcomes["stopped run before the process ran"]++
		case r.code == 0 && printed() == "ready\nSIGTERM\n":
			outcomes["forwarded (the first, or the second where the first was dropped)"]++
		case r.code == 2:
			outcomes["forwarded before the probe asked for it"]++
		default:
			t.Errorf("%s: exit %d, stderr %q, probe printed %q", id, r.code, r.stderr, printed())
		}
		left(id)
	}
	t.Logf("SIGTERM during %d starts: %v", n, outcomes)
}

// TestOCIStateLimits: whatever config create takes, the commands after it read the
// state it writes (which holds the config one level deeper, and more): a config
// nested to the parser's limit, one of many annotations, and one of 3 MiB. Before,
// each made a container that start, state and delete could not read, and delete
// --force left its process and cgroups.
func TestOCIStateLimits(t *testing.T) {
	before := snapshot(t)
	b := newBundle(t)
	b.process()["args"] = []any{"/probe", "sleep", "10"}
	good, _ := json.Marshal(b.config)
	many := map[string]string{}
	for i := range 70000 {
		many["a"+strconv.Itoa(i)] = ""
	}
	manyJSON, _ := json.Marshal(many)
	for _, c := range []struct{ name, config string }{
		{"nested 300 deep", strings.Replace(string(good), `{`, `{"x":`+strings.Repeat("[", 299)+strings.Repeat("]", 299)+`,`, 1)},
		{"70000 annotations", strings.Replace(string(good), `{`, `{"annotations":`+string(manyJSON)+`,`, 1)},
		{"an annotation of 3 MiB", strings.Replace(string(good), `{`, `{"annotations":{"a":"`+strings.Repeat("x", 3<<20)+`"},`, 1)},
	} {
		if err := os.WriteFile(filepath.Join(b.dir, "config.json"), []byte(c.config), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := b.oci("create", "--bundle", b.dir, "big"); r.code != 0 {
			t.Fatalf("%s: create: exit %d: %s", c.name, r.code, r.stderr)
		}
		dirs := b.cgroupDirs("big")
		for _, args := range [][]string{{"state", "big"}, {"start", "big"}, {"kill", "big", "KILL"}} {
			if r := b.oci(args...); r.code != 0 {
				t.Errorf("%s: %s: exit %d: %s", c.name, args[0], r.code, r.stderr)
			}
		}
		if c.name == "70000 annotations" {
			var st map[string]any
			if r := b.oci("state", "big"); json.Unmarshal([]byte(r.stdout), &st) != nil || len(st["annotations"].(map[string]any)) != 70000 {
				t.Errorf("%s: state's annotations: %.200s", c.name, r.stdout)
			}
		}
		if r := b.oci("delete", "--force", "big"); r.code != 0 {
			t.Errorf("%s: delete --force: exit %d: %s", c.name, r.code, r.stderr)
		}
		b.gone("big", dirs)
	}
	before.unchanged(t)
}

// TestOCIDeleteBadState: delete --force removes a created container whose state.json
// does not read (cut short, or not JSON), as it removes what a killed create left: its
// process, cgroups and directory.
func TestOCIDeleteBadState(t *testing.T) {
	before := snapshot(t)
	b := newBundle(t)
	b.process()["args"] = []any{"/probe", "sleep", "10"}
	b.write()
	for i, bad := range []string{`{"pid": 1, "cgr`, "not json", `{"pid":1}`} {
		id := "bs" + strconv.Itoa(i)
		if r := b.oci("create", "--bundle", b.dir, id); r.code != 0 {
			t.Fatalf("create: exit %d: %s", r.code, r.stderr)
		}
		dirs := b.cgroupDirs(id)
		pid := int(b.state(id)["pid"].(float64))
		if err := os.WriteFile(filepath.Join(b.root, id, "state.json"), []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if r := b.oci("state", id); r.code != 1 || !strings.Contains(r.stderr, "state of "+id) {
			t.Errorf("state of a bad state.json %q: exit %d, %q", bad, r.code, r.stderr)
		}
		if r := b.oci("delete", "--force", id); r.code != 0 {
			t.Errorf("delete --force with state.json %q: exit %d: %s", bad, r.code, r.stderr)
		}
		b.gone(id, dirs)
		if !zombie(pid) {
			t.Errorf("%s: process %d left running", id, pid)
			unix.Kill(pid, unix.SIGKILL)
		}
	}
	before.unchanged(t)
}

// TestOCICreateSignals: SIGTERM at any moment of create leaves nothing, or, once
// create is done, a created container: before create catches it, its default action
// ends create, which has made nothing; after, create removes what it made and exits
// 143.
func TestOCICreateSignals(t *testing.T) {
	before := snapshot(t)
	b := newBundle(t)
	b.write()
	bin := launcher(t)
	n := testutil.Count(t, "creates signalled while they run", 12, 100)
	outcomes := map[string]int{}
	for i := 0; i < n; i++ {
		id := "t" + strconv.Itoa(i)
		cmd := exec.Command(bin, "--root", b.root, "create", "--bundle", b.dir, id)
		// A file, not a pipe: the process create leaves holds it.
		stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i%12) * 500 * time.Microsecond)
		cmd.Process.Signal(unix.SIGTERM)
		err = cmd.Wait()
		stderr.Close()
		code := cmd.ProcessState.ExitCode()
		_, statErr := os.Stat(filepath.Join(b.root, id))
		switch {
		case err == nil:
			outcomes["created before the signal"]++
			if r := b.oci("delete", "--force", id); r.code != 0 {
				t.Errorf("%s: delete --force: exit %d: %s", id, r.code, r.stderr)
			}
		case code == -1 || code == 2:
			outcomes["ended by it"]++
		case code == 128+int(unix.SIGTERM):
			outcomes["removed what it made"]++
		default:
			msg, _ := os.ReadFile(stderr.Name())
			t.Errorf("%s: exit %d: %s", id, code, msg)
		}
		if err != nil && statErr == nil {
			t.Errorf("%s: exit %d, and its state is left", id, code)
		}
		if d, _ := filepath.Glob("/sys/fs/cgroup/*" + b.linux()["cgroupsPath"].(string)); len(d) > 0 {
			t.Errorf("%s: cgroups left: %v", id, d)
		}
	}
	t.Logf("SIGTERM during %d creates: %v", n, outcomes)
	before.unchanged(t)
}
