package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// defaultTimeout bounds the whole run when the kernel command line does not say
// (vminit.timeout=SECONDS).
const defaultTimeout = 300 * time.Second

// out serializes console lines: the watchdog may write while a check does.
var out sync.Mutex

// say writes one line to the console in a single write(2), so that lines of vminit
// are never cut by each other.
func say(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	line = strings.ReplaceAll(strings.TrimRight(line, "\n"), "\n", " | ") + "\n"
	out.Lock()
	defer out.Unlock()
	os.Stdout.WriteString(line)
}

func main() {
	// PID 1 must not return: the kernel would panic. Every path ends in powerOff.
	start := time.Now()
	if err := mountAPI(); err != nil {
		say("RESULT FAIL 1 %v", err)
		powerOff()
	}
	timeout := cmdlineTimeout()
	time.AfterFunc(timeout, func() {
		say("RESULT FAIL timeout: the checks did not finish within %s", timeout)
		powerOff()
	})
	var u unix.Utsname
	unix.Uname(&u)
	say("VMINIT arch=%s kernel=%q timeout=%s", runtime.GOARCH,
		strings.Join([]string{unix.ByteSliceToString(u.Sysname[:]), unix.ByteSliceToString(u.Release[:]),
			unix.ByteSliceToString(u.Version[:]), unix.ByteSliceToString(u.Machine[:])}, " "), timeout)

	c := &checker{}
	c.host()
	c.initramfs()
	keep := []string{"/launch", "/SHA256SUMS", "/rootfs"}
	if _, err := os.Stat("/launch32"); err == nil {
		keep = append(keep, "/launch32")
	}
	if err := switchRoot("/sysroot", keep); err != nil {
		c.report("switch-root", err, "")
	} else {
		say("INFO switch_root: / is now a tmpfs holding a copy of /launch and /rootfs, as on a board with a root file system")
		c.container()
		c.userns()
		c.bundle()
		c.wide()
		c.delegation()
	}
	c.cleanup()
	if c.failed > 0 {
		say("RESULT FAIL %d (%d checks, %.1fs)", c.failed, c.total, time.Since(start).Seconds())
	} else {
		say("RESULT PASS (%d checks, %.1fs)", c.total, time.Since(start).Seconds())
	}
	powerOff()
}

// mountAPI mounts what the kernel leaves to init, and what the launcher needs of a
// host: /proc (its /proc/self/fd resolves every mount target), /sys, devtmpfs on /dev
// (the masks bind /dev/null) and cgroup2 on /sys/fs/cgroup, alone: a pure v2 host.
func mountAPI() error {
	for _, m := range []struct{ src, dir, fstype string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2"},
	} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.src, m.dir, m.fstype, unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.dir, err)
		}
	}
	// Only emergencies on the console from now on: kernel messages (an OOM kill, say)
	// are written straight to the serial port and would cut CHECK lines in two.
	os.WriteFile("/proc/sys/kernel/printk", []byte("1"), 0)
	return nil
}

// cmdlineTimeout returns vminit.timeout=SECONDS of the kernel command line, the last
// one if there are several, as with the kernel's own parameters. The kernel neither
// passes dotted parameters to init nor complains about them, so they are read from
// /proc/cmdline.
func cmdlineTimeout() time.Duration {
	t := defaultTimeout
	b, _ := os.ReadFile("/proc/cmdline")
	for _, f := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(f, "vminit.timeout="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				t = time.Duration(n) * time.Second
			}
		}
	}
	return t
}

// powerOff ends the machine. Should reboot(2) fail, PID 1 exits, the kernel panics,
// and with panic=-1 and qemu's -no-reboot that ends the machine too.
func powerOff() {
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		say("vminit: reboot(POWER_OFF): %v", err)
	}
	os.Exit(1)
}
