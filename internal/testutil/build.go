package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
)

// RepoRoot is the directory of the module, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var (
	buildDir  string
	buildOnce sync.Once
	buildErr  error
	builds    sync.Map // package -> *built
)

type built struct {
	once sync.Once
	path string
	err  error
}

// Build compiles the main package pkg (relative to the module root, e.g. ./init)
// once per test process, static and without cgo, and returns the binary's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	return BuildFor(t, pkg, runtime.GOARCH)
}

// BuildFor is Build for another GOARCH, such as 386 on an amd64 machine.
func BuildFor(t testing.TB, pkg, goarch string) string {
	t.Helper()
	buildOnce.Do(func() { buildDir, buildErr = os.MkdirTemp("", "launch-test-bin-") })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	v, _ := builds.LoadOrStore(pkg+" "+goarch, &built{})
	b := v.(*built)
	b.once.Do(func() {
		b.path = filepath.Join(buildDir, filepath.Base(pkg))
		if goarch != runtime.GOARCH {
			b.path += "-" + goarch
		}
		cmd := exec.Command("go", "build", "-trimpath", "-o", b.path, pkg)
		cmd.Dir = RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH="+goarch)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = &buildError{pkg, err, out}
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

type buildError struct {
	pkg string
	err error
	out []byte
}

func (e *buildError) Error() string {
	return "go build " + e.pkg + ": " + e.err.Error() + "\n" + string(e.out)
}

// Main runs the tests of a package that starts containers. As root, it first re-runs
// the test binary in a mount namespace of its own, with every mount private: should
// the launcher ever mount on the wrong side, the mount stays in that namespace and
// cannot hide files of the machine that runs the tests. The launcher's idea of "the
// host" is then that namespace, which is what the tests compare before and after.
func Main(m *testing.M) int {
	const marker = "LAUNCH_TEST_MOUNT_NS"
	if os.Geteuid() == 0 && os.Getenv(marker) == "" {
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.Env = append(os.Environ(), marker+"=1")
		// Unshareflags with CLONE_NEWNS makes the runtime remount / MS_REC|MS_PRIVATE.
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode()
			}
			os.Stderr.WriteString("testutil: " + err.Error() + "\n")
			return 1
		}
		return 0
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	return code
}
