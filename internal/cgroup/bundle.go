package cgroup

import (
	"errors"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// MakeParents makes the cgroup p (an absolute path as /proc/self/cgroup names cgroups)
// and its missing parents in every hierarchy a container with limits lim joins, as
// mkdir -p would, and makes it the containers' parent (SetParent): a bundle's
// linux.cgroupsPath names its container's cgroup, whose parents engines leave to the
// runtime to make.
//
// It returns the directories it made, outermost first, for RemoveMade to remove if the
// container is not made after all. A parent that holds processes of its own (another
// container's cgroup, or a process group of the host's) is refused, the root
// excepted: launch delete kills what is in a container's cgroup and below it.
func (l *Layout) MakeParents(p string, lim Limits) ([]string, error) {
	var made []string
	for _, h := range l.all() {
		dir, ok := h.dirOf(p)
		if !ok {
			return made, &os.PathError{Op: "find cgroup", Path: p, Err: errors.New("outside the cgroups mounted at " + h.Mount)}
		}
		if !h.V2() && !h.joined() && !(h.Has("cpuset") && lim.cpuset()) && !(h.Has("devices") && lim.DeviceRules != nil) {
			continue
		}
		m, err := mkdirParents(h, dir)
		made = append(made, m...)
		if err != nil {
			return made, err
		}
		if dir != h.Mount {
			if procs, err := readFile(dir, "cgroup.procs"); err == nil && strings.TrimSpace(procs) != "" {
				return made, &os.PathError{Op: "use cgroup", Path: dir, Err: errors.New("holds processes of its own: not a parent for a container's cgroup")}
			}
		}
	}
	return made, l.SetParent(p)
}

// RemoveMade removes the directories MakeParents made, innermost first, where they
// are empty.
func RemoveMade(made []string) {
	for i := len(made) - 1; i >= 0; i-- {
		unix.Rmdir(made[i])
	}
}

// IDs returns the inode numbers of the cgroup directories dirs, 0 for one that is
// gone: launch delete removes a cgroup only while its path still leads to it.
func IDs(dirs []string) []uint64 {
	ids := make([]uint64, len(dirs))
	for i, d := range dirs {
		var st unix.Stat_t
		if unix.Stat(d, &st) == nil {
			ids[i] = st.Ino
		}
	}
	return ids
}

// mkdirParents makes dir and its missing parents below h's mount. A new v1 cpuset
// cgroup has no CPUs and no memory nodes, and nothing can join it or a cgroup below
// it: each one made gets its parent's.
func mkdirParents(h *Hierarchy, dir string) (made []string, err error) {
	rel, ok := strings.CutPrefix(dir, h.Mount)
	if !ok {
		return nil, &os.PathError{Op: "mkdir", Path: dir, Err: errors.New("outside " + h.Mount)}
	}
	cur := h.Mount
	for _, c := range strings.Split(strings.Trim(rel, "/"), "/") {
		if c == "" {
			continue
		}
		parent := cur
		cur += "/" + c
		err := os.Mkdir(cur, 0o755)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return made, err
		}
		made = append(made, cur)
		if h.V2() || !h.Has("cpuset") {
			continue
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			v, err := readFile(parent, f)
			if err == nil {
				err = writeFile(cur, f, strings.TrimSpace(v))
			}
			if err != nil {
				return made, err
			}
		}
	}
	return made, nil
}

func (l *Layout) all() []*Hierarchy {
	hs := make([]*Hierarchy, 0, len(l.V1)+1)
	for i := range l.V1 {
		hs = append(hs, &l.V1[i])
	}
	if l.V2 != nil {
		hs = append(hs, l.V2)
	}
	return hs
}

// joined reports whether containers join h, a v1 hierarchy (cpuset aside).
func (h *Hierarchy) joined() bool {
	for _, c := range v1Controllers {
		if h.Has(c) {
			return true
		}
	}
	return false
}

// RemoveDirs kills what runs in the cgroups dirs and below them, and removes them,
// deepest first: a bundle's container's cgroups, made by an earlier launch create
// (launch delete), with any cgroup a process of the container made below them.
// A directory that is gone already is not an error; only directories under a mounted
// cgroup file system are touched.
//
// ids are the directories' inode numbers when they were made (IDs): a directory that
// is now another one (the container's cgroup removed, and the path reused) is left
// alone, with what runs in it. nil checks nothing.
func RemoveDirs(dirs []string, ids []uint64) error {
	var all []string
	for i, dir := range dirs {
		if ids != nil && (i >= len(ids) || IDs([]string{dir})[0] != ids[i]) {
			continue
		}
		all = append(all, tree(dir)...)
	}
	var errs []error
	for i := len(all) - 1; i >= 0; i-- {
		dir := all[i]
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			if !errors.Is(err, unix.ENOENT) {
				errs = append(errs, &os.PathError{Op: "remove cgroup", Path: dir, Err: err})
			}
			continue
		}
		if st.Type != unix.CGROUP_SUPER_MAGIC && st.Type != unix.CGROUP2_SUPER_MAGIC || !strings.HasPrefix(dir, "/") {
			errs = append(errs, &os.PathError{Op: "remove cgroup", Path: dir, Err: errors.New("not a cgroup")})
			continue
		}
		if err := rmdirKilling(dir, 2*time.Second, nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// tree returns dir and the directories below it, each before those below it; no
// symlink is followed.
func tree(dir string) []string {
	out := []string{dir}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, tree(dir+"/"+e.Name())...)
		}
	}
	return out
}

// Procs returns the processes in the cgroups dirs and below them (cgroup.procs), for
// launch ps and kill --all.
func Procs(dirs []string) []string {
	seen := map[string]bool{}
	var out []string
	var all []string
	for _, dir := range dirs {
		all = append(all, tree(dir)...)
	}
	for _, dir := range all {
		data, err := readFile(dir, "cgroup.procs")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(data) {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	return out
}

// Release forgets the cgroups Create made without removing them, and closes their
// locks: a bundle's container outlives launch create, and launch delete removes its
// cgroups by their directories (Dirs).
func (c *Cgroups) Release() {
	c.Close()
	for _, m := range c.made {
		unix.Close(m.fd)
	}
	c.made, c.tasks, c.v2Procs = nil, nil, -1
}
