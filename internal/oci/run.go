package oci

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"launch/internal/caps"
)

func (c *cli) runCmd() error {
	f, err := parse("run", c.args, createFlags, false)
	if err != nil {
		return err
	}
	id, err := f.id("run")
	if err != nil {
		return err
	}
	// Signals that come while the container starts are kept for its process.
	sigs := catchSignals(forwarded...)
	ct, err := c.createContainer(id, f, sigs.stop)
	if err != nil {
		return err
	}
	lk, err := lockDir(ct.dir)
	if err == nil {
		// One of stopping during create: the process is not started.
		if err = sigs.stop(); err == nil {
			err = c.startContainer(ct)
		}
		unix.Close(lk)
	}
	if err != nil {
		c.deleteContainer(ct, true)
		return err
	}
	if f.bools["detach"] {
		return nil
	}
	// The process is this one's child: its exit status is run's.
	status := waitForward(ct.Pid, sigs)
	if err := c.deleteContainer(ct, true); err != nil {
		return err
	}
	return status
}

func (c *cli) features() error {
	_, err := io.WriteString(c.stdout, featuresJSON())
	return err
}

// featuresJSON is what launch features says (the runtime spec's features.md): the
// capabilities are every one this build knows, by the names of package caps.
func featuresJSON() string {
	return featuresHead + capList(caps.Set(1<<(unix.CAP_LAST_CAP+1)-1)) + featuresTail
}

// capList is the capabilities of set as a JSON list's elements: "CAP_CHOWN",....
func capList(set caps.Set) string {
	var b strings.Builder
	for i, n := range set.Names() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"CAP_` + n + `"`)
	}
	return b.String()
}

const (
	featuresHead = `{"ociVersionMin":"1.0.0","ociVersionMax":"` + ociVersion + `",` +
		`"hooks":["prestart","createRuntime","createContainer","startContainer","poststart","poststop"],` +
		`"mountOptions":["ro","rw","nosuid","suid","nodev","dev","noexec","exec","noatime","atime","nodiratime","diratime",` +
		`"relatime","norelatime","strictatime","nostrictatime","bind","rbind","private","rprivate","shared","rshared",` +
		`"slave","rslave","unbindable","runbindable"],` +
		`"linux":{"namespaces":["cgroup","ipc","mount","network","pid","uts"],"capabilities":[`
	featuresTail = `],"cgroup":{"v1":true,"v2":true,"systemd":false,"systemdUser":false},` +
		`"seccomp":{"enabled":true,"actions":["SCMP_ACT_ALLOW","SCMP_ACT_ERRNO","SCMP_ACT_KILL","SCMP_ACT_KILL_PROCESS",` +
		`"SCMP_ACT_KILL_THREAD","SCMP_ACT_LOG","SCMP_ACT_TRAP","SCMP_ACT_TRACE"],"operators":["SCMP_CMP_EQ","SCMP_CMP_NE",` +
		`"SCMP_CMP_LT","SCMP_CMP_LE","SCMP_CMP_GT","SCMP_CMP_GE","SCMP_CMP_MASKED_EQ"]},` +
		`"apparmor":{"enabled":false},"selinux":{"enabled":false}},` +
		`"annotations":{"org.launch.seccomp.compiler":"launch"}}` + "\n"
)

func (c *cli) spec() error {
	f, err := parse("spec", c.args, []flagDef{{long: "bundle", short: "b", value: true}, {long: "rootless"}}, false)
	if err != nil {
		return err
	}
	if f.bools["rootless"] {
		return errors.New("spec --rootless: not supported yet")
	}
	p := filepath.Join(or(f.vals["bundle"], "."), "config.json")
	file, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = file.WriteString(defaultConfig())
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	return err
}

// defaultConfig is the config.json launch spec writes.
func defaultConfig() string {
	return strings.ReplaceAll(strings.TrimLeft(defaultSpec, "\n"), "CAPS", "["+capList(caps.Default)+"]")
}

// defaultSpec is that config but for its capabilities (CAPS): a shell in ./rootfs,
// with launch's own defaults as far as the runtime spec can say them, caps.txt's
// capabilities included.
const defaultSpec = `
{
	"ociVersion": "` + ociVersion + `",
	"process": {
		"terminal": true,
		"user": {"uid": 0, "gid": 0},
		"args": ["sh"],
		"env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
		"cwd": "/",
		"capabilities": {
			"bounding": CAPS,
			"effective": CAPS,
			"permitted": CAPS
		},
		"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
		"noNewPrivileges": true
	},
	"root": {"path": "rootfs", "readonly": true},
	"hostname": "launch",
	"mounts": [
		{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
		{"destination": "/dev/pts", "type": "devpts", "source": "devpts",
			"options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
		{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
		{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
		{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
		{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
	],
	"linux": {
		"resources": {"devices": [{"allow": false, "access": "rwm"}], "memory": {"limit": 67108864}, "pids": {"limit": 64}},
		"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
		"maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
			"/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
		"readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
	}
}
`
