// Package rawfile reads files of /proc, /sys and cgroup file systems with plain
// system calls. os.ReadFile and os.ReadDir would do as well, but the first use of an
// os.File sets up the runtime's network poller (an epoll instance, an eventfd and a
// thread to watch them), which a launcher started often on small machines has no use
// for.
package rawfile

import (
	"io/fs"
	"os"
	"time"

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

// FS is the file system below root as an fs.ReadFileFS and fs.ReadDirFS, for code
// that reads its files through io/fs (and recorded copies of them in tests).
type FS string

// Open is not supported: use ReadFile and ReadDir.
func (f FS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
}

// ReadFile reads the file name below f.
func (f FS) ReadFile(name string) ([]byte, error) { return ReadFile(string(f) + "/" + name) }

// ReadDir lists the directory name below f. Entries carry their names only.
func (f FS) ReadDir(name string) ([]fs.DirEntry, error) {
	names, err := ReadDirNames(string(f) + "/" + name)
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, len(names))
	for i, n := range names {
		out[i] = entry(n)
	}
	return out, nil
}

// entry is a directory entry known by its name only.
type entry string

func (e entry) Name() string               { return string(e) }
func (e entry) IsDir() bool                { return false }
func (e entry) Type() fs.FileMode          { return 0 }
func (e entry) Info() (fs.FileInfo, error) { return info(e), nil }

type info string

func (i info) Name() string       { return string(i) }
func (i info) Size() int64        { return 0 }
func (i info) Mode() fs.FileMode  { return 0 }
func (i info) ModTime() time.Time { return time.Time{} }
func (i info) IsDir() bool        { return false }
func (i info) Sys() any           { return nil }
