package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"launch/internal/probe/expect"
)

// nsHost is the first host ID of the range the user-namespace checks give --userns,
// and ordinary is the user the unprivileged ones run the launcher as.
const (
	nsHost   = 2000000
	ordinary = 61234
)

// userns runs the expectation table in a container with --userns, and in one of an
// ordinary user's, whose cgroup is delegated to it as systemd's Delegate=yes does: the
// container gets its cgroups and limits below it. ROOTFS is given to the range first:
// the tmpfs of the switched root has idmapped mounts only from Linux 6.3.
func (c *checker) userns() {
	if err := chownTree("/rootfs", nsHost); err != nil {
		c.report("userns-setup", err, "chown /rootfs")
		return
	}
	defer chownTree("/rootfs", 0)
	c.checkContainerWith("userns-", func(w *expect.Want) {
		w.Userns, w.PtsGroup = true, fmt.Sprintf("gid=%d", nsHost+5)
	}, nil, "--userns", fmt.Sprintf("%d:65536", nsHost))

	// An ordinary user, in a cgroup of its own that it owns.
	os.Chmod("/", 0o755)
	dir := mkCgroup(c, "user-delegated", callerLimit)
	if dir == "" {
		return
	}
	defer rmCgroups(dir)
	for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
		if err := os.Chown(filepath.Join(dir, f), ordinary, ordinary); err != nil {
			c.report("unprivileged-setup", err, "chown "+dir)
			return
		}
	}
	c.as = &syscall.Credential{Uid: ordinary, Gid: ordinary, Groups: []uint32{}}
	defer func() { c.as = nil }()
	r := c.launchIn(dir, "-v", "/rootfs", "/probe", "report")
	err := r.failure(0)
	leaf := containerCgroup(r.stderr)
	if err == nil {
		err = below(leaf, dir)
	}
	if err == nil {
		err = limitInside(r.stdout, "memory.max", "67108864")
	}
	if err == nil && strings.Contains(r.stderr, "launch: warning") {
		err = errors.New("a warning: " + strings.TrimSpace(r.stderr))
	}
	c.report("unprivileged-delegated", err, "container of user "+fmt.Sprint(ordinary)+" in "+leaf+", its memory.max 64M")
	c.checkContainerWith("unprivileged-", func(w *expect.Want) { w.Userns, w.PtsGroup = true, "" },
		[]string{"pid1-namespaces", "hostname", "network", "dev", "masked-paths", "capabilities", "seccomp",
			"descriptors", "environment", "identity", "session"})
}

// chownTree gives every file below dir to id:id.
func chownTree(dir string, id int) error {
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, id, id)
	})
}
