package rawfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("x", 10000) // more than the first buffer
	os.WriteFile(filepath.Join(dir, "big"), []byte(big), 0o644)
	if got, err := ReadFile(filepath.Join(dir, "big")); err != nil || string(got) != big {
		t.Errorf("ReadFile(big) = %d bytes, %v; want %d", len(got), err, len(big))
	}
	// /proc files say size 0 and are read until EOF.
	if got, err := ReadFile("/proc/self/status"); err != nil || !strings.Contains(string(got), "\nPid:") {
		t.Errorf("ReadFile(/proc/self/status) = %q, %v", got, err)
	}
	if _, err := ReadFile(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing) error = %v, want ErrNotExist", err)
	}
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	os.WriteFile(filepath.Join(dir, "d", "a"), []byte("A"), 0o644)
	os.WriteFile(filepath.Join(dir, "d", "b"), nil, 0o644)
	names, err := Dir(dir).ReadDirNames("d")
	slices.Sort(names)
	if err != nil || !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("ReadDirNames(d) = %v, %v; want [a b]", names, err)
	}
	if b, err := Dir(dir).ReadFile("d/a"); err != nil || string(b) != "A" {
		t.Errorf("ReadFile(d/a) = %q, %v", b, err)
	}
	if _, err := Dir(dir).ReadDirNames("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadDirNames(nope) error = %v, want ErrNotExist", err)
	}
}

func TestCopyFile(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	big := strings.Repeat("0123456789", 20000) // more than one buffer
	os.WriteFile(src, []byte(big), 0o644)
	os.WriteFile(dst, []byte(strings.Repeat("old", 100000)), 0o600) // longer: truncated
	if err := CopyFile(src, dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(dst); err != nil || string(got) != big {
		t.Errorf("dst holds %d bytes, %v; want the %d of src", len(got), err, len(big))
	}
	fresh := filepath.Join(dir, "fresh")
	if err := CopyFile(src, fresh, 0o700); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o700 || fi.Size() != int64(len(big)) {
		t.Errorf("new copy: %v, %v; want mode 0700 and %d bytes", fi, err, len(big))
	}
	if err := CopyFile(filepath.Join(dir, "nope"), dst, 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CopyFile(missing) = %v, want ErrNotExist", err)
	}
	if err := CopyFile(src, filepath.Join(dir, "no", "dir"), 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CopyFile(into a missing directory) = %v, want ErrNotExist", err)
	}
}
