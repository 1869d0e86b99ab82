package expect

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"launch/internal/mountinfo"
	"launch/internal/probe/report"
)

// Namespaces a container gets a new one of; the user namespace stays the host's.
var newNamespaces = []string{"cgroup", "ipc", "mnt", "net", "pid", "uts"}

func checkNamespaces(r *report.Report, w *Want) (string, []string) {
	var p problems
	if r.PID != w.PID || r.PPID != w.PPID {
		p.add("COMMAND has pid %d, parent %d; want %d, parent %d", r.PID, r.PPID, w.PID, w.PPID)
	}
	var ids []string
	for _, n := range newNamespaces {
		host := w.Host.NS[n]
		switch {
		case host == "":
			p.add("the host's %s namespace is not known", n)
		case n == "net" && w.NetHost:
			if r.NS[n] != host {
				p.add("%s namespace = %q, want the host's %q (--net host)", n, r.NS[n], host)
			}
		case r.NS[n] == "" || r.NS[n] == host:
			p.add("%s namespace = %q, want a new one (the host's is %q)", n, r.NS[n], host)
		}
		ids = append(ids, r.NS[n])
	}
	host := w.Host.NS["user"]
	switch {
	case host == "":
		p.add("the host's user namespace is not known")
	case w.Userns && (r.NS["user"] == "" || r.NS["user"] == host):
		p.add("user namespace = %q, want a new one (the host's is %q)", r.NS["user"], host)
	case w.Userns:
		return fmt.Sprintf("pid %d, namespaces %s, user namespace %s", r.PID, strings.Join(ids, " "), r.NS["user"]), p
	case r.NS["user"] != host:
		p.add("user namespace = %q, want the host's %q", r.NS["user"], host)
	}
	return fmt.Sprintf("pid %d, namespaces %s, user namespace the host's", r.PID, strings.Join(ids, " ")), p
}

func checkHostname(r *report.Report, w *Want) (string, []string) {
	var p problems
	if r.Hostname != w.Hostname {
		p.add("hostname = %q, want %q", r.Hostname, w.Hostname)
	}
	return r.Hostname, p
}

// checkNetwork: a new network namespace has only loopback, up. With --net host the
// namespace is the host's (checkNamespaces), whatever it holds.
func checkNetwork(r *report.Report, w *Want) (string, []string) {
	var p problems
	if !w.NetHost && (len(r.Interfaces) != 1 || !r.Interfaces["lo"]) {
		p.add("interfaces = %v, want only lo, up", r.Interfaces)
	}
	return fmt.Sprint(r.Interfaces), p
}

// A fileSystem is a mount launch makes, and options it must have (per-mount or of its
// super block).
type fileSystem struct {
	point, fstype string
	opts          []string
}

// fileSystems are the mounts every container gets. Every writable one is nodev, /dev
// excepted, which is read-only once its nodes exist.
var fileSystems = []fileSystem{
	{"/proc", "proc", []string{"rw", "nosuid", "nodev", "noexec"}},
	{"/sys", "sysfs", []string{"ro", "nosuid", "nodev", "noexec"}},
	{"/tmp", "tmpfs", []string{"rw", "nosuid", "nodev"}},
	{"/dev", "tmpfs", []string{"ro", "nosuid", "mode=755"}},
	{"/dev/pts", "devpts", []string{"nosuid", "noexec", "ptmxmode=666", "gid=5"}},
	{"/dev/shm", "tmpfs", []string{"nosuid", "nodev", "noexec"}},
	{"/dev/mqueue", "mqueue", []string{"nosuid", "nodev", "noexec"}},
}

// cgroupFileSystems are the mounts that show the container its cgroups, read-only
// (CVE-2022-0492): on pure v2 cgroup2 itself at /sys/fs/cgroup; on v1 and hybrid a
// read-only tmpfs there, holding each hierarchy, and the v2 one as "unified".
func cgroupFileSystems(c Cgroups) []fileSystem {
	flags := []string{"ro", "nosuid", "nodev", "noexec"}
	if c.Kind() == "v2" {
		return []fileSystem{{"/sys/fs/cgroup", "cgroup2", flags}}
	}
	out := []fileSystem{{"/sys/fs/cgroup", "tmpfs", flags}}
	for _, h := range c.V1 {
		out = append(out, fileSystem{"/sys/fs/cgroup/" + strings.Join(h, ","), "cgroup", append(slices.Clone(flags), h...)})
	}
	if c.V2 {
		out = append(out, fileSystem{"/sys/fs/cgroup/unified", "cgroup2", flags})
	}
	return out
}

// checkMounts: the file systems above with their flags; the root is ROOTFS, bound (its
// root within its file system is ROOTFS's path there), nodev, read-only with
// --read-only; nothing else is mounted but --bind destinations.
func checkMounts(r *report.Report, w *Want) (string, []string) {
	var p problems
	ms := parseMounts(r.Mounts)
	var seen []string
	for _, fs := range append(slices.Clone(fileSystems), cgroupFileSystems(w.Host.Cgroups)...) {
		if fs.point == "/dev/pts" && w.Userns {
			fs.opts = slices.DeleteFunc(slices.Clone(fs.opts), func(o string) bool { return o == "gid=5" })
			if w.PtsGroup != "" {
				fs.opts = append(fs.opts, w.PtsGroup)
			}
		}
		m, ok := mountinfo.Top(ms, fs.point)
		if !ok {
			p.add("nothing mounted on %s", fs.point)
			continue
		}
		if m.FSType != fs.fstype || !m.Has(fs.opts...) {
			p.add("%s: %s %s %s, want %s with %s", fs.point, m.FSType, strings.Join(m.Options, ","), strings.Join(m.SuperOptions, ","), fs.fstype, strings.Join(fs.opts, ","))
		}
		seen = append(seen, fs.point+" "+m.FSType+" "+strings.Join(m.Options, ","))
	}
	if root, ok := mountinfo.Top(ms, "/"); !ok {
		p.add("nothing mounted on /")
	} else {
		if root.Root == "/" || w.Rootfs == "" || !strings.HasSuffix(w.Rootfs, root.Root) {
			p.add("/ shows %q of its file system, want ROOTFS %q", root.Root, w.Rootfs)
		}
		want := []string{"nodev"}
		if w.ReadOnly {
			want = append(want, "ro")
		}
		if !root.Has(want...) {
			p.add("/: %s, want %s", strings.Join(root.Options, ","), strings.Join(want, ","))
		}
		seen = append(seen, "/ "+root.Root+" "+strings.Join(root.Options, ","))
	}
	for _, m := range ms {
		if m.Point == "/" || m.Point == "/tmp" || slices.Contains(w.Binds, m.Point) {
			continue
		}
		if !below(m.Point, "/proc") && !below(m.Point, "/sys") && !below(m.Point, "/dev") {
			p.add("unexpected mount %s %s", m.Point, m.FSType)
		}
	}
	return strings.Join(seen, ", "), p
}

// below reports whether p is dir or below it.
func below(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// devEntries is /dev: the nodes, directories and symlinks launch makes, and nothing
// else, whatever the image's /dev held.
var devEntries = map[string]string{
	"null": "c 0666 1:3", "zero": "c 0666 1:5", "full": "c 0666 1:7", "random": "c 0666 1:8",
	"urandom": "c 0666 1:9", "tty": "c 0666 5:0", "ptmx": "l pts/ptmx", "fd": "l /proc/self/fd",
	"stdin": "l /proc/self/fd/0", "stdout": "l /proc/self/fd/1", "stderr": "l /proc/self/fd/2",
	"pts": "d 0755", "shm": "d 1777", "mqueue": "d 1777", // mqueue's root is always 1777
}

func checkDev(r *report.Report, w *Want) (string, []string) {
	var p problems
	for _, name := range slices.Sorted(maps.Keys(devEntries)) {
		if got, want := r.Files[name], devEntries[name]; got != want {
			p.add("/dev/%s = %q, want %q", name, got, want)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Files)) {
		if _, ok := devEntries[name]; !ok {
			p.add("/dev/%s = %q, want no such entry", name, r.Files[name])
		}
	}
	return fmt.Sprintf("%d entries: %s", len(r.Files), strings.Join(slices.Sorted(maps.Keys(r.Files)), " ")), p
}

// Masked and read-only paths (README, "Security model"): Docker's lists, and the
// kernel's heap, page tables and load address. Those the host's kernel lacks are absent in the
// container too, and not checked.
var (
	maskedFiles = []string{"/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/sched_debug",
		"/proc/timer_list", "/proc/timer_stats", "/proc/slabinfo", "/proc/vmallocinfo", "/sys/kernel/vmcoreinfo",
		"/proc/kpageflags", "/proc/kpagecount", "/proc/kpagecgroup", "/proc/pagetypeinfo"}
	maskedDirs = []string{"/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/devices/virtual/powercap", "/sys/firmware",
		"/sys/kernel/slab"}
	readOnlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// checkMasked: each masked file is covered by the host's /dev/null (the mount's root
// within devtmpfs is /null), each masked directory by a read-only tmpfs, and each
// read-only path is a read-only mount of its own.
func checkMasked(r *report.Report, w *Want) (string, []string) {
	var p problems
	points := map[string]mountinfo.Mount{}
	for _, m := range parseMounts(r.Mounts) {
		points[m.Point] = m // the last one listed is on top
	}
	exists := w.Host.Exists
	if exists == nil {
		p.add("the host's files are not known")
		exists = func(string) bool { return false }
	}
	n := 0
	for _, f := range maskedFiles {
		if !exists(f) {
			continue
		}
		n++
		if m, ok := points[f]; !ok || m.Root != "/null" {
			p.add("%s is not masked with /dev/null: %+v", f, m)
		}
	}
	for _, d := range maskedDirs {
		if !exists(d) {
			continue
		}
		n++
		if m, ok := points[d]; !ok || m.FSType != "tmpfs" || !m.Has("ro") {
			p.add("%s is not masked with a read-only tmpfs: %+v", d, m)
		}
	}
	for _, d := range readOnlyPaths {
		if !exists(d) {
			continue
		}
		n++
		if m, ok := points[d]; !ok || !m.Has("ro") {
			p.add("%s is not read-only: %+v", d, m)
		}
	}
	return fmt.Sprintf("%d paths of this kernel masked or read-only", n), p
}

func checkCapabilities(r *report.Report, w *Want) (string, []string) {
	var p problems
	for k, want := range map[string]string{"CapEff": w.CapEff, "CapPrm": w.CapEff, "CapBnd": w.CapBnd, "CapInh": NoCaps, "CapAmb": NoCaps} {
		if r.Status[k] != want {
			p.add("%s = %s, want %s", k, r.Status[k], want)
		}
	}
	slices.Sort(p)
	return fmt.Sprintf("CapBnd %s CapEff %s CapPrm %s CapInh %s CapAmb %s",
		r.Status["CapBnd"], r.Status["CapEff"], r.Status["CapPrm"], r.Status["CapInh"], r.Status["CapAmb"]), p
}

// checkSeccomp: the filter is loaded (mode 2), and no_new_privs is set.
func checkSeccomp(r *report.Report, w *Want) (string, []string) {
	var p problems
	if r.Status["Seccomp"] != "2" || r.Status["NoNewPrivs"] != "1" {
		p.add("Seccomp = %q, NoNewPrivs = %q; want 2 (filter) and 1", r.Status["Seccomp"], r.Status["NoNewPrivs"])
	}
	return "Seccomp " + r.Status["Seccomp"] + " NoNewPrivs " + r.Status["NoNewPrivs"], p
}

// checkDescriptors: COMMAND gets 0, 1 and 2 only, whatever the launcher inherited.
func checkDescriptors(r *report.Report, w *Want) (string, []string) {
	var p problems
	keys := slices.Sorted(maps.Keys(r.FDs))
	if !slices.Equal(keys, []string{"0", "1", "2"}) {
		p.add("descriptors = %v, want 0 1 2", r.FDs)
	}
	for _, k := range keys {
		if r.FDs[k] == "" {
			p.add("descriptor %s refers to nothing", k)
		}
	}
	return fmt.Sprint(r.FDs), p
}

// checkEnvironment: exactly PATH, HOME, TERM if the caller has it, and the --env
// variables; the working directory.
func checkEnvironment(r *report.Report, w *Want) (string, []string) {
	var p problems
	if !slices.Equal(r.Env, w.Env) {
		p.add("environment = %q, want %q", r.Env, w.Env)
	}
	if r.Cwd != w.Cwd {
		p.add("cwd = %q, want %q", r.Cwd, w.Cwd)
	}
	return strings.Join(r.Env, " ") + ", cwd " + r.Cwd, p
}

// checkIdentity: the user, group and supplementary groups (none but --group-add's: the
// caller's are not passed on).
func checkIdentity(r *report.Report, w *Want) (string, []string) {
	var p problems
	if r.UID != w.UID || r.GID != w.GID || len(r.Groups) != len(w.Groups) || (len(w.Groups) > 0 && !slices.Equal(r.Groups, w.Groups)) {
		p.add("uid %d gid %d groups %v, want %d %d %v", r.UID, r.GID, r.Groups, w.UID, w.GID, w.Groups)
	}
	return fmt.Sprintf("uid %d gid %d groups %v", r.UID, r.GID, r.Groups), p
}

// checkSession: without a terminal on stdin, COMMAND leads a session of its own and
// has no controlling terminal to push input into (bubblewrap CVE-2017-5226).
func checkSession(r *report.Report, w *Want) (string, []string) {
	var p problems
	if r.SID != w.PID || r.PGID != w.PID {
		p.add("sid %d pgid %d, want a new session led by COMMAND (%d %d)", r.SID, r.PGID, w.PID, w.PID)
	}
	if r.TTY != "ENXIO" {
		p.add("opening /dev/tty: %s, want ENXIO (no controlling terminal)", r.TTY)
	}
	return fmt.Sprintf("sid %d pgid %d /dev/tty %s", r.SID, r.PGID, r.TTY), p
}

// checkCgroupNamespace: the container's cgroups are / inside, in every hierarchy; on
// pure v2 there is one.
func checkCgroupNamespace(r *report.Report, w *Want) (string, []string) {
	var p problems
	if len(r.Cgroup) == 0 {
		p.add("/proc/self/cgroup is empty")
	}
	for _, l := range r.Cgroup {
		if !strings.HasSuffix(l, ":/") {
			p.add("/proc/self/cgroup line %q: want the container's cgroup to be /", l)
		}
	}
	if w.Host.Cgroups.Kind() == "v2" && (len(r.Cgroup) != 1 || r.Cgroup[0] != "0::/") {
		p.add("/proc/self/cgroup = %q, want only 0::/", r.Cgroup)
	}
	return strings.Join(r.Cgroup, " "), p
}

// parseMounts parses the mountinfo lines the probe reported; a line that does not
// parse is left out (the mount it stood for is then missing, which a check reports).
func parseMounts(lines []string) []mountinfo.Mount {
	var out []mountinfo.Mount
	for _, l := range lines {
		if m, err := mountinfo.ParseLine(l); err == nil {
			out = append(out, m)
		}
	}
	return out
}
