package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runTimeout bounds each run of the launcher. Under emulation (TCG) a run takes a
// second or two; a hung one is killed, and with it its container (the launcher's
// children die with it).
const runTimeout = 60 * time.Second

// A checker runs the launcher, reports checks and counts failures.
type checker struct {
	total, failed int
	runs          int                 // launcher runs, for the cleanup check
	leftovers     []string            // launch-* cgroups found after a run, with the run
	as            *syscall.Credential // the user the launcher runs as; nil: root
}

// report prints the line of one check: PASS with detail when err is nil, FAIL with
// err (and detail, if any) otherwise.
func (c *checker) report(name string, err error, detail string) {
	c.total++
	if err == nil {
		say("CHECK %s PASS %s", name, detail)
		return
	}
	c.failed++
	if detail != "" {
		say("CHECK %s FAIL %v (%s)", name, err, detail)
	} else {
		say("CHECK %s FAIL %v", name, err)
	}
}

// A run is how one launcher run ended.
type run struct {
	bin            string // /launch, or /launch32
	args           []string
	in             string // the cgroup the launcher was started in; "" for vminit's
	code           int
	stdout, stderr string
	err            error // the launcher could not be started, or was killed after runTimeout
}

// String names the run for messages.
func (r *run) String() string {
	name := strings.TrimPrefix(r.bin, "/")
	words := []string{name}
	if r.in != "" {
		words = []string{"(in " + r.in + ")", name}
	}
	for _, a := range r.args {
		if strings.ContainsAny(a, " \"$;") {
			a = "'" + a + "'"
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

// failure describes a run that did not exit with want: its status and what the
// launcher said, or nil if it did.
func (r *run) failure(want int) error {
	switch {
	case r.err != nil:
		return fmt.Errorf("%s: %w", r, r.err)
	case r.code != want:
		return fmt.Errorf("%s: exit %d, want %d: %s", r, r.code, want, strings.TrimSpace(r.stderr))
	}
	return nil
}

// launch runs /launch with args, stdin from /dev/null, and afterwards looks for
// cgroups the run left behind. The command line and whatever the launcher writes to
// stderr (warnings, errors, the -v trace) go to the console as RUN and LOG lines.
func (c *checker) launch(args ...string) *run { return c.launchIn("", args...) }

// launch32 is launch with /launch32, the compat GOARCH's release binary.
func (c *checker) launch32(args ...string) *run { return c.start("/launch32", "", args...) }

// launchIn is launch with the launcher started in the cgroup v2 directory dir, as a
// service manager starts a service in a cgroup of its own (clone3 with
// CLONE_INTO_CGROUP); "" for vminit's own cgroup.
func (c *checker) launchIn(dir string, args ...string) *run { return c.start("/launch", dir, args...) }

// start runs the launcher bin with args, in the cgroup dir ("" for vminit's own).
func (c *checker) start(bin, dir string, args ...string) *run {
	r := &run{bin: bin, args: args, in: dir}
	say("RUN %s", r)
	defer func() {
		if s := strings.TrimSpace(r.stderr); s != "" {
			for _, line := range strings.Split(s, "\n") {
				say("LOG %s", line)
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if dir != "" {
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			r.err = &os.PathError{Op: "open", Path: dir, Err: err}
			return r
		}
		defer unix.Close(fd)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}
	if c.as != nil {
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		cmd.SysProcAttr.Credential = c.as
	}
	// Bounded also if something the launcher started keeps its output open.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r.stdout, r.stderr = stdout.String(), stderr.String()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.err = fmt.Errorf("killed after %s", runTimeout)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		r.err = err
	}
	c.runs++
	if left := leftoverCgroups(); len(left) > 0 {
		c.leftovers = append(c.leftovers, fmt.Sprintf("after %s: %s", r, strings.Join(left, " ")))
	}
	return r
}

// leftoverCgroups lists the launch-* cgroups under /sys/fs/cgroup. The launcher
// removes its own before it exits, so after a run there must be none.
func leftoverCgroups() []string {
	ents, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return []string{"read /sys/fs/cgroup: " + err.Error()}
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "launch-") {
			out = append(out, "/sys/fs/cgroup/"+e.Name())
		}
	}
	return out
}

// cleanup reports whether any run left a cgroup behind.
func (c *checker) cleanup() {
	if len(c.leftovers) > 0 {
		c.report("cgroup-cleanup", fmt.Errorf("%d of %d runs left cgroups", len(c.leftovers), c.runs),
			strings.Join(c.leftovers, "; "))
		return
	}
	c.report("cgroup-cleanup", nil, fmt.Sprintf("no launch-* cgroup under /sys/fs/cgroup after any of %d runs", c.runs))
}
