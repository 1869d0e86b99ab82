package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Version is the release of runtime-tools whose validation suite Build compiles.
const Version = "v0.9.0"

const module = "github.com/opencontainers/runtime-tools"

// goMod is the throwaway module the suite is built in. runtime-tools v0.9.0 has no
// go.mod; its Godeps.json pins commits the module proxy does not serve, so each
// dependency is pinned to the nearest version it does and that still compiles:
// runtime-spec v1.0.2 (Godeps has v1.0.1-57; v1.1.0 made LinuxPids.Limit a pointer)
// and selinux v1.6.0 (the oldest served; later ones dropped label.FileLabel, which
// runtimetest calls). The rest are the versions go resolves for them, written down so
// that a later release of any of them cannot change the suite.
const goMod = `module launch-conformance

go 1.22

require (
	github.com/opencontainers/runtime-tools ` + Version + `
	github.com/blang/semver v3.5.1+incompatible
	github.com/hashicorp/go-multierror v1.1.1
	github.com/mndrix/tap-go v0.0.0-20171203230836-629fa407e90b
	github.com/mrunalp/fileutils v0.5.1
	github.com/opencontainers/runtime-spec v1.0.2
	github.com/opencontainers/selinux v1.6.0
	github.com/satori/go.uuid v1.2.0
	github.com/sirupsen/logrus v1.10.2
	github.com/syndtr/gocapability v0.0.0-20200815063812-42c35b437635
	github.com/urfave/cli v1.22.17
	github.com/xeipuuv/gojsonschema v1.2.0
	golang.org/x/sys v0.50.0
)
`

// layout names how Build makes the suite from the module; change it when the build
// flags, the root file system or the directory's layout change, so that caches are
// rebuilt.
const layout = "stripped-busybox-rootfs-3"

// A Suite is the built validation programs of runtime-tools, ready to run.
type Suite struct {
	// Dir holds bin/NAME for each program, runtimetest and rootfs-GOARCH.tar.gz.
	Dir string
	// Tests are the programs' names (the directories of validation/), sorted.
	Tests []string
	// Exclusive are the tests that use cgroups of fixed paths, so that two of them
	// cannot run at once: those that import runtime-tools/cgroups put their
	// containers in /cgrouptest or testdir/cgrouptest/container, and
	// delete_only_create_resources makes /sys/fs/cgroup/pids/cgrouptest.
	Exclusive []string
	// Key identifies the inputs: the go.mod, the layout and the busybox binary.
	Key string
}

// CacheDir is where Build keeps the suite by default:
// $XDG_CACHE_HOME/launch-conformance (or ~/.cache/launch-conformance), else
// /tmp/launch-conformance, in a directory named after the version and GOARCH.
func CacheDir() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "launch-conformance", "runtime-tools-"+Version+"-"+runtime.GOARCH)
}

// Build returns the suite in dir, building it first unless dir holds one built from
// the same inputs. Building needs go (and the module proxy, once, for runtime-tools
// and its dependencies) and a static busybox, found as /bin/busybox or in PATH.
func Build(ctx context.Context, dir string) (*Suite, error) {
	busybox, err := findBusybox()
	if err != nil {
		return nil, err
	}
	key, err := inputKey(busybox)
	if err != nil {
		return nil, err
	}
	if s, err := loadSuite(dir); err == nil && s.Key == key {
		return s, nil
	}

	// Build beside dir and rename into place, so that an interrupted build leaves no
	// half-made suite and a concurrent one finds either none or a whole one.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	s := &Suite{Dir: dir, Key: key}
	if err := s.compile(ctx, tmp); err != nil {
		return nil, err
	}
	rootfs := filepath.Join(tmp, "rootfs-"+runtime.GOARCH+".tar.gz")
	if err := writeRootfs(rootfs, busybox); err != nil {
		return nil, fmt.Errorf("root file system %s: %w", rootfs, err)
	}
	stamp, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "suite.json"), append(stamp, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another build may have won the race; its suite is as good.
		if s2, err2 := loadSuite(dir); err2 == nil && s2.Key == key {
			return s2, nil
		}
		return nil, err
	}
	return s, nil
}

// loadSuite reads the suite.json that Build writes last.
func loadSuite(dir string) (*Suite, error) {
	data, err := os.ReadFile(filepath.Join(dir, "suite.json"))
	if err != nil {
		return nil, err
	}
	var s Suite
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "suite.json"), err)
	}
	s.Dir = dir
	return &s, nil
}

// inputKey hashes what the suite is made of, besides the Go toolchain.
func inputKey(busybox string) (string, error) {
	data, err := os.ReadFile(busybox)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", goMod, layout, runtime.GOARCH)
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// compile builds runtimetest and every validation program into out, in a throwaway
// module in out/mod, and fills in s.Tests and s.Exclusive.
func (s *Suite) compile(ctx context.Context, out string) error {
	mod := filepath.Join(out, "mod")
	if err := os.Mkdir(mod, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte(goMod), 0o644); err != nil {
		return err
	}
	goCmd := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = mod
		// -mod=mod lets go write go.sum (and override the -mod=readonly that launch's
		// Makefile exports); runtimetest runs inside containers, so it must be static.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0",
			"GOOS=linux", "GOARCH="+runtime.GOARCH)
		return cmd
	}

	// The programs are the packages main under validation/ (validation/util is not).
	const format = "{{.Name}}\t{{.ImportPath}}\t{{.Dir}}\t{{join .GoFiles \",\"}}\t{{join .Imports \",\"}}"
	listed, err := output(goCmd("list", "-f", format, module+"/validation/..."))
	if err != nil {
		return err
	}
	pkgs := []string{module + "/cmd/runtimetest"}
	for _, line := range strings.Split(strings.TrimSpace(string(listed)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 5 || f[0] != "main" {
			continue
		}
		name := filepath.Base(f[1])
		pkgs = append(pkgs, f[1])
		s.Tests = append(s.Tests, name)
		fixed, err := usesFixedCgroups(f[2], strings.Split(f[3], ","), strings.Split(f[4], ","))
		if err != nil {
			return err
		}
		if fixed {
			s.Exclusive = append(s.Exclusive, name)
		}
	}
	if len(s.Tests) == 0 {
		return fmt.Errorf("go list %s/validation/...: no package main", module)
	}
	slices.Sort(s.Tests)
	slices.Sort(s.Exclusive)

	bin := filepath.Join(out, "bin")
	// Stripped: 58 programs of 6.8 MB each make 390 MB, 270 MB without symbols.
	build := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", bin + "/"}
	if _, err := output(goCmd(append(build, pkgs...)...)); err != nil {
		return err
	}
	return os.Rename(filepath.Join(bin, "runtimetest"), filepath.Join(out, "runtimetest"))
}

// usesFixedCgroups reports whether a program puts its containers in cgroups of
// fixed paths: it imports runtime-tools/cgroups (AbsCgroupPath, RelCgroupPath) or
// names a cgroup itself, as delete_only_create_resources makes
// /sys/fs/cgroup/pids/cgrouptest.
func usesFixedCgroups(dir string, files, imports []string) (bool, error) {
	if slices.Contains(imports, module+"/cgroups") {
		return true, nil
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return false, err
		}
		if bytes.Contains(data, []byte("/sys/fs/cgroup")) || bytes.Contains(data, []byte("cgrouptest")) {
			return true, nil
		}
	}
	return false, nil
}

// output runs cmd and returns its standard output, or an error that quotes its
// standard error.
func output(cmd *exec.Cmd) ([]byte, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}
