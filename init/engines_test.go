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
// Debian's packages and the Go module proxy (.ci/run installs them): podman with
// --runtime, containerd's runc shim with launch as its runc binary (ctr run
// --runc-binary), and containerd's CRI plugin with launch as a runtime handler's
// BinaryName, driven by crictl as the kubelet would. Each check runs twice, with launch
// and with runc, the reference: the two must pass the same checks (README, "Using
// launch under containerd, Kubernetes and podman"). Each engine keeps its storage and
// state in the test's temporary directory; containerd is started by the test and
// stopped by its PID.

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

// inTerminal runs argv under script(1), which gives it a pseudo-terminal as a user's
// shell would, and returns what it printed.
func inTerminal(t *testing.T, argv ...string) result {
	t.Helper()
	return engine(t, 2*time.Minute, "script", "-qec", strings.Join(argv, " "), "/dev/null")
}

// ttyScript is the command a terminal check runs: it prints its terminal's name.
const ttyScript = "'tty; echo tty-ok'"

// checkTTY fails t unless r shows ttyScript's output from a pseudo-terminal.
func checkTTY(t *testing.T, what string, r result) {
	t.Helper()
	if !strings.Contains(r.stdout, "/dev/pts/") || !strings.Contains(r.stdout, "tty-ok") {
		t.Errorf("%s: exit %d, %q, %s", what, r.code, r.stdout, r.stderr)
	}
}

// requireEngine skips t unless the engine's programs are installed.
func requireEngine(t *testing.T, progs ...string) {
	t.Helper()
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			testutil.Skip(t, "needs "+p+" (apt-get install podman conmon containerd runc bsdutils iproute2"+
				" containernetworking-plugins; crictl: go install sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0)")
		}
	}
}

// An ociRuntime is a runtime binary the engines are pointed at.
type ociRuntime struct {
	name, bin string
	// reason is what the runtime's own one-line error says when a process cannot
	// be started: the engines must pass it on.
	reason string
}

// engineRuntimes returns launch and runc, the reference runtime.
func engineRuntimes(t *testing.T) []ociRuntime {
	t.Helper()
	bin := launcher(t)
	requireEngine(t, "runc")
	runc, _ := exec.LookPath("runc")
	return []ociRuntime{{"launch", bin, "launch: error"}, {"runc", runc, "runc create failed"}}
}

// images are a test image in the formats the engines load, built from a test root
// file system: a docker-archive of imageName, an OCI archive (an OCI image layout in a
// tar) of ociImageName, and a pod sandbox image localhost/pause:1 whose command waits
// for SIGTERM.
type images struct{ docker, oci, pause string }

// The test image's names: as a docker-archive, and as an OCI archive.
const (
	imageName    = "localhost/launch-test:1"
	ociImageName = "localhost/launch-test-oci:1"
)

// engineImages builds the test images with podman (import, then save) in dir.
func engineImages(t *testing.T, dir string) images {
	t.Helper()
	testutil.RequireBusybox(t)
	rootfs := testutil.Rootfs(t)
	tarball := filepath.Join(dir, "rootfs.tar")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-C", rootfs, "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	pod := podman(t, dir, "runc")
	defer pod("rmi", "-a", "-f")
	im := images{filepath.Join(dir, "docker.tar"), filepath.Join(dir, "oci.tar"), filepath.Join(dir, "pause.tar")}
	for _, s := range [][]string{
		{"import", tarball, imageName},
		{"import", "--change", `CMD ["/probe", "signals"]`, tarball, "localhost/pause:1"},
		{"tag", imageName, ociImageName},
		{"save", "--format", "docker-archive", "-o", im.docker, imageName},
		{"save", "--format", "oci-archive", "-o", im.oci, ociImageName},
		{"save", "--format", "docker-archive", "-o", im.pause, "localhost/pause:1"},
	} {
		if r := pod(s...); r.code != 0 {
			t.Fatalf("podman %s: %d: %s", s[0], r.code, r.stderr)
		}
	}
	return im
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

// checkReport parses the probe's report in r and fails t unless it ran.
func checkReport(t *testing.T, what string, r result) report.Report {
	t.Helper()
	var rep report.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != 0 || err != nil {
		t.Fatalf("%s: exit %d, %v: %s", what, r.code, err, r.stderr)
	}
	return rep
}

// TestEnginePodman runs containers through podman with launch, and with runc, as its
// runtime, from an image podman loads from a docker-archive: exit statuses, podman's
// own seccomp profile, terminals (run -t, exec -t), run -d, exec into the running
// container, kill -s, stop and rm, a missing command and a bad mount; nothing is left.
func TestEnginePodman(t *testing.T) {
	requireEngine(t, "podman", "conmon", "script")
	rts := engineRuntimes(t)
	im := engineImages(t, filepath.Join(t.TempDir(), "images"))
	for _, rt := range rts {
		t.Run(rt.name, func(t *testing.T) { podmanScript(t, rt, im) })
	}
}

// podmanScript is TestEnginePodman with one runtime.
func podmanScript(t *testing.T, rt ociRuntime, im images) {
	dir := t.TempDir()
	pod := podman(t, dir, rt.bin)
	defer func() {
		pod("rm", "-a", "-f")
		pod("rmi", "-a", "-f")
	}()
	for _, archive := range []string{im.docker, im.oci} {
		if r := pod("load", "-i", archive); r.code != 0 {
			t.Fatalf("podman load -i %s: %d: %s", filepath.Base(archive), r.code, r.stderr)
		}
	}
	// This VM lacks CAP_SYS_RESOURCE for podman's default limits (DESIGN.md).
	limits := []string{"--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}
	run := append([]string{"run", "--rm"}, limits...)
	rep := checkReport(t, "podman run", pod(append(run, imageName, "/probe", "report")...))
	if rep.PID != 1 || rep.Status["Seccomp"] != "2" {
		t.Errorf("in podman's container: pid %d, Seccomp %q: want 1 and 2 (podman's profile)", rep.PID, rep.Status["Seccomp"])
	}
	// userfaultfd is a call podman's profile refuses (EPERM); root may make one.
	if r := pod(append(run, imageName, "/probe", "try", "syscall", strconv.Itoa(unix.SYS_USERFAULTFD))...); strings.TrimSpace(r.stdout) != "EPERM" {
		t.Errorf("userfaultfd under podman's profile: %q (exit %d, %s), want EPERM", r.stdout, r.code, r.stderr)
	}
	if r := pod(append(run, imageName, "/probe", "exit", "42")...); r.code != 42 {
		t.Errorf("exit 42 through podman: %d: %s", r.code, r.stderr)
	}
	if r := pod(append(run, ociImageName, "/probe", "exit", "43")...); r.code != 43 {
		t.Errorf("exit 43 through podman, from the OCI archive: %d: %s", r.code, r.stderr)
	}
	podmanCmd := append([]string{"podman"}, podmanGlobal(dir, rt.bin)...)
	checkTTY(t, "podman run -t", inTerminal(t, append(append(podmanCmd, run...), "-t", imageName, "/bin/sh", "-c", ttyScript)...))
	r := pod(append(run, imageName, "/missing")...)
	if r.code != 127 || !strings.Contains(r.stderr, rt.reason) {
		t.Errorf("a missing command through podman: exit %d, %q: want 127 and %q", r.code, r.stderr, rt.reason)
	}
	// A directory bound onto a file of the image cannot be mounted.
	r = pod(append(run, "-v", t.TempDir()+":/probe", imageName, "/bin/true")...)
	if r.code == 0 || !strings.Contains(r.stderr, rt.reason) || !strings.Contains(r.stderr, "not a directory") {
		t.Errorf("a bad mount through podman: exit %d, %q: want a failure with %q: not a directory", r.code, r.stderr, rt.reason)
	}

	r = pod(append(append([]string{"run", "-d"}, limits...), imageName, "/probe", "signals")...)
	if r.code != 0 {
		t.Fatalf("podman run -d: exit %d: %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	rep = checkReport(t, "podman exec", pod("exec", id, "/probe", "report"))
	pid := strings.TrimSpace(pod("inspect", "--format", "{{.State.Pid}}", id).stdout)
	want, _ := os.Readlink("/proc/" + pid + "/ns/pid")
	if rep.NS["pid"] != want || rep.PID == 1 {
		t.Errorf("podman exec: pid namespace %s (the container's %s), pid %d", rep.NS["pid"], want, rep.PID)
	}
	if r := pod("exec", id, "/bin/cat", "/proc/1/cmdline"); r.stdout != "/probe\x00signals\x00" {
		t.Errorf("podman exec: the container's pid 1 is %q (exit %d, %s)", r.stdout, r.code, r.stderr)
	}
	if r := pod("exec", id, "/probe", "exit", "7"); r.code != 7 {
		t.Errorf("podman exec exit 7: %d: %s", r.code, r.stderr)
	}
	checkTTY(t, "podman exec -t", inTerminal(t, append(podmanCmd, "exec", "-t", id, "/bin/sh", "-c", ttyScript)...))
	if r := pod("kill", "-s", "USR1", id); r.code != 0 {
		t.Errorf("podman kill -s USR1: %d: %s", r.code, r.stderr)
	}
	waitFor(t, "SIGUSR1 in the container's log", func() bool { return strings.Contains(pod("logs", id).stdout, "SIGUSR1") })
	if r := pod("stop", "-t", "10", id); r.code != 0 {
		t.Errorf("podman stop: %d: %s", r.code, r.stderr)
	}
	if r := pod("logs", id); !strings.Contains(r.stdout, "SIGTERM") {
		t.Errorf("podman stop: no SIGTERM in the container's log: %q", r.stdout)
	}
	if r := pod("inspect", "--format", "{{.State.ExitCode}}", id); strings.TrimSpace(r.stdout) != "0" {
		t.Errorf("podman stop: exit code %q, want 0 (the process returns on SIGTERM)", r.stdout)
	}
	if r := pod("rm", id); r.code != 0 {
		t.Errorf("podman rm: %d: %s", r.code, r.stderr)
	}
	if left := pod("ps", "-a", "-q").stdout; strings.TrimSpace(left) != "" {
		t.Errorf("containers left: %s", left)
	}
	checkGone(t, []string{id}, []int{atoi(pid)}, filepath.Join(dir, "run", "*", id+"*"))
}

// atoi is strconv.Atoi without its error: 0 for what is not a number.
func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

// checkGone fails t if a cgroup named after one of ids, one of pids, or a file that
// one of globs matches is left.
func checkGone(t *testing.T, ids []string, pids []int, globs ...string) {
	t.Helper()
	for _, id := range ids {
		for _, d := range findCgroupsNamed(id) {
			t.Errorf("cgroup left: %s", d)
		}
	}
	for _, pid := range pids {
		if pid > 0 && unix.Kill(pid, 0) == nil {
			t.Errorf("process %d left", pid)
		}
	}
	for _, g := range globs {
		if ents, _ := filepath.Glob(g); len(ents) > 0 {
			t.Errorf("state left: %v", ents)
		}
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

// mountsUnder returns the mount points under dir.
func mountsUnder(dir string) []string {
	var out []string
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// A containerd is a containerd daemon a test started, with its CRI plugin set up for
// launch and runc as runtime handlers, a CNI bridge network and a pod sandbox image.
type containerd struct {
	dir, sock, crictlConfig string
	bridge                  string // the CNI bridge's interface, made by the first pod
}

// startContainerd starts containerd with its root, state, socket and configuration
// in dir, and stops it by its PID when t ends. Its CRI plugin has one runtime handler
// per runtime in rts (runtime_type io.containerd.runc.v2, BinaryName the runtime), and
// pods get a CNI bridge network.
func startContainerd(t *testing.T, dir string, rts []ociRuntime) *containerd {
	t.Helper()
	cd := &containerd{dir: dir, sock: filepath.Join(dir, "containerd.sock"), crictlConfig: filepath.Join(dir, "crictl.yaml"),
		bridge: "ltbr" + strconv.Itoa(os.Getpid()%100000)}
	cri := `[plugins."io.containerd.grpc.v1.cri"`
	config := "version = 2\nroot = \"" + dir + "/root\"\nstate = \"" + dir + "/state\"\n[grpc]\n  address = \"" + cd.sock + "\"\n" +
		cri + "]\n  disable_apparmor = true\n  restrict_oom_score_adj = true\n  sandbox_image = \"localhost/pause:1\"\n" +
		cri + ".cni]\n  bin_dir = \"/usr/lib/cni\"\n  conf_dir = \"" + dir + "/cni\"\n"
	for _, rt := range rts {
		config += cri + ".containerd.runtimes." + rt.name + "]\n  runtime_type = \"io.containerd.runc.v2\"\n" +
			cri + ".containerd.runtimes." + rt.name + ".options]\n  BinaryName = \"" + rt.bin + "\"\n"
	}
	network := `{"cniVersion": "0.4.0", "name": "launch-test", "plugins": [
  {"type": "bridge", "bridge": "` + cd.bridge + `", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "dataDir": "` + dir + `/ipam", "ranges": [[{"subnet": "10.231.7.0/24"}]]}},
  {"type": "loopback"}]}`
	for name, data := range map[string]string{
		"config.toml":                 config,
		"cni/10-launch-test.conflist": network,
		"crictl.yaml":                 "runtime-endpoint: unix://" + cd.sock + "\nimage-endpoint: unix://" + cd.sock + "\ntimeout: 60\n",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
	daemon.Stdout, daemon.Stderr = logf, logf
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Kill(daemon.Process.Pid, unix.SIGTERM)
		daemon.Wait()
		logf.Close()
		if t.Failed() {
			if log, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("containerd's log (last 4 KiB): %s", log[max(0, len(log)-4096):])
			}
		}
		// What a failed step left: the snapshotter's mounts, the CNI bridge.
		for _, m := range mountsUnder(dir) {
			unix.Unmount(m, unix.MNT_DETACH)
		}
		exec.Command("ip", "link", "delete", cd.bridge).Run()
	})
	waitFor(t, "containerd's socket", func() bool { _, err := os.Stat(cd.sock); return err == nil })
	return cd
}

// ctr runs ctr against cd.
func (cd *containerd) ctr(t *testing.T, args ...string) result {
	t.Helper()
	return engine(t, 2*time.Minute, "ctr", append([]string{"--address", cd.sock}, args...)...)
}

// crictl runs crictl against cd's CRI plugin.
func (cd *containerd) crictl(t *testing.T, args ...string) result {
	t.Helper()
	return engine(t, 2*time.Minute, "crictl", append([]string{"--config", cd.crictlConfig}, args...)...)
}

// TestEngineContainerd runs containers through containerd with launch, and with runc,
// as the runtime: through ctr (its runc shim with --runc-binary), from an image
// imported as an OCI archive, and through the CRI plugin as Kubernetes drives it
// (crictl, a runtime handler whose BinaryName is the runtime, as a RuntimeClass
// selects it), from a docker-archive and a locally built sandbox image.
func TestEngineContainerd(t *testing.T) {
	requireEngine(t, "containerd", "ctr", "containerd-shim-runc-v2", "podman", "crictl", "script", "ip")
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		testutil.Skip(t, "needs the CNI plugins in /usr/lib/cni (apt-get install containernetworking-plugins)")
	}
	rts := engineRuntimes(t)
	dir := t.TempDir()
	im := engineImages(t, filepath.Join(dir, "images"))
	cd := startContainerd(t, filepath.Join(dir, "containerd"), rts)
	for _, s := range [][]string{{"images", "import", im.oci},
		{"-n", "k8s.io", "images", "import", im.docker}, {"-n", "k8s.io", "images", "import", im.pause}} {
		if r := cd.ctr(t, s...); r.code != 0 {
			t.Fatalf("ctr %s: %d: %s", strings.Join(s, " "), r.code, r.stderr)
		}
	}
	for _, rt := range rts {
		t.Run("ctr-"+rt.name, func(t *testing.T) { ctrScript(t, cd, rt) })
	}
	for _, rt := range rts {
		t.Run("cri-"+rt.name, func(t *testing.T) { criScript(t, cd, rt) })
	}
	if m := mountsUnder(cd.dir); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
}

// ctrScript is the ctr part of TestEngineContainerd with one runtime.
func ctrScript(t *testing.T, cd *containerd, rt ociRuntime) {
	id := func(s string) string { return rt.name + "-" + s + "-" + strconv.Itoa(os.Getpid()) }
	run := []string{"run", "--rm", "--runc-binary", rt.bin}
	if r := cd.ctr(t, append(run, ociImageName, id("exit"), "/probe", "exit", "5")...); r.code != 5 {
		t.Errorf("ctr run exit 5: %d: %s", r.code, r.stderr)
	}
	rep := checkReport(t, "ctr run /probe report", cd.ctr(t, append(run, "--seccomp", ociImageName, id("report"), "/probe", "report")...))
	if rep.Status["Seccomp"] != "2" {
		t.Errorf("ctr run --seccomp: Seccomp %q, want 2 (containerd's default profile)", rep.Status["Seccomp"])
	}
	if rep.PID != 1 || len(rep.Mounts) == 0 || !strings.Contains(rep.Mounts[0], " / / ") || !strings.Contains(rep.Mounts[0], " - overlay ") {
		t.Errorf("ctr run: pid %d, root %q: want 1 and overlayfs (containerd's snapshotter)", rep.PID, rep.Mounts[:min(1, len(rep.Mounts))])
	}
	checkTTY(t, "ctr run -t", inTerminal(t, append(append([]string{"ctr", "--address", cd.sock}, run...), "-t", ociImageName, id("tty"),
		"/bin/sh", "-c", ttyScript)...))
	if r := cd.ctr(t, append(run, ociImageName, id("missing"), "/missing")...); r.code == 0 || !strings.Contains(r.stderr, rt.reason) {
		t.Errorf("a missing command through ctr: exit %d, %q: want a failure with %q", r.code, r.stderr, rt.reason)
	}
	bad := "type=bind,src=" + t.TempDir() + ",dst=/probe,options=rbind:ro"
	if r := cd.ctr(t, append(run, "--mount", bad, ociImageName, id("badmount"), "/bin/true")...); r.code == 0 || !strings.Contains(r.stderr, rt.reason) || !strings.Contains(r.stderr, "not a directory") {
		t.Errorf("a bad mount through ctr: exit %d, %q: want a failure with %q", r.code, r.stderr, rt.reason)
	}

	c := id("task")
	logFile := filepath.Join(t.TempDir(), "task.log")
	if r := cd.ctr(t, "run", "-d", "--log-uri", "file://"+logFile, "--runc-binary", rt.bin, ociImageName, c, "/probe", "signals"); r.code != 0 {
		t.Fatalf("ctr run -d: %d: %s", r.code, r.stderr)
	}
	pid := 0
	waitFor(t, "the task's pid", func() bool {
		for _, l := range strings.Split(cd.ctr(t, "task", "ls").stdout, "\n") {
			if f := strings.Fields(l); len(f) == 3 && f[0] == c && f[2] == "RUNNING" {
				pid = atoi(f[1])
			}
		}
		return pid > 0
	})
	rep = checkReport(t, "ctr task exec", cd.ctr(t, "task", "exec", "--exec-id", "e1", c, "/probe", "report"))
	if want, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/pid"); rep.NS["pid"] != want || rep.PID == 1 {
		t.Errorf("ctr task exec: pid namespace %s (the task's %s), pid %d", rep.NS["pid"], want, rep.PID)
	}
	if r := cd.ctr(t, "task", "exec", "--exec-id", "e2", c, "/probe", "exit", "3"); r.code != 3 {
		t.Errorf("ctr task exec exit 3: %d: %s", r.code, r.stderr)
	}
	checkTTY(t, "ctr task exec -t", inTerminal(t, "ctr", "--address", cd.sock, "task", "exec", "-t", "--exec-id", "e3", c,
		"/bin/sh", "-c", ttyScript))
	if r := cd.ctr(t, "task", "kill", "-s", "SIGUSR1", c); r.code != 0 {
		t.Errorf("ctr task kill -s SIGUSR1: %d: %s", r.code, r.stderr)
	}
	waitFor(t, "SIGUSR1 in the task's log", func() bool { log, _ := os.ReadFile(logFile); return bytes.Contains(log, []byte("SIGUSR1")) })
	if r := cd.ctr(t, "task", "kill", "-s", "SIGKILL", c); r.code != 0 {
		t.Errorf("ctr task kill: %d: %s", r.code, r.stderr)
	}
	waitFor(t, "the task stopped", func() bool { return strings.Contains(cd.ctr(t, "task", "ls").stdout, "STOPPED") })
	if r := cd.ctr(t, "task", "delete", c); r.code != 0 {
		t.Errorf("ctr task delete: %d: %s", r.code, r.stderr)
	}
	if r := cd.ctr(t, "containers", "delete", c); r.code != 0 {
		t.Errorf("ctr containers delete: %d: %s", r.code, r.stderr)
	}
	if left := strings.TrimSpace(cd.ctr(t, "containers", "ls", "-q").stdout); left != "" {
		t.Errorf("containers left: %s", left)
	}
	var ids []string
	for _, s := range []string{"exit", "report", "tty", "missing", "badmount", "task"} {
		ids = append(ids, id(s))
	}
	checkGone(t, ids, []int{pid}, "/run/containerd/runc/default/"+rt.name+"-*-"+strconv.Itoa(os.Getpid()))
}

// crictlStatus is what crictl inspect and inspectp say of a container or a sandbox.
type crictlStatus struct {
	Status struct {
		State    string `json:"state"`
		ExitCode int    `json:"exitCode"`
		Network  struct {
			IP string `json:"ip"`
		} `json:"network"`
	} `json:"status"`
	Info struct {
		Pid int `json:"pid"`
	} `json:"info"`
}

// inspect returns what crictl says of a container (or, with "inspectp", a sandbox).
func (cd *containerd) inspect(t *testing.T, cmd, id string) crictlStatus {
	t.Helper()
	var s crictlStatus
	r := cd.crictl(t, cmd, id)
	if err := json.Unmarshal([]byte(r.stdout), &s); r.code != 0 || err != nil {
		t.Fatalf("crictl %s: exit %d, %v: %s", cmd, r.code, err, r.stderr)
	}
	return s
}

// criScript is the CRI part of TestEngineContainerd with one runtime: a pod sandbox on
// a CNI bridge, a container in it that joins the sandbox's namespaces by path, exec
// and exec -s, a terminal, logs, stop, rm, stopp and rmp, an exit status, a missing
// command and a bad mount; nothing is left.
func criScript(t *testing.T, cd *containerd, rt ociRuntime) {
	dir := t.TempDir()
	parent := "/launch-test-" + strconv.Itoa(os.Getpid()) + "-" + rt.name
	defer func() {
		for _, d := range findCgroupsNamed(parent[1:]) {
			os.Remove(filepath.Join(d, "pod"))
			os.Remove(d)
		}
	}()
	files := map[string]string{
		"pod.json": `{"metadata": {"name": "pod-` + rt.name + `", "namespace": "default", "uid": "uid-` + rt.name + `", "attempt": 1},
			"log_directory": "` + dir + `", "linux": {"cgroup_parent": "` + parent + `/pod",
			"security_context": {"namespace_options": {"pid": 1}}}}`,
		"main.json": `{"metadata": {"name": "main"}, "image": {"image": "` + imageName + `"},
			"command": ["/probe", "signals"], "log_path": "main.log",
			"linux": {"security_context": {"namespace_options": {"pid": 1}, "seccomp": {"profile_type": 0}}}}`,
		"exit.json": `{"metadata": {"name": "exit"}, "image": {"image": "` + imageName + `"},
			"command": ["/bin/sh", "-c", "readlink /proc/self/ns/pid; exit 5"], "log_path": "exit.log",
			"linux": {"security_context": {"namespace_options": {"pid": 0}}}}`,
		"missing.json": `{"metadata": {"name": "missing"}, "image": {"image": "` + imageName + `"},
			"command": ["/missing"], "log_path": "missing.log"}`,
		"badmount.json": `{"metadata": {"name": "badmount"}, "image": {"image": "` + imageName + `"},
			"command": ["/bin/true"], "log_path": "badmount.log",
			"mounts": [{"host_path": "` + t.TempDir() + `", "container_path": "/probe"}]}`,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	podConfig := filepath.Join(dir, "pod.json")
	r := cd.crictl(t, "runp", "--runtime", rt.name, podConfig)
	if r.code != 0 {
		t.Fatalf("crictl runp: %d: %s", r.code, r.stderr)
	}
	pod := strings.TrimSpace(r.stdout)
	defer cd.crictl(t, "rmp", "-f", pod)
	sandbox := cd.inspect(t, "inspectp", pod)
	if sandbox.Status.State != "SANDBOX_READY" || sandbox.Info.Pid == 0 || !strings.HasPrefix(sandbox.Status.Network.IP, "10.231.7.") {
		t.Fatalf("crictl runp: sandbox %+v: want ready, with a pid and an address on the bridge", sandbox)
	}
	create := func(name string) string {
		t.Helper()
		r := cd.crictl(t, "create", pod, filepath.Join(dir, name+".json"), podConfig)
		if r.code != 0 {
			t.Fatalf("crictl create %s: %d: %s", name, r.code, r.stderr)
		}
		return strings.TrimSpace(r.stdout)
	}

	main := create("main")
	if r := cd.crictl(t, "start", main); r.code != 0 {
		t.Fatalf("crictl start: %d: %s", r.code, r.stderr)
	}
	c := cd.inspect(t, "inspect", main)
	if c.Status.State != "CONTAINER_RUNNING" || c.Info.Pid == 0 {
		t.Fatalf("crictl start: %+v, want a running container", c)
	}
	// The container joins the sandbox's network, ipc and uts namespaces by path and
	// has a pid namespace of its own, whose pid 1 exec sees.
	rep := checkReport(t, "crictl exec", cd.crictl(t, "exec", main, "/probe", "report"))
	for _, ns := range []string{"net", "ipc", "uts", "pid", "mnt"} {
		sb, _ := os.Readlink("/proc/" + strconv.Itoa(sandbox.Info.Pid) + "/ns/" + ns)
		own, _ := os.Readlink("/proc/" + strconv.Itoa(c.Info.Pid) + "/ns/" + ns)
		if own == "" || rep.NS[ns] != own || (ns == "pid" || ns == "mnt") == (own == sb) {
			t.Errorf("crictl exec: %s namespace %s; the container's %s, the sandbox's %s", ns, rep.NS[ns], own, sb)
		}
	}
	// RuntimeDefault: containerd's own profile, which refuses userfaultfd (EPERM).
	if rep.Status["Seccomp"] != "2" {
		t.Errorf("crictl exec: Seccomp %q, want 2 (containerd's default profile)", rep.Status["Seccomp"])
	}
	if r := cd.crictl(t, "exec", main, "/probe", "try", "syscall", strconv.Itoa(unix.SYS_USERFAULTFD)); strings.TrimSpace(r.stdout) != "EPERM" {
		t.Errorf("userfaultfd under containerd's profile: %q (exit %d, %s), want EPERM", r.stdout, r.code, r.stderr)
	}
	if !rep.Interfaces["eth0"] {
		t.Errorf("crictl exec: interfaces %v: want the pod's eth0 up", rep.Interfaces)
	}
	if r := cd.crictl(t, "exec", main, "/bin/cat", "/proc/1/cmdline"); r.stdout != "/probe\x00signals\x00" {
		t.Errorf("crictl exec: the container's pid 1 is %q (exit %d, %s)", r.stdout, r.code, r.stderr)
	}
	if r := cd.crictl(t, "exec", "-s", main, "/probe", "exit", "3"); r.code == 0 || !strings.Contains(r.stderr, "exited with 3") {
		t.Errorf("crictl exec -s exit 3: %d: %s", r.code, r.stderr)
	}
	if r := cd.crictl(t, "exec", main, "/probe", "exit", "4"); r.code == 0 || !strings.Contains(r.stderr, "exit code 4") {
		t.Errorf("crictl exec exit 4: %d: %s", r.code, r.stderr)
	}
	checkTTY(t, "crictl exec -it", inTerminal(t, "crictl", "--config", cd.crictlConfig, "exec", "-it", main, "/bin/sh", "-c", ttyScript))
	if r := cd.crictl(t, "stop", "--timeout", "10", main); r.code != 0 {
		t.Errorf("crictl stop: %d: %s", r.code, r.stderr)
	}
	if s := cd.inspect(t, "inspect", main).Status; s.State != "CONTAINER_EXITED" || s.ExitCode != 0 {
		t.Errorf("crictl stop: %+v: want exited with 0 (the process returns on SIGTERM)", s)
	}
	if r := cd.crictl(t, "logs", main); !strings.Contains(r.stdout, "ready") || !strings.Contains(r.stdout, "SIGTERM") {
		t.Errorf("crictl logs: %q (%s): want ready and SIGTERM", r.stdout, r.stderr)
	}

	exit := create("exit")
	if r := cd.crictl(t, "start", exit); r.code != 0 {
		t.Errorf("crictl start: %d: %s", r.code, r.stderr)
	}
	waitFor(t, "the container's exit", func() bool { return cd.inspect(t, "inspect", exit).Status.State == "CONTAINER_EXITED" })
	if s := cd.inspect(t, "inspect", exit).Status; s.ExitCode != 5 {
		t.Errorf("crictl inspect: exit code %d, want 5", s.ExitCode)
	}
	// That container shares the sandbox's pid namespace (shareProcessNamespace): it
	// joins it by path.
	if sb, _ := os.Readlink("/proc/" + strconv.Itoa(sandbox.Info.Pid) + "/ns/pid"); !strings.Contains(cd.crictl(t, "logs", exit).stdout, sb) {
		t.Errorf("crictl logs: %q: want the sandbox's pid namespace %s", cd.crictl(t, "logs", exit).stdout, sb)
	}
	ids := []string{pod, main, exit}
	for _, f := range [][2]string{{"missing", "/missing"}, {"badmount", "not a directory"}} {
		id := create(f[0])
		ids = append(ids, id)
		if r := cd.crictl(t, "start", id); r.code == 0 || !strings.Contains(r.stderr, rt.reason) || !strings.Contains(r.stderr, f[1]) {
			t.Errorf("crictl start of %s: exit %d, %q: want a failure with %q and %q", f[0], r.code, r.stderr, rt.reason, f[1])
		}
	}
	for _, id := range ids[1:] {
		if r := cd.crictl(t, "rm", id); r.code != 0 {
			t.Errorf("crictl rm: %d: %s", r.code, r.stderr)
		}
	}
	if r := cd.crictl(t, "stopp", pod); r.code != 0 {
		t.Errorf("crictl stopp: %d: %s", r.code, r.stderr)
	}
	if r := cd.crictl(t, "rmp", pod); r.code != 0 {
		t.Errorf("crictl rmp: %d: %s", r.code, r.stderr)
	}
	if r := cd.crictl(t, "pods", "-q"); strings.TrimSpace(r.stdout) != "" {
		t.Errorf("pods left: %s", r.stdout)
	}
	var globs []string
	for _, id := range ids {
		globs = append(globs, "/run/containerd/runc/k8s.io/"+id)
	}
	checkGone(t, ids, []int{sandbox.Info.Pid, c.Info.Pid}, globs...)
}
