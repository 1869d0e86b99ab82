package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"launch/internal/mountinfo"
	"launch/internal/probe/expect"
	"launch/internal/probe/report"
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

// blockedScript is the shell script that tries every operation of the expectation
// table (expect.Ops) in one container, one "name=answer" line each. It is one line,
// so that the launcher's -v trace shows it on one.
func blockedScript() string {
	var cmds []string
	for _, o := range expect.Ops {
		cmds = append(cmds, fmt.Sprintf("echo \"%s=$(/probe try %s 2>&1)\"", o.Name, strings.Join(o.Args, " ")))
	}
	return strings.Join(cmds, "; ")
}

// checkBlocked checks the answers of blockedScript's run.
func (c *checker) checkBlocked(prefix string, r *run) {
	got := map[string]string{}
	for _, line := range strings.Split(r.stdout, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	var bad, summary []string
	for _, o := range expect.Ops {
		summary = append(summary, o.Name+"="+got[o.Name])
		if p := o.Problem(got[o.Name]); p != "" {
			bad = append(bad, o.Name+": "+p)
		}
	}
	var err error
	if len(bad) > 0 {
		err = errors.New(strings.Join(bad, "; "))
	}
	c.report(prefix+"blocked", err, strings.Join(summary, " "))
}

// initramfs runs launch -v once with / being the initramfs, where pivot_root(2) fails
// with EINVAL (rootfs can never be unmounted, so it cannot be pivoted away from). The
// container must start anyway, -v must say how its root was made, and the container
// must be held as firmly as with pivot_root: it answers every operation as any
// container must, and looks from inside as the expectation table says, but for the
// capability launch drops there.
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
	} else {
		c.checkBlocked(prefix, r)
	}
	c.checkContainer(prefix, expect.InitramfsCaps)
}

// container runs the checks of a host whose / is an ordinary file system.
func (c *checker) container() {
	c.checkContainer("", expect.DefaultCaps)

	r := c.launch("/rootfs", "/bin/sh", "-c", blockedScript())
	if err := r.failure(0); err != nil {
		c.report("blocked", err, "")
	} else {
		c.checkBlocked("", r)
	}

	r = c.launch("--memory", "32M", "/rootfs", "/probe", "alloc", "256")
	err := r.failure(137)
	if err == nil && !strings.Contains(r.stderr, "memory limit reached") {
		err = fmt.Errorf("%s: stderr %q does not say \"memory limit reached\"", r, strings.TrimSpace(r.stderr))
	}
	c.report("memory-kill", err, fmt.Sprintf("exit %d: %s", r.code, strings.TrimSpace(r.stderr)))
}

// checkContainer starts a container without options and runs every check of the
// expectation table on what probe report sees in it, as the integration tests in init/
// do on the development machine (TestDefaults): one CHECK line each. caps is the
// expected bounding, permitted and effective set.
func (c *checker) checkContainer(prefix, caps string) {
	c.checkContainerWith(prefix, func(w *expect.Want) { w.CapEff, w.CapBnd = caps, caps }, nil)
}

// checkContainerWith is checkContainer for a container started with opts, which
// adjust makes the expectation of; checks names the checks of the table to run (all
// if none).
func (c *checker) checkContainerWith(prefix string, adjust func(*expect.Want), checks []string, opts ...string) {
	h, err := expect.ThisHost()
	if err != nil {
		c.report(prefix+"container", fmt.Errorf("read the host: %w", err), "")
		return
	}
	r := c.launch(append(opts, "/rootfs", "/probe", "report")...)
	if err := r.failure(0); err != nil {
		c.report(prefix+"container", err, "")
		return
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		c.report(prefix+"container", fmt.Errorf("probe report: %w", err), r.stdout)
		return
	}
	w := expect.Default(h, "/rootfs")
	adjust(&w)
	for _, res := range expect.Run(&rep, &w, checks...) {
		var err error
		if len(res.Problems) > 0 {
			err = errors.New(strings.Join(res.Problems, "; "))
		}
		c.report(prefix+res.Name, err, res.Detail)
	}
}

// hostMounts returns the mounts of /proc/self/mountinfo, those that can be read.
func hostMounts() []mountinfo.Mount {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	ms, _ := mountinfo.Parse(b)
	return ms
}

// compat are the GOARCHes whose programs the 64-bit kernels of the machines also run.
var compat = map[string]string{"amd64": "386", "arm64": "arm"}

// wide runs the compat GOARCH's release binary, /launch32, on this 64-bit kernel, as a
// 32-bit userland on a 64-bit kernel does (Raspberry Pi OS on arm64): it must load the
// kernel's filter, under which the root's 64-bit programs run and its 32-bit ones too,
// both filtered.
func (c *checker) wide() {
	if _, err := os.Stat("/launch32"); err != nil {
		return
	}
	// The launcher of this arch admits the compat ABI, and filters it.
	r := c.launch("/rootfs", "/probe32", "try", "mount", "/tmp")
	err := r.failure(0)
	if got := strings.TrimSpace(r.stdout); err == nil && got != "EPERM" {
		err = fmt.Errorf("/probe32 try mount /tmp: %q, want EPERM", got)
	}
	c.report("compat-mount", err, "a "+compat[runtime.GOARCH]+" program under the "+runtime.GOARCH+" launcher: mount(2) refused")
	name := "launch-linux-" + compat[runtime.GOARCH]
	c.report("wide-sha256", verifySum("/launch32", "/SHA256SUMS", name), "/launch32 is "+name+" of SHA256SUMS")
	r = c.launch32("/rootfs", "/bin/busybox", "true")
	c.report("wide-run", r.failure(0), "the "+compat[runtime.GOARCH]+" launcher runs the "+runtime.GOARCH+" busybox")
	for _, p := range []string{"/probe", "/probe32"} {
		r := c.launch32("/rootfs", p, "report")
		err := r.failure(0)
		var rep report.Report
		if err == nil {
			err = json.Unmarshal([]byte(r.stdout), &rep)
		}
		if err == nil && (rep.Status["Seccomp"] != "2" || rep.Status["NoNewPrivs"] != "1") {
			err = fmt.Errorf("status: Seccomp %q NoNewPrivs %q, want 2 and 1", rep.Status["Seccomp"], rep.Status["NoNewPrivs"])
		}
		c.report("wide-filter"+strings.TrimPrefix(p, "/probe"), err, p+" runs filtered")
		r = c.launch32("/rootfs", p, "try", "mount", "/tmp")
		err = r.failure(0)
		if got := strings.TrimSpace(r.stdout); err == nil && got != "EPERM" {
			err = fmt.Errorf("%s try mount /tmp: %q, want EPERM", p, got)
		}
		c.report("wide-mount"+strings.TrimPrefix(p, "/probe"), err, p+": mount(2) refused")
	}
}
