package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"launch/internal/rawfile"
)

// busyboxApplets are linked to busybox in a test root file system.
var busyboxApplets = []string{"sh", "true", "false", "cat", "echo", "ls", "sleep", "id", "mount", "kill", "ps", "free", "top", "nproc", "hostname", "env", "head", "timeout", "uptime", "grep"}

// Busybox returns the host's static busybox, or "" if there is none.
var Busybox = sync.OnceValue(func() string {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if out, err := exec.Command("file", "-L", p).Output(); err == nil && bytes.Contains(out, []byte("statically")) {
			return p
		}
		if _, err := os.Stat(p); err == nil {
			if _, err := exec.LookPath("file"); err != nil {
				return p // cannot tell; try it
			}
		}
	}
	return ""
})

// RequireBusybox skips t unless a static busybox is there to put in root file systems.
func RequireBusybox(t testing.TB) string {
	t.Helper()
	bb := Busybox()
	if bb == "" {
		Skip(t, "needs a static busybox (apt-get install busybox-static)")
	}
	return bb
}

// Rootfs makes a root file system for a container in a new temporary directory: the
// probe as /probe, busybox and its applets in /bin if the host has a static busybox,
// the usual top-level directories and an /etc/passwd. It returns its path.
func Rootfs(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range []string{"bin", "dev", "etc", "proc", "sys", "tmp", "root", "usr/bin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := rawfile.CopyFile(Build(t, "./internal/probe"), filepath.Join(dir, "probe"), 0o755); err != nil {
		t.Fatal(err)
	}
	if bb := Busybox(); bb != "" {
		if err := rawfile.CopyFile(bb, filepath.Join(dir, "bin/busybox"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, a := range busyboxApplets {
			if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil {
				t.Fatal(err)
			}
		}
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
	if err := os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
