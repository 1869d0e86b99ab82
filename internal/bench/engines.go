package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/mountinfo"
)

// The engines' measurement (issue 15): `podman run --rm` and `ctr run --rm` of
// /bin/true, each with runc and with launch as its OCI runtime, set up as the engines'
// tests in init/engines_test.go set them up. Everything the engines keep (podman's
// storage, containerd's root, state and socket, the runtimes' state) is in one
// temporary directory; containerd is started by the bench and stopped by its PID.

// engineImage is the name of the bench's root file system as an image.
const engineImage = "localhost/launch-bench:1"

// engineTimeout ends an engine's run that hangs: one takes about a second at most.
const engineTimeout = 2 * time.Minute

// An engine is podman or containerd, and its runs with each runtime.
type engine struct {
	name    string // podman, containerd
	version string
	how     string // the command line measured, for the report
	err     error  // why it is not measured; nil if it is
	runs    []*entry
}

// engineRounds are the engines' warm-up and measured rounds: the bench's, capped, as
// an engine's run takes 0.3 to 1 s.
func (b *bench) engineRounds() (warm, runs int) {
	warm, runs = min(b.cfg.warmup, 2), min(b.cfg.runs, 15)
	if b.cfg.quick {
		runs = min(runs, 3)
	}
	return warm, runs
}

// A rig is what the engines run in: the temporary directory and the daemon.
type rig struct {
	dir    string
	podman []string  // podman and its global options
	ctr    []string  // ctr and its global options
	daemon *exec.Cmd // containerd
	// cgroup is the parent of every container's cgroup, in each hierarchy: the
	// engines' defaults (/libpod_parent, /default) would outlive the bench.
	cgroup string
}

// measureEngines sets up podman and containerd, runs the four configurations in
// interleaved rounds, and removes everything it set up, also when interrupted.
func (b *bench) measureEngines(ctx context.Context) {
	pod := &engine{name: "podman"}
	ctd := &engine{name: "containerd"}
	b.res.engines = []*engine{pod, ctd}
	pod.err = installed("podman", "conmon")
	ctd.err = installed("containerd", "ctr", "containerd-shim-runc-v2")
	// Its image is podman's docker-archive, as in the tests.
	if ctd.err == nil && pod.err != nil {
		ctd.err = fmt.Errorf("its image is made with podman, which is absent: %w", pod.err)
	}
	if pod.err != nil && ctd.err != nil {
		return
	}
	dir, err := os.MkdirTemp("", "launch-bench-engines-")
	if err != nil {
		pod.err, ctd.err = err, err
		return
	}
	r := &rig{dir: dir, cgroup: fmt.Sprintf("lbench-%d-engines", os.Getpid())}
	// Kept for the bench's cleanup too, should this one not get to remove it.
	b.tempDirs = append(b.tempDirs, dir)
	defer r.close(b)

	if pod.err == nil {
		pod.err = r.setupPodman(ctx, b.rootfs)
		pod.version = versionOf(r.podman[0])
		if pod.err != nil && ctd.err == nil {
			ctd.err = fmt.Errorf("its image is made with podman: %w", pod.err)
		}
	}
	if ctd.err == nil {
		ctd.err = r.setupContainerd(ctx)
		ctd.version = versionOf("containerd")
	}

	runc, runcErr := b.lookPeer("runc")
	runtimes := []struct{ name, bin string }{{"runc", runc}, {"launch", b.launch}}
	var all []*entry
	for _, en := range []*engine{pod, ctd} {
		if en.err != nil {
			continue
		}
		for _, rt := range runtimes {
			p := r.enginePeer(b, en.name, rt.name, rt.bin)
			if rt.name == "runc" && runcErr != nil {
				p.err = runcErr
			}
			e := &entry{label: p.name, peer: p, pay: payloadTrue, timeout: engineTimeout}
			en.runs = append(en.runs, e)
			if p.err == nil {
				all = append(all, e)
			}
		}
		how := r.enginePeer(b, en.name, "", "RUNTIME").argv(payloadTrue, "ID")
		en.how = strings.ReplaceAll(strings.Join(how, " "), dir, "TMP")
	}
	warm, runs := b.engineRounds()
	b.rounds(ctx, all, warm, runs, 0)
}

// installed says which of the programs are missing, if any.
func installed(progs ...string) error {
	var missing []string
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("not installed: %s (apt-get install podman conmon containerd)", strings.Join(missing, ", "))
	}
	return nil
}

// setupPodman imports the root file system as podman's image, in storage of the rig.
func (r *rig) setupPodman(ctx context.Context, rootfs string) error {
	bin, _ := exec.LookPath("podman")
	d := r.dir
	// vfs storage and cgroupfs, as in the tests: no overlay on overlay, no systemd.
	r.podman = []string{bin, "--root", filepath.Join(d, "storage"), "--runroot", filepath.Join(d, "run"),
		"--tmpdir", filepath.Join(d, "tmp"), "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"}
	if err := os.Mkdir(filepath.Join(d, "tmp"), 0o700); err != nil {
		return err
	}
	tarball := filepath.Join(d, "rootfs.tar")
	if err := r.cmd(ctx, "tar", "tar", "-C", rootfs, "-cf", tarball, "."); err != nil {
		return err
	}
	return r.cmd(ctx, "podman import", append(r.podman, "import", tarball, engineImage)...)
}

// setupContainerd saves podman's image as a docker-archive, starts containerd on a
// socket of the rig, and imports the image into it (unpacked for the default
// snapshotter, overlayfs).
func (r *rig) setupContainerd(ctx context.Context) error {
	d := r.dir
	archive := filepath.Join(d, "image.tar")
	if err := r.cmd(ctx, "podman save", append(r.podman, "save", "--format", "docker-archive", "-o", archive, engineImage)...); err != nil {
		return err
	}
	sock := filepath.Join(d, "containerd.sock")
	// The CRI plugin is not needed and would look for CNI; the opt plugin would
	// create /opt/containerd.
	config := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"+
		"[grpc]\n  address = %q\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = %q\n",
		filepath.Join(d, "containerd"), filepath.Join(d, "containerd-state"), sock, filepath.Join(d, "opt"))
	conf := filepath.Join(d, "containerd.toml")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		return err
	}
	logName := filepath.Join(d, "containerd.log")
	log, err := os.Create(logName)
	if err != nil {
		return err
	}
	defer log.Close()
	daemon := exec.Command("containerd", "--config", conf)
	daemon.Stdout, daemon.Stderr = log, log
	// Its own process group: a Ctrl-C at the terminal stops the bench, which then
	// stops containerd itself, after it has removed the containers. Killed if the
	// bench dies.
	daemon.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := daemon.Start(); err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	r.daemon = daemon
	ctr, _ := exec.LookPath("ctr")
	r.ctr = []string{ctr, "--address", sock}
	for t := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Since(t) > 30*time.Second || ctx.Err() != nil {
			data, _ := os.ReadFile(logName)
			return fmt.Errorf("containerd: no socket %s after %v: %s", sock, since(t), lastLine(string(data)))
		}
	}
	return r.cmd(ctx, "ctr images import", append(r.ctr, "images", "import", archive)...)
}

// cmd runs a command of the setup; its error names it (what) and has its last words.
func (r *rig) cmd(ctx context.Context, what string, argv ...string) error {
	ctx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// Where podman keeps the layers it imports (/var/tmp by default).
	c.Env = append(os.Environ(), "TMPDIR="+filepath.Join(r.dir, "tmp"))
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", what, err, lastLine(string(out)))
	}
	return nil
}

// enginePeer is one engine running /bin/true with one runtime (bin), as a peer the
// bench's rounds can run. The container is named after the run's id, so that a failed
// run's is removed by that name.
func (r *rig) enginePeer(b *bench, engine, runtime, bin string) *peer {
	p := &peer{name: engine + " + " + runtime, exec: b.scratch}
	cg := "/" + r.cgroup
	if engine == "podman" {
		p.bin = r.podman[0]
		// This VM lacks CAP_SYS_RESOURCE for podman's default limits (DESIGN.md).
		p.argv = func(pl payload, id string) []string {
			return append(append(slices.Clone(r.podman), "--runtime", bin, "run", "--rm", "--network", "none",
				"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--cgroup-parent", cg, "--name", id, engineImage), pl.args...)
		}
		p.remove = func(id string) {
			b.scratch.run(job{Argv: append(slices.Clone(r.podman), "rm", "-f", id), Timeout: engineTimeout})
		}
		return p
	}
	p.bin = r.ctr[0]
	// containerd's runc shim runs bin with its state in the rig.
	p.argv = func(pl payload, id string) []string {
		return append(append(slices.Clone(r.ctr), "run", "--rm", "--runc-binary", bin, "--runc-root", filepath.Join(r.dir, "runc"),
			"--cgroup", cg+"/"+id, engineImage, id), pl.args...)
	}
	p.remove = func(id string) { r.removeCtr(b.scratch, id) }
	return p
}

// removeCtr deletes a containerd container and its task, killed if running.
func (r *rig) removeCtr(ex executor, id string) {
	ex.run(job{Argv: append(slices.Clone(r.ctr), "task", "delete", "--force", id), Timeout: engineTimeout})
	ex.run(job{Argv: append(slices.Clone(r.ctr), "containers", "delete", id), Timeout: engineTimeout})
}

// close removes every container the engines still have, stops containerd by its PID,
// kills by PID what is left of their processes (conmon, shims, podman's cleanup),
// unmounts what is mounted in the rig, removes it and the containers' cgroups. What
// it had to clean up goes into the report.
func (r *rig) close(b *bench) {
	logf("engines: cleaning up %s", r.dir)
	if r.podman != nil {
		out, err := exec.Command(r.podman[0], append(r.podman[1:], "rm", "--all", "--force")...).CombinedOutput()
		if err != nil {
			b.note("podman rm --all --force: %v: %s", err, lastLine(string(out)))
		} else if s := strings.TrimSpace(string(out)); s != "" {
			b.note("podman left containers, removed: %s", strings.ReplaceAll(s, "\n", " "))
		}
	}
	if r.daemon != nil {
		out, _ := exec.Command(r.ctr[0], append(r.ctr[1:], "containers", "list", "--quiet")...).Output()
		for _, id := range strings.Fields(string(out)) {
			b.note("containerd left container %s: deleted", id)
			r.removeCtr(b.scratch, id)
		}
		r.stopDaemon(b)
	}
	// conmon and the shims leave soon after their container; kill what does not.
	for t := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		left := processesOf(r.dir)
		if len(left) == 0 {
			break
		}
		if time.Since(t) > 5*time.Second {
			for _, pid := range left {
				b.note("engines: process %d (%s) outlived its engine: killed", pid, comm(pid))
				unix.Kill(pid, unix.SIGKILL)
			}
			break
		}
	}
	if err := unmountUnder(r.dir); err != nil {
		b.note("engines: %v", err)
	}
	if err := os.RemoveAll(r.dir); err != nil {
		b.note("engines: remove %s: %v", r.dir, err)
	}
	for _, d := range findCgroups(func(name string) bool { return name == r.cgroup }) {
		if err := removeCgroupTree(d); err != nil {
			b.note("engines: cgroup left behind: %v", err)
		}
	}
}

// stopDaemon stops containerd with SIGTERM, or SIGKILL if it has not exited after 10 s.
func (r *rig) stopDaemon(b *bench) {
	done := make(chan error, 1)
	go func() { done <- r.daemon.Wait() }()
	unix.Kill(r.daemon.Process.Pid, unix.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		b.note("containerd (pid %d) did not stop on SIGTERM in 10 s: killed", r.daemon.Process.Pid)
		unix.Kill(r.daemon.Process.Pid, unix.SIGKILL)
		<-done
	}
}

// processesOf lists the processes whose command line names a path under dir, the
// bench's own excepted.
func processesOf(dir string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		// A zombie's command line is empty: it is gone but for its parent's wait.
		if err == nil && strings.Contains(string(cmdline), dir+"/") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// comm is the command name of pid.
func comm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

// unmountUnder detaches every mount of the bench's mount namespace at or below dir,
// the deepest first: containers' root file systems and podman's /dev/shm.
func unmountUnder(dir string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	ms, _ := mountinfo.Parse(data)
	var points []string
	for _, m := range ms {
		if m.Point == dir || strings.HasPrefix(m.Point, dir+"/") {
			points = append(points, m.Point)
		}
	}
	// The deepest first: a mount point inside another is longer.
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && err != unix.EINVAL {
			errs = append(errs, &os.PathError{Op: "umount", Path: p, Err: err})
		}
	}
	return errors.Join(errs...)
}

// removeCgroupTree removes a cgroup directory and those below it, the deepest first.
// A cgroup directory holds only the kernel's files, which rmdir takes with it.
func removeCgroupTree(dir string) error {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			if err := removeCgroupTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := unix.Rmdir(dir); err != nil {
		return &os.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	return nil
}
