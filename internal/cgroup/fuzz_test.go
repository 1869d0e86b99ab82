package cgroup

import (
	"os"
	"path"
	"reflect"
	"strings"
	"testing"

	"launch/internal/testutil"
)

// FuzzDetect: Detect never panics on any /proc/self/mountinfo and /proc/self/cgroup,
// and what it finds is consistent: every hierarchy is one the cgroup file names, at
// most one v2, v1 hierarchies with a nonzero ID and controllers, and every Dir, where
// launch makes and removes cgroups, at or below the hierarchy's mount point.
//
//	go test -run '^$' -fuzz FuzzDetect -fuzztime 30s ./internal/cgroup
func FuzzDetect(f *testing.F) {
	for _, fx := range testutil.Fixtures(f) {
		f.Add(fx.File("mountinfo"), fx.File("cgroup"))
	}
	mi, err1 := os.ReadFile("/proc/self/mountinfo")
	cg, err2 := os.ReadFile("/proc/self/cgroup")
	if err1 == nil && err2 == nil {
		f.Add(mi, cg)
	}
	hybrid := []byte("30 22 0:27 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" +
		"34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
		"40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")
	for _, c := range []string{
		"4:memory:/a/b\n0::/\n", "4:memory:/../../x\n", "0::/../..\n", "4:memory:/a/../../..\n", "4:memory:\n",
		"4:memory:relative\n", "0::/a\n0::/b\n", "x:memory:/\n", "4:memory\n", "4::/\n", "0:memory:/\n", "\n\n",
	} {
		f.Add(hybrid, []byte(c))
	}
	f.Add([]byte("34 30 0:31 /sub /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"), []byte("4:memory:/sub/x\n4:memory:/subx\n"))
	f.Add([]byte("34 30 0:31 / /sys/fs/cgroup/my\\040memory rw - cgroup cgroup rw,memory\n"), []byte("4:memory:/\n"))
	f.Add([]byte("1 2 3\n"), []byte("0::/\n"))
	f.Add([]byte("34 30 0:31 /  rw - cgroup cgroup rw,cpu\n"), []byte("1:cpu:/\n"))
	f.Fuzz(func(t *testing.T, mountinfo, procCgroup []byte) {
		l, err := Detect(mountinfo, procCgroup)
		if err != nil {
			if l != nil {
				t.Fatalf("Detect = %+v and %v", l, err)
			}
			return
		}
		if again, err := Detect(mountinfo, procCgroup); err != nil || !reflect.DeepEqual(again, l) {
			t.Fatalf("Detect differs the second time: %+v, %v", again, err)
		}
		hs := l.V1
		if l.V2 != nil {
			if l.V2.ID != 0 || l.V2.Controllers != nil {
				t.Fatalf("v2 hierarchy %+v", *l.V2)
			}
			hs = append(hs, *l.V2)
		}
		for _, h := range hs {
			if !h.V2() && (h.ID == 0 || len(h.Controllers) == 0) {
				t.Fatalf("v1 hierarchy %+v has no ID or no controllers", h)
			}
			if !strings.Contains(string(procCgroup), ":"+h.Own) {
				t.Fatalf("hierarchy %+v: the cgroup file names no %q", h, h.Own)
			}
			if m := path.Clean(h.Mount); h.Dir != m && !strings.HasPrefix(h.Dir, strings.TrimSuffix(m, "/")+"/") {
				t.Fatalf("hierarchy %+v: Dir %q is not below the mount point %q", h, h.Dir, h.Mount)
			}
			if h.Dir != path.Clean(h.Dir) {
				t.Fatalf("hierarchy %+v: Dir %q is not clean", h, h.Dir)
			}
		}
	})
}
