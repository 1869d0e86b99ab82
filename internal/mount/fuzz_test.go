package mount

import (
	"os"
	"path"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// initramfs reports what RootIsInitramfs must: the file system type of the first
// mount at / in a mountinfo file, as far as its line can be read, is rootfs.
func initramfs(mountinfo string) bool {
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || f[4] != "/" {
			continue
		}
		for i := 6; i+1 < len(f); i++ {
			if f[i] == "-" {
				return f[i+1] == "rootfs"
			}
		}
	}
	return false
}

// fixedDash reports whether a line of mountinfo has "-" among its six fixed fields,
// which the kernel never writes (a root and a mount point are absolute paths, the
// options a list such as rw,relatime): where the separator is then is anyone's guess.
func fixedDash(mountinfo string) bool {
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		for i := 0; i < len(f) && i < 6; i++ {
			if f[i] == "-" {
				return true
			}
		}
	}
	return false
}

// FuzzRootIsInitramfs: RootIsInitramfs never panics, agrees with the format of
// proc_pid_mountinfo(5) (the separator "-" comes after the six fixed fields, and the
// file system type after it), and only a line for / decides: lines for other mount
// points, before or after, change nothing.
//
//	go test -run '^$' -fuzz FuzzRootIsInitramfs -fuzztime 30s ./internal/mount
func FuzzRootIsInitramfs(f *testing.F) {
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		f.Add(mi, []byte("99 1 0:50 / /mnt rw - tmpfs tmpfs rw\n"))
	}
	for _, s := range []string{
		"1 1 0:2 / / rw - rootfs rootfs rw\n",
		"1 1 0:2 / / rw shared:1 - rootfs rootfs rw\n",
		"26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n",
		"21 26 0:20 / /proc rw - proc proc rw\n1 1 0:2 / / rw - rootfs rootfs rw\n",
		"1 1 0:2 / / rw - rootfs\n",
		"1 1 0:2 / / rw master:1 - - rootfs rw\n",
		"1 1 0:2 - / rw a - b c d\n",
		"1 1 0:2 / / - rw - tmpfs tmpfs rw\n",
		"",
	} {
		f.Add([]byte(s), []byte("2 1 0:3 / /proc rw - proc proc rw\n"))
	}
	f.Fuzz(func(t *testing.T, mountinfo, other []byte) {
		got := RootIsInitramfs(mountinfo)
		if want := initramfs(string(mountinfo)); got != want && !fixedDash(string(mountinfo)) {
			t.Fatalf("RootIsInitramfs(%.300q) = %v, want %v", mountinfo, got, want)
		}
		// A line for another mount point, put first, leaves the answer as it was.
		o := strings.ReplaceAll(string(other), "\n", " ")
		if f := strings.Fields(o); len(f) >= 5 && f[4] != "/" {
			if again := RootIsInitramfs([]byte(o + "\n" + string(mountinfo))); again != got {
				t.Fatalf("RootIsInitramfs(%.300q) = %v, but %v with %q before", mountinfo, got, again, o)
			}
		}
	})
}

// FuzzNewTarget: NewTarget never panics; it accepts exactly the clean absolute paths
// without a NUL byte, and prepares each as its parts: relative path, parent, last
// component and components, as C strings.
//
//	go test -run '^$' -fuzz FuzzNewTarget -fuzztime 30s ./internal/mount
func FuzzNewTarget(f *testing.F) {
	for _, p := range []string{"/", "/proc", "/dev/pts", "/a/b/c", "", "rel", "/a/../b", "/a/", "//a", "/a\x00b", "/\x00", "/a/./b"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tg, err := NewTarget(p, NoSymlinks, CreateDir)
		valid := path.IsAbs(p) && path.Clean(p) == p && !strings.ContainsRune(p, 0)
		if (err == nil) != valid {
			t.Fatalf("NewTarget(%q): error %v, want an error: %v", p, err, !valid)
		}
		if err != nil {
			return
		}
		rel := strings.TrimPrefix(p, "/")
		if rel == "" {
			rel = "."
		}
		var comps []string
		for _, c := range tg.comps {
			comps = append(comps, unix.BytePtrToString(c))
		}
		got := unix.BytePtrToString(tg.rel)
		if got != rel || tg.Path != p || (rel != "." && strings.Join(comps, "/") != rel) ||
			path.Join(unix.BytePtrToString(tg.parent), unix.BytePtrToString(tg.name)) != rel {
			t.Fatalf("NewTarget(%q): rel %q, parent %q, name %q, comps %q", p, got,
				unix.BytePtrToString(tg.parent), unix.BytePtrToString(tg.name), comps)
		}
	})
}
