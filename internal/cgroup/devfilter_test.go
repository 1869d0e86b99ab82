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

// TestDeviceFilter attacks the cgroup v2 device filter from a process in the cgroup
// it is attached to: with rules that deny everything, then allow /dev/null (1:3) and
// reading /dev/kmsg (1:11), the process opens each node for reading and for writing
// and makes nodes (it is root, with every capability, and the test's cgroups of v1
// allow every device, so the filter alone decides). Each verdict is the errno the
// kernel returned: EPERM is the filter's.
func TestDeviceFilter(t *testing.T) {
	if testutil.IsHelper(t.Name()) {
		dir := os.Getenv("LAUNCH_TEST_NODES")
		var out []string
		try := func(what string, err error) {
			v := "ok"
			if err != nil {
				v = err.(syscall.Errno).Error()
				if errors.Is(err, unix.EPERM) {
					v = "EPERM"
				}
			}
			out = append(out, what+"="+v)
		}
		open := func(path string, flags int) error {
			fd, err := unix.Open(path, flags|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}
		try("null-rw", open("/dev/null", unix.O_RDWR))
		try("kmsg-r", open("/dev/kmsg", unix.O_RDONLY))
		try("kmsg-w", open("/dev/kmsg", unix.O_WRONLY))
		try("zero-r", open("/dev/zero", unix.O_RDONLY))
		try("mknod-null", unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		try("mknod-zero", unix.Mknod(filepath.Join(dir, "zero"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5))))
		try("mknod-block", unix.Mknod(filepath.Join(dir, "sda"), unix.S_IFBLK|0o666, int(unix.Mkdev(8, 0))))
		os.Stdout.WriteString(strings.Join(out, " "))
		return
	}
	testutil.RequireRoot(t)
	l := hostLayout(t)
	if l.V2 == nil {
		testutil.Skip(t, "needs a cgroup2 file system")
	}
	dir := filepath.Join(l.V2.Mount, "launch-test-devices-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer unix.Rmdir(dir)
	rules := []DeviceRule{{false, 'a', -1, -1, "rwm"}, {true, 'c', 1, 3, "rwm"}, {true, 'c', 1, 11, "r"}}
	if err := attachDevices(dir, rules); err != nil {
		t.Fatal(err)
	}
	cg, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(cg)
	helper := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$")
	helper.Env = append(os.Environ(), testutil.HelperEnv+"="+t.Name(), "LAUNCH_TEST_NODES="+t.TempDir())
	helper.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg}
	out, err := helper.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	want := "null-rw=ok kmsg-r=ok kmsg-w=EPERM zero-r=EPERM mknod-null=ok mknod-zero=EPERM mknod-block=EPERM"
	if got := strings.TrimSpace(string(out)); !strings.HasPrefix(got, want) {
		t.Errorf("in a cgroup with the filter of %v:\ngot  %s\nwant %s", rules, got, want)
	}
}

// TestDeviceProgram checks the program's shape for rules: one block per rule, last
// rule first, its jumps landing on the next block, what a rule leaves out (type a, *,
// rwm) not tested, and nothing after a rule that matches everything.
func TestDeviceProgram(t *testing.T) {
	prog := deviceProgram([]DeviceRule{{false, 'a', -1, -1, "rwm"}, {true, 'c', 1, -1, "rw"}, {true, 'b', 8, 0, "rwm"}})
	// 6 to read the context; b 8:0 rwm: type, major, minor, verdict (5); c 1:* rw:
	// type, access (3), major, verdict (7); a *:* rwm: verdict (2), which ends the
	// program (no default after it).
	if len(prog) != 6+5+7+2 {
		t.Fatalf("%d instructions, want 20", len(prog))
	}
	for i, in := range prog {
		if in.code == unix.BPF_JMP|unix.BPF_JNE|unix.BPF_K {
			to := i + 1 + int(in.off)
			if to != 11 && to != 18 {
				t.Errorf("instruction %d jumps to %d, not to a rule's first", i, to)
			}
		}
	}
	if prog := deviceProgram([]DeviceRule{{true, 'c', 1, 3, "rwm"}}); len(prog) != 6+5+2 {
		t.Errorf("one rule: %d instructions, want its block and the default (13)", len(prog))
	}
}
