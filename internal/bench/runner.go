package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// runnerEnv selects the runner: a copy of the bench, re-executed in a new mount
// namespace, that changes the mounts it sees as its value says and then runs the jobs
// the bench sends it (one JSON job per line on stdin, one JSON reply on stdout).
// Values:
//
//	hide-cgroup2        unmount /sys/fs/cgroup/unified (crun refuses the hybrid layout)
//	mounts=N:DIR        mount N small tmpfs on DIR/0 ... DIR/N-1
const runnerEnv = "LAUNCH_BENCH_RUNNER"

// A reply is the runner's answer: first one for its setup, then one per job.
type reply struct {
	Sample sample
	Err    string
}

// A remote is the bench's end of a runner.
type remote struct {
	setup string
	cmd   *exec.Cmd
	in    io.WriteCloser
	enc   *json.Encoder
	dec   *json.Decoder
}

// startRemote starts a runner with the given setup and waits until it is ready.
func startRemote(setup string) (*remote, error) {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), runnerEnv+"="+setup)
	cmd.Stderr = os.Stderr
	// The whole runner starts in the new namespace: the runtime unshares in the child
	// before exec and makes / MS_REC|MS_PRIVATE, as unshare(1) does. Unsharing from a
	// running Go program would move only the calling thread (CLONE_NEWNS implies
	// CLONE_FS, and each thread has its own fs_struct once unshared).
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("runner %s: %w", setup, err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("runner %s: %w", setup, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start runner %s: %w", setup, err)
	}
	r := &remote{setup: setup, cmd: cmd, in: in, enc: json.NewEncoder(in), dec: json.NewDecoder(out)}
	var ready reply
	if err := r.dec.Decode(&ready); err != nil {
		r.close()
		return nil, fmt.Errorf("runner %s: %w", setup, err)
	}
	if ready.Err != "" {
		r.close()
		return nil, fmt.Errorf("runner %s: %s", setup, ready.Err)
	}
	return r, nil
}

// run sends j to the runner, which times it exactly as a scratch of the bench would.
func (r *remote) run(j job) (sample, error) {
	if err := r.enc.Encode(j); err != nil {
		return sample{}, fmt.Errorf("runner %s: send job: %w", r.setup, err)
	}
	var rep reply
	if err := r.dec.Decode(&rep); err != nil {
		return sample{}, fmt.Errorf("runner %s: read reply: %w", r.setup, err)
	}
	if rep.Err != "" {
		return rep.Sample, errors.New(rep.Err)
	}
	return rep.Sample, nil
}

// close ends the runner; its mount namespace, and every mount in it, goes with it.
func (r *remote) close() error {
	r.in.Close()
	return r.cmd.Wait()
}

// runnerMain is the runner's main: it prepares its namespace, says so, and runs jobs
// until its stdin closes.
func runnerMain(setup string) int {
	enc := json.NewEncoder(os.Stdout)
	if err := prepareNamespace(setup); err != nil {
		enc.Encode(reply{Err: err.Error()})
		return 1
	}
	s, err := newScratch()
	if err != nil {
		enc.Encode(reply{Err: err.Error()})
		return 1
	}
	defer s.close()
	enc.Encode(reply{})
	dec := json.NewDecoder(os.Stdin)
	for {
		var j job
		if err := dec.Decode(&j); err != nil {
			return 0 // the bench closed the pipe: done
		}
		smp, err := s.run(j)
		rep := reply{Sample: smp}
		if err != nil {
			rep.Err = err.Error()
		}
		if err := enc.Encode(rep); err != nil {
			return 1
		}
	}
}

// prepareNamespace changes the runner's mounts as setup says. The runner is already in
// a mount namespace of its own.
func prepareNamespace(setup string) error {
	// Again, explicitly: nothing done here may propagate to the host, whatever the
	// runtime's unshare did.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return &os.PathError{Op: "make mounts private", Path: "/", Err: err}
	}
	switch {
	case setup == "hide-cgroup2":
		// crun looks at /sys/fs/cgroup/unified to tell the hybrid layout from v1.
		const dir = "/sys/fs/cgroup/unified"
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return &os.PathError{Op: "umount", Path: dir, Err: err}
		}
	case strings.HasPrefix(setup, "mounts="):
		ns, dir, ok := strings.Cut(strings.TrimPrefix(setup, "mounts="), ":")
		n, err := strconv.Atoi(ns)
		if !ok || err != nil || !filepath.IsAbs(dir) {
			return fmt.Errorf("bad runner setup %q", setup)
		}
		for i := 0; i < n; i++ {
			p := filepath.Join(dir, strconv.Itoa(i))
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
			if err := unix.Mount("bench", p, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=64k"); err != nil {
				return &os.PathError{Op: "mount tmpfs", Path: p, Err: err}
			}
		}
	case setup == "":
	default:
		return fmt.Errorf("bad runner setup %q", setup)
	}
	return nil
}
