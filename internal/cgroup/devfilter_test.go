package cgroup

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"launch/internal/testutil"
)

// kmsgTries are what deviceHelper tries on /dev/kmsg (char 1:11), as the test's
// verdicts list them.
var kmsgTries = []string{"r", "w", "rw", "m"}

// deviceHelper runs in a child of the test, in the cgroups the test chose: it opens
// /dev/kmsg for reading, writing, both, and makes a node of it, and prints ok or
// EPERM (or another errno) for each.
func deviceHelper() {
	if dir := os.Getenv("LAUNCH_TEST_V1"); dir != "" {
		// Into the v1 devices cgroup alone: its v2 cgroup stays the test's.
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("0"), 0); err != nil {
			os.Stdout.WriteString("join " + err.Error())
			return
		}
	}
	verdict := func(err error) string {
		switch {
		case err == nil:
			return "ok"
		case errors.Is(err, unix.EPERM):
			return "EPERM"
		}
		return err.Error()
	}
	open := func(flags int) string {
		fd, err := unix.Open("/dev/kmsg", flags|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err == nil {
			unix.Close(fd)
		}
		return verdict(err)
	}
	node := filepath.Join(os.Getenv("LAUNCH_TEST_NODES"), "kmsg")
	out := []string{open(unix.O_RDONLY), open(unix.O_WRONLY), open(unix.O_RDWR),
		verdict(unix.Mknod(node, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 11))))}
	os.Remove(node)
	os.Stdout.WriteString(strings.Join(out, " "))
}

// TestDeviceFilter attacks the cgroup v2 device filter from a process in the cgroup
// it is attached to, and checks that it decides as a v1 devices cgroup given the same
// rules: for each set of rules, a process in a v2 cgroup with the filter alone, and
// (where the host has a v1 devices hierarchy) one in a v1 devices cgroup with the
// rules alone, open /dev/kmsg for reading, writing and both, and make a node of it;
// the verdicts (EPERM is the cgroup's) must be Policy's, and the same in both. The
// rule sets are those where a rule-by-rule reading goes wrong: type a with an access
// (the kernel ignores it), denials of part of an access (a request asking for any part
// of it is denied), and an exception narrowed by a later rule.
func TestDeviceFilter(t *testing.T) {
	if testutil.IsHelper(t.Name()) {
		deviceHelper()
		return
	}
	testutil.RequireRoot(t)
	l := hostLayout(t)
	if l.V2 == nil {
		testutil.Skip(t, "needs a cgroup2 file system")
	}
	var v1 string
	for _, h := range l.V1 {
		if h.Has("devices") {
			v1 = h.Mount
		}
	}
	deny := func(typ byte, major, minor int64, access string) DeviceRule {
		return DeviceRule{false, typ, major, minor, access}
	}
	allow := func(typ byte, major, minor int64, access string) DeviceRule {
		return DeviceRule{true, typ, major, minor, access}
	}
	for i, c := range []struct {
		rules []DeviceRule
		want  string // r, w, rw, m
	}{
		{[]DeviceRule{deny('a', -1, -1, "rwm"), allow('c', 1, 3, "rwm"), allow('c', 1, 11, "r")}, "ok EPERM EPERM EPERM"},
		{[]DeviceRule{deny('a', -1, -1, "m")}, "EPERM EPERM EPERM EPERM"},
		{[]DeviceRule{deny('a', -1, -1, "r")}, "EPERM EPERM EPERM EPERM"},
		{[]DeviceRule{deny('c', 1, 11, "w")}, "ok EPERM EPERM ok"},
		{[]DeviceRule{deny('c', 1, -1, "r")}, "EPERM ok EPERM ok"},
		{[]DeviceRule{deny('a', -1, -1, "rwm"), allow('c', 1, 11, "rw"), deny('c', 1, 11, "w")}, "ok EPERM EPERM EPERM"},
		{[]DeviceRule{deny('a', -1, -1, "rwm"), allow('c', 1, -1, "rwm")}, "ok ok ok ok"},
		{[]DeviceRule{deny('b', 1, 11, "rwm")}, "ok ok ok ok"},
		{[]DeviceRule{deny('c', 1, 11, "m"), allow('a', -1, -1, "rwm")}, "ok ok ok ok"},
	} {
		name := "launch-test-devices-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(i)
		p := Policy(c.rules)
		var pred []string
		for _, a := range kmsgTries {
			v := "EPERM"
			if p.Allows('c', 1, 11, accessBits(a)) {
				v = "ok"
			}
			pred = append(pred, v)
		}
		if got := strings.Join(pred, " "); got != c.want {
			t.Errorf("rules %v: Policy allows %s, want %s", c.rules, got, c.want)
		}
		dir := filepath.Join(l.V2.Mount, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		defer unix.Rmdir(dir)
		if err := attachDevices(dir, c.rules); err != nil {
			t.Fatal(err)
		}
		cg, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(cg)
		run := func(attr *syscall.SysProcAttr, env ...string) string {
			helper := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$")
			helper.Env = append(append(os.Environ(), testutil.HelperEnv+"="+t.Name(), "LAUNCH_TEST_NODES="+t.TempDir()), env...)
			helper.SysProcAttr = attr
			out, err := helper.Output()
			if err != nil {
				t.Fatalf("helper: %v\n%s", err, out)
			}
			return strings.TrimSuffix(strings.TrimSpace(string(out)), "PASS")
		}
		if got := run(&syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg}); got != c.want {
			t.Errorf("rules %v, the v2 filter: %s, want %s", c.rules, got, c.want)
		}
		if v1 == "" {
			continue
		}
		d1 := filepath.Join(v1, name)
		if err := os.Mkdir(d1, 0o755); err != nil {
			t.Fatal(err)
		}
		defer unix.Rmdir(d1)
		if err := writeDeviceRules(d1, c.rules); err != nil {
			t.Fatal(err)
		}
		if got := run(nil, "LAUNCH_TEST_V1="+d1); got != c.want {
			t.Errorf("rules %v, a v1 devices cgroup: %s, want %s", c.rules, got, c.want)
		}
	}
}

// TestDevicePolicy checks Policy's exceptions: merged per device, removed by a rule
// of the default's verdict for that very device only, dropped by a rule of type a.
func TestDevicePolicy(t *testing.T) {
	p := Policy([]DeviceRule{{false, 'a', -1, -1, "rwm"}, {true, 'c', 1, 11, "r"}, {true, 'c', 1, 11, "w"},
		{true, 'c', 1, -1, "m"}, {false, 'c', 1, 11, "r"}, {false, 'c', 1, 3, "rwm"}})
	if p.Allow || len(p.Except) != 2 || p.Except[0].access != accessBits("w") || p.Except[1].minor != -1 {
		t.Errorf("policy %+v: want deny, c 1:11 w, c 1:* m", p)
	}
	if p := Policy([]DeviceRule{{false, 'c', 1, 11, "rw"}, {true, 'a', -1, -1, "rwm"}}); !p.AllowsAll() {
		t.Errorf("policy %+v: want every device allowed", p)
	}
}
