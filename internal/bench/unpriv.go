package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"launch/internal/rawfile"
)

// The unprivileged peers run as an ordinary user: a uid and gid that no account of the
// machine has, without supplementary groups, so that only the permission bits for
// others give it access to anything. The bench sets them on the command it starts
// (SysProcAttr.Credential: setgroups, setgid and setuid in the child between fork and
// exec) rather than through a wrapper such as setpriv(1), whose own exec would be
// timed with the peer.

// firstUnprivID is the first uid and gid tried for the ordinary user.
const firstUnprivID = 61235

// An unpriv is the ordinary user, and the launcher and root file system it runs: the
// bench's own where that user can reach them, otherwise copies it can.
type unpriv struct {
	cred           *syscall.Credential
	launch, rootfs string
	copied         string // why they were copied; "" if they were not
	err            error  // why the unprivileged peers cannot run
}

// who names the user in the peers' notes.
func (u *unpriv) who() string {
	if u.cred == nil {
		return "an ordinary user"
	}
	return fmt.Sprintf("uid %d gid %d without groups (an ID no account has)", u.cred.Uid, u.cred.Gid)
}

// where says, for the notes, which launcher and ROOTFS the user runs.
func (u *unpriv) where() string {
	if u.copied == "" {
		return "; the same launcher and ROOTFS as the peers run as root"
	}
	return "; launcher and ROOTFS copied to " + filepath.Dir(u.rootfs) + " (" + u.copied + ")"
}

// unprivileged chooses the ordinary user and makes sure it can run the launcher on the
// root file system, once. Its error goes to both unprivileged peers.
func (b *bench) unprivileged() *unpriv {
	if b.unpriv != nil {
		return b.unpriv
	}
	u := &unpriv{launch: b.launch, rootfs: b.rootfs}
	b.unpriv = u
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		u.err = fmt.Errorf("choose an ordinary user: %w", err)
		return u
	}
	group, err := os.ReadFile("/etc/group")
	if err != nil {
		u.err = fmt.Errorf("choose an ordinary user: %w", err)
		return u
	}
	id, ok := freeID(passwd, group, firstUnprivID)
	if !ok {
		u.err = fmt.Errorf("choose an ordinary user: every ID from %d to %d has an account or a group", firstUnprivID, firstUnprivID+freeIDTries-1)
		return u
	}
	u.cred = &syscall.Credential{Uid: id, Gid: id}
	err = othersReach(b.launch, false)
	if err == nil {
		err = othersReach(b.rootfs, true)
	}
	if err == nil {
		return u
	}
	// The bench's scratch or output directories may be 0700, or sit in one (/root):
	// copies in a directory of the bench's own, readable by all, leave them as they are.
	u.copied = err.Error()
	if u.launch, u.rootfs, err = b.copyForOthers(); err != nil {
		u.err = fmt.Errorf("the ordinary user cannot reach the launcher or ROOTFS (%s), and copying them failed: %w", u.copied, err)
	}
	return u
}

// freeIDTries is how many IDs freeID looks at.
const freeIDTries = 1000

// freeID returns the first ID from first on that is neither a uid in passwd nor a gid
// in passwd or group (the contents of /etc/passwd and /etc/group).
func freeID(passwd, group []byte, first uint32) (uint32, bool) {
	taken := map[uint32]bool{}
	// name:password:ID[:GID...]: the third field of both files, and passwd's fourth.
	scan := func(data []byte, fields ...int) {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			f := strings.Split(sc.Text(), ":")
			for _, i := range fields {
				if i < len(f) {
					if n, err := strconv.ParseUint(f[i], 10, 32); err == nil {
						taken[uint32(n)] = true
					}
				}
			}
		}
	}
	scan(passwd, 2, 3)
	scan(group, 2)
	for id := first; id < first+freeIDTries; id++ {
		if !taken[id] {
			return id, true
		}
	}
	return 0, false
}

// othersReach says why a user who is neither owner nor in the group cannot reach path:
// some directory on the way lacks the search bit for others, or path itself lacks
// what a run needs. For a program that is o+x; for a tree (the root file system), o+rx
// on every directory, o+r on every file and o+x on those whose owner may execute them.
// ACLs are not looked at. Returns nil if nothing is missing.
func othersReach(path string, tree bool) error {
	path, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is %#o, not searchable by others", d, fi.Mode().Perm())
		}
		if d == "/" {
			break
		}
	}
	if !tree {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is %#o, not executable by others", path, fi.Mode().Perm())
		}
		return nil
	}
	return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if perm := fi.Mode().Perm(); perm&othersNeed(fi.Mode()) != othersNeed(fi.Mode()) {
			return fmt.Errorf("%s is %#o: others need %#o", p, perm, othersNeed(fi.Mode()))
		}
		return nil
	})
}

// othersNeed is what others must be allowed on a file of the root file system: nothing
// on a symbolic link (its mode is not checked), read and search on a directory, read
// on a file, and execute where the owner may.
func othersNeed(m fs.FileMode) fs.FileMode {
	switch {
	case m&fs.ModeSymlink != 0:
		return 0
	case m.IsDir():
		return 0o005
	case m.Perm()&0o100 != 0:
		return 0o005
	}
	return 0o004
}

// copyForOthers copies the launcher and the root file system into a new temporary
// directory of the bench (removed at the end), with what othersNeed asks added to
// every mode, and checks that the ordinary user can reach them there.
func (b *bench) copyForOthers() (launch, rootfs string, err error) {
	dir, err := os.MkdirTemp("", "launch-bench-unpriv-")
	if err != nil {
		return "", "", err
	}
	b.tempDirs = append(b.tempDirs, dir)
	// MkdirTemp makes it 0700; it is the bench's own.
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", "", err
	}
	launch, rootfs = filepath.Join(dir, "launch"), filepath.Join(dir, "rootfs")
	if err := copyOpen(b.launch, launch, 0o755); err != nil {
		return "", "", err
	}
	err = filepath.WalkDir(b.rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, err := filepath.Rel(b.rootfs, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(rootfs, r)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		m := fi.Mode()
		switch {
		case m.IsDir():
			if err := os.Mkdir(dst, 0o755); err != nil {
				return err
			}
			return os.Chmod(dst, m.Perm()|0o755)
		case m&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case m.IsRegular():
			return copyOpen(p, dst, m.Perm()|othersNeed(m))
		}
		return fmt.Errorf("copy %s: not a directory, file or symbolic link", p)
	})
	if err != nil {
		return "", "", err
	}
	if err := othersReach(launch, false); err != nil {
		return "", "", err
	}
	if err := othersReach(rootfs, true); err != nil {
		return "", "", err
	}
	return launch, rootfs, nil
}

// copyOpen copies a file and sets perm on the copy, whatever the umask.
func copyOpen(src, dst string, perm fs.FileMode) error {
	if err := rawfile.CopyFile(src, dst, perm); err != nil {
		return err
	}
	return os.Chmod(dst, perm)
}
