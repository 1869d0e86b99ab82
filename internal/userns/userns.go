// Package userns is the container's user namespace, seen from the launcher: which
// host IDs it maps, the choice of a free range for --userns auto, the maps written
// for the child, and the idmapped mount that shows a ROOTFS owned by host IDs
// outside the range with the owners it has on the host.
package userns

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// A Map is the container's user namespace: container users InUID to InUID+Count-1
// are host users UID onward, container groups InGID onward host groups GID onward.
type Map struct {
	InUID, InGID uint32
	UID, GID     uint32
	Count        uint32
	Unprivileged bool // written by the caller itself: one ID, setgroups(2) denied
	lock         int  // --userns auto: the claim on the range, held until Release; or -1
}

// Auto ranges: blocks of 65536 IDs from 2^31 on, far above the IDs of a system's users
// and of /etc/subuid's usual ranges.
const (
	autoSize  = 65536
	autoFirst = 1 << 31
	autoLast  = 1<<32 - 2*autoSize // the last block ends before 4294967295, "no ID"
)

// ErrNoRange: every auto range is taken.
var ErrNoRange = errors.New("no free range of 65536 IDs left for --userns auto")

// Of returns the map of a given range for root: container IDs 0 to count-1.
func Of(host, count uint32) *Map {
	return &Map{UID: host, GID: host, Count: count, lock: -1}
}

// Auto claims a range of 65536 IDs that no other container of launch holds, and holds
// it until Release (or the launcher's end: the claim is an abstract socket's name in
// the host's network namespace, which the kernel frees with its last descriptor, so
// a killed launcher leaves nothing to clean up).
func Auto() (*Map, error) {
	for block := uint64(autoFirst); block <= autoLast; block += autoSize {
		fd, err := claim(uint32(block))
		if errors.Is(err, unix.EADDRINUSE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &Map{UID: uint32(block), GID: uint32(block), Count: autoSize, lock: fd}, nil
	}
	return nil, ErrNoRange
}

// claim binds the name of the block at host ID first; EADDRINUSE if another launcher
// holds it.
func claim(first uint32) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: "@launch/userns/" + strconv.FormatUint(uint64(first), 10)}); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	return fd, nil
}

// Caller returns the map of an unprivileged caller: its own user and group, seen as
// uid and gid (0, or --user's) in the container.
func Caller(uid, gid uint32) *Map {
	return &Map{InUID: uid, InGID: gid, UID: uint32(os.Geteuid()), GID: uint32(os.Getegid()), Count: 1, Unprivileged: true, lock: -1}
}

// Release gives up the claim on an auto range.
func (m *Map) Release() {
	if m.lock >= 0 {
		unix.Close(m.lock)
		m.lock = -1
	}
}

// Contains reports whether host ID id is in the range.
func (m *Map) Contains(id uint32) bool { return id >= m.UID && id-m.UID < m.Count }

// String is the range as --userns takes it, or "the caller's" for an unprivileged one.
func (m *Map) String() string {
	if m.Unprivileged {
		return "caller " + strconv.FormatUint(uint64(m.UID), 10) + ":" + strconv.FormatUint(uint64(m.GID), 10) +
			" as " + strconv.FormatUint(uint64(m.InUID), 10) + ":" + strconv.FormatUint(uint64(m.InGID), 10)
	}
	return strconv.FormatUint(uint64(m.UID), 10) + ":" + strconv.FormatUint(uint64(m.Count), 10)
}

// Write writes the maps of the process pid, which has just made its user namespace
// and waits for them.
func (m *Map) Write(pid int) error {
	return Write(pid, []Range{{m.InUID, m.UID, m.Count}}, []Range{{m.InGID, m.GID, m.Count}}, m.Unprivileged)
}

// A Range is one line of a map: container IDs Inside to Inside+Count-1 are host IDs
// Host onward.
type Range struct{ Inside, Host, Count uint32 }

// Write writes the maps of the process pid. An unprivileged caller (deny) denies
// setgroups(2) first, as the kernel requires before its gid_map is written: it can
// only keep the supplementary groups it has, never drop them to gain access a group
// is refused (user_namespaces(7)).
func Write(pid int, uids, gids []Range, deny bool) error {
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	if deny {
		if err := write(dir+"setgroups", "deny"); err != nil {
			return err
		}
	}
	lines := func(rs []Range) string {
		var s string
		for _, r := range rs {
			s += strconv.FormatUint(uint64(r.Inside), 10) + " " + strconv.FormatUint(uint64(r.Host), 10) + " " +
				strconv.FormatUint(uint64(r.Count), 10) + "\n"
		}
		return s
	}
	if err := write(dir+"uid_map", lines(uids)); err != nil {
		return err
	}
	return write(dir+"gid_map", lines(gids))
}

// write writes s to the file p in one write(2), as the kernel wants a map.
func write(p, s string) error {
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(s)); err != nil {
		return &os.PathError{Op: "write", Path: p, Err: err}
	}
	return nil
}

// Idmapped returns a detached copy of the mount at dir (not recursive), idmapped with
// the user namespace of pid: files owned by host ID h show as h minus the range's start,
// and those outside the range as nobody. The child attaches it as its root. The
// launcher makes it, as the kernel wants CAP_SYS_ADMIN over the file system's own
// user namespace (Linux 5.12 and later).
func Idmapped(dir string, pid int) (int, error) {
	ns := "/proc/" + strconv.Itoa(pid) + "/ns/user"
	nsfd, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: ns, Err: err}
	}
	defer unix.Close(nsfd)
	fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return -1, &os.PathError{Op: "open_tree", Path: dir, Err: err}
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(nsfd)}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return -1, &os.PathError{Op: "mount_setattr (idmap)", Path: dir, Err: err}
	}
	return fd, nil
}
