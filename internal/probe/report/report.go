// Package report is what the probe reports about the container it runs in, shared
// with the tests that read it.
package report

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Report is what probe report prints.
type Report struct {
	PID, PPID, PGID, SID int
	UID, GID             int
	Groups               []int
	Hostname             string
	Cwd                  string
	Env                  []string
	Status               map[string]string // CapInh, CapPrm, CapEff, CapBnd, CapAmb, NoNewPrivs, Seccomp
	Mounts               []string          // /proc/self/mountinfo
	Cgroup               []string          // /proc/self/cgroup
	FDs                  map[string]string // descriptor -> target
	NS                   map[string]string // namespace -> identity
	Interfaces           map[string]bool   // name -> up
	Files                map[string]string // /dev entries: type, mode, device or target
	Limits               map[string]string // cgroup limit files under /sys/fs/cgroup
	TTY                  string            // result of opening /dev/tty
}

// Collect gathers the report; fds are the descriptors from OpenFDs.
func Collect(fds map[string]string) Report {
	r := Report{
		PID: os.Getpid(), PPID: os.Getppid(), PGID: unix.Getpgrp(), UID: os.Getuid(), GID: os.Getgid(),
		Env: os.Environ(), Status: map[string]string{}, FDs: map[string]string{}, NS: map[string]string{},
		Interfaces: map[string]bool{}, Files: map[string]string{}, Limits: map[string]string{},
	}
	r.SID, _ = unix.Getsid(0)
	r.Groups, _ = os.Getgroups()
	r.Hostname, _ = os.Hostname()
	r.Cwd, _ = os.Getwd()
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			if strings.HasPrefix(k, "Cap") || k == "NoNewPrivs" || k == "Seccomp" {
				r.Status[k] = strings.TrimSpace(v)
			}
		}
	}
	r.Mounts = lines("/proc/self/mountinfo")
	r.Cgroup = lines("/proc/self/cgroup")
	r.FDs = fds
	for _, n := range []string{"cgroup", "ipc", "mnt", "net", "pid", "uts", "user"} {
		r.NS[n], _ = os.Readlink("/proc/self/ns/" + n)
	}
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			r.Interfaces[i.Name] = i.Flags&net.FlagUp != 0
		}
	}
	if ents, err := os.ReadDir("/dev"); err == nil {
		for _, e := range ents {
			r.Files[e.Name()] = describe("/dev/" + e.Name())
		}
	}
	for _, p := range []string{"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.swappiness", "memory.max",
		"memory.swap.max", "cpu.shares", "cpu.weight", "cpu.max", "cpu.cfs_quota_us", "pids.max", "blkio.weight",
		"blkio.bfq.weight", "io.weight", "io.bfq.weight"} {
		matches, _ := filepath.Glob("/sys/fs/cgroup/*/" + p)
		if m2, _ := filepath.Glob("/sys/fs/cgroup/" + p); len(m2) > 0 {
			matches = append(matches, m2...)
		}
		for _, m := range matches {
			if b, err := os.ReadFile(m); err == nil {
				r.Limits[m] = strings.TrimSpace(string(b))
			}
		}
	}
	if f, err := os.Open("/dev/tty"); err != nil {
		r.TTY = ErrName(err)
	} else {
		r.TTY = "ok"
		f.Close()
	}
	return r
}

func lines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// describe returns "c 0666 1:3", "d 0755", "l TARGET" or "f 0644".
func describe(p string) string {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return ErrName(err)
	}
	mode := st.Mode & 0o7777
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		return fmt.Sprintf("c %04o %d:%d", mode, unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
	case unix.S_IFBLK:
		return fmt.Sprintf("b %04o %d:%d", mode, unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
	case unix.S_IFDIR:
		return fmt.Sprintf("d %04o", mode)
	case unix.S_IFLNK:
		t, _ := os.Readlink(p)
		return "l " + t
	}
	return fmt.Sprintf("f %04o", mode)
}

// ErrName returns the errno name of err (EPERM), or err's text.
func ErrName(err error) string {
	if err == nil {
		return "ok"
	}
	var e unix.Errno
	for {
		if x, ok := err.(unix.Errno); ok {
			e = x
			break
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err.Error()
		}
		err = u.Unwrap()
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return e.Error()
}

// OpenFDs lists the open descriptors and their targets with raw system calls, before
// anything in the program opens one of its own. The listing's own descriptor is left
// out.
func OpenFDs() map[string]string {
	out := make(map[string]string)
	dir, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		out["error"] = err.Error()
		return out
	}
	defer unix.Close(dir)
	buf := make([]byte, 4096)
	var names []string
	for {
		n, err := unix.ReadDirent(dir, buf)
		if err != nil || n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	for _, name := range names {
		if name == fmt.Sprint(dir) {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + name)
		if err != nil {
			target = ErrName(err)
		}
		out[name] = target
	}
	return out
}
