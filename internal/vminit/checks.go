package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"launch/internal/caps"
	"launch/internal/mountinfo"
	"launch/internal/probe/report"
)

// What a container gets by default (README, "What a container gets"). The values are
// the promise, written out, not recomputed from the launcher's code; the capability
// sets are caps.txt's, as the generated table has them (internal/caps' tests check
// that table against the 14 written out).
const (
	noCaps    = "0000000000000000"
	memoryMax = "67108864" // 64 MiB
	pidsMax   = "64"
	cpuWeight = "35" // 256 CPU shares, by the formula of runc and crun
)

var (
	defaultCaps   = caps.Default.Hex()                                 // caps.txt: Docker's 14
	initramfsCaps = (caps.Default &^ (1 << unix.CAP_SYS_CHROOT)).Hex() // the same without CAP_SYS_CHROOT, see initramfs
)

// host reports what kind of host this is and checks the binary as a user would after
// copying it: against the release's SHA256SUMS, then that it runs at all.
func (c *checker) host() {
	say("INFO / is %s", rootFSType())
	ctl, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if n := countV1(); n > 0 {
		err = fmt.Errorf("%d cgroup v1 hierarchies are mounted: not a pure v2 host", n)
	}
	c.report("host-cgroup2", err, "cgroup2 alone at /sys/fs/cgroup, controllers: "+strings.TrimSpace(string(ctl)))

	name := "launch-linux-" + runtime.GOARCH
	c.report("sha256", verifySum("/launch", "/SHA256SUMS", name), "/launch is "+name+" of SHA256SUMS")

	r := c.launch("--version")
	err = r.failure(0)
	if err == nil && !strings.Contains(r.stdout, "linux/"+runtime.GOARCH) {
		err = fmt.Errorf("launch --version says %q, want linux/%s", strings.TrimSpace(r.stdout), runtime.GOARCH)
	}
	c.report("version", err, strings.TrimSpace(r.stdout))
}

// verifySum checks file against the line for name in the sha256sum file sums.
func verifySum(file, sums, name string) error {
	list, err := os.ReadFile(sums)
	if err != nil {
		return err
	}
	var want string
	for _, line := range strings.Split(string(list), "\n") {
		if f := strings.Fields(line); len(f) == 2 && strings.TrimPrefix(f[1], "*") == name {
			want = f[0]
		}
	}
	if want == "" {
		return fmt.Errorf("%s: no line for %s", sums, name)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("%s: sha256 %s, want %s (%s)", file, got, want, sums)
	}
	return nil
}

// rootFSType returns the file-system type of / by /proc/self/mountinfo: "rootfs" for
// the initramfs.
func rootFSType() string {
	for _, m := range hostMounts() {
		if m.Point == "/" {
			return m.FSType
		}
	}
	return "unknown"
}

// countV1 counts mounted cgroup v1 hierarchies: none on this host.
func countV1() int {
	n := 0
	for _, m := range hostMounts() {
		if m.FSType == "cgroup" {
			n++
		}
	}
	return n
}

// blockedOps are what a container must not do, as probe try operations, and what
// each must answer: mount, umount, pivot_root, unshare and setns are refused by the
// filter (and would be for want of CAP_SYS_ADMIN), and climbing out of a chroot ends at
// the container's own root.
var blockedOps = []struct {
	name, op string
	want     []string
}{
	{"mount", "mount /tmp/m", []string{"EPERM"}},
	{"umount", "umount /proc", []string{"EPERM"}},
	{"pivot_root", "pivot_root", []string{"EPERM"}},
	{"unshare", "unshare 0x20000", []string{"EPERM"}}, // CLONE_NEWNS
	{"setns", "setns mnt", []string{"EPERM"}},
	// Without CAP_SYS_CHROOT there is no chroot to climb out of.
	{"escape", "escape", []string{"contained", "chroot EPERM"}},
}

// blockedScript is the shell script that tries blockedOps in one container, one
// "name=answer" line each, then execs probe report as PID 1 after a line "---". It is
// one line, so that the launcher's -v trace shows it on one.
func blockedScript() string {
	var cmds []string
	for _, o := range blockedOps {
		cmds = append(cmds, fmt.Sprintf("echo \"%s=$(/probe try %s 2>&1)\"", o.name, o.op))
	}
	return strings.Join(append(cmds, "echo ---", "exec /probe report"), "; ")
}

// checkBlocked checks the answers of blockedScript's run and returns its report.
func (c *checker) checkBlocked(prefix string, r *run) (*report.Report, error) {
	head, rest, _ := strings.Cut(r.stdout, "---\n")
	got := map[string]string{}
	for _, line := range strings.Split(head, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	var bad, summary []string
	for _, o := range blockedOps {
		summary = append(summary, o.name+"="+got[o.name])
		if !slices.Contains(o.want, got[o.name]) {
			bad = append(bad, fmt.Sprintf("%s: %q, want %s", o.name, got[o.name], strings.Join(o.want, " or ")))
		}
	}
	var err error
	if len(bad) > 0 {
		err = errors.New(strings.Join(bad, "; "))
	}
	c.report(prefix+"blocked", err, strings.Join(summary, " "))
	var rep report.Report
	if err := json.Unmarshal([]byte(rest), &rep); err != nil {
		return nil, fmt.Errorf("probe report: %w: %q", err, rest)
	}
	return &rep, nil
}

// initramfs runs launch -v once with / being the initramfs, where pivot_root(2) fails
// with EINVAL (rootfs can never be unmounted, so it cannot be pivoted away from). The
// container must start anyway, -v must say how its root was made, and the container
// must be held as firmly as with pivot_root.
func (c *checker) initramfs() {
	const prefix = "initramfs-"
	if t := rootFSType(); t != "rootfs" {
		c.report(prefix+"root", fmt.Errorf("/ is %s, not the initramfs: the case cannot be tested", t), "")
		return
	}
	r := c.launch("-v", "/rootfs", "/bin/sh", "-c", blockedScript())
	err := r.failure(0)
	// The first line that names both: the launcher's note, before its trace.
	var note string
	for _, line := range strings.Split(r.stderr, "\n") {
		if strings.Contains(line, "MS_MOVE") && strings.Contains(line, "pivot_root") {
			note = strings.TrimSpace(line)
			break
		}
	}
	if err == nil && note == "" {
		err = errors.New("launch -v does not say that it moved the root with MS_MOVE instead of pivot_root")
	}
	c.report(prefix+"root", err, note)
	if r.failure(0) != nil {
		c.report(prefix+"blocked", errors.New("the container did not start"), "")
		return
	}
	rep, err := c.checkBlocked(prefix, r)
	if err != nil {
		c.report(prefix+"container", err, "")
		return
	}
	c.checkReport(prefix, rep, initramfsCaps)
}

// container runs the checks of a host whose / is an ordinary file system.
func (c *checker) container() {
	r := c.launch("/rootfs", "/probe", "report")
	if err := r.failure(0); err != nil {
		c.report("container", err, "")
	} else {
		var rep report.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			c.report("container", fmt.Errorf("probe report: %w", err), r.stdout)
		} else {
			c.checkReport("", &rep, defaultCaps)
		}
	}

	c.tryOp("denied-syscall", "EPERM", "unshare", "0x10000000") // CLONE_NEWUSER, which needs no privilege
	c.tryOp("clone3", "ENOSYS", "clone3")

	r = c.launch("/rootfs", "/bin/sh", "-c", blockedScript())
	if err := r.failure(0); err != nil {
		c.report("blocked", err, "")
	} else if _, err := c.checkBlocked("", r); err != nil {
		c.report("container", err, "")
	}

	r = c.launch("--memory", "32M", "/rootfs", "/probe", "alloc", "256")
	err := r.failure(137)
	if err == nil && !strings.Contains(r.stderr, "memory limit reached") {
		err = fmt.Errorf("%s: stderr %q does not say \"memory limit reached\"", r, strings.TrimSpace(r.stderr))
	}
	c.report("memory-kill", err, fmt.Sprintf("exit %d: %s", r.code, strings.TrimSpace(r.stderr)))
}

// tryOp runs probe try OP ARGS in a container and checks its answer.
func (c *checker) tryOp(name, want string, op ...string) {
	r := c.launch(append([]string{"/rootfs", "/probe", "try"}, op...)...)
	err := r.failure(0)
	got := strings.TrimSpace(r.stdout)
	if err == nil && got != want {
		err = fmt.Errorf("probe try %s: %s, want %s", strings.Join(op, " "), got, want)
	}
	c.report(name, err, "probe try "+strings.Join(op, " ")+": "+got)
}

// checkReport checks what probe report saw in a container, as the integration tests
// in init/ do on the development machine. caps is the expected bounding, permitted
// and effective set.
func (c *checker) checkReport(prefix string, rep *report.Report, caps string) {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	done := func(name, detail string) {
		var err error
		if len(errs) > 0 {
			err = errors.New(strings.Join(errs, "; "))
		}
		c.report(prefix+name, err, detail)
		errs = nil
	}

	if rep.PID != 1 {
		fail("COMMAND has pid %d, want 1", rep.PID)
	}
	var nsList []string
	for _, n := range []string{"cgroup", "ipc", "mnt", "net", "pid", "uts"} {
		host, _ := os.Readlink("/proc/self/ns/" + n)
		if rep.NS[n] == "" || rep.NS[n] == host {
			fail("%s namespace %q, want a new one (the host's is %q)", n, rep.NS[n], host)
		}
		nsList = append(nsList, rep.NS[n])
	}
	if host, _ := os.Readlink("/proc/self/ns/user"); rep.NS["user"] != host {
		fail("user namespace %q, want the host's %q", rep.NS["user"], host)
	}
	done("pid1-namespaces", "pid 1, new "+strings.Join(nsList, " ")+", user namespace the host's")

	if rep.Hostname != "launch" {
		fail("hostname %q, want launch", rep.Hostname)
	}
	done("hostname", rep.Hostname)

	if len(rep.Interfaces) != 1 || !rep.Interfaces["lo"] {
		fail("interfaces %v, want only lo, up", rep.Interfaces)
	}
	done("network", fmt.Sprint(rep.Interfaces))

	mounts, _ := mountinfo.Parse([]byte(strings.Join(rep.Mounts, "\n")))
	var seen []string
	for _, want := range []struct {
		point, fstype string
		opts          []string
	}{
		{"/proc", "proc", []string{"rw", "nosuid", "nodev", "noexec"}},
		{"/sys", "sysfs", []string{"ro", "nosuid", "nodev", "noexec"}},
		{"/sys/fs/cgroup", "cgroup2", []string{"ro", "nosuid", "nodev", "noexec"}},
		{"/tmp", "tmpfs", []string{"rw", "nosuid", "nodev"}},
		{"/dev", "tmpfs", []string{"ro", "nosuid", "mode=755"}},
		{"/dev/pts", "devpts", []string{"nosuid", "noexec", "ptmxmode=666", "gid=5"}},
		{"/dev/shm", "tmpfs", []string{"nosuid", "nodev", "noexec"}},
		{"/dev/mqueue", "mqueue", []string{"nosuid", "nodev", "noexec"}},
	} {
		m, ok := mountinfo.Top(mounts, want.point)
		if !ok {
			fail("nothing mounted on %s", want.point)
			continue
		}
		opts := strings.Join(m.Options, ",")
		if m.FSType != want.fstype || !m.Has(want.opts...) {
			fail("%s: %s %s %s, want %s with %s", want.point, m.FSType, opts, strings.Join(m.SuperOptions, ","), want.fstype, strings.Join(want.opts, ","))
		}
		seen = append(seen, want.point+" "+m.FSType+" "+opts)
	}
	for _, m := range mounts {
		if m.Point == "/" || strings.HasPrefix(m.Point, "/proc") || strings.HasPrefix(m.Point, "/sys") ||
			strings.HasPrefix(m.Point, "/dev") || m.Point == "/tmp" {
			continue
		}
		fail("unexpected mount %s %s", m.Point, m.FSType)
	}
	done("mounts", strings.Join(seen, ", "))

	wantDev := map[string]string{
		"null": "c 0666 1:3", "zero": "c 0666 1:5", "full": "c 0666 1:7", "random": "c 0666 1:8",
		"urandom": "c 0666 1:9", "tty": "c 0666 5:0", "ptmx": "l pts/ptmx", "fd": "l /proc/self/fd",
		"stdin": "l /proc/self/fd/0", "stdout": "l /proc/self/fd/1", "stderr": "l /proc/self/fd/2",
		"pts": "d 0755", "shm": "d 1777",
	}
	for name, want := range wantDev {
		if got := rep.Files[name]; got != want {
			fail("/dev/%s is %q, want %q", name, got, want)
		}
	}
	// 13 above and mqueue, and nothing else.
	if len(rep.Files) != 14 {
		fail("/dev has %d entries, want 14: %v", len(rep.Files), rep.Files)
	}
	done("dev", fmt.Sprintf("%d entries: %s", len(rep.Files), strings.Join(slices.Sorted(maps.Keys(rep.Files)), " ")))

	for _, k := range []string{"CapBnd", "CapPrm", "CapEff"} {
		if rep.Status[k] != caps {
			fail("%s %s, want %s", k, rep.Status[k], caps)
		}
	}
	for _, k := range []string{"CapInh", "CapAmb"} {
		if rep.Status[k] != noCaps {
			fail("%s %s, want %s", k, rep.Status[k], noCaps)
		}
	}
	done("capabilities", fmt.Sprintf("CapBnd %s CapEff %s CapInh %s CapAmb %s",
		rep.Status["CapBnd"], rep.Status["CapEff"], rep.Status["CapInh"], rep.Status["CapAmb"]))

	if rep.Status["Seccomp"] != "2" || rep.Status["NoNewPrivs"] != "1" {
		fail("Seccomp %q NoNewPrivs %q, want 2 and 1", rep.Status["Seccomp"], rep.Status["NoNewPrivs"])
	}
	done("seccomp", "Seccomp "+rep.Status["Seccomp"]+" NoNewPrivs "+rep.Status["NoNewPrivs"])

	var limits []string
	for _, l := range []struct{ file, want string }{
		{"memory.max", memoryMax}, {"pids.max", pidsMax}, {"cpu.weight", cpuWeight},
	} {
		got, ok := rep.Limits["/sys/fs/cgroup/"+l.file]
		if !ok || got != l.want {
			fail("%s %q, want %s", l.file, got, l.want)
		}
		limits = append(limits, l.file+" "+got)
	}
	// Reported, not checked: these depend on the kernel's swap accounting and I/O
	// controllers, and the launcher only warns when they are missing.
	for _, f := range []string{"memory.swap.max", "io.weight", "io.bfq.weight"} {
		if v, ok := rep.Limits["/sys/fs/cgroup/"+f]; ok {
			limits = append(limits, f+" "+strings.ReplaceAll(v, "\n", ","))
		}
	}
	done("cgroup-limits", strings.Join(limits, ", "))

	if len(rep.Cgroup) != 1 || rep.Cgroup[0] != "0::/" {
		fail("/proc/self/cgroup %q, want only 0::/", rep.Cgroup)
	}
	done("cgroup-namespace", strings.Join(rep.Cgroup, " "))
}

// hostMounts returns the mounts of /proc/self/mountinfo, those that can be read.
func hostMounts() []mountinfo.Mount {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	ms, _ := mountinfo.Parse(b)
	return ms
}
