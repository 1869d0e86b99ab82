package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A payload is the command a container runs.
type payload struct {
	name string   // short name: the OCI bundle's directory
	args []string // in the container
}

var (
	payloadTrue  = payload{"true", []string{"/bin/true"}}
	payloadTiny  = payload{"tiny", []string{"/bin/tiny"}}
	payloadSleep = payload{"sleep", []string{"/bin/sleep", "0.3"}}
)

// A peer is one way of starting a container.
type peer struct {
	name    string
	bin     string // the program the bench starts
	version string
	note    string   // how it is run, for the report
	err     error    // why it cannot run here; nil if it can
	exec    executor // where it runs
	// argv is the command line that runs p with the given container id (a fresh one
	// per run, for runtimes that keep state).
	argv func(p payload, id string) []string
	// remove deletes what a failed run with this id may have left (runc and crun).
	remove func(id string)
	// noBlkio leaves the block-I/O weight out of the OCI bundle (see crunV1).
	noBlkio bool
	// cred is the ordinary user the peer runs as (see unpriv.go); nil: as the bench, root.
	cred *syscall.Credential
}

// runID is the sequence number of container ids.
var runID atomic.Int64

// newID returns a container id no other run of this or another bench uses.
func newID() string {
	return fmt.Sprintf("lbench-%d-%d", os.Getpid(), runID.Add(1))
}

// runtimeTimeout ends a run that hangs: no container start here takes a second, and
// the longest run, the seccomp loop, about two.
const runtimeTimeout = 10 * time.Second

// start runs p once with pl in its own executor.
func (p *peer) start(pl payload, rss bool) (sample, error) {
	e := &entry{peer: p, pay: pl, rss: rss}
	return e.once()
}

// runError describes how a run failed.
func runError(s sample) error {
	msg := lastLine(s.Stderr)
	if msg == "" {
		msg = "no message"
	}
	if s.Killed {
		return fmt.Errorf("hung, killed after %v: %s; waiting in: %s", runtimeTimeout, msg, s.Hung)
	}
	return fmt.Errorf("exit status %d: %s", s.Status, msg)
}

// makePeers returns the peers in the order of the report: launch, launch with a user
// namespace as root and as an ordinary user, the limit, the floor, bwrap as root and as
// an ordinary user, runc, crun. Those that are missing are there with their error.
func (b *bench) makePeers() []*peer {
	local := b.scratch
	var ps []*peer

	ps = append(ps, &peer{
		name: "launch", bin: b.launch, exec: local, note: "defaults",
		argv: func(p payload, _ string) []string { return append([]string{b.launch, b.rootfs}, p.args...) },
	})
	ps = append(ps, &peer{
		name: "launch --userns", bin: b.launch, exec: local,
		note: "defaults plus --userns auto: a user namespace whose root is an unprivileged host ID; ROOTFS, owned by root, mounted idmapped and read-only",
		argv: func(p payload, _ string) []string {
			return append([]string{b.launch, "--userns", "auto", b.rootfs}, p.args...)
		},
	})
	u := b.unprivileged()
	lu := &peer{name: "launch (unprivileged)", bin: u.launch, exec: local, cred: u.cred, err: u.err,
		note: "launch ROOTFS run by " + u.who() + ": a user namespace mapping that user to root, no cgroups (a warning on stderr)" + u.where()}
	lu.argv = func(p payload, _ string) []string { return append([]string{u.launch, u.rootfs}, p.args...) }
	ps = append(ps, lu)

	ps = append(ps, b.limitPeer(local))

	floor := &peer{name: "floor", exec: local, note: "unshare -m -p -u -i -n -C --fork chroot ROOTFS"}
	floor.bin, floor.err = exec.LookPath("unshare")
	chroot, err := exec.LookPath("chroot")
	if floor.err == nil && err != nil {
		floor.err = err
	}
	floor.argv = func(p payload, _ string) []string {
		return append([]string{floor.bin, "-m", "-p", "-u", "-i", "-n", "-C", "--fork", chroot, b.rootfs}, p.args...)
	}
	ps = append(ps, floor)

	bw := &peer{name: "bwrap", exec: local}
	// The same flags run by the ordinary user, plus --unshare-user. --unshare-all holds
	// --unshare-user-try, which makes a user namespace wherever the kernel allows one,
	// as root too (its uid_map is then "0 0 1"); --unshare-user makes it a requirement,
	// so that the peer fails rather than runs without one.
	bwu := &peer{name: "bwrap (unprivileged)", exec: local, cred: u.cred}
	if bw.bin, bw.err = b.lookPeer("bwrap"); bw.err == nil {
		flags := func(rootfs string) []string {
			return []string{"--unshare-all", "--die-with-parent", "--new-session", "--bind", rootfs, "/",
				"--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"}
		}
		var capFlags []string
		note := "--unshare-all --die-with-parent --new-session --bind ROOTFS / --dev /dev --proc /proc --tmpfs /tmp"
		if help, _ := exec.Command(bw.bin, "--help").CombinedOutput(); strings.Contains(string(help), "--cap-add") {
			capFlags = append(capFlags, "--cap-drop", "ALL")
			for _, c := range b.caps {
				capFlags = append(capFlags, "--cap-add", c)
			}
			note += " --cap-drop ALL --cap-add (the 14); no cgroups, no seccomp"
		} else {
			note += "; no --cap-add in this version: all capabilities; no cgroups, no seccomp"
		}
		bw.note = note
		bw.argv = func(p payload, _ string) []string {
			return append(append(append([]string{bw.bin}, flags(b.rootfs)...), capFlags...), p.args...)
		}
		bwu.bin, bwu.err = bw.bin, u.err
		bwu.note = "bwrap's flags plus --unshare-user, run by " + u.who() + u.where()
		bwu.argv = func(p payload, _ string) []string {
			argv := append(append([]string{bwu.bin}, flags(u.rootfs)...), "--unshare-user")
			return append(append(argv, capFlags...), p.args...)
		}
	} else {
		bwu.err = bw.err
	}
	ps = append(ps, bw, bwu)

	for _, name := range []string{"runc", "crun"} {
		ps = append(ps, b.ociPeer(name, name, local))
	}
	// launch itself as an OCI runtime, on the same bundle as runc and crun.
	ps = append(ps, b.ociPeer("launch (OCI)", b.launch, local))
	return ps
}

// limitDir is where the minimal C launcher's source is: ../shared/limit beside the
// checkout, or LAUNCH_LIMIT_DIR.
func (b *bench) limitDir() string {
	if d := os.Getenv("LAUNCH_LIMIT_DIR"); d != "" {
		return d
	}
	return filepath.Join(filepath.Dir(b.repo), "shared", "limit")
}

// limitPeer is the minimal C launcher that does launch's whole default setup and
// nothing else (cgroups with the same limits, the same namespaces and mounts, pivot_root,
// the 14 capabilities, no_new_privs, a precompiled seccomp filter): how fast a start
// can be on this machine. Built with its own script (musl, amd64 only) into OUT/limit;
// a bench without its source runs without it.
func (b *bench) limitPeer(ex executor) *peer {
	p := &peer{name: "limit", exec: ex, note: "minimal static C launcher, launch's full default setup (build.sh of " + b.limitDir() + ")"}
	script := filepath.Join(b.limitDir(), "build.sh")
	switch {
	case runtime.GOARCH != "amd64":
		p.err = errors.New("its seccomp filter is amd64's only")
		return p
	}
	if _, err := os.Stat(script); err != nil {
		p.err = err
		return p
	}
	out, err := exec.Command("bash", script, filepath.Join(b.out, "limit")).CombinedOutput()
	if err != nil {
		p.err = fmt.Errorf("%s: %v: %s", script, err, lastLine(string(out)))
		return p
	}
	p.bin = lastLine(string(out))
	p.argv = func(pl payload, _ string) []string { return append([]string{p.bin, b.rootfs}, pl.args...) }
	return p
}

// ociPeer is runc or crun running the generated bundle of a payload, with its state
// under the bench's own directory.
func (b *bench) ociPeer(name, bin string, ex executor) *peer {
	p := &peer{name: name, exec: ex, note: "generated OCI bundle: caps.txt, syscalls.txt as seccomp, 6 namespaces, limits"}
	if p.bin, p.err = b.lookPeer(bin); p.err != nil {
		return p
	}
	p.argv = func(pl payload, id string) []string {
		dir, err := b.bundle(pl, p.noBlkio)
		if err != nil {
			b.note("%s: %v", name, err)
			dir = "/nonexistent-bundle" // the run fails, and the report says why
		}
		return []string{p.bin, "--root", b.stateDir(name), "run", "--bundle", dir, id}
	}
	// Deleted where it ran: crun (v1 only) must not see the hybrid layout either. A
	// runtime that failed before it saved its state leaves cgroups named after the id,
	// which delete does not know of.
	p.remove = func(id string) {
		p.exec.run(job{Argv: []string{p.bin, "--root", b.stateDir(name), "delete", "-f", id}, Timeout: runtimeTimeout})
		for _, d := range findCgroups(func(name string) bool { return name == id }) {
			unix.Rmdir(d)
		}
	}
	return p
}

// stateDir is where runtime name keeps the state of its containers: a directory of the
// bench's own, one per runtime, removed at the end.
func (b *bench) stateDir(name string) string { return filepath.Join(b.state, name) }

// lookPeer finds a peer's program, or says why it is not there.
func (b *bench) lookPeer(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		if e, ok := b.installErr[name]; ok {
			return "", fmt.Errorf("not installed: %w", e)
		}
		return "", errors.New("not installed")
	}
	return path, nil
}

// bundle returns the OCI bundle directory of a payload, writing it the first time.
func (b *bench) bundle(pl payload, noBlkio bool) (string, error) {
	name := pl.name
	if noBlkio {
		name += "-noblkio"
	}
	dir := filepath.Join(b.out, "bundles", name)
	if b.bundles[name] {
		return dir, nil
	}
	spec := ociConfig(b.rootfs, pl.args, b.caps, b.seccomp)
	if noBlkio {
		spec.Linux.Resources.BlockIO = nil
	}
	if err := writeBundle(dir, spec); err != nil {
		return "", fmt.Errorf("write OCI bundle %s: %w", dir, err)
	}
	b.bundles[name] = true
	return dir, nil
}

// preflight runs each peer once; a peer that fails keeps its error and is measured no
// further. crun refuses the hybrid cgroup layout: it is then also run, marked as such,
// in a runner where the empty cgroup2 is unmounted, so that it uses cgroup v1 alone.
func (b *bench) preflight(ps []*peer) []*peer {
	var extra []*peer
	for _, p := range ps {
		if p.err != nil {
			continue
		}
		_, err := p.start(payloadTrue, false)
		if p.remove != nil {
			err = b.withoutBlkio(p, err)
		}
		if err != nil {
			p.err = err
			if p.name == "crun" && strings.Contains(err.Error(), "hybrid") {
				p.err = fmt.Errorf("refuses hybrid cgroups: %w", err)
				extra = append(extra, b.crunV1())
			}
		}
	}
	return append(ps, extra...)
}

// crunV1 is crun run in a mount namespace without /sys/fs/cgroup/unified.
func (b *bench) crunV1() *peer {
	p := b.ociPeer("crun (v1 only)", "crun", nil)
	p.note = "crun in a private mount namespace of the bench with /sys/fs/cgroup/unified unmounted, so that it sees cgroup v1 only"
	if p.err != nil {
		return p
	}
	r, err := b.remote("hide-cgroup2")
	if err != nil {
		p.err = err
		return p
	}
	p.exec = r
	_, err = p.start(payloadTrue, false)
	p.err = b.withoutBlkio(p, err)
	return p
}

// withoutBlkio runs an OCI runtime that failed on its block-I/O weight file again
// without the weight: a kernel's cgroup v1 may have blkio.bfq.weight only (README,
// "Cgroups"), which crun does not look for, or neither file (no BFQ scheduler), where
// runc fails on the bfq one. It is then measured without the weight, and the report
// says so. Returns the error of the run that counts.
func (b *bench) withoutBlkio(p *peer, err error) error {
	if err == nil || !strings.Contains(err.Error(), "blkio.") || !strings.Contains(err.Error(), "weight") {
		return err
	}
	b.note("%s: %v; measured without the block-I/O weight", p.name, err)
	p.name += ", no blkio weight"
	p.note += "; without the block-I/O weight, whose file this runtime did not find here: " + err.Error()
	p.noBlkio = true
	_, err = p.start(payloadTrue, false)
	return err
}

// versionOf is the first line a program prints for --version.
func versionOf(bin string) string {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil && len(out) == 0 {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}
