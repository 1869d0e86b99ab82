package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"launch/internal/mountinfo"
)

// A Hierarchy is one mounted cgroup hierarchy and the launcher's place in it.
type Hierarchy struct {
	ID          int      // hierarchy ID of /proc/self/cgroup; 0 for v2
	Controllers []string // v1 controllers bound to it, as /proc/self/cgroup lists them
	Mount       string   // where it is mounted
	Root        string   // the cgroup mounted there, "/" unless the mount shows a subtree
	Own         string   // the launcher's cgroup in the hierarchy, e.g. /user.slice
	Dir         string   // the directory of that cgroup under Mount
	Parent      string   // where containers' cgroups go: Dir, or SetParent's choice
}

// dirOf returns the directory under Mount of the cgroup p, a path as /proc/self/cgroup
// names cgroups; false if the mount does not reach it.
func (h *Hierarchy) dirOf(p string) (string, bool) {
	rel, found := strings.CutPrefix(p, h.Root)
	if !found || (rel != "" && !strings.HasPrefix(rel, "/") && h.Root != "/") {
		return "", false
	}
	return path.Join(h.Mount, rel), true
}

// V2 reports whether h is the unified hierarchy.
func (h *Hierarchy) V2() bool { return h.ID == 0 }

// Has reports whether controller c is bound to h (v1).
func (h *Hierarchy) Has(c string) bool { return slices.Contains(h.Controllers, c) }

// A Layout is the host's cgroup layout: v1 hierarchies, a v2 one, or both (hybrid).
type Layout struct {
	V1 []Hierarchy
	V2 *Hierarchy
}

// String names the layout for messages: v1, v2 or hybrid.
func (l *Layout) String() string {
	switch {
	case len(l.V1) > 0 && l.V2 != nil:
		return "hybrid"
	case l.V2 != nil:
		return "v2"
	case len(l.V1) > 0:
		return "v1"
	}
	return "none"
}

// Detect reads the layout from the contents of /proc/self/mountinfo and
// /proc/self/cgroup. A hierarchy the launcher is in but cannot reach (not mounted, or
// mounted from a cgroup above the launcher's own, as inside some containers) is left
// out; callers treat its controllers as missing.
func Detect(mi, procCgroup []byte) (*Layout, error) {
	type member struct {
		id          int
		controllers []string
		path        string
	}
	var members []member
	sc := bufio.NewScanner(bytes.NewReader(procCgroup))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			return nil, errors.New("/proc/self/cgroup: bad line " + strconv.Quote(line))
		}
		id, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, errors.New("/proc/self/cgroup: bad line " + strconv.Quote(line))
		}
		m := member{id: id, path: f[2]}
		if f[1] != "" {
			// Hierarchy 0 is cgroup v2, whose line lists no controllers.
			if id == 0 {
				return nil, errors.New("/proc/self/cgroup: bad line " + strconv.Quote(line))
			}
			m.controllers = strings.Split(f[1], ",")
		}
		members = append(members, m)
	}

	mounts, err := mountinfo.Parse(mi)
	if err != nil {
		return nil, errors.New("/proc/self/mountinfo: " + err.Error())
	}
	l := &Layout{}
	for _, m := range members {
		// A cgroup outside the root of the cgroup namespace shows as /../...: no mount
		// in this namespace reaches it, and a path joined with it would leave the mount.
		if strings.Contains(m.path+"/", "/../") {
			continue
		}
		for _, mnt := range mounts {
			var ok bool
			switch {
			case m.id == 0 && m.controllers == nil:
				ok = mnt.FSType == "cgroup2"
			case mnt.FSType == "cgroup":
				ok = sameControllers(m.controllers, mnt.SuperOptions)
			}
			if !ok {
				continue
			}
			// The mount shows the hierarchy from its root down; the launcher's cgroup
			// must be at or below it to be reachable.
			h := Hierarchy{ID: m.id, Controllers: m.controllers, Mount: mnt.Point, Root: mnt.Root, Own: m.path}
			dir, found := h.dirOf(m.path)
			if !found {
				continue
			}
			h.Dir, h.Parent = dir, dir
			// A launcher started in the leaf launchers move into (see delegate.go),
			// as systemd's DelegateSubgroup= does, has moved already.
			if h.V2() && path.Base(dir) == supervisorLeaf && dir != h.Mount {
				h.Parent = path.Dir(dir)
			}
			if h.V2() {
				l.V2 = &h
			} else {
				l.V1 = append(l.V1, h)
			}
			break
		}
	}
	return l, nil
}

// SetParent makes the containers' cgroups go below the cgroup p (an absolute path in
// each hierarchy, as /proc/self/cgroup names cgroups) instead of below the launcher's
// own: --cgroup-parent. p must exist in v2 and in every v1 hierarchy with a controller
// that containers always join (the cpuset one only with --cpuset-cpus, where Create
// says so); the error, an *os.PathError, names the directory that does not.
func (l *Layout) SetParent(p string) error {
	hs := make([]*Hierarchy, 0, len(l.V1)+1)
	for i := range l.V1 {
		hs = append(hs, &l.V1[i])
	}
	if l.V2 != nil {
		hs = append(hs, l.V2)
	}
	for _, h := range hs {
		dir, ok := h.dirOf(p)
		if !ok {
			return &os.PathError{Op: "find cgroup", Path: p, Err: errors.New("outside the cgroups mounted at " + h.Mount)}
		}
		h.Parent = dir
		if !h.V2() && !slices.ContainsFunc(v1Controllers, h.Has) {
			continue
		}
		if !isDir(dir) {
			return &os.PathError{Op: "find cgroup", Path: dir, Err: unix.ENOENT}
		}
	}
	return nil
}

// sameControllers reports whether a v1 mount with super options opts is the hierarchy
// whose /proc/self/cgroup entry lists controllers.
func sameControllers(controllers []string, opts []string) bool {
	if len(controllers) == 0 {
		return false
	}
	for _, c := range controllers {
		if !slices.Contains(opts, c) {
			return false
		}
	}
	return true
}
