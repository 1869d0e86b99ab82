package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"launch/internal/testutil"
)

// Attacks on --bind sources by a container that can write a directory on their way:
// the usual case of a share bound read-write into container A, part of which the
// caller then binds into container B. A may replace any component with a symlink to a
// host path, or put a device node where the caller expects a file.

// bindMarker is a file only the share's own etc holds, never the host's /etc.
const bindMarker = "launch-bind-marker"

// newShare makes the share: site/etc holding bindMarker, and conf/app.conf.
func newShare(t *testing.T) string {
	t.Helper()
	share, _ := hostDir(t)
	for _, d := range []string{"site/etc", "conf"} {
		if err := os.MkdirAll(filepath.Join(share, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"site/etc/" + bindMarker, "conf/app.conf"} {
		if err := os.WriteFile(filepath.Join(share, f), []byte("share\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return share
}

// TestEscapeBindSourcePlanted: container A replaces a directory of the share with a
// symlink to the host's /, and a file with a node for /dev/kmsg. B's --bind of
// share/site/etc would be the host's /etc read-write, and its --bind of the file an
// openable device, if launch followed the symlink or kept dev on a file bind. Both are
// refused with a line that names what is wrong, and the host is as it was.
func TestEscapeBindSourcePlanted(t *testing.T) {
	testutil.RequireBusybox(t)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	share := newShare(t)
	plant := "rm -rf /share/site && ln -s / /share/site && rm /share/conf/app.conf && mknod /share/conf/app.conf c 1 11"
	if r := w.run("--bind", share+":/share", rootfs, "/bin/busybox", "sh", "-c", plant); r.code != 0 {
		t.Fatalf("container A could not plant: exit %d, %s", r.code, r.stderr)
	}
	if fi, err := os.Lstat(filepath.Join(share, "site")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("share/site is not the planted symlink: %v %v", fi, err)
	}
	for _, c := range []struct {
		bind, want string
	}{
		{share + "/site/etc:/mnt/etc", "launch: error: --bind " + share + "/site/etc: lstat " + share + "/site: is a symlink"},
		{share + "/site/etc:/mnt/etc:ro", "is a symlink"},
		{share + "/conf/app.conf:/etc/app.conf", "launch: error: --bind " + share + "/conf/app.conf: is a device node"},
		{share + "/conf/app.conf:/etc/app.conf:ro", "is a device node"},
	} {
		r := w.run("--bind", c.bind, rootfs, "/probe", "try", "write", "/mnt/etc/launch-escaped", "x")
		if r.code != 125 || !strings.Contains(r.stderr, c.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("--bind %s: exit %d, stderr %q; want 125 and one line with %q", c.bind, r.code, r.stderr, c.want)
		}
	}
	if _, err := os.Stat("/etc/launch-escaped"); err == nil {
		os.Remove("/etc/launch-escaped")
		t.Errorf("a container wrote into the host's /etc")
	}
	w.check()
}

// TestBindDeviceOption: the dev option binds a device node as one, and only a device
// node; every other bind is nodev, a file's included.
func TestBindDeviceOption(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	share := newShare(t)
	file := share + "/conf/app.conf"
	out := w.try(rootfs, []string{"--bind", "/dev/null:/mnt/null:dev"}, "write", "/mnt/null", "x")
	if out != "ok" {
		t.Errorf("--bind /dev/null:/mnt/null:dev: writing it gave %q, want ok", out)
	}
	if r := w.run("--bind", file+":/etc/app.conf:dev", rootfs, "/probe", "exit", "0"); r.code != 125 || !strings.Contains(r.stderr, "the dev option wants a device node") {
		t.Errorf("--bind FILE:DST:dev: exit %d, stderr %q; want 125 and a refusal", r.code, r.stderr)
	}
	r := w.run("--bind", file+":/etc/app.conf", rootfs, "/bin/busybox", "cat", "/proc/self/mountinfo")
	if r.code != 0 {
		t.Fatalf("file bind: exit %d, %s", r.code, r.stderr)
	}
	for _, l := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(l); len(f) > 5 && f[4] == "/etc/app.conf" && !strings.Contains(f[5], "nodev") {
			t.Errorf("a file bind is not nodev: %s", l)
		}
	}
	w.check()
}

// TestRaceBindSource: a neighbour swaps a directory on the way to a --bind source
// with a symlink to the host's / while launch starts containers, as fast as it can.
// A start may be refused; no container may run with anything but the share's own
// directory at the destination. Each way of finding the source is raced: openat2,
// the walk of kernels before 5.6, and mount(2) of kernels before 5.2; 30 starts each in
// make test, 200 in make test-long.
func TestRaceBindSource(t *testing.T) {
	testutil.RequireBusybox(t)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	share := newShare(t)
	if err := os.Symlink("/", filepath.Join(share, "alt")); err != nil {
		t.Fatal(err)
	}
	starts := testutil.Count(t, "starts for each way of finding the source", 30, 200)
	modes := []struct {
		name  string
		nosys []string
	}{
		{"openat2", nil},
		{"walk", []string{"openat2"}},
		{"mount(2)", []string{"openat2", "fsopen", "fsconfig", "fsmount", "move_mount", "open_tree"}},
	}
	for _, md := range modes {
		t.Run(md.name, func(t *testing.T) {
			sw := swapper(filepath.Join(share, "site"), filepath.Join(share, "alt"))
			ran, refused := 0, 0
			for i := 0; i < starts; i++ {
				r := w.runWith(launchIO{nosys: md.nosys}, "--bind", share+"/site/etc:/mnt/etc", rootfs,
					"/bin/busybox", "ls", "/mnt/etc")
				switch {
				case r.code == 125:
					refused++
				case r.code == 0 && strings.TrimSpace(r.stdout) == bindMarker:
					ran++
				default:
					t.Errorf("start %d: exit %d, /mnt/etc holds %q (stderr %q); want the share's etc or a refusal", i, r.code, head(r.stdout, 80), r.stderr)
				}
			}
			swaps := sw.stop()
			if fi, err := os.Lstat(filepath.Join(share, "site")); err == nil && fi.Mode()&os.ModeSymlink != 0 {
				unix.Renameat2(unix.AT_FDCWD, filepath.Join(share, "site"), unix.AT_FDCWD, filepath.Join(share, "alt"), unix.RENAME_EXCHANGE)
			}
			t.Logf("%d starts while %d swaps: %d ran with the share's etc, %d refused", starts, swaps, ran, refused)
		})
	}
	w.check()
}

// head returns s cut to at most n bytes, for messages.
func head(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
