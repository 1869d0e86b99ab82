package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A machine is one emulated computer: a Debian arch (the same name as its GOARCH) and
// how qemu makes it.
type machine struct {
	arch    string
	qemu    string   // the qemu binary
	qemuPkg string   // the Debian package that has it
	console string   // the kernel's name for its first serial port
	board   []string // the board, if qemu has no default one
	tcgCPU  string   // the CPU to emulate without KVM
}

// machines are those vmtest can boot. A Cortex-A57 is cheaper to emulate than -cpu max,
// whose pointer authentication is slow under TCG.
var machines = []machine{
	{arch: "arm64", qemu: "qemu-system-aarch64", qemuPkg: "qemu-system-arm", console: "ttyAMA0",
		board: []string{"-M", "virt"}, tcgCPU: "cortex-a57"},
	{arch: "amd64", qemu: "qemu-system-x86_64", qemuPkg: "qemu-system-x86", console: "ttyS0", tcgCPU: "max"},
}

// accel returns the qemu arguments that choose the accelerator and CPU of m: KVM when
// the host is of m's arch and /dev/kvm opens, TCG otherwise. The second result names
// the accelerator.
func (m machine) accel() ([]string, string) {
	if m.arch == runtime.GOARCH {
		if fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0); err == nil {
			unix.Close(fd)
			return []string{"-enable-kvm", "-cpu", "host"}, "KVM"
		}
	}
	return []string{"-accel", "tcg", "-cpu", m.tcgCPU}, "TCG"
}

// A boot is how one machine's run ended.
type boot struct {
	arch     string
	accel    string
	uname    string   // the kernel, as vminit reported it
	result   string   // the RESULT line
	problems []string // why it failed; none if it passed
	took     time.Duration
}

// ansi matches the terminal control sequences firmware writes to the serial port.
var ansi = regexp.MustCompile(`\x1b(\[[0-9;?]*[A-Za-z]|c)`)

// run boots m with kernel and initrd and the kernel parameters extra, echoes its
// console prefixed by the arch, and reads the checks' lines. The machine is killed
// after timeout; vminit is told to give up a little earlier (vminit.timeout), so that
// it can still say why.
func (m machine) run(kernel, initrd, extra string, timeout time.Duration) *boot {
	accel, name := m.accel()
	b := &boot{arch: m.arch, accel: name}
	t0 := time.Now()
	guestTimeout := timeout - 30*time.Second
	if guestTimeout < timeout/2 {
		guestTimeout = timeout / 2
	}
	args := append(append([]string{}, m.board...), accel...)
	args = append(args, "-smp", "2", "-m", "512", "-nographic", "-no-reboot", "-nic", "none",
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
		return b
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(ansi.ReplaceAllString(sc.Text(), ""), "\r")
		logf("[%s] %s", m.arch, line)
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
			if _, k, ok := strings.Cut(line, "kernel="); ok {
				b.uname = strings.Trim(strings.Split(k, "\" ")[0], "\"")
			}
		}
	}
	err = cmd.Wait()
	b.took = time.Since(t0)
	if ctx.Err() != nil {
		b.problems = append(b.problems, fmt.Sprintf("timed out after %s: qemu killed", timeout))
	} else if err != nil {
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
