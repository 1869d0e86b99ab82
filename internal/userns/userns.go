// Package userns is the container's user namespace, seen from the launcher: which
// host IDs it maps, the choice of a free range for --userns auto, the maps written
// for the child, and the idmapped mount that shows a ROOTFS owned by host IDs
// outside the range with the owners it has on the host.
package userns

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// A Map is the container's user namespace: container users InUID to InUID+Count-1
// are host users UID onward, container groups InGID onward host groups GID onward.
type Map struct {
	InUID, InGID uint32
	UID, GID     uint32
	Count        uint32
	Unprivileged bool // written by the caller itself: one ID, setgroups(2) denied
	lock         int  // claimDir, open, once a block is claimed; or -1
	claims       []claim
	// Sub: an ordinary user's subordinate IDs (/etc/subuid, /etc/subgid), container
	// IDs 1 onward, written by the set-user-ID newuidmap and newgidmap; nil if none.
	Sub *Subordinate
}

// A Subordinate is the IDs /etc/subuid and /etc/subgid give an ordinary user, and the
// helpers that map them.
type Subordinate struct {
	UID, UIDCount, GID, GIDCount uint32
	NewUIDMap, NewGIDMap         string
}

// Auto ranges: blocks of 65536 IDs from 2^31 on, far above the IDs of a system's users
// and of /etc/subuid's usual ranges.
const (
	autoSize  = 65536
	autoFirst = 1 << 31
	autoLast  = 1<<32 - 2*autoSize // the last block ends before 4294967295, "no ID"
)

// claimDir holds a lock file for each block of auto's that a running container uses:
// root's alone, so that no other user, and no container, can claim (or squat) a block.
// A claim is a lock (flock(2)), which the kernel drops with the launcher: a killed
// launcher leaves an unlocked file, which the next claim takes over.
const claimDir = "/run/launch/userns"

// maxClaims bounds the blocks a range given by hand may overlap.
const maxClaims = 64

// ErrNoRange: every auto range is taken.
var ErrNoRange = errors.New("no free range of 65536 IDs left for --userns auto")

// errBusy: another container holds the block.
var errBusy = errors.New("held")

// Of returns the map of a given range for root: container IDs 0 to count-1. The
// blocks of auto's it overlaps are claimed, shared: auto gives them to no container
// while it runs, and it fails if auto gave one of them to a running container.
func Of(host, count uint32) (*Map, error) {
	m := &Map{UID: host, GID: host, Count: count, lock: -1}
	end := uint64(host) + uint64(count)
	if end <= autoFirst {
		return m, nil
	}
	first := max(uint64(host), autoFirst) &^ (autoSize - 1)
	if (end-first+autoSize-1)/autoSize > maxClaims {
		return nil, errors.New("the range overlaps more than " + strconv.Itoa(maxClaims) + " of auto's blocks of 65536 from 2147483648 on: give a smaller one, or one below")
	}
	for b := first; b < end; b += autoSize {
		if err := m.claim(uint32(b), unix.LOCK_SH); err != nil {
			m.Release()
			if err == errBusy {
				err = errors.New("it overlaps the range --userns auto gave a running container (" + strconv.FormatUint(b, 10) + ":65536)")
			}
			return nil, err
		}
	}
	return m, nil
}

// Auto claims a block of 65536 IDs that no other running container of launch uses,
// and holds it until Release.
func Auto() (*Map, error) {
	m := &Map{Count: autoSize, lock: -1}
	for b := uint64(autoFirst); b <= autoLast; b += autoSize {
		err := m.claim(uint32(b), unix.LOCK_EX)
		if err == errBusy {
			continue
		}
		if err != nil {
			m.Release()
			return nil, err
		}
		m.UID, m.GID = uint32(b), uint32(b)
		return m, nil
	}
	m.Release()
	return nil, ErrNoRange
}

// claim locks the file of the block at host ID first, shared or exclusive (how);
// errBusy if another launcher holds it otherwise.
func (m *Map) claim(first uint32, how int) error {
	if m.lock < 0 {
		if err := os.MkdirAll(claimDir, 0o700); err != nil {
			return err
		}
		fd, err := unix.Open(claimDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "open", Path: claimDir, Err: err}
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Uid != 0 || st.Mode&0o022 != 0 {
			unix.Close(fd)
			return &os.PathError{Op: "open", Path: claimDir, Err: errors.New("not a directory of root's that only root may write")}
		}
		m.lock = fd
	}
	name := strconv.FormatUint(uint64(first), 10)
	for {
		fd, err := unix.Openat(m.lock, name, unix.O_RDONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return &os.PathError{Op: "open", Path: claimDir + "/" + name, Err: err}
		}
		if err := unix.Flock(fd, how|unix.LOCK_NB); err != nil {
			unix.Close(fd)
			if err == unix.EWOULDBLOCK {
				return errBusy
			}
			return &os.PathError{Op: "flock", Path: claimDir + "/" + name, Err: err}
		}
		// Still the file of that name: a launcher that let go of it may have removed
		// it between the open and the lock.
		var a, b unix.Stat_t
		if unix.Fstat(fd, &a) == nil && unix.Fstatat(m.lock, name, &b, unix.AT_SYMLINK_NOFOLLOW) == nil && a.Ino == b.Ino && a.Dev == b.Dev {
			m.claims = append(m.claims, claim{fd, name})
			return nil
		}
		unix.Close(fd)
	}
}

// A claim is a lock file of a block, open and locked.
type claim struct {
	fd   int
	name string
}

// Caller returns the map of an unprivileged caller: its own user and group, seen as
// uid and gid (0, or --user's) in the container.
func Caller(uid, gid uint32) *Map {
	return &Map{InUID: uid, InGID: gid, UID: uint32(os.Geteuid()), GID: uint32(os.Getegid()), Count: 1, Unprivileged: true, lock: -1}
}

// Release gives up the claims on auto's blocks: a file nobody else holds is removed.
func (m *Map) Release() {
	for _, c := range m.claims {
		if unix.Flock(c.fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
			unix.Unlinkat(m.lock, c.name, 0)
		}
		unix.Close(c.fd)
	}
	m.claims = nil
	if m.lock >= 0 {
		unix.Close(m.lock)
		m.lock = -1
	}
}

// MapsGroup reports whether container group gid is mapped.
func (m *Map) MapsGroup(gid uint32) bool {
	switch {
	case m.Sub != nil:
		return gid <= m.Sub.GIDCount
	case m.Unprivileged:
		return gid == m.InGID
	}
	return gid < m.Count
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
	if s := m.Sub; s != nil {
		p := strconv.Itoa(pid)
		if err := run(s.NewUIDMap, p, "0", strconv.FormatUint(uint64(m.UID), 10), "1", "1",
			strconv.FormatUint(uint64(s.UID), 10), strconv.FormatUint(uint64(s.UIDCount), 10)); err != nil {
			return err
		}
		return run(s.NewGIDMap, p, "0", strconv.FormatUint(uint64(m.GID), 10), "1", "1",
			strconv.FormatUint(uint64(s.GID), 10), strconv.FormatUint(uint64(s.GIDCount), 10))
	}
	return Write(pid, []Range{{m.InUID, m.UID, m.Count}}, []Range{{m.InGID, m.GID, m.Count}}, m.Unprivileged)
}

// run runs a map helper with args and waits for it; its stderr is the launcher's, for
// its own message. It is the one program launch runs (README, "User namespaces").
func run(prog string, args ...string) error {
	pid, err := syscall.ForkExec(prog, append([]string{prog}, args...), &syscall.ProcAttr{Env: []string{}, Files: []uintptr{^uintptr(0), ^uintptr(0), 2}})
	if err != nil {
		return &os.PathError{Op: "run", Path: prog, Err: err}
	}
	var ws unix.WaitStatus
	for {
		if _, err = unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			break
		}
	}
	if err != nil || !ws.Exited() || ws.ExitStatus() != 0 {
		return errors.New(prog + " " + strings.Join(args, " ") + ": failed (exit status " + strconv.Itoa(ws.ExitStatus()) + ")")
	}
	return nil
}

// Subordinates returns the subordinate IDs of the user uid (called name, or "" if it
// has no name) in the files subuid and subgid: the first line of each whose owner is
// the name or the number, and the helpers, found in path. nil, nil: none.
func Subordinates(uid uint32, name, subuid, subgid string, path []string) (*Subordinate, error) {
	s := &Subordinate{}
	var err error
	if s.UID, s.UIDCount, err = subRange(subuid, uid, name); err != nil || s.UIDCount == 0 {
		return nil, err
	}
	if s.GID, s.GIDCount, err = subRange(subgid, uid, name); err != nil || s.GIDCount == 0 {
		return nil, err
	}
	for _, h := range []struct {
		name string
		out  *string
	}{{"newuidmap", &s.NewUIDMap}, {"newgidmap", &s.NewGIDMap}} {
		for _, dir := range path {
			p := dir + "/" + h.name
			var st unix.Stat_t
			if unix.Stat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&0o111 != 0 {
				*h.out = p
				break
			}
		}
		if *h.out == "" {
			return nil, errors.New(subuid + " gives you IDs, but " + h.name + " is not installed (the uidmap package)")
		}
	}
	return s, nil
}

// subRange reads the first range of owner uid (or name) in file, a list of
// OWNER:START:COUNT lines; a count of 0 if none.
func subRange(file string, uid uint32, name string) (uint32, uint32, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(strings.TrimSpace(line), ":")
		if len(f) != 3 || (f[0] != name && f[0] != strconv.FormatUint(uint64(uid), 10)) || f[0] == "" {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 || start+count > 1<<32-1 {
			return 0, 0, errors.New(file + ": a bad line for " + f[0] + ": " + strconv.Quote(line))
		}
		return uint32(start), uint32(count), nil
	}
	return 0, 0, nil
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
//
// The copy must be of the directory dev and ino name, which the launcher found at dir.
func Idmapped(dir string, dev, ino uint64, pid int) (int, error) {
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
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || uint64(st.Dev) != dev || st.Ino != ino {
		unix.Close(fd)
		return -1, &os.PathError{Op: "open_tree", Path: dir, Err: unix.ESTALE}
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(nsfd)}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return -1, &os.PathError{Op: "mount_setattr (idmap)", Path: dir, Err: err}
	}
	return fd, nil
}
