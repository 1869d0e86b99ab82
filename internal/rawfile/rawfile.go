// Package rawfile reads files of /proc, /sys and cgroup file systems with plain
// system calls. os.ReadFile and os.ReadDir would do as well, but the first use of an
// os.File sets up the runtime's network poller (an epoll instance, an eventfd and a
// thread to watch them), which a launcher started often on small machines has no use
// for. It also copies files, for the programs around the launcher (tests, the bench,
// the test VMs' init), which share its one dependency, x/sys, and replaces files
// atomically (Replace) for the launcher's state and pid files.
package rawfile

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ReadFile reads the file at path. Errors are *os.PathError.
func ReadFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 4096)
	for {
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// CopyFile copies the file src to dst, which it creates with mode perm (less the umask)
// or truncates. Errors are *os.PathError.
func CopyFile(src, dst string, perm os.FileMode) error {
	in, err := unix.Open(src, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: src, Err: err}
	}
	defer unix.Close(in)
	out, err := unix.Open(dst, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return &os.PathError{Op: "open", Path: dst, Err: err}
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(in, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(out)
			return &os.PathError{Op: "read", Path: src, Err: err}
		}
		if n == 0 {
			break
		}
		for b := buf[:n]; len(b) > 0; {
			m, err := unix.Write(out, b)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				unix.Close(out)
				return &os.PathError{Op: "write", Path: dst, Err: err}
			}
			b = b[m:]
		}
	}
	if err := unix.Close(out); err != nil {
		return &os.PathError{Op: "close", Path: dst, Err: err}
	}
	return nil
}

// ReadDirNames lists the directory dir.
func ReadDirNames(dir string) ([]string, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "readdirent", Path: dir, Err: err}
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// Dir is the directory tree below a path, read with ReadFile and ReadDirNames by
// names relative to it: Dir("/proc").ReadFile("self/status").
type Dir string

// ReadFile reads the file name below d.
func (d Dir) ReadFile(name string) ([]byte, error) { return ReadFile(string(d) + "/" + name) }

// ReadDirNames lists the directory name below d.
func (d Dir) ReadDirNames(name string) ([]string, error) { return ReadDirNames(string(d) + "/" + name) }

// Replace writes data to the file at path atomically: to a new file beside it, which
// it syncs and then renames over path, so that a reader finds the old content or all
// of the new, never a part. The new file has mode perm less the umask or, where path
// is a regular file already, that file's permissions. Errors are *os.PathError, or
// *os.LinkError for the rename.
//
// It does what renameio.WriteFile did here, in plain system calls: renameio links
// os.Root, os.CreateTemp and math/rand (about 50 KB of the launcher). The new file is
// named after path and the process's ID, and O_EXCL keeps two writers off one name.
func Replace(path string, data []byte, perm os.FileMode) error {
	mode, keep := uint32(perm.Perm()), false
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		mode, keep = st.Mode&uint32(os.ModePerm), true
	} else if err != nil && err != unix.ENOENT {
		return &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	dir, base := "", path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir, base = path[:i+1], path[i+1:]
	}
	prefix := dir + "." + base + "." + strconv.Itoa(unix.Getpid()) + "."
	var tmp string
	var fd int
	for n := 0; ; n++ {
		tmp = prefix + strconv.Itoa(n)
		var err error
		fd, err = unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, mode)
		if err == nil {
			break
		}
		// EEXIST: one left by a process of the same ID that died before its rename.
		if err != unix.EINTR && (err != unix.EEXIST || n == 100) {
			return &os.PathError{Op: "open", Path: tmp, Err: err}
		}
	}
	fail := func(op string, err error) error {
		unix.Close(fd)
		unix.Unlink(tmp)
		return &os.PathError{Op: op, Path: tmp, Err: err}
	}
	for b := data; len(b) > 0; {
		m, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fail("write", err)
		}
		b = b[m:]
	}
	// The umask applied to mode at the open; an existing file's mode is kept whole.
	if keep {
		if err := unix.Fchmod(fd, mode); err != nil {
			return fail("chmod", err)
		}
	}
	if err := unix.Fsync(fd); err != nil {
		return fail("sync", err)
	}
	if err := unix.Close(fd); err != nil {
		unix.Unlink(tmp)
		return &os.PathError{Op: "close", Path: tmp, Err: err}
	}
	if err := unix.Rename(tmp, path); err != nil {
		unix.Unlink(tmp)
		return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
	}
	return nil
}
