package conformance

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"launch/internal/testutil"
)

func TestWriteRootfs(t *testing.T) {
	busybox, err := findBusybox()
	if err != nil {
		testutil.Skip(t, err.Error())
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.tar.gz"), filepath.Join(dir, "b.tar.gz")
	for _, p := range []string{a, b} {
		if err := writeRootfs(p, busybox); err != nil {
			t.Fatal(err)
		}
	}
	da, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	if db, err := os.ReadFile(b); err != nil || !bytes.Equal(da, db) {
		t.Errorf("two writeRootfs of %s differ (%v)", busybox, err)
	}

	zr, err := gzip.NewReader(bytes.NewReader(da))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*tar.Header{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h
	}
	// What the programs run: in the container, as hooks on the host, and inside.
	for _, name := range []string{"sh", "true", "false", "ls", "sleep", "touch", "cat"} {
		if h := got["./bin/"+name]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
			t.Errorf("./bin/%s = %+v, want a symlink to busybox", name, h)
		}
	}
	st, err := os.Stat(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if h := got["./bin/busybox"]; h == nil || h.Size != st.Size() || h.Mode != 0o755 {
		t.Errorf("./bin/busybox = %+v, want %d bytes, mode 0755", h, st.Size())
	}
	for name, mode := range map[string]int64{"./": 0o755, "./proc/": 0o555, "./sys/": 0o555, "./dev/": 0o755, "./tmp/": 0o1777, "./etc/passwd": 0o644} {
		if h := got[name]; h == nil || h.Mode != mode {
			t.Errorf("%s = %+v, want mode %#o", name, h, mode)
		}
	}
}
