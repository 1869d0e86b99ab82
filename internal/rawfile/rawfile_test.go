package rawfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	umask := unix.Umask(0o022)
	defer unix.Umask(umask)
	p := filepath.Join(dir, "state.json")
	for _, tt := range []struct {
		name string
		perm os.FileMode
		data string
		want os.FileMode
	}{
		{"new file, less the umask", 0o666, "first", 0o644},
		{"existing file keeps its mode", 0o600, strings.Repeat("second", 10000), 0o644},
		{"shorter content", 0o600, "3", 0o644},
	} {
		if err := Replace(p, []byte(tt.data), tt.perm); err != nil {
			t.Fatalf("%s: Replace: %v", tt.name, err)
		}
		b, err := os.ReadFile(p)
		fi, err2 := os.Stat(p)
		if err != nil || err2 != nil || string(b) != tt.data || fi.Mode() != tt.want {
			t.Errorf("%s: %d bytes, mode %v, %v, %v; want %d bytes, mode %v", tt.name, len(b), fi.Mode(), err, err2, len(tt.data), tt.want)
		}
	}
	// A mode the umask would take bits from is kept whole too.
	os.Chmod(p, 0o666)
	if err := Replace(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode() != 0o666 || fi.Size() != 0 {
		t.Errorf("after chmod 0666: %v, %v; want mode 0666 and 0 bytes", fi, err)
	}
	// A symlink at path is replaced, not followed, and gets perm.
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("target"), 0o600)
	link := filepath.Join(dir, "pid")
	os.Symlink(target, link)
	if err := Replace(link, []byte("42"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode() != 0o644 {
		t.Errorf("pid after Replace: %v, %v; want a regular file of mode 0644", fi, err)
	}
	if b, _ := os.ReadFile(target); string(b) != "target" {
		t.Errorf("the link's target holds %q, want it untouched", b)
	}
	// A new file's name in a left-over one's place: the next name is taken.
	stale := filepath.Join(dir, ".pid."+strconv.Itoa(os.Getpid())+".0")
	os.WriteFile(stale, nil, 0o600)
	if err := Replace(link, []byte("43"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(stale)
	if names, err := ReadDirNames(dir); err != nil || len(names) != 3 {
		t.Errorf("the directory holds %v, %v; want state.json, target and pid, and no new file left", names, err)
	}
	// A relative path is a name in the working directory.
	t.Chdir(dir)
	if err := Replace("rel", []byte("r"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "rel")); err != nil || string(b) != "r" {
		t.Errorf("rel holds %q, %v", b, err)
	}
	var le *os.LinkError
	if err := Replace(dir, nil, 0o644); !errors.As(err, &le) || !errors.Is(err, unix.EISDIR) {
		t.Errorf("Replace(a directory) = %v, want a *LinkError of EISDIR", err)
	}
	if err := Replace(filepath.Join(dir, "no", "file"), nil, 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Replace(into a missing directory) = %v, want ErrNotExist", err)
	}
	if names, _ := ReadDirNames(dir); len(names) != 4 {
		t.Errorf("the directory holds %v after the failures; want no new file left", names)
	}
}
