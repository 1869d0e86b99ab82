// Package rawfile reads files of /proc, /sys and cgroup file systems with plain
// system calls. os.ReadFile and os.ReadDir would do as well, but the first use of an
// os.File sets up the runtime's network poller (an epoll instance, an eventfd and a
// thread to watch them), which a launcher started often on small machines has no use
// for. It also copies files, for the programs around the launcher (tests, the bench,
// the test VMs' init), which share its one dependency, x/sys.
package rawfile

import (
	"os"

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
