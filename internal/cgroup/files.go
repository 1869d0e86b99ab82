package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"launch/internal/rawfile"
)

// writeFile writes value to the cgroup file dir/name. cgroupfs files are written with
// one write(2) each and never created, so os.WriteFile (O_CREAT|O_TRUNC) is not used.
// Errors are *os.PathError naming the file.
func writeFile(dir, name, value string) error {
	p := filepath.Join(dir, name)
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(value)); err != nil {
		return &os.PathError{Op: "write " + strings.TrimSpace(value) + " to", Path: p, Err: err}
	}
	return nil
}

// readFile reads the cgroup file dir/name.
func readFile(dir, name string) (string, error) {
	b, err := rawfile.ReadFile(filepath.Join(dir, name))
	return string(b), err
}

// exists reports whether dir/name exists.
func exists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}

// isDir reports whether p is a directory.
func isDir(p string) bool {
	var st unix.Stat_t
	return unix.Stat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// missing reports whether err means a cgroup file or controller is not there.
func missing(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP)
}

// keyValue returns the value of key in a flat-keyed cgroup file (memory.events,
// memory.oom_control: "key value" lines).
func keyValue(data, key string) string {
	for _, line := range strings.Split(data, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
