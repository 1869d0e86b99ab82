package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// A guest is what Debian provides for one machine: its kernel and its busybox.
type guest struct {
	arch       string
	kernelPkg  string // linux-image-6.1.0-57-arm64
	kernelVer  string // the package's version, 6.1.192-3
	vmlinuz    string
	config     string // the kernel's build configuration
	busybox    string
	busyboxVer string
}

// prepareHost installs the qemus of ms and fetches, into dir (build/vm), the Debian
// packages the machines need: the current kernel of each arch (what linux-image-<arch>
// depends on) and busybox-static of each arch, unpacked with dpkg-deb. Packages are
// downloaded, not installed: busybox-static of two arches cannot be installed side by
// side, and the host needs neither. apt-get update runs only when a package is
// unknown to apt (first run, or arm64 just added); downloads stay in dir/debs, and a
// second run with the same package versions downloads nothing.
func prepareHost(dir string, ms []machine) (map[string]*guest, error) {
	native, err := output("dpkg", "--print-architecture")
	if err != nil {
		return nil, err
	}
	native = strings.TrimSpace(native)
	foreign, err := output("dpkg", "--print-foreign-architectures")
	if err != nil {
		return nil, err
	}
	update := false
	for _, m := range ms {
		if m.arch != native && !slices.Contains(strings.Fields(foreign), m.arch) {
			logf("dpkg --add-architecture %s", m.arch)
			if err := runLogged("dpkg", "--add-architecture", m.arch); err != nil {
				return nil, err
			}
			update = true
		}
	}
	var install, known []string // qemu packages to install; packages apt must know
	for _, m := range ms {
		if _, err := exec.LookPath(m.qemu); err != nil && !slices.Contains(install, m.qemuPkg) {
			install = append(install, m.qemuPkg)
		}
		known = append(known, qualify(m.kernel, m.arch, native), qualify("busybox-static", m.arch, native))
	}
	// apt-cache takes a few seconds a call once many arches are added: ask once for all.
	versions, err := candidates(append(known, install...)...)
	if err != nil {
		return nil, err
	}
	for _, p := range append(known, install...) {
		if versions[p] == "" {
			update = true
		}
	}
	if update {
		logf("apt-get update")
		if err := runLogged("apt-get", "update", "-qq"); err != nil {
			return nil, err
		}
	}
	if len(install) > 0 {
		logf("apt-get install %s", strings.Join(install, " "))
		// Wait a while for another apt or dpkg to finish rather than fail at once.
		args := append([]string{"install", "-y", "-qq", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=120"}, install...)
		if err := runLogged("apt-get", args...); err != nil {
			return nil, err
		}
	}

	// One package file of each: its name for apt, its version, and where it goes.
	type deb struct {
		g      *guest
		kernel bool
		pkg    string // for apt: name[:arch]=version
		file   string
	}
	debs := filepath.Join(dir, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return nil, err
	}
	guests := map[string]*guest{}
	var all []deb
	var metas, pkgs []string
	for _, m := range ms {
		metas = append(metas, qualify(m.kernel, m.arch, native))
	}
	kernels, err := kernelPackages(metas...)
	if err != nil {
		return nil, err
	}
	for i, m := range ms {
		pkgs = append(pkgs, qualify(kernels[metas[i]], m.arch, native), qualify("busybox-static", m.arch, native))
	}
	if versions, err = candidates(pkgs...); err != nil {
		return nil, err
	}
	for i, m := range ms {
		kpkg := kernels[metas[i]]
		g := &guest{arch: m.arch, kernelPkg: kpkg}
		guests[m.arch] = g
		for _, name := range []string{kpkg, "busybox-static"} {
			p := qualify(name, m.arch, native)
			v := versions[p]
			if v == "" {
				return nil, fmt.Errorf("apt-cache policy %s: no candidate version", p)
			}
			// apt-get download's file name, with the epoch's colon escaped.
			file := filepath.Join(debs, fmt.Sprintf("%s_%s_%s.deb", name, strings.ReplaceAll(v, ":", "%3a"), m.arch))
			all = append(all, deb{g: g, kernel: name == kpkg, pkg: p + "=" + v, file: file})
			if name == kpkg {
				g.kernelVer = v
			} else {
				g.busyboxVer = v
			}
		}
	}
	var fetch []string
	for _, d := range all {
		if _, err := os.Stat(d.file); err != nil {
			fetch = append(fetch, d.pkg)
		}
	}
	if len(fetch) > 0 {
		logf("apt-get download %s", strings.Join(fetch, " "))
		// As root, apt drops to the _apt user to download and then warns that it
		// cannot write here; the files are root's anyway.
		args := append([]string{"download", "-q", "-o", "APT::Sandbox::User=root"}, fetch...)
		cmd := exec.Command("apt-get", args...)
		cmd.Dir = debs
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("apt-get download in %s: %w\n%s", debs, err, out)
		}
	} else {
		logf("Debian packages: all %d already in %s", len(all), debs)
	}
	for _, d := range all {
		into, err := unpack(d.file, filepath.Join(dir, d.g.arch))
		if err != nil {
			return nil, err
		}
		if d.kernel {
			release := strings.TrimPrefix(d.g.kernelPkg, "linux-image-")
			d.g.vmlinuz = filepath.Join(into, "boot", "vmlinuz-"+release)
			if _, err := os.Stat(d.g.vmlinuz); err != nil {
				d.g.vmlinuz = filepath.Join(into, "boot", "vmlinux-"+release) // ppc64el's is not compressed
			}
			d.g.config = filepath.Join(into, "boot", "config-"+release)
		} else {
			d.g.busybox = filepath.Join(into, "bin", "busybox")
		}
	}
	for _, g := range guests {
		for _, p := range []string{g.vmlinuz, g.busybox} {
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("unpacked packages of %s: %w", g.arch, err)
			}
		}
	}
	return guests, nil
}

// qualify names pkg of arch for apt: pkg:arch for a foreign arch.
func qualify(pkg, arch, native string) string {
	if arch == native {
		return pkg
	}
	return pkg + ":" + arch
}

// kernelPackages returns, for each kernel metapackage (linux-image-arm64, qualified by
// arch for apt), the package of Debian's current kernel it depends on, such as
// linux-image-6.1.0-57-arm64: one apt-cache call for all.
func kernelPackages(metas ...string) (map[string]string, error) {
	out, err := output("apt-cache", append([]string{"depends"}, metas...)...)
	if err != nil {
		return nil, err
	}
	deps := map[string]string{}
	i := -1
	for _, line := range strings.Split(out, "\n") {
		if line != "" && line[0] != ' ' {
			// A package's section starts with its name, as asked.
			i = slices.Index(metas, strings.TrimSpace(line))
			continue
		}
		dep, ok := strings.CutPrefix(strings.TrimSpace(line), "Depends: ")
		if ok && i >= 0 && deps[metas[i]] == "" && strings.HasPrefix(dep, "linux-image-") {
			dep, _, _ = strings.Cut(dep, ":")
			deps[metas[i]] = dep
		}
	}
	for _, m := range metas {
		if deps[m] == "" {
			return nil, fmt.Errorf("apt-cache depends %s: no linux-image-* dependency", m)
		}
	}
	return deps, nil
}

// candidates returns the version apt would install of each of pkgs, "" where it knows
// none: one apt-cache call for all.
func candidates(pkgs ...string) (map[string]string, error) {
	out, err := output("apt-cache", append([]string{"policy"}, pkgs...)...)
	if err != nil {
		return nil, err
	}
	vs := map[string]string{}
	cur := ""
	for _, line := range strings.Split(out, "\n") {
		if line != "" && line[0] != ' ' {
			// "busybox-static:arm64:" or "busybox-static:" for the native arch.
			cur = strings.TrimSuffix(strings.TrimSpace(line), ":")
			continue
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Candidate: "); ok && v != "(none)" && cur != "" {
			vs[cur] = v
		}
	}
	return vs, nil
}

// unpack extracts the package deb into a directory of its own under dir, named after
// the package file, unless an earlier run did; it returns that directory. The
// extraction goes to a temporary directory first, so that an interrupted run leaves
// nothing that looks complete.
func unpack(deb, dir string) (string, error) {
	into := filepath.Join(dir, strings.TrimSuffix(filepath.Base(deb), ".deb"))
	if _, err := os.Stat(into); err == nil {
		return into, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, ".unpack-")
	if err != nil {
		return "", err
	}
	logf("dpkg-deb -x %s", filepath.Base(deb))
	if out, err := exec.Command("dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("dpkg-deb -x %s: %w\n%s", deb, err, out)
	}
	if err := os.Rename(tmp, into); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return into, nil
}

// output runs a command and returns its standard output; the error names the command
// and carries its standard error.
func output(name string, args ...string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// runLogged runs a command that changes the host (apt-get, dpkg), without questions,
// and logs how long it took. Its output, dpkg's progress mostly, is shown only if it
// fails.
func runLogged(name string, args ...string) error {
	t := time.Now()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	logf("%s %s: done in %.1fs", name, args[0], time.Since(t).Seconds())
	return nil
}

// errNotRoot is returned when vmtest does not run as root: apt and dpkg need it.
var errNotRoot = errors.New("needs root (apt-get, dpkg): run make test-vm as root")
