package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFreeID: the ordinary user's ID is the first one no user and no group has.
func TestFreeID(t *testing.T) {
	const passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:61235:100::/home/alice:/bin/sh\nbob:x:1000:61236::/home/bob:/bin/sh\n"
	const group = "root:x:0:\nodd:x:61237:alice\n# comment\n"
	tests := []struct {
		name          string
		passwd, group string
		first         uint32
		want          uint32
		wantOK        bool
	}{
		{"free at once", passwd, group, 1, 1, true},
		{"uid, primary gid, group taken", passwd, group, 61235, 61238, true},
		{"empty files", "", "", 61235, 61235, true},
		{"uid and gid of one account", "a:x:5:5::/:/bin/sh\n", "", 5, 6, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := freeID([]byte(tt.passwd), []byte(tt.group), tt.first)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("freeID(%d) = %d, %v, want %d, %v", tt.first, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// TestOthersNeed: what others must be allowed on each kind of file of the root file
// system.
func TestOthersNeed(t *testing.T) {
	tests := []struct {
		name string
		mode fs.FileMode
		want fs.FileMode
	}{
		{"directory", fs.ModeDir | 0o700, 0o005},
		{"program", 0o700, 0o005},
		{"data", 0o600, 0o004},
		{"symbolic link", fs.ModeSymlink | 0o777, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := othersNeed(tt.mode); got != tt.want {
				t.Errorf("othersNeed(%v) = %v, want %v", tt.mode, got, tt.want)
			}
		})
	}
}

// TestOthersReach: a 0700 directory on the way, or a file others cannot read, is
// found; a tree open to all is not.
func TestOthersReach(t *testing.T) {
	dir := openTempDir(t)
	if err := othersReach(dir, true); err != nil {
		// The test's own temporary directory is beyond reach: nothing to test here.
		t.Skipf("skipping: %v", err)
	}
	root := filepath.Join(dir, "rootfs")
	mustMkdir(t, filepath.Join(root, "bin"), 0o755)
	mustWrite(t, filepath.Join(root, "bin", "busybox"), 0o755)
	if err := os.Symlink("busybox", filepath.Join(root, "bin", "true")); err != nil {
		t.Fatal(err)
	}
	if err := othersReach(root, true); err != nil {
		t.Errorf("othersReach(open tree) = %v, want nil", err)
	}
	if err := othersReach(filepath.Join(root, "bin", "busybox"), false); err != nil {
		t.Errorf("othersReach(o+x program) = %v, want nil", err)
	}

	mustWrite(t, filepath.Join(root, "secret"), 0o600)
	if err := othersReach(root, true); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("othersReach(tree with a 0600 file) = %v, want an error naming it", err)
	}
	closed := filepath.Join(dir, "closed")
	mustMkdir(t, filepath.Join(closed, "in"), 0o755)
	mustWrite(t, filepath.Join(closed, "in", "launch"), 0o755)
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := othersReach(filepath.Join(closed, "in", "launch"), false); err == nil || !strings.Contains(err.Error(), closed) {
		t.Errorf("othersReach(program under a 0700 directory) = %v, want an error naming %s", err, closed)
	}
}

// openTempDir is a temporary directory of the test's, opened to all: that of
// t.TempDir is in one only its owner may search.
func openTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "launch-bench-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mustMkdir(t *testing.T, dir string, perm fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, name string, perm fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, []byte("x"), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, perm); err != nil {
		t.Fatal(err)
	}
}

// timedEntry is an entry of the named peer whose runs took walls and cpus ms.
func timedEntry(name string, walls, cpus []float64) *entry {
	e := &entry{label: name, peer: &peer{name: name}, pay: payloadTrue}
	for i := range walls {
		e.samples = append(e.samples, sample{Wall: time.Duration(walls[i] * 1e6), CPU: time.Duration(cpus[i] * 1e6)})
	}
	return e
}

// TestUsernsTable: the report sets launch --userns against launch, bwrap unprivileged
// against bwrap, and launch against bwrap run by an ordinary user, and says which peer
// is missing.
func TestUsernsTable(t *testing.T) {
	b := &bench{cfg: &config{runs: 3, warmup: 1}}
	b.res.startup[0] = &startup{entries: []*entry{
		timedEntry("launch", []float64{10, 12, 11}, []float64{9, 10, 11}),
		timedEntry("launch --userns", []float64{13, 12.5, 14}, []float64{12, 11, 13}),
		timedEntry("launch (unprivileged)", []float64{9, 8, 10}, []float64{6, 7, 8}),
		timedEntry("bwrap", []float64{5, 5, 5}, []float64{2, 2, 2}),
		timedEntry("bwrap (unprivileged)", []float64{6, 6, 6}, []float64{2.5, 2.5, 2.5}),
	}}
	b.res.startup[1] = &startup{spaced: 500 * time.Millisecond, entries: []*entry{
		timedEntry("launch", []float64{10}, []float64{9}),
		timedEntry("launch --userns", []float64{12}, []float64{10}),
		{label: "launch (unprivileged)", peer: &peer{name: "launch (unprivileged)"}, pay: payloadTrue},
		timedEntry("bwrap (unprivileged)", []float64{6}, []float64{2}),
	}}
	var w strings.Builder
	b.usernsTable(&w)
	got := w.String()
	for _, want := range []string{
		"A user namespace costs launch +2.00 ms wall and +2.00 ms CPU at start (back to back, medians: 13.00 and 12.00 ms with `--userns auto`, 11.00 and 10.00 ms without); " +
			"run by an ordinary user, launch takes 9.00 ms wall and 7.00 ms CPU, bwrap 6.00 and 2.50 ms: 1.50× and 2.80× bwrap's.",
		"| launch --userns − launch (as root) | back to back | +2.00 (13.00 − 11.00) | +2.00 (12.00 − 10.00) |",
		"| bwrap (unprivileged) − bwrap (as root, also in a user namespace) | back to back | +1.00 (6.00 − 5.00) | +0.50 (2.50 − 2.00) |",
		"| launch (unprivileged) vs bwrap (unprivileged) | back to back | 9.00 vs 6.00: 1.50× | 7.00 vs 2.50: 2.80× |",
		"| launch --userns − launch (as root) | starts 500ms apart | +2.00 (12.00 − 10.00) | +1.00 (10.00 − 9.00) |",
		"| launch (unprivileged) vs bwrap (unprivileged) | starts 500ms apart | launch (unprivileged) or bwrap (unprivileged) not measured |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("user namespace table lacks %q:\n%s", want, got)
		}
	}
}

// TestUnprivilegedCopies: a launcher and root file system in a 0700 directory are
// copied where others can reach them, modes opened, links kept; the originals are left
// as they are.
func TestUnprivilegedCopies(t *testing.T) {
	dir := openTempDir(t)
	if err := othersReach(dir, true); err != nil {
		t.Skipf("skipping: %v", err)
	}
	out := filepath.Join(dir, "out")
	root := filepath.Join(out, "rootfs")
	mustMkdir(t, filepath.Join(root, "bin"), 0o700)
	mustWrite(t, filepath.Join(root, "bin", "busybox"), 0o700)
	mustWrite(t, filepath.Join(root, "passwd"), 0o600)
	if err := os.Symlink("busybox", filepath.Join(root, "bin", "true")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(out, "launch"), 0o700)
	if err := os.Chmod(out, 0o700); err != nil {
		t.Fatal(err)
	}
	b := &bench{launch: filepath.Join(out, "launch"), rootfs: root}
	t.Cleanup(func() {
		for _, d := range b.tempDirs {
			os.RemoveAll(d)
		}
	})
	u := b.unprivileged()
	if u.err != nil {
		t.Fatalf("unprivileged() error: %v", u.err)
	}
	if u.copied == "" || u.launch == b.launch || u.rootfs == b.rootfs {
		t.Fatalf("unprivileged() = launch %s, rootfs %s, copied %q, want copies", u.launch, u.rootfs, u.copied)
	}
	if err := othersReach(u.launch, false); err != nil {
		t.Errorf("copied launcher: %v", err)
	}
	if err := othersReach(u.rootfs, true); err != nil {
		t.Errorf("copied root file system: %v", err)
	}
	if got, err := os.Readlink(filepath.Join(u.rootfs, "bin", "true")); err != nil || got != "busybox" {
		t.Errorf("copied link = %q, %v, want busybox", got, err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("original directory: %v, %v, want it 0700 still", fi.Mode().Perm(), err)
	}
	if u.cred == nil || u.cred.Uid < firstUnprivID || u.cred.Uid != u.cred.Gid || len(u.cred.Groups) != 0 {
		t.Errorf("credential = %+v, want one free ID from %d, no groups", u.cred, firstUnprivID)
	}
}
