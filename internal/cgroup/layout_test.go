package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"launch/internal/testutil"
)

// render prints a layout as the fixtures' "want" files do.
func render(l *Layout) string {
	var b strings.Builder
	fmt.Fprintf(&b, "layout %s\n", l)
	for _, h := range l.V1 {
		fmt.Fprintf(&b, "v1 %d %v %s\n", h.ID, h.Controllers, h.Dir)
	}
	if l.V2 != nil {
		fmt.Fprintf(&b, "v2 %s", l.V2.Dir)
		if l.V2.Parent != l.V2.Dir {
			fmt.Fprintf(&b, " parent %s", l.V2.Parent)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestDetect reads the layouts of testdata/*.txtar: a host's /proc/self/mountinfo and
// /proc/self/cgroup, and the layout launch must find in them.
func TestDetect(t *testing.T) {
	for _, fx := range testutil.Fixtures(t) {
		t.Run(fx.Name, func(t *testing.T) {
			l, err := Detect(fx.File("mountinfo"), fx.File("cgroup"))
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if got, want := render(l), string(fx.File("want")); got != want {
				t.Errorf("Detect = \n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestDetectErrors(t *testing.T) {
	for _, tt := range []struct{ mountinfo, cgroup string }{
		{"", "garbage\n"},
		{"", "x:memory:/\n"},
		{"1 2 3\n", "0::/\n"},
	} {
		if _, err := Detect([]byte(tt.mountinfo), []byte(tt.cgroup)); err == nil {
			t.Errorf("Detect(%q, %q) = nil error", tt.mountinfo, tt.cgroup)
		}
	}
}

func TestConversions(t *testing.T) {
	for _, tt := range []struct{ shares, weight uint64 }{
		{0, 0}, {2, 1}, {256, 35}, {1024, 100}, {262144, 10000}, {300000, 10000},
	} {
		if got := weightFromShares(tt.shares); got != tt.weight {
			t.Errorf("weightFromShares(%d) = %d, want %d", tt.shares, got, tt.weight)
		}
	}
	for _, tt := range []struct{ blkio, io uint64 }{{0, 0}, {10, 1}, {50, 405}, {500, 4950}, {1000, 10000}} {
		if got := ioWeightFromBlkio(tt.blkio); got != tt.io {
			t.Errorf("ioWeightFromBlkio(%d) = %d, want %d", tt.blkio, got, tt.io)
		}
	}
}

func TestKeyValue(t *testing.T) {
	data := "low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n"
	if got := keyValue(data, "oom_kill"); got != "1" {
		t.Errorf("keyValue(memory.events, oom_kill) = %q, want 1", got)
	}
	if got := keyValue(data, "nope"); got != "" {
		t.Errorf("keyValue(nope) = %q", got)
	}
	if !bytes.Contains([]byte(data), []byte("oom_kill")) {
		t.Fatal("fixture")
	}
}

// TestSetParent: --cgroup-parent names a cgroup as /proc/self/cgroup does, which
// must be reachable through the mount and exist.
func TestSetParent(t *testing.T) {
	mnt := t.TempDir()
	if err := os.MkdirAll(filepath.Join(mnt, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		root, parent string
		ok           bool
		want         string // the Parent set, below the mount
		errIs        error  // for an error, what it must wrap, if anything
	}{
		{"/", "/a/b", true, "a/b", nil},
		{"/", "/", true, "", nil},
		{"/", "/c", false, "", unix.ENOENT},
		{"/docker/abc", "/docker/abc/a", true, "a", nil},
		{"/docker/abc", "/docker/abcd", false, "", nil},
		{"/docker/abc", "/other", false, "", nil},
	} {
		l := &Layout{V2: &Hierarchy{Mount: mnt, Root: tt.root, Dir: mnt, Parent: mnt}}
		err := l.SetParent(tt.parent)
		switch {
		case tt.ok && (err != nil || l.V2.Parent != filepath.Join(mnt, tt.want)):
			t.Errorf("root %s: SetParent(%s) = %v, Parent %s; want %s", tt.root, tt.parent, err, l.V2.Parent, filepath.Join(mnt, tt.want))
		case !tt.ok && err == nil:
			t.Errorf("root %s: SetParent(%s) = nil, Parent %s; want an error", tt.root, tt.parent, l.V2.Parent)
		case !tt.ok && tt.errIs != nil && !errors.Is(err, tt.errIs):
			t.Errorf("root %s: SetParent(%s) = %v, want %v", tt.root, tt.parent, err, tt.errIs)
		}
	}
}
