package expect

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"launch/internal/probe/report"
	"launch/internal/testutil"
)

// fixture reads testdata/NAME.txtar: a host, described one fact a line (ns NAME ID,
// v1 CONTROLLERS..., v2 [CONTROLLERS...], exists PATHS..., term TERM, rootfs DIR), and
// the report probe printed in a container started there without options. It returns
// the report and what the container must look like.
func fixture(t *testing.T, name string) (report.Report, Want) {
	t.Helper()
	ar, err := txtar.ParseFile("testdata/" + name + ".txtar")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range ar.Files {
		files[f.Name] = f.Data
	}
	h := Host{NS: map[string]string{}}
	var rootfs string
	var exists []string
	for _, line := range strings.Split(strings.TrimSpace(string(files["host"])), "\n") {
		f := strings.Fields(line)
		switch f[0] {
		case "ns":
			h.NS[f[1]] = f[2]
		case "v1":
			h.Cgroups.V1 = append(h.Cgroups.V1, f[1:])
		case "v2":
			h.Cgroups.V2, h.Cgroups.V2Controllers = true, f[1:]
		case "exists":
			exists = f[1:]
		case "term":
			h.Term, h.HasTerm = f[1], true
		case "rootfs":
			rootfs = f[1]
		default:
			t.Fatalf("%s: host: unknown line %q", name, line)
		}
	}
	h.Exists = func(p string) bool { return slices.Contains(exists, p) }
	var r report.Report
	if err := json.Unmarshal(files["report"], &r); err != nil {
		t.Fatalf("%s: report: %v", name, err)
	}
	return r, Default(h, rootfs)
}

// clone returns a deep copy of r.
func clone(t *testing.T, r report.Report) report.Report {
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var c report.Report
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// setMount replaces old by new in the mountinfo line of the mount at point.
func setMount(r *report.Report, point, old, new string) {
	for i, l := range r.Mounts {
		if f := strings.Fields(l); len(f) > 4 && f[4] == point {
			r.Mounts[i] = strings.Replace(l, old, new, 1)
		}
	}
}

// dropMount removes the mountinfo lines of the mounts at point.
func dropMount(r *report.Report, point string) {
	r.Mounts = slices.DeleteFunc(r.Mounts, func(l string) bool {
		f := strings.Fields(l)
		return len(f) > 4 && f[4] == point
	})
}

// TestChecksPass: the reports of containers as launch makes them, on a hybrid host and
// on a pure cgroup v2 one, pass every check of the table.
func TestChecksPass(t *testing.T) {
	for _, name := range []string{"hybrid", "v2"} {
		t.Run(name, func(t *testing.T) {
			r, w := fixture(t, name)
			for _, res := range Run(&r, &w) {
				if len(res.Problems) > 0 {
					t.Errorf("%s: %q (%s)", res.Name, res.Problems, res.Detail)
				}
			}
		})
	}
}

// TestChecksFail: each way a container can differ from its promise makes the checks
// that are about it fail, and only those: every check can fail.
func TestChecksFail(t *testing.T) {
	for _, tt := range []struct {
		name    string
		fixture string
		checks  string // the checks that must fail, separated by spaces
		change  func(r *report.Report, w *Want)
	}{
		{"pid 2", "v2", "pid1-namespaces", func(r *report.Report, w *Want) { r.PID = 2 }},
		{"host's net namespace", "v2", "pid1-namespaces", func(r *report.Report, w *Want) { r.NS["net"] = w.Host.NS["net"] }},
		{"no pid namespace", "hybrid", "pid1-namespaces", func(r *report.Report, w *Want) { r.NS["pid"] = "" }},
		{"new user namespace", "v2", "pid1-namespaces", func(r *report.Report, w *Want) { r.NS["user"] = "user:[1]" }},
		{"--net host, new namespace", "v2", "pid1-namespaces", func(r *report.Report, w *Want) { w.NetHost = true }},
		{"hostname", "v2", "hostname", func(r *report.Report, w *Want) { r.Hostname = "host" }},
		{"another interface", "v2", "network", func(r *report.Report, w *Want) { r.Interfaces["eth0"] = true }},
		{"lo down", "hybrid", "network", func(r *report.Report, w *Want) { r.Interfaces["lo"] = false }},
		{"/proc executable", "v2", "mounts", func(r *report.Report, w *Want) { setMount(r, "/proc", "noexec,", "") }},
		{"/dev writable", "hybrid", "mounts", func(r *report.Report, w *Want) { setMount(r, "/dev", " ro,", " rw,") }},
		{"/sys writable", "v2", "mounts", func(r *report.Report, w *Want) { setMount(r, "/sys", " ro,", " rw,") }},
		{"no /dev/mqueue", "v2", "mounts", func(r *report.Report, w *Want) { dropMount(r, "/dev/mqueue") }},
		{"devpts ptmx mode", "hybrid", "mounts", func(r *report.Report, w *Want) { setMount(r, "/dev/pts", "ptmxmode=666", "ptmxmode=000") }},
		{"cgroup2 writable", "v2", "mounts", func(r *report.Report, w *Want) { setMount(r, "/sys/fs/cgroup", " ro,", " rw,") }},
		{"cgroup tmpfs writable", "hybrid", "mounts", func(r *report.Report, w *Want) { setMount(r, "/sys/fs/cgroup", " ro,", " rw,") }},
		{"v1 hierarchy writable", "hybrid", "mounts", func(r *report.Report, w *Want) { setMount(r, "/sys/fs/cgroup/memory", " ro,", " rw,") }},
		{"v1 hierarchy missing", "hybrid", "mounts", func(r *report.Report, w *Want) { dropMount(r, "/sys/fs/cgroup/pids") }},
		{"unified missing", "hybrid", "mounts", func(r *report.Report, w *Want) { dropMount(r, "/sys/fs/cgroup/unified") }},
		{"a hybrid host's container on a v2 host", "hybrid", "mounts cgroup-limits cgroup-namespace", func(r *report.Report, w *Want) {
			w.Host.Cgroups.V1 = nil
		}},
		{"root of the host", "v2", "mounts", func(r *report.Report, w *Want) { setMount(r, "/", "/rootfs", "/") }},
		{"root not ROOTFS", "v2", "mounts", func(r *report.Report, w *Want) { w.Rootfs = "/other" }},
		{"root with devices", "hybrid", "mounts", func(r *report.Report, w *Want) { setMount(r, "/", "nodev,", "") }},
		{"--read-only, root writable", "v2", "mounts", func(r *report.Report, w *Want) { w.ReadOnly = true }},
		{"another mount", "v2", "mounts", func(r *report.Report, w *Want) {
			r.Mounts = append(r.Mounts, "99 30 0:40 / /mnt rw,nosuid - tmpfs tmpfs rw")
		}},
		{"a mount named like /proc", "v2", "mounts", func(r *report.Report, w *Want) {
			r.Mounts = append(r.Mounts, "99 30 0:40 / /procx rw,nosuid - tmpfs tmpfs rw")
		}},
		{"another /dev entry", "v2", "dev", func(r *report.Report, w *Want) { r.Files["sda"] = "b 0660 8:0" }},
		{"/dev/null a symlink", "hybrid", "dev", func(r *report.Report, w *Want) { r.Files["null"] = "l /proc/self/fd/0" }},
		{"no /dev/mqueue directory", "v2", "dev", func(r *report.Report, w *Want) { delete(r.Files, "mqueue") }},
		{"kcore readable", "v2", "masked-paths", func(r *report.Report, w *Want) { dropMount(r, "/proc/kcore") }},
		{"keys masked by a file of the image", "hybrid", "masked-paths", func(r *report.Report, w *Want) { setMount(r, "/proc/keys", "/null", "/keys") }},
		{"/proc/sys writable", "v2", "masked-paths", func(r *report.Report, w *Want) { setMount(r, "/proc/sys", " ro,", " rw,") }},
		{"/sys/firmware shown", "hybrid", "masked-paths", func(r *report.Report, w *Want) { dropMount(r, "/sys/firmware") }},
		{"a path of this kernel unmasked", "hybrid", "masked-paths", func(r *report.Report, w *Want) {
			w.Host.Exists = func(p string) bool { return p == "/proc/kcore" }
		}},
		{"bounding set full", "v2", "capabilities", func(r *report.Report, w *Want) { r.Status["CapBnd"] = "000001ffffffffff" }},
		{"inheritable", "hybrid", "capabilities", func(r *report.Report, w *Want) { r.Status["CapInh"] = DefaultCaps }},
		{"ambient", "v2", "capabilities", func(r *report.Report, w *Want) { r.Status["CapAmb"] = "0000000000000001" }},
		{"permitted", "v2", "capabilities", func(r *report.Report, w *Want) { r.Status["CapPrm"] = "00000000a82425fb" }},
		{"no filter", "v2", "seccomp", func(r *report.Report, w *Want) { r.Status["Seccomp"] = "0" }},
		{"no no_new_privs", "hybrid", "seccomp", func(r *report.Report, w *Want) { r.Status["NoNewPrivs"] = "0" }},
		{"descriptor 3", "v2", "descriptors", func(r *report.Report, w *Want) { r.FDs["3"] = "/" }},
		{"no stdin", "hybrid", "descriptors", func(r *report.Report, w *Want) { delete(r.FDs, "0") }},
		{"a variable of the host", "v2", "environment", func(r *report.Report, w *Want) { r.Env = append(r.Env, "SECRET=x") }},
		{"no TERM", "hybrid", "environment", func(r *report.Report, w *Want) { r.Env = r.Env[:2] }},
		{"cwd", "v2", "environment", func(r *report.Report, w *Want) { r.Cwd = "/tmp" }},
		{"uid", "v2", "identity", func(r *report.Report, w *Want) { r.UID = 1000 }},
		{"the caller's groups", "hybrid", "identity", func(r *report.Report, w *Want) { r.Groups = []int{10} }},
		{"the caller's session", "v2", "session", func(r *report.Report, w *Want) { r.SID = 0 }},
		{"a controlling terminal", "hybrid", "session", func(r *report.Report, w *Want) { r.TTY = "ok" }},
		{"memory", "v2", "cgroup-limits", func(r *report.Report, w *Want) { r.Limits["/sys/fs/cgroup/memory.max"] = "max" }},
		{"memory v1", "hybrid", "cgroup-limits", func(r *report.Report, w *Want) {
			r.Limits["/sys/fs/cgroup/memory/memory.limit_in_bytes"] = "9223372036854771712"
		}},
		{"no pids limit", "v2", "cgroup-limits", func(r *report.Report, w *Want) { delete(r.Limits, "/sys/fs/cgroup/pids.max") }},
		{"no cpu shares", "hybrid", "cgroup-limits", func(r *report.Report, w *Want) { delete(r.Limits, "/sys/fs/cgroup/cpu/cpu.shares") }},
		{"swap", "v2", "cgroup-limits", func(r *report.Report, w *Want) { r.Limits["/sys/fs/cgroup/memory.swap.max"] = "max" }},
		{"io weight", "v2", "cgroup-limits", func(r *report.Report, w *Want) { r.Limits["/sys/fs/cgroup/io.weight"] = "default 100" }},
		{"bfq weight", "v2", "cgroup-limits", func(r *report.Report, w *Want) { r.Limits["/sys/fs/cgroup/io.bfq.weight"] = "default 100" }},
		{"blkio weight", "hybrid", "cgroup-limits", func(r *report.Report, w *Want) { r.Limits["/sys/fs/cgroup/blkio/blkio.bfq.weight"] = "100" }},
		{"nothing to check", "v2", "cgroup-limits", func(r *report.Report, w *Want) { w.Limits = nil }},
		{"the host's cgroup", "hybrid", "cgroup-namespace", func(r *report.Report, w *Want) { r.Cgroup[4] = "4:memory:/process_api/x" }},
		{"v1 lines on a v2 host", "v2", "cgroup-namespace", func(r *report.Report, w *Want) { r.Cgroup = append(r.Cgroup, "1:cpu:/") }},
		{"no cgroup", "v2", "cgroup-namespace", func(r *report.Report, w *Want) { r.Cgroup = nil }},
	} {
		t.Run(tt.fixture+"/"+tt.name, func(t *testing.T) {
			r, w := fixture(t, tt.fixture)
			r = clone(t, r)
			tt.change(&r, &w)
			for _, res := range Run(&r, &w) {
				if failed := len(res.Problems) > 0; failed != slices.Contains(strings.Fields(tt.checks), res.Name) {
					t.Errorf("%s: problems %q, want them only from %s", res.Name, res.Problems, tt.checks)
				}
			}
		})
	}
}

// TestRunUnknownCheck: a check the table lacks is a problem, not nothing checked.
func TestRunUnknownCheck(t *testing.T) {
	r, w := fixture(t, "v2")
	res := Run(&r, &w, "hostname", "no-such-check")
	if len(res) != 2 || len(res[0].Problems) != 0 || len(res[1].Problems) == 0 {
		t.Errorf("Run(hostname, no-such-check) = %+v, want a problem for the second only", res)
	}
}

// TestCgroupsOf reads the host layouts of internal/cgroup's fixtures and checks where
// the container's limit files are: in the v1 hierarchy of their controller, in the v2
// one where it has it, or nowhere.
func TestCgroupsOf(t *testing.T) {
	for _, tt := range []struct {
		fixture     string
		controllers string // of the v2 root
		want        string
	}{
		{"hybrid", "", "hybrid: memory v1 /sys/fs/cgroup/memory; cpu v1 /sys/fs/cgroup/cpu; cpuacct v1 /sys/fs/cgroup/cpuacct; " +
			"pids v1 /sys/fs/cgroup/pids; blkio v1 /sys/fs/cgroup/blkio; cpuset none; " +
			"dir v1 /sys/fs/cgroup/pids; dir v1 /sys/fs/cgroup/blkio; dir v1 /sys/fs/cgroup/memory; dir v1 /sys/fs/cgroup/cpuacct; " +
			"dir v1 /sys/fs/cgroup/cpu; dir v2 /sys/fs/cgroup/unified"},
		{"hybrid", "cpuset pids", "hybrid: memory v1 /sys/fs/cgroup/memory; cpu v1 /sys/fs/cgroup/cpu; cpuacct v1 /sys/fs/cgroup/cpuacct; " +
			"pids v1 /sys/fs/cgroup/pids; blkio v1 /sys/fs/cgroup/blkio; cpuset v2 /sys/fs/cgroup/unified; " +
			"dir v1 /sys/fs/cgroup/pids; dir v1 /sys/fs/cgroup/blkio; dir v1 /sys/fs/cgroup/memory; dir v1 /sys/fs/cgroup/cpuacct; " +
			"dir v1 /sys/fs/cgroup/cpu; dir v2 /sys/fs/cgroup/unified"},
		{"v1", "", "v1: memory v1 /sys/fs/cgroup/memory; cpu v1 /sys/fs/cgroup/cpu,cpuacct; cpuacct v1 /sys/fs/cgroup/cpu,cpuacct; " +
			"pids v1 /sys/fs/cgroup/pids; blkio v1 /sys/fs/cgroup/blkio; cpuset none; " +
			"dir v1 /sys/fs/cgroup/pids; dir v1 /sys/fs/cgroup/blkio; dir v1 /sys/fs/cgroup/memory; dir v1 /sys/fs/cgroup/cpu,cpuacct"},
		{"missing", "", "v1: memory none; cpu v1 /sys/fs/cgroup/cpu,cpuacct; cpuacct v1 /sys/fs/cgroup/cpu,cpuacct; " +
			"pids none; blkio none; cpuset none; dir v1 /sys/fs/cgroup/cpu,cpuacct"},
		{"v2-root", "cpuset cpu io memory pids", "v2: memory v2 /sys/fs/cgroup; cpu v2 /sys/fs/cgroup; cpuacct v2 /sys/fs/cgroup; " +
			"pids v2 /sys/fs/cgroup; blkio v2 /sys/fs/cgroup; cpuset v2 /sys/fs/cgroup; dir v2 /sys/fs/cgroup"},
		{"v2-root", "cpu memory", "v2: memory v2 /sys/fs/cgroup; cpu v2 /sys/fs/cgroup; cpuacct v2 /sys/fs/cgroup; " +
			"pids none; blkio none; cpuset none; dir v2 /sys/fs/cgroup"},
		{"v2-systemd", "cpu io memory pids", "v2: memory v2 /sys/fs/cgroup; cpu v2 /sys/fs/cgroup; cpuacct v2 /sys/fs/cgroup; " +
			"pids v2 /sys/fs/cgroup; blkio v2 /sys/fs/cgroup; cpuset none; dir v2 /sys/fs/cgroup"},
	} {
		t.Run(tt.fixture+"/"+tt.controllers, func(t *testing.T) {
			ar, err := txtar.ParseFile("../../cgroup/testdata/" + tt.fixture + ".txtar")
			if err != nil {
				t.Fatal(err)
			}
			fx := testutil.Fixture{Archive: ar}
			var asked string
			c, err := CgroupsOf(fx.File("mountinfo"), fx.File("cgroup"), func(mount string) string {
				asked = mount
				return tt.controllers
			})
			if err != nil {
				t.Fatal(err)
			}
			parts := []string{}
			for _, ctl := range []string{"memory", "cpu", "cpuacct", "pids", "blkio", "cpuset"} {
				dir, v, ok := c.Dir(ctl)
				if !ok {
					parts = append(parts, ctl+" none")
					continue
				}
				parts = append(parts, ctl+" v"+string(rune('0'+v))+" "+dir)
			}
			for _, d := range c.Dirs() {
				parts = append(parts, "dir v"+string(rune('0'+d.Version))+" "+d.Path)
			}
			if got := c.Kind() + ": " + strings.Join(parts, "; "); got != tt.want {
				t.Errorf("CgroupsOf(%s) = %s, want %s", tt.fixture, got, tt.want)
			}
			if c.V2 && !strings.HasPrefix(asked, "/sys/fs/cgroup") {
				t.Errorf("CgroupsOf(%s) read the v2 controllers of %q", tt.fixture, asked)
			}
		})
	}
}

// TestThisHost reads the host the test runs on: every namespace, and a cgroup layout.
func TestThisHost(t *testing.T) {
	h, err := ThisHost()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range append(slices.Clone(newNamespaces), "user") {
		if !strings.HasPrefix(h.NS[n], n+":[") {
			t.Errorf("ThisHost().NS[%s] = %q", n, h.NS[n])
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup"); err == nil && h.Cgroups.Kind() == "none" {
		t.Errorf("ThisHost: no cgroup layout, but /sys/fs/cgroup exists")
	}
	if !h.Exists("/proc/self") || h.Exists("/proc/no-such-file") {
		t.Errorf("ThisHost().Exists is wrong about /proc/self or /proc/no-such-file")
	}
}

// TestOps: each operation has a name of its own, arguments and an answer; Problem
// accepts exactly the answers listed.
func TestOps(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range Ops {
		if seen[o.Name] || len(o.Args) == 0 || len(o.Want) == 0 {
			t.Errorf("Ops: %+v: a name used twice, or no arguments or answer", o)
		}
		seen[o.Name] = true
		for _, w := range o.Want {
			if p := o.Problem(w); p != "" {
				t.Errorf("%s.Problem(%q) = %q, want none", o.Name, w, p)
			}
		}
		for _, bad := range []string{"", "EACCES", "ok and more"} {
			if !slices.Contains(o.Want, bad) && o.Problem(bad) == "" {
				t.Errorf("%s.Problem(%q) = none, want a problem", o.Name, bad)
			}
		}
	}
}
