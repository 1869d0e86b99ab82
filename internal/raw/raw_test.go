package raw

import (
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

func TestProcPath(t *testing.T) {
	for _, tt := range []struct {
		prefix string
		n      int
		want   string
	}{
		{"/proc/self/fd/", 0, "/proc/self/fd/0"},
		{"/proc/self/fd/", 7, "/proc/self/fd/7"},
		{"/proc/self/fd/", 10, "/proc/self/fd/10"},
		{"/proc/self/fd/", 1048576, "/proc/self/fd/1048576"},
		{"/proc/self/fd/", 2147483647, "/proc/self/fd/2147483647"},
		{"/proc/self/fdinfo/", 42, "/proc/self/fdinfo/42"},
		{"/proc/self/fdinfo/", 2147483647, "/proc/self/fdinfo/2147483647"}, // 29 bytes and the NUL
		{"", 905, "905"},
	} {
		var buf [32]byte
		for i := range buf {
			buf[i] = 'x' // what was there before must not show
		}
		p := ProcPath(&buf, tt.prefix, tt.n)
		if p != &buf[0] {
			t.Errorf("ProcPath(%q, %d) returned a pointer outside its buffer", tt.prefix, tt.n)
		}
		if got := unix.BytePtrToString(p); got != tt.want {
			t.Errorf("ProcPath(%q, %d) = %q, want %q", tt.prefix, tt.n, got, tt.want)
		}
	}
}

// TestFdPath: the path names the file the descriptor refers to, as the kernel
// resolves it.
func TestFdPath(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf [32]byte
	p := unix.BytePtrToString(FdPath(&buf, int(f.Fd())))
	if want := "/proc/self/fd/" + strconv.Itoa(int(f.Fd())); p != want {
		t.Errorf("FdPath(%d) = %q, want %q", f.Fd(), p, want)
	}
	if target, err := os.Readlink(p); err != nil || target != os.DevNull {
		t.Errorf("readlink(FdPath(%d)) = %q, %v; want %s", f.Fd(), target, err, os.DevNull)
	}
}
