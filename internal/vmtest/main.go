package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

var (
	start = time.Now()
	logMu sync.Mutex
)

// logf prints one line of vmtest's output with the time since it started. Lines of
// the machines' consoles, of make and of apt all go through here, one at a time.
func logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	logMu.Lock()
	defer logMu.Unlock()
	fmt.Printf("vmtest %6.1fs %s\n", time.Since(start).Seconds(), line)
}

func main() {
	arches := flag.String("arch", "arm64,amd64,i386,armhf,ppc64el,s390x,mips64el,mipsel", "the machines to boot, by Debian arch")
	timeout := flag.Duration("timeout", 8*time.Minute, "how long each machine may run, boot to power-off")
	appendArgs := flag.String("append", "", "more kernel parameters, e.g. cgroup_disable=memory to see launch on a kernel without that controller")
	flag.Parse()
	ok, err := run(strings.Split(*arches, ","), *timeout, *appendArgs)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest: %v\n", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// run does what the package documentation says and reports whether every machine
// passed; an error is a failure to get that far.
func run(arches []string, timeout time.Duration, kernelArgs string) (bool, error) {
	if os.Geteuid() != 0 {
		return false, errNotRoot
	}
	root, err := os.Getwd()
	if err != nil {
		return false, err
	}
	if mod, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !bytes.HasPrefix(mod, []byte("module launch\n")) {
		return false, fmt.Errorf("run from the repository root (go run ./internal/vmtest): %s has no go.mod of module launch", root)
	}
	var ms []machine
	for _, a := range arches {
		i := slices.IndexFunc(machines, func(m machine) bool { return m.arch == a })
		if i < 0 {
			var names []string
			for _, m := range machines {
				names = append(names, m.arch)
			}
			return false, fmt.Errorf("-arch %s: vmtest boots only %s", a, strings.Join(names, ", "))
		}
		ms = append(ms, machines[i])
	}
	dir := filepath.Join(root, "build", "vm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}

	// Debian's packages and the builds do not depend on each other: side by side.
	var (
		wg       sync.WaitGroup
		guests   map[string]*guest
		release  []binary
		built    = map[string][3]string{} // arch -> vminit, probe, the compat GOARCH's probe
		hostErr  error
		buildErr error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		guests, hostErr = prepareHost(dir, ms)
	}()
	go func() {
		defer wg.Done()
		if release, buildErr = buildRelease(root); buildErr != nil {
			return
		}
		for _, m := range ms {
			init, probe, err := buildGuest(root, m.goarch, filepath.Join(dir, m.arch))
			if err != nil {
				buildErr = err
				return
			}
			var probe32 string
			if m.compat != "" {
				probe32 = filepath.Join(dir, m.arch, m.compat, "probe")
				if err := buildFor(root, m.compat, "./internal/probe", probe32); err != nil {
					buildErr = err
					return
				}
			}
			built[m.arch] = [3]string{init, probe, probe32}
		}
		logf("built vminit and probe for %s", strings.Join(arches, ", "))
	}()
	wg.Wait()
	if err := errors.Join(hostErr, buildErr); err != nil {
		return false, err
	}

	for _, m := range ms {
		g := guests[m.arch]
		initrd := filepath.Join(dir, m.arch, "initramfs.cpio.gz")
		gf := guestFiles{
			init: built[m.arch][0], probe: built[m.arch][1], busybox: g.busybox,
			launch: filepath.Join(root, "build", "release", "launch-linux-"+m.goarch),
			sums:   filepath.Join(root, "build", "release", "SHA256SUMS"),
		}
		if m.compat != "" {
			gf.launch32 = filepath.Join(root, "build", "release", "launch-linux-"+m.compat)
			gf.probe32 = built[m.arch][2]
		}
		err := writeInitramfs(initrd, gf)
		if err != nil {
			return false, err
		}
		if st, err := os.Stat(initrd); err == nil {
			logf("%s: %s, %d bytes; kernel %s %s (%s); busybox-static %s", m.arch, initrd, st.Size(),
				g.kernelPkg, g.kernelVer, g.vmlinuz, g.busyboxVer)
		}
	}

	boots := make([]*boot, len(ms))
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			boots[i] = m.run(guests[m.arch].vmlinuz, filepath.Join(dir, m.arch, "initramfs.cpio.gz"), kernelArgs, timeout)
		}()
	}
	wg.Wait()

	return summary(ms, guests, boots, release), nil
}

// summary prints the outcome of each machine, the kernels, and the release's sizes,
// and reports whether every machine passed.
func summary(ms []machine, guests map[string]*guest, boots []*boot, release []binary) bool {
	pass := true
	logf("--- summary")
	for i, b := range boots {
		g := guests[ms[i].arch]
		state := "PASS"
		if len(b.problems) > 0 {
			state, pass = "FAIL", false
		}
		result := b.result
		if result == "" {
			result = "no RESULT"
		}
		logf("%s: %s in %.1fs (%s): %s", b.arch, state, b.took.Seconds(), b.accel, result)
		logf("%s: kernel: Debian %s %s, running as %q", b.arch, g.kernelPkg, g.kernelVer, b.uname)
		logf("%s: kernel config: %s", b.arch, kernelConfig(g.config))
		for _, p := range b.problems {
			logf("%s:   %s", b.arch, p)
		}
	}
	booted := map[string]bool{}
	for _, m := range ms {
		booted["launch-linux-"+m.goarch] = true
	}
	logf("release binaries (build/release, with SHA256SUMS):")
	for _, r := range release {
		note := "built, not booted here"
		if booted[r.name] {
			note = "booted above"
		}
		logf("  %-24s %8d bytes  %s", r.name, r.size, note)
	}
	if pass {
		logf("PASS in %s", time.Since(start).Round(100*time.Millisecond))
	} else {
		logf("FAIL in %s", time.Since(start).Round(100*time.Millisecond))
	}
	return pass
}

// configOptions are the kernel options the README's "Running on embedded hosts" names.
var configOptions = []string{"NAMESPACES", "UTS_NS", "IPC_NS", "PID_NS", "NET_NS", "CGROUPS", "MEMCG",
	"CGROUP_PIDS", "CGROUP_SCHED", "BLK_CGROUP", "SECCOMP_FILTER", "DEVTMPFS", "TMPFS", "POSIX_MQUEUE",
	"DEVPTS_MULTIPLE_INSTANCES"}

// kernelConfig returns the values of configOptions in the kernel configuration file
// path (boot/config-* of the kernel package), "NAME=-" for those it does not set.
func kernelConfig(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(string(data), "\n")
	var out []string
	for _, o := range configOptions {
		v := "-"
		for _, line := range lines {
			if x, ok := strings.CutPrefix(line, "CONFIG_"+o+"="); ok {
				v = x
			}
		}
		out = append(out, o+"="+v)
	}
	return strings.Join(out, " ")
}
