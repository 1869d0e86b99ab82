package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/probe/expect"
	"launch/internal/testutil"
)

// Attacks from inside: each test runs a real attack in a container whose COMMAND is
// root with the default capabilities, asserts that it fails, and why, and that the
// host is as it was (see watch in hostwatch_test.go). Where a witness on the host can
// tell whether an attack got through (a file only the host has, the kernel's log, the
// cgroup files as the host sees them), the test reads it there, after showing that
// the witness works.
//
// The probe's operations (internal/probe/try_attack.go) print "ok" or the errno that
// stopped them.

// TestAttackChrootClimb: the classic way out of a chroot, which CAP_SYS_CHROOT allows.
// After pivot_root and the detach of the old root, the climb ends at the container's
// own root (ROOTFS's entries are all it sees), and a file only the host has stays out
// of reach.
func TestAttackChrootClimb(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	_, marker := hostDir(t)
	var names []string
	ents, _ := os.ReadDir(rootfs)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	want := marker + "=ENOENT top=" + strings.Join(names, ",")
	if got := w.try(rootfs, nil, "climb", marker); got != want {
		t.Errorf("climb(%s) = %q, want %q", marker, got, want)
	}
	w.check()
}

// TestAttackInheritedDescriptors: fchdir through every descriptor COMMAND has, climb
// with "..", and read a file only the host has (runc CVE-2024-21626: a leaked
// directory of the host became the working directory). The launcher inherits host
// directories as descriptors 3 and 4; COMMAND gets 0, 1 and 2, none a directory.
// Then each of 0, 1 and 2 is itself a directory of the host, which the caller may
// pass by mistake (launch ... < dir): the container must not get that either.
func TestAttackInheritedDescriptors(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	dir, marker := hostDir(t)
	open := func(p string) *os.File {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	r := w.runWith(launchIO{files: []*os.File{open(dir), open("/")}}, rootfs, "/probe", "try", "fchdir", marker)
	if got, want := strings.TrimSpace(r.stdout), "0:ENOTDIR 1:ENOTDIR 2:ENOTDIR"; r.code != 0 || got != want {
		t.Errorf("fchdir(%s) through each descriptor = %q (exit %d, stderr %q), want %q", marker, got, r.code, r.stderr, want)
	}

	for fd, name := range []string{"stdin", "stdout", "stderr"} {
		t.Run(name+" a host directory", func(t *testing.T) {
			dir, marker := hostDir(t)
			l := launchIO{}
			switch fd {
			case 0:
				l.stdin = open(dir)
			case 1:
				l.stdout = open(dir)
			case 2:
				l.stderr = open(dir)
			}
			r := w.runWith(l, rootfs, "/probe", "try", "fchdir", marker)
			// The probe leaves marker.escaped-FD wherever it gets to: the witness
			// when its output went into the directory.
			if escaped, _ := filepath.Glob(marker + ".escaped-*"); len(escaped) > 0 || strings.Contains(r.stdout, ":ok") {
				t.Errorf("with %s a directory of the host, the container reached %s: created %v, printed %q (exit %d)",
					name, marker, escaped, r.stdout, r.code)
			}
			if r.code == 125 && fd != 2 && !strings.Contains(r.stderr, name) {
				t.Errorf("launch refused, but its error does not name %s: %q", name, r.stderr)
			}
		})
	}
	w.check()
}

// TestAttackProcLinks: /proc/PID/root and /proc/PID/cwd of every process in the
// container, read directly or climbing from them, lead to the container's root, not
// the host's. With --init, PID 1 is a fork of the launcher that is not dumpable, so its
// links are refused outright (EACCES).
func TestAttackProcLinks(t *testing.T) {
	testutil.RequireBusybox(t)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	_, marker := hostDir(t)
	script := "/probe sleep 30 & cd /tmp && /probe try procroot " + marker + "; kill $!"
	for _, tt := range []struct {
		name string
		opts []string
		want string
	}{
		{"COMMAND as PID 1", nil, "ENOENT"},
		{"--init", []string{"--init"}, "EACCES,ENOENT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{}, tt.opts...), rootfs, "/bin/sh", "-c", script)
			r := w.run(args...)
			if got := strings.TrimSpace(r.stdout); r.code != 0 || got != tt.want {
				t.Errorf("procroot(%s) = %q (exit %d, stderr %q), want %q", marker, got, r.code, r.stderr, tt.want)
			}
		})
	}
	w.check()
}

// TestAttackExecutables: no process of the container runs the launcher's binary, or
// can open it (CVE-2019-5736 overwrote runc's binary through /proc/self/exe). Without
// --init there is no launcher code in the container at all; with --init, PID 1 is a
// fork of the launcher, and its executable, memory and tracing are refused (not
// dumpable; no CAP_SYS_PTRACE).
func TestAttackExecutables(t *testing.T) {
	testutil.RequireBusybox(t)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	bin := launcher(t)
	sum := func() string {
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		return hex.EncodeToString(h[:])
	}
	before := sum()
	script := "/probe sleep 30 & /probe try exes; echo ptrace $(/probe try ptrace 1); kill $!"
	for _, tt := range []struct {
		name string
		opts []string
		pid1 string // the line for PID 1
		ptr  string // ptrace(PTRACE_ATTACH, 1)
	}{
		// PID 1 is the shell, COMMAND itself: the container's own program, which the
		// launcher traces (so that it dies with the launcher): nobody else can.
		{"COMMAND as PID 1", nil, "1 exe=/bin/busybox", "EPERM"},
		{"--init", []string{"--init"}, "1 exe=EACCES sha256=EACCES mem=EACCES write=EACCES", "EPERM"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{}, tt.opts...), rootfs, "/bin/sh", "-c", script)
			r := w.run(args...)
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if r.code != 0 || len(lines) < 4 {
				t.Fatalf("exes: exit %d, %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			if !strings.HasPrefix(lines[0], tt.pid1) {
				t.Errorf("PID 1: %q, want %q", lines[0], tt.pid1)
			}
			for _, l := range lines[:len(lines)-1] {
				if strings.Contains(l, "exe="+bin) || strings.Contains(l, before) {
					t.Errorf("a process of the container runs or reads the launcher %s: %q", bin, l)
				}
				if strings.Contains(l, "write=ok") {
					t.Errorf("a process of the container can open an executable for writing: %q", l)
				}
			}
			if got := lines[len(lines)-1]; got != "ptrace "+tt.ptr {
				t.Errorf("ptrace(PTRACE_ATTACH, 1) = %q, want %q", got, tt.ptr)
			}
		})
	}
	if after := sum(); after != before {
		t.Errorf("the launcher's binary changed: sha256 %s, was %s", after, before)
	}
	w.check()
}

// TestAttackOpenByHandle: name_to_handle_at(2) is allowed, but opening a handle,
// one's own or one forged for the root inode of the host's file system (the
// "shocker" exploit against Docker 0.11), is not: the filter refuses
// open_by_handle_at(2) (EPERM), and without the filter CAP_DAC_READ_SEARCH, which a
// container lacks, is needed (EPERM again).
func TestAttackOpenByHandle(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	for _, opts := range [][]string{nil, {"--seccomp=unconfined"}} {
		if got, want := w.try(rootfs, opts, "handle"), "own=EPERM forged=EPERM"; got != want {
			t.Errorf("handle %v = %q, want %q", opts, got, want)
		}
	}
	w.check()
}

// A syscallAttack is a system call made with raw numbers, with what it must return.
type syscallAttack struct {
	name string
	nr   uintptr
	args []uintptr
	want string
}

// TestAttackSyscalls: the calls that manage mounts, namespaces, keys, BPF, perf,
// kernels, modules, reboot, swap and the clock all fail with EPERM: the filter
// refuses them (syscalls.txt does not list them, and the filter's answer to a call it
// does not allow is EPERM). The arguments are such that the call would do no harm if
// it got through. A call whose number is past the arch's table, and the x32 ABI,
// answer ENOSYS instead (so that libc falls back, moby#42680).
func TestAttackSyscalls(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	const filter = "EPERM"
	tests := []syscallAttack{
		{"mount", unix.SYS_MOUNT, nil, filter},
		{"umount2", unix.SYS_UMOUNT2, nil, filter},
		{"pivot_root", unix.SYS_PIVOT_ROOT, nil, filter},
		{"open_tree", unix.SYS_OPEN_TREE, nil, filter},
		{"move_mount", unix.SYS_MOVE_MOUNT, nil, filter},
		{"fsopen", unix.SYS_FSOPEN, nil, filter},
		{"fsmount", unix.SYS_FSMOUNT, nil, filter},
		{"fspick", unix.SYS_FSPICK, nil, filter},
		{"mount_setattr", unix.SYS_MOUNT_SETATTR, nil, filter},
		{"setns", unix.SYS_SETNS, nil, filter},
		{"keyctl", unix.SYS_KEYCTL, []uintptr{0 /* KEYCTL_GET_KEYRING_ID */, ^uintptr(2) /* session keyring, -3 */}, filter},
		{"add_key", unix.SYS_ADD_KEY, nil, filter},
		{"request_key", unix.SYS_REQUEST_KEY, nil, filter},
		{"bpf", unix.SYS_BPF, []uintptr{unix.BPF_PROG_LOAD}, filter},
		{"perf_event_open", unix.SYS_PERF_EVENT_OPEN, nil, filter},
		{"kexec_load", unix.SYS_KEXEC_LOAD, []uintptr{0, 0, 0, 0x100 /* a flag no kernel has: EINVAL past the filter */}, filter},
		{"init_module", unix.SYS_INIT_MODULE, nil, filter},
		{"finit_module", unix.SYS_FINIT_MODULE, nil, filter},
		{"delete_module", unix.SYS_DELETE_MODULE, nil, filter},
		{"reboot", unix.SYS_REBOOT, nil, filter}, // no magic numbers: EINVAL past the filter
		{"swapon", unix.SYS_SWAPON, nil, filter},
		{"swapoff", unix.SYS_SWAPOFF, nil, filter},
		{"clock_settime", unix.SYS_CLOCK_SETTIME, nil, filter},
		{"settimeofday", unix.SYS_SETTIMEOFDAY, nil, filter},
		{"syslog", unix.SYS_SYSLOG, []uintptr{3 /* SYSLOG_ACTION_READ_ALL */}, filter},
		{"userfaultfd", unix.SYS_USERFAULTFD, nil, filter},
		{"acct", unix.SYS_ACCT, nil, filter},
		{"quotactl", unix.SYS_QUOTACTL, nil, filter},
		{"clone3", unix.SYS_CLONE3, nil, "ENOSYS"},
		{"past the table", 1000, nil, "ENOSYS"},
	}
	for _, f := range []struct {
		name string
		flag uintptr
	}{
		{"CLONE_NEWNS", unix.CLONE_NEWNS}, {"CLONE_NEWUTS", unix.CLONE_NEWUTS}, {"CLONE_NEWIPC", unix.CLONE_NEWIPC},
		{"CLONE_NEWNET", unix.CLONE_NEWNET}, {"CLONE_NEWPID", unix.CLONE_NEWPID}, {"CLONE_NEWCGROUP", unix.CLONE_NEWCGROUP},
		{"CLONE_NEWUSER", unix.CLONE_NEWUSER}, {"CLONE_NEWTIME", unix.CLONE_NEWTIME},
	} {
		tests = append(tests, syscallAttack{"unshare " + f.name, unix.SYS_UNSHARE, []uintptr{f.flag}, filter})
		if f.flag != unix.CLONE_NEWTIME { // not a clone(2) flag: its bits are the exit signal's
			// clone with a namespace flag: refused by the filter's test of the flags
			// (syscalls.txt: clone arg0 & CLONE_NEW... == 0).
			tests = append(tests, syscallAttack{"clone " + f.name, unix.SYS_CLONE, []uintptr{f.flag | uintptr(unix.SIGCHLD)}, filter})
		}
	}
	if runtime.GOARCH == "amd64" {
		tests = append(tests, syscallAttack{"x32 mount", 0x40000000 | unix.SYS_MOUNT, nil, "ENOSYS"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := []string{"syscall", strconv.FormatUint(uint64(tt.nr), 10)}
			for _, a := range tt.args {
				op = append(op, strconv.FormatUint(uint64(a), 10))
			}
			if got := w.try(rootfs, nil, op...); got != tt.want {
				t.Errorf("%s(%v) = %s, want %s", tt.name, tt.args, got, tt.want)
			}
		})
	}
	// setns on a real namespace descriptor, and a user namespace by the probe's own
	// clone: refused by the filter as well.
	for _, ns := range []string{"mnt", "pid", "net", "uts", "ipc", "cgroup", "user"} {
		if got := w.try(rootfs, nil, "setns", ns); got != filter {
			t.Errorf("setns(/proc/self/ns/%s) = %s, want %s", ns, got, filter)
		}
	}
	w.check()
}

// TestAttackSyscallsWithoutFilter: the second layer. With --seccomp=unconfined, the
// calls that need a capability the container lacks still fail with EPERM, from the
// capability check, which each of them makes before it looks at its arguments. Only
// the user namespace needs no capability: the filter alone keeps it from the
// container (see TestSeccomp).
func TestAttackSyscallsWithoutFilter(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	unconfined := []string{"--seccomp=unconfined"}
	for _, tt := range []struct {
		name string
		op   []string
		want string
	}{
		{"mount (CAP_SYS_ADMIN)", []string{"mount", "/mnt"}, "EPERM"},
		{"umount2 (CAP_SYS_ADMIN)", []string{"umount", "/proc"}, "EPERM"},
		{"pivot_root (CAP_SYS_ADMIN)", []string{"syscall", fmt.Sprint(unix.SYS_PIVOT_ROOT)}, "EPERM"},
		{"unshare CLONE_NEWNS (CAP_SYS_ADMIN)", []string{"unshare", fmt.Sprint(unix.CLONE_NEWNS)}, "EPERM"},
		{"unshare CLONE_NEWNET (CAP_SYS_ADMIN)", []string{"unshare", fmt.Sprint(unix.CLONE_NEWNET)}, "EPERM"},
		{"setns (CAP_SYS_ADMIN)", []string{"setns", "mnt"}, "EPERM"},
		{"new cgroup hierarchy (CAP_SYS_ADMIN)", []string{"mountfs", "cgroup", "/tmp/cg", "memory"}, "EPERM"},
		{"swapon (CAP_SYS_ADMIN)", []string{"syscall", fmt.Sprint(unix.SYS_SWAPON)}, "EPERM"},
		{"reboot (CAP_SYS_BOOT)", []string{"syscall", fmt.Sprint(unix.SYS_REBOOT)}, "EPERM"},
		{"clock_settime (CAP_SYS_TIME)", []string{"settime"}, "EPERM"},
		{"settimeofday (CAP_SYS_TIME)", []string{"syscall", fmt.Sprint(unix.SYS_SETTIMEOFDAY)}, "EPERM"},
		{"open_by_handle_at (CAP_DAC_READ_SEARCH)", []string{"handle"}, "own=EPERM forged=EPERM"},
		{"syslog (CAP_SYSLOG)", []string{"syscall", fmt.Sprint(unix.SYS_SYSLOG), "3"}, "EPERM"},
		{"bpf (CAP_BPF, CAP_SYS_ADMIN)", []string{"syscall", fmt.Sprint(unix.SYS_BPF), fmt.Sprint(unix.BPF_PROG_LOAD)}, "EPERM"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := w.try(rootfs, unconfined, tt.op...); got != tt.want {
				t.Errorf("%v without the filter = %s, want %s", tt.op, got, tt.want)
			}
		})
	}
	w.check()
}

// rootDisk returns the device number of the block device that holds the host's root
// file system, or, when that is not a block device (an overlay, 9p), of the first
// disk in /sys/block.
func rootDisk(t *testing.T) (major, minor uint32) {
	t.Helper()
	for _, m := range hostMounts(t) {
		if m.Point != "/" {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/sys/dev/block/%d:%d", m.Major, m.Minor)); err == nil {
			return m.Major, m.Minor
		}
	}
	disks, _ := filepath.Glob("/sys/block/*/dev")
	for _, d := range disks {
		name := filepath.Base(filepath.Dir(d))
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") {
			continue
		}
		b, _ := os.ReadFile(d)
		if _, err := fmt.Sscanf(string(b), "%d:%d", &major, &minor); err == nil {
			return major, minor
		}
	}
	testutil.Skip(t, "the host has no disk to make a node for")
	return 0, 0
}

// kernelLog returns the kernel's log buffer, as dmesg reads it.
func kernelLog(t *testing.T) string {
	t.Helper()
	size, err := unix.Klogctl(unix.SYSLOG_ACTION_SIZE_BUFFER, nil)
	if err != nil {
		t.Fatalf("syslog(SYSLOG_ACTION_SIZE_BUFFER): %v", err)
	}
	buf := make([]byte, size)
	n, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf)
	if err != nil {
		t.Fatalf("syslog(SYSLOG_ACTION_READ_ALL): %v", err)
	}
	return string(buf[:n])
}

// TestAttackDevices: CAP_MKNOD lets container root make a node for the host's disk or
// for /dev/kmsg (1:11) anywhere it can write, but nowhere it can open one: every
// writable mount of the container is nodev (open: EACCES) and /dev is read-only
// (mknod: EROFS). devpts and mqueue cannot hold nodes at all (EPERM). A marker
// written through each kmsg node must not reach the host's kernel log; the test
// first writes a marker of its own to the host's /dev/kmsg to show that the log is
// where such a write would land. (This VM refuses to open its disks even to root,
// and has no /dev/mem, so the kernel log is the witness.)
//
// The last two cases are mounts the caller has below ROOTFS and below a --bind
// source, which the recursive binds bring into the container: they must be nodev
// in the container as well.
func TestAttackDevices(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	major, minor := rootDisk(t)
	src, _ := hostDir(t)
	// Mounts of the caller's, in the test's own mount namespace: a tmpfs (dev
	// allowed, as mount(8) makes it) below ROOTFS and one below a --bind source.
	for _, d := range []string{filepath.Join(rootfs, "mnt"), filepath.Join(src, "sub")} {
		mountTmpfs(t, d, 0, "size=64k")
	}
	w.before = snapshot(t)

	control := fmt.Sprintf("launch-test-kmsg-control-%d-%d", os.Getpid(), time.Now().UnixNano())
	if err := os.WriteFile("/dev/kmsg", []byte(control+"\n"), 0); err != nil {
		t.Fatalf("writing the control marker to the host's /dev/kmsg: %v", err)
	}
	var markers []string
	for i, tt := range []struct {
		name string
		dir  string
		opts []string
		want string
	}{
		{"root", "/", nil, "open EACCES"},
		{"read-only root", "/", []string{"--read-only"}, "mknod EROFS"},
		{"/tmp", "/tmp", nil, "open EACCES"},
		{"/dev", "/dev", nil, "mknod EROFS"},
		{"/dev/shm", "/dev/shm", nil, "open EACCES"},
		{"/dev/pts", "/dev/pts", nil, "mknod EPERM"},
		{"/dev/mqueue", "/dev/mqueue", nil, "mknod EPERM"},
		{"/sys/fs/cgroup", "/sys/fs/cgroup", nil, "mknod EROFS"},
		{"a directory --bind", "/data", []string{"--bind", src + ":/data"}, "open EACCES"},
		{"a mount below ROOTFS", "/mnt", nil, "open EACCES"},
		{"a mount below a --bind source", "/data/sub", []string{"--bind", src + ":/data"}, "open EACCES"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			disk := filepath.Join(tt.dir, "disk")
			if got := w.try(rootfs, tt.opts, "node", "b", disk, fmt.Sprint(major), fmt.Sprint(minor)); got != tt.want {
				t.Errorf("node(b %s %d:%d) = %q, want %q", disk, major, minor, got, tt.want)
			}
			marker := fmt.Sprintf("launch-test-kmsg-%d-%d-%d", os.Getpid(), time.Now().UnixNano(), i)
			markers = append(markers, marker)
			kmsg := filepath.Join(tt.dir, "kmsg")
			if got := w.try(rootfs, tt.opts, "node", "c", kmsg, "1", "11", marker+"\n"); got != tt.want {
				t.Errorf("node(c %s 1:11) = %q, want %q", kmsg, got, tt.want)
			}
		})
	}
	log := kernelLog(t)
	if !strings.Contains(log, control) {
		t.Fatalf("the host's kernel log lacks the control marker %s: the witness does not work", control)
	}
	for _, m := range markers {
		if strings.Contains(log, m) {
			t.Errorf("a marker written by the container reached the host's kernel log: %s", m)
		}
	}
	w.check()
}

// TestAttackReadOnlySubmounts: a --bind SRC:DST:ro and --read-only make everything
// below them read-only, mounts included. The caller's source directory, and ROOTFS,
// may hold mounts of their own (a tmpfs each here, in the test's mount namespace),
// which recursive binds bring into the container: a write there must fail with
// EROFS, as anywhere else below the read-only mount, and must not reach the host.
func TestAttackReadOnlySubmounts(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	src, _ := hostDir(t)
	subs := []string{filepath.Join(src, "sub"), filepath.Join(rootfs, "mnt")}
	for _, d := range subs {
		mountTmpfs(t, d, 0, "size=64k")
	}
	w.before = snapshot(t)
	ro := []string{"--bind", src + ":/data:ro"}
	for _, tt := range []struct {
		name string
		opts []string
		file string
	}{
		{"--bind :ro", ro, "/data/x"},
		{"--bind :ro, a mount below the source", ro, "/data/sub/x"},
		{"--read-only", []string{"--read-only"}, "/x"},
		{"--read-only, a mount below ROOTFS", []string{"--read-only"}, "/mnt/x"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := w.try(rootfs, tt.opts, "create", tt.file); got != "EROFS" {
				t.Errorf("create %s with %v = %s, want EROFS", tt.file, tt.opts, got)
			}
		})
	}
	for _, d := range append(subs, src, rootfs) {
		if _, err := os.Stat(filepath.Join(d, "x")); err == nil {
			t.Errorf("a write of the container reached the host: %s", filepath.Join(d, "x"))
		}
	}
	w.check()
}

// TestAttackCgroups: the container cannot raise its limits, leave its cgroups or set
// a release agent. TestCgroupsReadOnlyInside tries each limit file, cgroup.procs,
// notify_on_release and mkdir from inside (EROFS); this test does it all in one
// container, in every cgroup it has on this host's layout (v1, v2 or hybrid), and then
// checks from the host, which can tell: the container's processes are still in their
// launch-* cgroups, with the limits they had. release_agent exists only in a v1
// hierarchy's root cgroup, which the container's cgroup namespace does not show
// (ENOENT), and a new hierarchy, where it would be, cannot be mounted (EPERM,
// CVE-2022-0492).
func TestAttackCgroups(t *testing.T) {
	testutil.RequireBusybox(t)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	// What to try, and what each must answer, in the container's cgroups on this
	// host's layout (v1, v2 or hybrid).
	cgroups := wantDefault(t, rootfs).Host.Cgroups
	want := map[string]string{"mount": "EPERM", "/sys/fs/cgroup/release_agent": "ENOENT"}
	var script []string
	try := func(key, op, want1 string) {
		want[key] = want1
		script = append(script, fmt.Sprintf("echo \"%s $(/probe try %s)\"", key, op))
	}
	for _, f := range cgroupControls(cgroups) {
		try(f, "write "+f+" 0", "EROFS")
	}
	var optional []string // limit files only some kernels have
	for _, l := range expect.DefaultLimits {
		if dir, v, ok := cgroups.Dir(l.Controller); ok && v == l.Version {
			if l.IfPresent {
				optional = append(optional, dir+"/"+l.File)
			} else {
				try(dir+"/"+l.File, "write "+dir+"/"+l.File+" 0", "EROFS")
			}
		}
	}
	for _, d := range cgroups.Dirs() {
		try("mkdir:"+d.Path, "mkdir "+d.Path+"/escape", "EROFS")
		if d.Version == 1 {
			try(d.Path+"/release_agent", "write "+d.Path+"/release_agent /x", "ENOENT")
		}
	}
	for _, f := range optional {
		script = append(script, fmt.Sprintf("[ -e %s ] && echo \"%s $(/probe try write %s 0)\"", f, f, f))
	}
	script = append(script, "echo \"/sys/fs/cgroup/release_agent $(/probe try write /sys/fs/cgroup/release_agent /x)\"",
		"echo \"mount $(/probe try mountfs cgroup /tmp/cg memory,release_agent=/x)\"", "echo done", "exec /probe signals")
	s := w.start(rootfs, "/bin/sh", "-c", strings.Join(script, "\n"))
	results := map[string]string{}
	for {
		l := s.line(t)
		if l == "done" {
			break
		}
		f := strings.Fields(l)
		if len(f) != 2 {
			t.Fatalf("container said %q", l)
		}
		results[f[0]] = f[1]
	}
	if s.line(t) != "ready" {
		t.Fatal("probe signals did not start")
	}
	for what, got := range results {
		if slices.Contains(optional, what) {
			want[what] = "EROFS"
		}
		if got != want[what] {
			t.Errorf("%s from inside: %s, want %s", what, got, want[what])
		}
	}
	for what := range want {
		if _, ok := results[what]; !ok {
			t.Errorf("%s was not tried", what)
		}
	}

	// From the host: where the container's process is, and its limits.
	kids := children(s.cmd.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("launch has children %v", kids)
	}
	cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", kids[0]))
	name := "/" + idOf(s.cmd.Process.Pid).prefix()
	for _, line := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && (f[1] == "memory" || f[1] == "pids" || f[0] == "0") && !strings.Contains(f[2], name) {
			t.Errorf("the container's process left its %s cgroup: %s", f[1], line)
		}
	}
	checked := 0
	for _, d := range cgroupDirs(t, s.cmd.Process.Pid) {
		for file, want := range map[string]string{"memory.limit_in_bytes": "67108864", "memory.max": "67108864", "pids.max": "64"} {
			b, err := os.ReadFile(filepath.Join(d, file))
			if err != nil {
				continue
			}
			checked++
			if got := strings.TrimSpace(string(b)); got != want {
				t.Errorf("%s/%s = %s, want %s", d, file, got, want)
			}
		}
	}
	if checked < 2 {
		t.Errorf("found only %d limit files of the container on the host", checked)
	}
	s.cmd.Process.Signal(unix.SIGTERM)
	s.cmd.Wait()
	w.check()
}

// TestAttackProcSys: kernel settings and the kernel's memory through /proc and /sys.
// /proc/sys and /proc/sysrq-trigger are read-only binds and /sys is read-only: a
// write fails with EROFS (or EACCES for the settings that are read-only for root
// too). Every file below /proc/sys/kernel and /sys/kernel is rewritten with its own
// content, so that nothing would change should a write get through. /proc/kcore,
// /proc/keys and /proc/timer_list are masked with /dev/null (read: 0 bytes);
// /proc/kmsg needs CAP_SYSLOG (EPERM). A file this kernel lacks is absent in the
// container too (ENOENT).
func TestAttackProcSys(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	has := func(p string) bool {
		if _, err := os.Stat(p); err != nil {
			t.Logf("this kernel has no %s: the container must see none either", p)
			return false
		}
		return true
	}
	for _, tt := range []struct {
		op   []string
		want string
	}{
		{[]string{"write", "/proc/sysrq-trigger", "h"}, "EROFS"}, // h: print the help, should it get through
		{[]string{"rewrite", "/proc/sys/kernel/core_pattern"}, "EROFS"},
		{[]string{"rewrite", "/proc/sys/kernel/modprobe"}, "EROFS"},
		{[]string{"rewrite", "/proc/sys/vm/overcommit_memory"}, "EROFS"},
		{[]string{"rewrite", "/sys/kernel/uevent_helper"}, "EROFS"},
		{[]string{"rewrite", "/sys/kernel/mm/transparent_hugepage/enabled"}, "EROFS"},
		{[]string{"readn", "/proc/kcore"}, "0"},
		{[]string{"readn", "/proc/keys"}, "0"},
		{[]string{"readn", "/proc/timer_list"}, "0"},
		{[]string{"readn", "/proc/kmsg"}, "EPERM"},
	} {
		t.Run(tt.op[0]+" "+tt.op[1], func(t *testing.T) {
			want := tt.want
			if !has(tt.op[1]) {
				want = "ENOENT"
				if tt.op[0] == "rewrite" {
					want = "read ENOENT"
				}
			}
			if got := w.try(rootfs, nil, tt.op...); got != want {
				t.Errorf("%v = %s, want %s", tt.op, got, want)
			}
		})
	}
	for _, dir := range []string{"/proc/sys/kernel", "/sys/kernel"} {
		t.Run("rewrite all of "+dir, func(t *testing.T) {
			got := w.try(rootfs, nil, "rewriteall", dir)
			counts := map[string]int{}
			masked := 0
			for _, l := range strings.Split(got, "\n") {
				f := strings.Fields(l)
				// A file masked with the host's /dev/null (a device, which a read-only
				// mount does not stop) takes the write, which goes nowhere.
				if l == "/sys/kernel/vmcoreinfo" {
					masked++
					continue
				}
				n, err := strconv.Atoi(f[len(f)-1])
				if len(f) != 2 || err != nil {
					t.Errorf("a write below %s got through: %s", dir, l)
					continue
				}
				counts[f[0]] = n
			}
			counts["ok"] -= masked
			for res, n := range counts {
				if n > 0 && res != "EROFS" && res != "EACCES" {
					t.Errorf("%d files below %s: %s, want EROFS or EACCES", n, dir, res)
				}
			}
			if counts["EROFS"] == 0 {
				t.Errorf("rewriting %s: %q, want EROFS for its writable files", dir, got)
			}
			t.Logf("%s: %v", dir, counts)
		})
	}
	w.check()
}

// TestAttackForkBomb: a fork bomb (every process forks until refused, and retries)
// takes every process the container's pids cgroup allows (64) and no more; while it
// runs, the host starts processes and another container starts and exits as usual.
// TestPidsLimit counts the processes a container gets under --pids.
func TestAttackForkBomb(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	s := w.startPiped(rootfs, "/probe", "try", "forkbomb")
	if l := s.line(t); l != "bombing" {
		t.Fatalf("probe said %q; stderr %s", l, s.stderr)
	}
	// Wait until the bomb has filled its cgroup, as the host sees it. pids.current
	// changes without notice (only pids.events notifies, on cgroup v2, of a refused
	// fork, not of the count): polled, for up to ten seconds.
	current := func() string {
		for _, d := range cgroupDirs(t, s.cmd.Process.Pid) {
			if b, err := os.ReadFile(filepath.Join(d, "pids.current")); err == nil {
				return strings.TrimSpace(string(b))
			}
		}
		return "(no pids cgroup)"
	}
	n := current()
	for i := 0; i < 1000 && n != "64"; i++ {
		time.Sleep(10 * time.Millisecond)
		n = current()
	}
	if n != "64" {
		t.Errorf("the bomb's pids cgroup has %s processes, want the limit, 64", n)
	}
	// The host and the next container work meanwhile.
	if out, err := exec.Command("/bin/sh", "-c", "echo host").Output(); err != nil || string(out) != "host\n" {
		t.Errorf("the host could not start a process during the bomb: %q %v", out, err)
	}
	if r := w.run(rootfs, "/probe", "exit", "7"); r.code != 7 {
		t.Errorf("another container during the bomb: exit %d, stderr %q; want 7", r.code, r.stderr)
	}
	s.stdin.Close()
	got := s.line(t)
	var refused int
	if _, err := fmt.Sscanf(got, "max %d", &refused); err != nil || refused == 0 {
		t.Errorf("pids.events after the bomb: %q, want max N with N > 0 (forks refused)", got)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("launch: %v, stderr %s", err, s.stderr)
	}
	w.check()
}

// TestAttackMemoryHog: six processes that hold 24 MiB each at the same time, more than
// the 64 MiB limit together: the container's memory cgroup kills some of them (OOM),
// and nothing outside it. TestMemoryLimitKill does it with one process.
func TestAttackMemoryHog(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	got := w.try(rootfs, nil, "hogs", "6", "24")
	var held, killed int
	if _, err := fmt.Sscanf(got, "held=%d killed=%d", &held, &killed); err != nil || killed == 0 || held*24 > 64 {
		t.Errorf("six processes holding 24 MiB each under 64M: %q, want some killed and at most 64 MiB held", got)
	}
	w.recovered(rootfs, "alloc", "16")
}

// TestAttackTmpFlood: a flood of files in the container's tmpfs file systems. Each has
// a size limit: /tmp half the memory limit, /dev/shm 64 MiB, and their pages are
// charged to the container's memory cgroup. Under --memory 64M, big files fill /tmp
// first: ENOSPC after about 31 files of 1 MiB. Empty files use no pages but inodes,
// charged as kernel memory, and /dev/shm is as large as the whole limit: those floods
// end in an OOM kill (137, reported as such), which frees them with the mount
// namespace. With --memory 128M, /dev/shm fills first: ENOSPC after 63 files of 1 MiB
// (the tmpfs's 64 MiB less the probe's own page). Afterwards the host is as it was and
// the next launch works.
func TestAttackTmpFlood(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	for _, tt := range []struct {
		name     string
		opts     []string
		fill     []string // the probe's arguments
		min, max int      // files written before ENOSPC; 0, 0: an OOM kill instead
	}{
		{"/tmp (32 MiB) under --memory 64M", nil, []string{"fill", "/tmp"}, 28, 32},
		{"/dev/shm (64 MiB) under --memory 128M", []string{"--memory", "128M"}, []string{"fill", "/dev/shm"}, 60, 64},
		{"/tmp with empty files", nil, []string{"fill", "/tmp", "0"}, 0, 0},
		{"/dev/shm under --memory 64M", nil, []string{"fill", "/dev/shm"}, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.max == 0 {
				r := w.run(append(append(tt.opts, rootfs, "/probe", "try"), tt.fill...)...)
				if r.code != 137 || !strings.Contains(r.stderr, "launch: memory limit reached: 64M") {
					t.Errorf("filling %s: exit %d, stdout %q, stderr %q; want 137 and the memory limit reported", tt.name, r.code, r.stdout, r.stderr)
				}
				return
			}
			got := w.try(rootfs, tt.opts, tt.fill...)
			var n int
			var why string
			if _, err := fmt.Sscanf(got, "%d %s", &n, &why); err != nil || why != "ENOSPC" || n < tt.min || n > tt.max {
				t.Errorf("filling %s: %q, want %d to %d files of 1 MiB, then ENOSPC", tt.name, got, tt.min, tt.max)
			}
		})
	}
	w.recovered(rootfs, "exit", "0")
}

// TestAttackDescriptorFlood: a process that opens files until it may open no more gets
// EMFILE at the RLIMIT_NOFILE of the launcher's caller; the host and the next launch
// are unaffected.
func TestAttackDescriptorFlood(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	got := w.try(rootfs, nil, "openmax")
	var n int
	var why string
	// The test binary's runtime raised its own limit to the hard one; os/exec gives
	// its children the original soft limit back. Either bounds the container.
	if _, err := fmt.Sscanf(got, "%d %s", &n, &why); err != nil || why != "EMFILE" || uint64(n) > lim.Max {
		t.Errorf("openmax = %q, want N EMFILE with N below RLIMIT_NOFILE (%d)", got, lim.Max)
	}
	t.Logf("opened %d descriptors (hard limit %d)", n, lim.Max)
	w.recovered(rootfs, "exit", "0")
}
