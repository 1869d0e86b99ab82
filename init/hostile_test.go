package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"launch/internal/testutil"
)

// A hostile ROOTFS: images made to turn the launcher's own steps against the host.
// TestHostileMountPoints (badinput_test.go) has proc, sys, dev and tmp as symlinks out
// of the root, loops and files, and TestBindDestinationInsideRoot the --bind
// destinations through symlinks; the tests here add what else an image can put where
// the launcher works. Each checks that no host path is mounted on, created, changed or
// removed, and that an error names the offending path.

// TestHostileNotADirectory: a FIFO or a device node (the host's disk) where a mount
// point must be a directory. The launcher opens mount targets with O_PATH, so a FIFO
// does not block it and a device is never opened; the mount fails with ENOTDIR.
func TestHostileNotADirectory(t *testing.T) {
	w := newWatch(t)
	major, minor := rootDisk(t)
	src, _ := hostDir(t)
	for _, kind := range []struct {
		name string
		make func(p string) error
	}{
		{"FIFO", func(p string) error { return unix.Mkfifo(p, 0o644) }},
		{"block device of the host's disk", func(p string) error {
			return unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(major, minor)))
		}},
		{"character device", func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))) }},
	} {
		for _, tt := range []struct {
			where string // the entry of ROOTFS that is not a directory
			opts  []string
			names string // the path the error must name, below ROOTFS
			what  string // the step that fails
		}{
			{"proc", nil, "proc", "mount proc"},
			{"dev", nil, "dev", "mount tmpfs"},
			{"sys", nil, "sys", "mount sysfs"},
			{"tmp", nil, "tmp", "mount tmpfs"},
			{"data", []string{"--bind", src + ":/data"}, "data", "bind " + src},
			{"data", []string{"--bind", src + ":/data/below"}, "data/below", "bind " + src},
		} {
			t.Run(kind.name+" at "+tt.names, func(t *testing.T) {
				rootfs := testutil.Rootfs(t)
				p := filepath.Join(rootfs, tt.where)
				if err := os.RemoveAll(p); err != nil {
					t.Fatal(err)
				}
				if err := kind.make(p); err != nil {
					t.Fatal(err)
				}
				var st0 unix.Stat_t
				unix.Lstat(p, &st0)
				r := w.run(append(append([]string{}, tt.opts...), rootfs, "/probe", "exit", "0")...)
				want := fmt.Sprintf("launch: error: %s: %s: not a directory", tt.what, filepath.Join(rootfs, tt.names))
				if r.code != 125 || !strings.HasPrefix(r.stderr, want) {
					t.Errorf("exit %d, stderr %q; want 125 and %q", r.code, r.stderr, want)
				}
				var st unix.Stat_t
				if err := unix.Lstat(p, &st); err != nil || st.Mode != st0.Mode || st.Rdev != st0.Rdev || st.Ino != st0.Ino {
					t.Errorf("%s changed: mode %o rdev %d (%v), was %o %d", p, st.Mode, st.Rdev, err, st0.Mode, st0.Rdev)
				}
			})
		}
	}
	if ents, _ := os.ReadDir(src); len(ents) != 1 {
		t.Errorf("the --bind source changed: %d entries, want only its marker", len(ents))
	}
	w.check()
}

// TestHostileDevNull: an image whose /dev/null is a symlink to a procfs file of the
// host (runc CVE-2025-31133: the runtime bound the image's /dev/null over masked
// paths, and the container wrote through it). The launcher builds /dev itself and
// masks with the host's own /dev/null, so the container's /dev/null is a device node,
// the masked paths read empty, and writes to either reach nothing. The symlink points
// at fs.lease-break-time, a setting of the whole machine that is harmless to change
// and that the host reads back.
func TestHostileDevNull(t *testing.T) {
	testutil.RequireBusybox(t)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	const target = "/proc/sys/fs/lease-break-time"
	before, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	null := filepath.Join(rootfs, "dev/null")
	if err := os.Symlink(target, null); err != nil {
		t.Fatal(err)
	}
	r := w.run(rootfs, "/bin/sh", "-c", `echo 12345 > /dev/null; echo "write $?";
		for f in /proc/keys /proc/timer_list /proc/kcore; do
			[ -e $f ] && echo "$f $(/probe try readn $f) $(/probe try write $f 12345)"
		done;
		ls -l /dev/null`)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if lines[0] != "write 0" {
		t.Errorf("writing to /dev/null: %q, want write 0", lines[0])
	}
	// A masked path is the host's /dev/null bound read-only: it reads empty, and a
	// write to it, as to any device node, is the device's (the null device's) to take.
	for _, l := range lines[1 : len(lines)-1] {
		if f := strings.Fields(l); len(f) != 3 || f[1] != "0" || f[2] != "ok" {
			t.Errorf("masked path: %q, want it to read empty (0) and to swallow writes (ok)", l)
		}
	}
	if f := strings.Fields(lines[len(lines)-1]); len(f) < 6 || f[0] != "crw-rw-rw-" || f[4] != "1," || f[5] != "3" {
		t.Errorf("/dev/null in the container: %q, want the character device 1, 3", lines[len(lines)-1])
	}
	if after, _ := os.ReadFile(target); string(after) != string(before) {
		t.Errorf("%s changed from %q to %q", target, before, after)
	}
	if l, err := os.Readlink(null); err != nil || l != target {
		t.Errorf("the image's /dev/null changed: %q %v", l, err)
	}
	w.check()
}

// deepDir makes depth nested directories named name below parent, one at a time
// relative to the last, since the whole path may be longer than the kernel takes
// (PATH_MAX), and returns the path and a descriptor of the deepest.
func deepDir(t *testing.T, parent, name string, depth int) (string, int) {
	t.Helper()
	fd, err := unix.Open(parent, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := parent
	for i := 0; i < depth; i++ {
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd, p = next, p+"/"+name
	}
	t.Cleanup(func() { unix.Close(fd) })
	return p, fd
}

// TestHostileDeepPaths: a ROOTFS hundreds of directories deep works; one whose path is
// longer than PATH_MAX, and a --bind destination longer than that, fail with an error
// that names the path; a long destination below PATH_MAX works.
func TestHostileDeepPaths(t *testing.T) {
	w := newWatch(t)
	src, _ := hostDir(t)
	if err := os.WriteFile(filepath.Join(src, "data"), []byte("bound"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	deep, fd := deepDir(t, base, "d", 400)
	rootfs := deep + "/rootfs"
	if err := unix.Renameat(unix.AT_FDCWD, testutil.Rootfs(t), fd, "rootfs"); err != nil {
		t.Fatal(err)
	}
	t.Logf("ROOTFS is %d directories deep, %d bytes", 402, len(rootfs))

	t.Run("deep ROOTFS", func(t *testing.T) {
		if got := w.try(rootfs, nil, "read", "/etc/passwd"); got != "ok" {
			t.Errorf("read /etc/passwd in a deep ROOTFS: %s, want ok", got)
		}
	})
	long := strings.Repeat("/x123456789", 300) // 3300 bytes, below PATH_MAX with ROOTFS's 818
	t.Run("long --bind destination", func(t *testing.T) {
		if got := w.try(rootfs, []string{"--bind", src + ":" + long}, "read", long+"/data"); got != "ok" {
			t.Errorf("read through a --bind of %d bytes: %s, want ok", len(long), got)
		}
	})
	t.Run("--bind destination beyond PATH_MAX", func(t *testing.T) {
		dst := strings.Repeat(long, 2)
		r := w.run("--bind", src+":"+dst, rootfs, "/probe", "exit", "0")
		if r.code != 125 || !strings.HasPrefix(r.stderr, "launch: error: mkdir -p: "+rootfs+"/x123456789/") ||
			!strings.Contains(r.stderr, ": file name too long") {
			t.Errorf("--bind to %d bytes: exit %d, stderr %.200q...; want 125, mkdir -p naming the path, file name too long", len(dst), r.code, r.stderr)
		}
	})
	t.Run("ROOTFS beyond PATH_MAX", func(t *testing.T) {
		deeper, dfd := deepDir(t, deep, "d", 2000)
		if err := unix.Renameat(fd, "rootfs", dfd, "rootfs"); err != nil {
			t.Fatal(err)
		}
		defer unix.Renameat(dfd, "rootfs", fd, "rootfs")
		r := w.run(deeper+"/rootfs", "/probe", "exit", "0")
		want := "launch: error: ROOTFS: " + deeper + "/rootfs: file name too long\n"
		if r.code != 125 || !strings.HasPrefix(r.stderr, want) {
			t.Errorf("ROOTFS of %d bytes: exit %d, stderr %.200q...; want 125 and %.100q...", len(deeper), r.code, r.stderr, want)
		}
	})
	if ents, _ := os.ReadDir(src); len(ents) != 2 {
		t.Errorf("the --bind source changed: %d entries, want 2", len(ents))
	}
	w.check()
}

// TestHostileSetuidCommand: COMMAND is a set-user-ID root binary, a set-group-ID one
// or one with a file capability (CAP_SETUID, permitted), run with --user 1000. The
// launcher sets no_new_privs, so the exec grants nothing: every ID stays 1000 and the
// capability sets stay empty. On the host, outside a container, the same binaries do
// gain their privileges: the witness that they are what they claim to be.
func TestHostileSetuidCommand(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	probeBin := testutil.Build(t, "./internal/probe")
	// A file capability, version 2 (linux/capability.h, struct vfs_cap_data): the
	// magic, then permitted and inheritable, low and high words; CAP_SETUID permitted.
	fcap := make([]byte, 20)
	binary.LittleEndian.PutUint32(fcap[0:], 0x02000000)
	binary.LittleEndian.PutUint32(fcap[4:], 1<<unix.CAP_SETUID)
	witness, err := os.MkdirTemp("/var/tmp", "launch-test-suid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(witness) })
	os.Chmod(witness, 0o755) // for user 1000
	for _, tt := range []struct {
		name   string
		mode   os.FileMode
		xattr  []byte
		gained func(ids []string) bool // what the binary gains on the host, as 1000
	}{
		{"setuid", 0o755 | os.ModeSetuid, nil, func(ids []string) bool { return ids[1] == "0" }},
		{"setgid", 0o755 | os.ModeSetgid, nil, func(ids []string) bool { return ids[4] == "0" }},
		{"file capability", 0o755, fcap, func(ids []string) bool { return ids[6] == "0000000000000080" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := os.ReadFile(probeBin)
			if err != nil {
				t.Fatal(err)
			}
			for _, dir := range []string{rootfs, witness} {
				p := filepath.Join(dir, "privileged")
				os.Remove(p)
				if err := os.WriteFile(p, b, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, tt.mode); err != nil {
					t.Fatal(err)
				}
				if tt.xattr != nil {
					if err := unix.Setxattr(p, "security.capability", tt.xattr, 0); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The witness: on the host, the binary gains its privilege.
			cmd := exec.Command(filepath.Join(witness, "privileged"), "try", "ids")
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000}}
			out, err := cmd.Output()
			if ids := strings.Fields(string(out)); err != nil || len(ids) != 9 || !tt.gained(ids) {
				t.Fatalf("on the host, as 1000: %q %v: the binary gains nothing, the witness does not work", out, err)
			}
			want := "1000 1000 1000 1000 1000 1000 0000000000000000 0000000000000000 1"
			r := w.run("--user", "1000", rootfs, "/privileged", "try", "ids")
			if got := strings.TrimSpace(r.stdout); r.code != 0 || got != want {
				t.Errorf("--user 1000 /privileged: ids = %q (exit %d, stderr %q), want %q", got, r.code, r.stderr, want)
			}
		})
	}
	w.check()
}
