package expect

import (
	"os"
	"path"
	"slices"
	"strings"

	"launch/internal/cgroup"
)

// A Host is what a container's expectations depend on besides its options: the
// namespaces, cgroups and kernel files of the host the launcher runs on, and the
// caller's TERM.
type Host struct {
	NS      map[string]string // namespace name -> identity, as the links of /proc/self/ns read in the caller
	Cgroups Cgroups
	Term    string // the caller's TERM, when HasTerm
	HasTerm bool
	// Exists reports whether the host's kernel has the file or directory p (a masked
	// path such as /proc/kcore is masked only where it exists).
	Exists func(p string) bool
}

// Cgroups is the host's cgroup layout, as far as a container's cgroups depend on it.
type Cgroups struct {
	// V1 holds the controllers of each cgroup v1 hierarchy the container gets a
	// cgroup in, in the kernel's order: ["cpu" "cpuacct"] for a shared one.
	V1 [][]string
	// V2 is whether a cgroup v2 hierarchy is mounted; V2Controllers are the
	// controllers its root has (cgroup.controllers), those not bound to v1.
	V2            bool
	V2Controllers []string
}

// joinedV1 are the v1 controllers a container gets a cgroup of its own in (README,
// "What a container gets"): memory, CPU time and its accounting, processes, block I/O.
// A hierarchy with none of them (cpuset, freezer, devices, a named one such as
// name=systemd) is not mounted in the container.
var joinedV1 = []string{"memory", "cpu", "cpuacct", "pids", "blkio"}

// Kind names the layout: v1, v2, hybrid (both), or none.
func (c Cgroups) Kind() string {
	switch {
	case len(c.V1) > 0 && c.V2:
		return "hybrid"
	case c.V2:
		return "v2"
	case len(c.V1) > 0:
		return "v1"
	}
	return "none"
}

// Dir returns the directory of the container's cgroup that controller ctl (a v1 name:
// memory, cpu, cpuacct, pids, blkio) is in, as the container sees it: its v1
// hierarchy's directory under /sys/fs/cgroup, named after the hierarchy's controllers
// as hosts name them ("cpu,cpuacct"); else its cgroup v2 directory, /sys/fs/cgroup (or
// /sys/fs/cgroup/unified next to v1 hierarchies), if the v2 root has the controller.
// The version is 1 or 2; false if the host has the controller nowhere, where the
// launcher runs without its limit and warns.
func (c Cgroups) Dir(ctl string) (dir string, version int, ok bool) {
	for _, h := range c.V1 {
		if slices.Contains(h, ctl) {
			return "/sys/fs/cgroup/" + strings.Join(h, ","), 1, true
		}
	}
	v2 := map[string]string{"blkio": "io", "cpuacct": "cpu"}[ctl]
	if v2 == "" {
		v2 = ctl
	}
	if !c.V2 || !slices.Contains(c.V2Controllers, v2) {
		return "", 0, false
	}
	if len(c.V1) > 0 {
		return "/sys/fs/cgroup/unified", 2, true
	}
	return "/sys/fs/cgroup", 2, true
}

// A CgroupDir is a directory of the container's cgroups, as the container sees it.
type CgroupDir struct {
	Path    string
	Version int // 1 or 2
}

// Dirs returns the directories of the container's cgroups, as it sees them: one for
// each v1 hierarchy it is in (named after the hierarchy's controllers, as hosts name
// them), and its cgroup v2 one (/sys/fs/cgroup, or /sys/fs/cgroup/unified next to v1
// hierarchies), which it is in whether or not that has controllers.
func (c Cgroups) Dirs() []CgroupDir {
	var out []CgroupDir
	for _, h := range c.V1 {
		out = append(out, CgroupDir{"/sys/fs/cgroup/" + strings.Join(h, ","), 1})
	}
	switch {
	case c.V2 && len(c.V1) > 0:
		out = append(out, CgroupDir{"/sys/fs/cgroup/unified", 2})
	case c.V2:
		out = append(out, CgroupDir{"/sys/fs/cgroup", 2})
	}
	return out
}

// CgroupsOf reads the layout from the contents of /proc/self/mountinfo and
// /proc/self/cgroup, as the launcher finds it (cgroup.Detect), and the controllers of
// the v2 root with controllers, which is given the hierarchy's mount point.
func CgroupsOf(mountinfo, procCgroup []byte, controllers func(mount string) string) (Cgroups, error) {
	l, err := cgroup.Detect(mountinfo, procCgroup)
	if err != nil {
		return Cgroups{}, err
	}
	var c Cgroups
	for _, h := range l.V1 {
		if slices.ContainsFunc(joinedV1, h.Has) {
			c.V1 = append(c.V1, h.Controllers)
		}
	}
	if l.V2 != nil {
		c.V2 = true
		c.V2Controllers = strings.Fields(controllers(l.V2.Mount))
	}
	return c, nil
}

// ThisHost returns the host as the calling process sees it: the process that starts
// the launcher, whose namespaces, cgroups and environment the launcher inherits.
func ThisHost() (Host, error) {
	h := Host{NS: map[string]string{}, Exists: func(p string) bool {
		_, err := os.Stat(p)
		return err == nil
	}}
	for _, n := range []string{"cgroup", "ipc", "mnt", "net", "pid", "uts", "user"} {
		link, err := os.Readlink("/proc/self/ns/" + n)
		if err != nil {
			return Host{}, err
		}
		h.NS[n] = link
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return Host{}, err
	}
	pc, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return Host{}, err
	}
	h.Cgroups, err = CgroupsOf(mi, pc, func(mount string) string {
		b, _ := os.ReadFile(path.Join(mount, "cgroup.controllers"))
		return string(b)
	})
	if err != nil {
		return Host{}, err
	}
	h.Term, h.HasTerm = os.LookupEnv("TERM")
	return h, nil
}
