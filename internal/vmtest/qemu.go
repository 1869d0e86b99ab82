package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A machine is one emulated computer: a Debian arch, the GOARCH of its release binary,
// Debian's kernel for it, and how qemu makes it.
type machine struct {
	arch    string   // Debian's name: amd64, i386, armhf, ...
	goarch  string   // the release binary's: amd64, 386, arm, ...
	kernel  string   // the metapackage of Debian's current kernel for it
	qemu    string   // the qemu binary
	qemuPkg string   // the Debian package that has it
	console string   // the kernel's name for its first serial port
	board   []string // the board, if qemu has no default one
	tcgCPU  string   // the CPU to emulate without KVM
	mem     string   // memory, if not 512M
	cpus    string   // CPUs, if not 2
	compat  string   // the GOARCH of the 32-bit programs its kernel also runs, whose launcher is tried too
}

// machines are those vmtest can boot. A Cortex-A57 is cheaper to emulate than -cpu max,
// whose pointer authentication is slow under TCG; the Malta board has one CPU.
var machines = []machine{
	{arch: "arm64", goarch: "arm64", kernel: "linux-image-arm64", qemu: "qemu-system-aarch64", qemuPkg: "qemu-system-arm",
		console: "ttyAMA0", board: []string{"-M", "virt"}, tcgCPU: "cortex-a57", compat: "arm"},
	{arch: "amd64", goarch: "amd64", kernel: "linux-image-amd64", qemu: "qemu-system-x86_64", qemuPkg: "qemu-system-x86",
		console: "ttyS0", tcgCPU: "max", compat: "386"},
	{arch: "i386", goarch: "386", kernel: "linux-image-686", qemu: "qemu-system-i386", qemuPkg: "qemu-system-x86",
		console: "ttyS0", tcgCPU: "max"},
	{arch: "armhf", goarch: "arm", kernel: "linux-image-armmp", qemu: "qemu-system-arm", qemuPkg: "qemu-system-arm",
		console: "ttyAMA0", board: []string{"-M", "virt,highmem=off"}, tcgCPU: "cortex-a15"},
	{arch: "ppc64el", goarch: "ppc64le", kernel: "linux-image-powerpc64le", qemu: "qemu-system-ppc64", qemuPkg: "qemu-system-ppc",
		console: "hvc0", board: []string{"-M", "pseries"}, tcgCPU: "power9"},
	{arch: "s390x", goarch: "s390x", kernel: "linux-image-s390x", qemu: "qemu-system-s390x", qemuPkg: "qemu-system-misc",
		console: "ttysclp0", tcgCPU: "max"},
	{arch: "mips64el", goarch: "mips64le", kernel: "linux-image-5kc-malta", qemu: "qemu-system-mips64el", qemuPkg: "qemu-system-mips",
		console: "ttyS0", board: []string{"-M", "malta"}, tcgCPU: "5KEc", mem: "256", cpus: "1"},
	{arch: "mipsel", goarch: "mipsle", kernel: "linux-image-4kc-malta", qemu: "qemu-system-mipsel", qemuPkg: "qemu-system-mips",
		console: "ttyS0", board: []string{"-M", "malta"}, tcgCPU: "24Kf", mem: "256", cpus: "1"},
}

// An accel is how qemu runs a guest's CPUs.
type accel struct {
	name string // KVM or TCG
	args []string
}

// accels returns the accelerators to boot m with, in order: KVM, when the host is of
// m's arch and dev (/dev/kvm) can make a virtual machine, then TCG should KVM fail
// (see kvmFailed); TCG alone otherwise. The second result says why KVM is not tried.
func (m machine) accels(dev string) ([]accel, string) {
	tcg := accel{"TCG", []string{"-accel", "tcg", "-cpu", m.tcgCPU}}
	if m.goarch != runtime.GOARCH {
		return []accel{tcg}, "the host is " + runtime.GOARCH
	}
	if err := kvmWorks(dev); err != nil {
		return []accel{tcg}, err.Error()
	}
	return []accel{{"KVM", []string{"-enable-kvm", "-cpu", "host"}}, tcg}, ""
}

// The ioctls of the KVM API (linux/kvm.h): _IO(KVMIO, 0x00) and _IO(KVMIO, 0x01).
const (
	kvmGetAPIVersion = 0xAE00
	kvmCreateVM      = 0xAE01
	kvmAPIVersion    = 12 // the only one there has been since Linux 2.6.22
)

// kvmWorks checks that dev opens and makes a virtual machine, as qemu does first:
// some hosts have a /dev/kvm whose every VM fails. It costs a millisecond.
func kvmWorks(dev string) error {
	fd, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dev, Err: err}
	}
	defer unix.Close(fd)
	if v, err := unix.IoctlRetInt(fd, kvmGetAPIVersion); err != nil || v != kvmAPIVersion {
		return fmt.Errorf("%s: KVM_GET_API_VERSION: %d, %v (want %d)", dev, v, err, kvmAPIVersion)
	}
	vm, err := unix.IoctlRetInt(fd, kvmCreateVM)
	if err != nil {
		return fmt.Errorf("%s: KVM_CREATE_VM: %w", dev, err)
	}
	unix.Close(vm)
	return nil
}

// kvmFirstLine bounds how long a guest under KVM may take to say VMINIT: it boots in
// seconds, so a silent minute means KVM does not run it.
var kvmFirstLine = 90 * time.Second

// kvmFailed decides whether a boot under KVM failed for KVM's sake, and is to be
// done again with TCG, and why: qemu ended, or was stopped after kvmFirstLine, before
// the guest's init said anything (VMINIT). A KVM that qemu cannot use fails there
// (an abort such as "failed to set MSR 0x10a" and the assertion in kvm_buf_set_msrs,
// or an error at start); once the guest runs, a failure is the guest's, and stands.
func kvmFailed(b *boot) (bool, string) {
	if b.started {
		return false, ""
	}
	why := "qemu ended before the guest said anything"
	switch {
	case b.silent:
		why = fmt.Sprintf("no word from the guest within %s", kvmFirstLine)
	case b.exit != nil:
		why = "qemu: " + b.exit.Error()
	}
	lines := strings.Split(strings.TrimSpace(b.stderr), "\n")
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "" {
		why += ": " + last
	}
	return true, why
}

// A boot is how one machine's run ended.
type boot struct {
	arch     string
	accel    string
	uname    string   // the kernel, as vminit reported it
	result   string   // the RESULT line
	problems []string // why it failed; none if it passed
	took     time.Duration
	started  bool   // vminit said VMINIT: the guest runs
	silent   bool   // stopped for want of VMINIT within kvmFirstLine (KVM only)
	exit     error  // how qemu ended: nil for status 0
	stderr   string // what qemu wrote on its standard error
}

// ansi matches the terminal control sequences firmware writes to the serial port.
var ansi = regexp.MustCompile(`\x1b(\[[0-9;?]*[A-Za-z]|c)`)

// run boots m with kernel and initrd and the kernel parameters extra, with KVM if it
// works and TCG otherwise (see accels), echoes its console prefixed by the arch, and
// reads the checks' lines. A KVM boot that fails for KVM's sake is done again with
// TCG, and the log and the summary say so.
func (m machine) run(kernel, initrd, extra string, timeout time.Duration) *boot {
	accels, why := m.accels("/dev/kvm")
	if why != "" {
		logf("%s: TCG: KVM not tried: %s", m.arch, why)
	}
	return m.runWith(accels, kernel, initrd, extra, timeout)
}

// runWith boots with each accelerator of accels in turn until one is not a failed KVM.
func (m machine) runWith(accels []accel, kernel, initrd, extra string, timeout time.Duration) *boot {
	var fellBack string
	for i, a := range accels {
		b := m.boot(a, kernel, initrd, extra, timeout)
		if a.name == "KVM" && i+1 < len(accels) {
			if failed, why := kvmFailed(b); failed {
				logf("%s: KVM failed (%s): booting again with %s", m.arch, why, accels[i+1].name)
				fellBack = " after KVM failed: " + why
				continue
			}
		}
		b.accel += fellBack
		return b
	}
	panic("vmtest: no accelerator") // not reached: accels ends with TCG
}

// boot boots m once with a. The machine is killed after timeout, and under KVM after
// kvmFirstLine without a word from the guest; vminit is told to give up a little
// earlier than timeout (vminit.timeout), so that it can still say why.
func (m machine) boot(a accel, kernel, initrd, extra string, timeout time.Duration) *boot {
	b := &boot{arch: m.arch, accel: a.name}
	t0 := time.Now()
	guestTimeout := timeout - 30*time.Second
	if guestTimeout < timeout/2 {
		guestTimeout = timeout / 2
	}
	args := append(append([]string{}, m.board...), a.args...)
	mem := m.mem
	if mem == "" {
		mem = "512"
	}
	smp := m.cpus
	if smp == "" {
		smp = "2"
	}
	args = append(args, "-smp", smp, "-m", mem, "-nographic", "-no-reboot", "-nic", "none",
		"-kernel", kernel, "-initrd", initrd,
		// quiet: kernel messages could cut the checks' lines; panic=-1: a crash of
		// init reboots at once, which -no-reboot turns into qemu's exit.
		"-append", strings.TrimSpace(fmt.Sprintf("console=%s panic=-1 quiet vminit.timeout=%d %s",
			m.console, int(guestTimeout.Seconds()), extra)))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.qemu, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	logf("%s: %s %s", m.arch, m.qemu, strings.Join(args, " "))
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		b.problems = append(b.problems, fmt.Sprintf("start %s: %v", m.qemu, err))
		b.exit = err
		return b
	}
	var (
		mu     sync.Mutex
		silent *time.Timer
	)
	if a.name == "KVM" {
		silent = time.AfterFunc(kvmFirstLine, func() {
			mu.Lock()
			defer mu.Unlock()
			if !b.started {
				b.silent = true
				cmd.Process.Kill()
			}
		})
		defer silent.Stop()
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(ansi.ReplaceAllString(sc.Text(), ""), "\r")
		logf("[%s] %s", m.arch, line)
		// The kernel may have written part of a message on the same console line
		// first (pseries does): a marker counts where it starts.
		for _, mark := range []string{"VMINIT ", "CHECK ", "RESULT "} {
			if i := strings.Index(line, mark); i > 0 {
				line = line[i:]
				break
			}
		}
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "CHECK" && f[2] == "FAIL":
			b.problems = append(b.problems, line)
		case len(f) >= 2 && f[0] == "RESULT":
			b.result = line
			if f[1] != "PASS" {
				b.problems = append(b.problems, line)
			}
		case len(f) >= 1 && f[0] == "VMINIT":
			mu.Lock()
			b.started = true
			mu.Unlock()
			if _, k, ok := strings.Cut(line, "kernel="); ok {
				b.uname = strings.Trim(strings.Split(k, "\" ")[0], "\"")
			}
		}
	}
	err = cmd.Wait()
	b.took, b.exit, b.stderr = time.Since(t0), err, stderr.String()
	mu.Lock()
	silentKill := b.silent
	mu.Unlock()
	switch {
	case ctx.Err() != nil:
		b.problems = append(b.problems, fmt.Sprintf("timed out after %s: qemu killed", timeout))
	case silentKill:
		b.problems = append(b.problems, fmt.Sprintf("no word from the guest within %s under KVM: qemu killed", kvmFirstLine))
	case err != nil:
		b.problems = append(b.problems, fmt.Sprintf("%s: %v: %s", m.qemu, err, strings.TrimSpace(stderr.String())))
	}
	if b.result == "" {
		b.problems = append(b.problems, "no RESULT line on the console")
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		logf("%s: qemu's stderr: %s", m.arch, s)
	}
	return b
}
