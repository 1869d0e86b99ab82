package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"launch/internal/rawfile"
)

// switchRoot does what the init of a board with a root file system does once that is
// ready, as busybox's switch_root does: mount it (here a tmpfs at dir holding a copy
// of paths), move /proc, /sys (with /sys/fs/cgroup) and /dev into it, mount it over /
// and chroot into it. From then on / is a mount of its own, stacked on the initramfs,
// and pivot_root(2) works. Errors name the step and path.
func switchRoot(dir string, paths []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=755"); err != nil {
		return &os.PathError{Op: "mount tmpfs", Path: dir, Err: err}
	}
	for _, p := range paths {
		if err := copyTree(p, filepath.Join(dir, p)); err != nil {
			return fmt.Errorf("copy %s to %s: %w", p, dir, err)
		}
	}
	for _, p := range []string{"/proc", "/sys", "/dev"} {
		to := filepath.Join(dir, p)
		if err := os.MkdirAll(to, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(p, to, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s to %s: %w", p, to, err)
		}
	}
	if err := unix.Chdir(dir); err != nil {
		return &os.PathError{Op: "chdir", Path: dir, Err: err}
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return &os.PathError{Op: "move mount over /", Path: dir, Err: err}
	}
	if err := unix.Chroot("."); err != nil {
		return &os.PathError{Op: "chroot", Path: dir, Err: err}
	}
	if err := unix.Chdir("/"); err != nil {
		return &os.PathError{Op: "chdir", Path: "/", Err: err}
	}
	return nil
}

// copyTree copies the file, symlink or directory tree src to dst, keeping modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(to, 0o755); err != nil {
				return err
			}
			// Set apart from MkdirAll, which applies the umask: /tmp is 1777.
			return os.Chmod(to, info.Mode().Perm()|info.Mode()&os.ModeSticky)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case d.Type().IsRegular():
			return rawfile.CopyFile(p, to, info.Mode().Perm())
		}
		return fmt.Errorf("%s: cannot copy a %s", p, d.Type())
	})
}
