package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/probe/report"
	"launch/internal/testutil"
)

// The engines' tests drive launch as the OCI runtime of real engines, installed from
// Debian's packages (.ci/run installs them): podman with --runtime, and containerd's
// runc shim with launch as its runc binary. Each engine keeps its storage and state in
// the test's temporary directory; containerd is started by the test and stopped by
// its PID.

// engine runs a command of an engine and returns what it printed and its status.
func engine(t *testing.T, timeout time.Duration, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %q: %v", name, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %q: timed out\n%s", name, args, r.stderr)
	}
	return r
}

// requireEngine skips t unless the engine's programs are installed.
func requireEngine(t *testing.T, progs ...string) {
	t.Helper()
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			testutil.Skip(t, "needs "+p+" (apt-get install podman conmon containerd)")
		}
	}
}

// imageTar returns a tar of a test root file system (the probe and busybox).
func imageTar(t *testing.T) string {
	t.Helper()
	testutil.RequireBusybox(t)
	rootfs := testutil.Rootfs(t)
	tarball := filepath.Join(t.TempDir(), "rootfs.tar")
	if out, err := exec.Command("tar", "-C", rootfs, "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	return tarball
}

// podman returns a function that runs podman for a test: storage, state and events in
// dir, cgroups without systemd, runtime as the OCI runtime.
func podman(t *testing.T, dir, runtime string) func(args ...string) result {
	global := podmanGlobal(dir, runtime)
	return func(args ...string) result {
		return engine(t, 2*time.Minute, "podman", append(append([]string{}, global...), args...)...)
	}
}

// podmanGlobal are podman's global options for a test (see podman).
func podmanGlobal(dir, runtime string) []string {
	return []string{"--root", filepath.Join(dir, "storage"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs",
		"--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", runtime}
}

// TestEnginePodman runs containers through podman with launch as its runtime: exit
// statuses, podman's own seccomp profile, a terminal, run -d, exec into the running
// container, kill, stop and rm, a missing command; nothing is left.
func TestEnginePodman(t *testing.T) {
	requireEngine(t, "podman", "conmon")
	bin := launcher(t)
	dir := t.TempDir()
	pod := podman(t, dir, bin)
	defer func() {
		pod("rm", "-a", "-f")
		pod("rmi", "-a", "-f")
	}()
	if r := pod("import", imageTar(t), "localhost/launch-test:1"); r.code != 0 {
		t.Fatalf("podman import: %d: %s", r.code, r.stderr)
	}
	// This VM lacks CAP_SYS_RESOURCE for podman's default limits (DESIGN.md).
	run := []string{"run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}
	r := pod(append(run, "localhost/launch-test:1", "/probe", "report")...)
	if r.code != 0 {
		t.Fatalf("podman run: exit %d: %s", r.code, r.stderr)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("probe report: %v\n%s", err, r.stdout)
	}
	if rep.PID != 1 || rep.Status["Seccomp"] != "2" {
		t.Errorf("in podman's container: pid %d, Seccomp %q: want 1 and 2 (podman's profile)", rep.PID, rep.Status["Seccomp"])
	}
	// userfaultfd is a call podman's profile refuses (EPERM); root may make one.
	if r := pod(append(run, "localhost/launch-test:1", "/probe", "try", "syscall", strconv.Itoa(unix.SYS_USERFAULTFD))...); strings.TrimSpace(r.stdout) != "EPERM" {
		t.Errorf("userfaultfd under podman's profile: %q (exit %d, %s), want EPERM", r.stdout, r.code, r.stderr)
	}
	if r := pod(append(run, "localhost/launch-test:1", "/probe", "exit", "42")...); r.code != 42 {
		t.Errorf("exit 42 through podman: %d: %s", r.code, r.stderr)
	}
	// A terminal (-t: the console socket), from script(1)'s pseudo-terminal.
	if _, err := exec.LookPath("script"); err == nil {
		cmd := strings.Join(append(append(append([]string{"podman"}, podmanGlobal(dir, bin)...), run...), "-t",
			"localhost/launch-test:1", "/bin/sh", "-c", "'tty; echo tty-ok'"), " ")
		r := engine(t, 2*time.Minute, "script", "-qec", cmd, "/dev/null")
		if !strings.Contains(r.stdout, "/dev/pts/0") || !strings.Contains(r.stdout, "tty-ok") {
			t.Errorf("podman run -t: exit %d, %q, %s", r.code, r.stdout, r.stderr)
		}
	} else {
		testutil.Skip(t, "needs script(1) for a terminal (apt-get install bsdutils)")
	}
	r = pod(append(run, "localhost/launch-test:1", "/missing")...)
	if r.code != 127 || !strings.Contains(r.stderr, "launch: error") {
		t.Errorf("a missing command through podman: exit %d, %q: want 127 and launch's reason", r.code, r.stderr)
	}

	r = pod("run", "-d", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
		"localhost/launch-test:1", "/probe", "signals")
	if r.code != 0 {
		t.Fatalf("podman run -d: exit %d: %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	r = pod("exec", id, "/probe", "report")
	if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != 0 || err != nil {
		t.Fatalf("podman exec: exit %d, %v: %s", r.code, err, r.stderr)
	}
	pid := strings.TrimSpace(pod("inspect", "--format", "{{.State.Pid}}", id).stdout)
	want, _ := os.Readlink("/proc/" + pid + "/ns/pid")
	if rep.NS["pid"] != want || rep.PID == 1 {
		t.Errorf("podman exec: pid namespace %s (the container's %s), pid %d", rep.NS["pid"], want, rep.PID)
	}
	if r := pod("exec", id, "/probe", "exit", "7"); r.code != 7 {
		t.Errorf("podman exec exit 7: %d: %s", r.code, r.stderr)
	}
	if r := pod("kill", "-s", "USR1", id); r.code != 0 {
		t.Errorf("podman kill -s USR1: %d: %s", r.code, r.stderr)
	}
	waitFor(t, "SIGUSR1 in the container's log", func() bool { return strings.Contains(pod("logs", id).stdout, "SIGUSR1") })
	if r := pod("stop", "-t", "10", id); r.code != 0 {
		t.Errorf("podman stop: %d: %s", r.code, r.stderr)
	}
	if r := pod("rm", id); r.code != 0 {
		t.Errorf("podman rm: %d: %s", r.code, r.stderr)
	}
	if left := pod("ps", "-a", "-q").stdout; strings.TrimSpace(left) != "" {
		t.Errorf("containers left: %s", left)
	}
	// launch's state lives under podman's runroot; every container's is gone.
	ents, _ := filepath.Glob(filepath.Join(dir, "run", "*", id+"*"))
	if len(ents) > 0 {
		t.Errorf("state left: %v", ents)
	}
	for _, d := range findCgroupsNamed(id) {
		t.Errorf("cgroup left: %s", d)
	}
}

// findCgroupsNamed returns the cgroup directories whose name holds s.
func findCgroupsNamed(s string) []string {
	var out []string
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.Contains(d.Name(), s) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestEngineContainerd runs containers through containerd's runc shim with launch as
// its runc binary (ctr run --runc-binary), from an image imported as a docker-archive:
// exit statuses, a running task's exec and kill; containerd is stopped by its PID.
func TestEngineContainerd(t *testing.T) {
	requireEngine(t, "containerd", "ctr", "containerd-shim-runc-v2", "podman")
	bin := launcher(t)
	dir := t.TempDir()
	// The image: podman's docker-archive of the test's root file system.
	pod := podman(t, filepath.Join(dir, "podman"), bin)
	defer pod("rmi", "-a", "-f")
	if r := pod("import", imageTar(t), "localhost/launch-test:1"); r.code != 0 {
		t.Fatalf("podman import: %d: %s", r.code, r.stderr)
	}
	archive := filepath.Join(dir, "image.tar")
	if r := pod("save", "--format", "docker-archive", "-o", archive, "localhost/launch-test:1"); r.code != 0 {
		t.Fatalf("podman save: %d: %s", r.code, r.stderr)
	}

	sock := filepath.Join(dir, "containerd.sock")
	config := "version = 2\nroot = \"" + dir + "/root\"\nstate = \"" + dir + "/state\"\n[grpc]\n  address = \"" + sock + "\"\n" +
		"[plugins.\"io.containerd.grpc.v1.cri\"]\n  disable_apparmor = true\n  restrict_oom_score_adj = true\n"
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	daemon := exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
	daemon.Stdout, daemon.Stderr = logf, logf
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		unix.Kill(daemon.Process.Pid, unix.SIGTERM)
		daemon.Wait()
		// Unmount what containerd's snapshotter left mounted, if anything.
		mi, _ := os.ReadFile("/proc/self/mountinfo")
		for _, l := range strings.Split(string(mi), "\n") {
			if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir) {
				unix.Unmount(f[4], unix.MNT_DETACH)
			}
		}
	}()
	waitFor(t, "containerd's socket", func() bool { _, err := os.Stat(sock); return err == nil })
	ctr := func(args ...string) result {
		return engine(t, 2*time.Minute, "ctr", append([]string{"--address", sock}, args...)...)
	}
	if r := ctr("images", "import", archive); r.code != 0 {
		t.Fatalf("ctr images import: %d: %s", r.code, r.stderr)
	}
	image := "localhost/launch-test:1"
	if r := ctr("run", "--rm", "--runc-binary", bin, image, "c1", "/probe", "exit", "5"); r.code != 5 {
		t.Errorf("ctr run exit 5: %d: %s", r.code, r.stderr)
	}
	r := ctr("run", "--rm", "--runc-binary", bin, image, "c2", "/probe", "report")
	var rep report.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != 0 || err != nil || rep.PID != 1 {
		t.Errorf("ctr run /probe report: exit %d, %v, pid %d: %s", r.code, err, rep.PID, r.stderr)
	}
	if r := ctr("run", "-d", "--runc-binary", bin, image, "c3", "/probe", "sleep", "60"); r.code != 0 {
		t.Fatalf("ctr run -d: %d: %s", r.code, r.stderr)
	}
	if r := ctr("task", "exec", "--exec-id", "e1", "c3", "/probe", "exit", "3"); r.code != 3 {
		t.Errorf("ctr task exec exit 3: %d: %s", r.code, r.stderr)
	}
	if r := ctr("task", "kill", "-s", "SIGKILL", "c3"); r.code != 0 {
		t.Errorf("ctr task kill: %d: %s", r.code, r.stderr)
	}
	waitFor(t, "c3 stopped", func() bool { return strings.Contains(ctr("task", "ls").stdout, "STOPPED") })
	if r := ctr("task", "delete", "c3"); r.code != 0 {
		t.Errorf("ctr task delete: %d: %s", r.code, r.stderr)
	}
	if r := ctr("containers", "delete", "c3"); r.code != 0 {
		t.Errorf("ctr containers delete: %d: %s", r.code, r.stderr)
	}
	if left := strings.TrimSpace(ctr("containers", "ls", "-q").stdout); left != "" {
		t.Errorf("containers left: %s", left)
	}
	for _, id := range []string{"c1", "c2", "c3"} {
		for _, d := range findCgroupsNamed(id) {
			if strings.HasSuffix(d, "/"+id) {
				t.Errorf("cgroup left: %s", d)
			}
		}
	}
}
