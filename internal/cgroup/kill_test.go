package cgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/testutil"
)

// TestKillAllWithoutCgroupKill: without cgroup.kill (cgroup v1, and v2 before Linux
// 5.14), killAll sends SIGKILL to each process cgroup.procs lists. A seccomp filter
// cannot hide a file, so the test makes a cgroup whose cgroup.kill cannot be written: a
// v1 one, or on a host without v1 a v2 one with a read-only file mounted over its
// cgroup.kill, in a mount namespace of a helper process.
func TestKillAllWithoutCgroupKill(t *testing.T) {
	if testutil.IsHelper(t.Name()) {
		dir := os.Getenv("LAUNCH_TEST_KILL_DIR")
		empty := filepath.Join(t.TempDir(), "empty")
		if err := os.WriteFile(empty, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		kill := filepath.Join(dir, "cgroup.kill")
		if err := unix.Mount(empty, kill, "", unix.MS_BIND, ""); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("", kill, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			t.Fatal(err)
		}
		if writeFile(dir, "cgroup.kill", "1") == nil {
			t.Fatal("cgroup.kill can still be written")
		}
		killAll(dir)
		return
	}
	l := hostLayout(t)
	parent := ""
	if len(l.V1) > 0 {
		parent = l.V1[0].Dir
	} else if l.V2 != nil {
		parent = l.V2.Dir
	} else {
		testutil.Skip(t, "needs a cgroup file system")
	}
	dir := filepath.Join(parent, "launch-test-kill-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer unix.Rmdir(dir)
	sleep := exec.Command("sleep", "30")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleep.Process.Kill()
	if err := writeFile(dir, "cgroup.procs", strconv.Itoa(sleep.Process.Pid)); err != nil {
		t.Fatal(err)
	}
	if !exists(dir, "cgroup.kill") {
		killAll(dir)
	} else {
		helper := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$")
		helper.Env = append(os.Environ(), testutil.HelperEnv+"="+t.Name(), "LAUNCH_TEST_KILL_DIR="+dir)
		helper.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		if out, err := helper.CombinedOutput(); err != nil {
			t.Fatalf("helper: %v\n%s", err, out)
		}
	}
	done := make(chan error, 1)
	go func() { done <- sleep.Wait() }()
	select {
	case err := <-done:
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("the process in the cgroup ended with %v, want SIGKILL", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the process in the cgroup survived killAll")
	}
}
