package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"launch/internal/rawfile"
)

// findRepo returns the root of the launch module: the working directory or one above it.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module launch\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find the launch module: no go.mod of module launch here or above: run the bench from the repository")
		}
		dir = parent
	}
}

// peerPackages are the Debian packages of the peers, by program.
var peerPackages = map[string]string{"bwrap": "bubblewrap", "crun": "crun", "runc": "runc"}

// installPeers installs the peers and the static busybox that are missing, with
// apt-get. What cannot be installed is kept in b.installErr for the report.
func (b *bench) installPeers() {
	missing := map[string]string{} // package: program
	for bin, pkg := range peerPackages {
		if _, err := exec.LookPath(bin); err != nil {
			missing[pkg] = bin
		}
	}
	if _, err := staticBusybox(); err != nil {
		missing["busybox-static"] = "busybox"
	}
	if len(missing) == 0 {
		return
	}
	pkgs := make([]string, 0, len(missing))
	for pkg := range missing {
		pkgs = append(pkgs, pkg)
	}
	slices.Sort(pkgs)
	if !b.cfg.install {
		for pkg, bin := range missing {
			b.installErr[bin] = fmt.Errorf("package %s missing and -install=false", pkg)
		}
		return
	}
	logf("installing %s with apt-get", strings.Join(pkgs, " "))
	if out, err := apt("update"); err != nil {
		b.note("apt-get update: %v: %s", err, lastLine(out))
	}
	if _, err := apt(append([]string{"install", "-y"}, pkgs...)...); err == nil {
		return
	}
	// One at a time, to know which one fails.
	for _, pkg := range pkgs {
		if out, err := apt("install", "-y", pkg); err != nil {
			b.installErr[missing[pkg]] = fmt.Errorf("apt-get install %s: %v: %s", pkg, err, lastLine(out))
		}
	}
}

func apt(args ...string) (string, error) {
	cmd := exec.Command("apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// staticBusybox finds a statically linked busybox: the root file system has no libc.
func staticBusybox() (string, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if info, err := elfInfo(p); err == nil && info.static {
			return p, nil
		}
	}
	return "", errors.New("no statically linked busybox in /bin or /usr/bin (package busybox-static)")
}

// buildLaunch runs make build (the build users get) and copies build/launch to
// OUT/launch, the launcher measured. It runs at every bench, because launch changes
// under it.
func (b *bench) buildLaunch() error {
	if b.cfg.launch != "" {
		p, err := filepath.Abs(b.cfg.launch)
		if err != nil {
			return err
		}
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("launcher: %w", err)
		}
		b.launch = p
		return nil
	}
	logf("make -C %s build", b.repo)
	out, err := exec.Command("make", "-C", b.repo, "build").CombinedOutput()
	if err != nil {
		return fmt.Errorf("make -C %s build: %w\n%s", b.repo, err, out)
	}
	// Measured from a copy: tests and other builds write build/launch too, and one
	// replacing it halfway through would mix two launchers in one report.
	built := filepath.Join(b.repo, "build", "launch")
	b.launch = filepath.Join(b.out, "launch")
	if err := rawfile.CopyFile(built, b.launch, 0o755); err != nil {
		return fmt.Errorf("copy %s: %w", built, err)
	}
	return nil
}

// makeRootfs builds OUT/rootfs: busybox with true and sleep, the probe and the tiny
// payload. Only busybox is needed; without the others, their measurements are skipped.
func (b *bench) makeRootfs() error {
	bb, err := staticBusybox()
	if err != nil {
		return err
	}
	if err := os.RemoveAll(b.rootfs); err != nil {
		return err
	}
	for _, d := range []string{"bin", "dev", "etc", "proc", "root", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(b.rootfs, d), 0o755); err != nil {
			return err
		}
	}
	if err := rawfile.CopyFile(bb, filepath.Join(b.rootfs, "bin", "busybox"), 0o755); err != nil {
		return fmt.Errorf("copy busybox: %w", err)
	}
	for _, l := range []string{"true", "sleep", "sh"} {
		if err := os.Symlink("busybox", filepath.Join(b.rootfs, "bin", l)); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(b.rootfs, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
		return err
	}

	// The probe, for the seccomp loop. Static, like everything in the root.
	probe := filepath.Join(b.rootfs, "bin", "probe")
	cmd := exec.Command("go", "build", "-trimpath", "-o", probe, "./internal/probe")
	cmd.Dir = b.repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.note("probe not built, seccomp overhead not measured: go build ./internal/probe: %v: %s", err, lastLine(string(out)))
	} else {
		b.probe = true
	}

	if err := b.buildTiny(); err != nil {
		b.note("tiny payload not built, not measured: %v", err)
	} else {
		b.tiny = true
	}
	return nil
}

// tinySource is, per GOARCH, a program that only calls exit(0): no libc, no dynamic
// loader, one page of code. It shows what busybox's own start costs the others.
var tinySource = map[string]string{
	"amd64":   `mov $60, %eax; xor %edi, %edi; syscall`,
	"386":     `mov $1, %eax; xor %ebx, %ebx; int $0x80`,
	"arm64":   `mov x8, #93; mov x0, #0; svc #0`,
	"arm":     `mov r7, #1; mov r0, #0; svc #0`,
	"riscv64": `li a7, 93; li a0, 0; ecall`,
}

// buildTiny compiles the tiny payload into the root file system with gcc.
func (b *bench) buildTiny() error {
	asm, ok := tinySource[runtime.GOARCH]
	if !ok {
		return fmt.Errorf("no exit stub for GOARCH %s", runtime.GOARCH)
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return fmt.Errorf("gcc is missing: %w", err)
	}
	dir, err := os.MkdirTemp("", "launch-bench-tiny-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "tiny.c")
	code := "void _start(void) { __asm__ volatile(\"" + asm + "\"); }\n"
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		return err
	}
	out, err := exec.Command(gcc, "-static", "-nostdlib", "-Os", "-s", "-fno-asynchronous-unwind-tables",
		"-Wl,--build-id=none", "-o", filepath.Join(b.rootfs, "bin", "tiny"), src).CombinedOutput()
	if err != nil {
		return fmt.Errorf("gcc -static -nostdlib %s: %w: %s", src, err, lastLine(string(out)))
	}
	return nil
}

// elfFacts is what the report says about a binary.
type elfFacts struct {
	size     int64
	static   bool     // no program interpreter
	stripped bool     // no .symtab
	needed   []string // DT_NEEDED
}

func elfInfo(path string) (elfFacts, error) {
	var info elfFacts
	fi, err := os.Stat(path)
	if err != nil {
		return info, err
	}
	info.size = fi.Size()
	f, err := elf.Open(path)
	if err != nil {
		return info, err
	}
	defer f.Close()
	info.static = true
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			info.static = false
		}
	}
	info.stripped = f.Section(".symtab") == nil
	info.needed, _ = f.ImportedLibraries()
	return info, nil
}

// lddCount is the number of shared objects ldd says path loads, its dependencies'
// dependencies and the loader included (the vDSO not).
func lddCount(path string) int {
	out, _ := exec.Command("ldd", path).Output()
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "linux-vdso") || strings.Contains(line, "not a dynamic") {
			continue
		}
		n++
	}
	return n
}
