package conformance

import (
	"archive/tar"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// errNoBusybox says what to install.
var errNoBusybox = errors.New("no static busybox: apt-get install busybox-static")

// findBusybox returns the path of a statically linked busybox: /bin/busybox (where
// Debian's busybox-static puts it) or the one in PATH. The host runs it once, to list
// its applets, and the containers run it, so it must need no loader or libc.
func findBusybox() (string, error) {
	for _, p := range []string{"/bin/busybox", "busybox"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if static, err := isStatic(path); err == nil && static {
			return path, nil
		}
	}
	return "", errNoBusybox
}

// isStatic reports whether the ELF file at path has no program interpreter.
func isStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// writeRootfs writes the gzipped tar that util.PrepareBundle untars into each bundle
// with tar -xf, as root: busybox, a symlink in /bin for each of its applets, a root
// and a nobody in /etc/passwd and /etc/group, and the directories the runtimes mount
// on. The entries are sorted and dated 1970, so that the same busybox gives the same
// bytes.
func writeRootfs(path, busybox string) error {
	list, err := output(exec.Command(busybox, "--list"))
	if err != nil {
		return err
	}
	applets := strings.Fields(string(list))
	applets = slices.DeleteFunc(applets, func(a string) bool { return a == "busybox" || strings.Contains(a, "/") })
	slices.Sort(applets)
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}

	// The entries, in the order of their names.
	epoch := time.Unix(0, 0)
	dir := func(name string, mode int64) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: epoch}
	}
	file := func(name string, mode int64, data []byte) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch}
	}
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
	group := []byte("root:x:0:\nnogroup:x:65534:\n")
	hs := []*tar.Header{dir("./", 0o755), dir("./bin/", 0o755), file("./bin/busybox", 0o755, bb)}
	for _, a := range applets {
		hs = append(hs, &tar.Header{Typeflag: tar.TypeSymlink, Name: "./bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: epoch})
	}
	hs = append(hs, dir("./dev/", 0o755), dir("./etc/", 0o755), file("./etc/group", 0o644, group),
		file("./etc/passwd", 0o644, passwd), dir("./proc/", 0o555), dir("./root/", 0o700),
		dir("./sys/", 0o555), dir("./tmp/", 0o1777))
	data := map[string][]byte{"./bin/busybox": bb, "./etc/group": group, "./etc/passwd": passwd}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for _, h := range hs {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(data[h.Name]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}
