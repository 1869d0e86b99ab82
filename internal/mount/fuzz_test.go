package mount

import (
	"path"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

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
