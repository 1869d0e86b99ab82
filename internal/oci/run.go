package oci

import (
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
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
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
	defer signal.Stop(sigs)
	ct, err := c.createContainer(id, f)
	if err != nil {
		return err
	}
	lk, err := lockDir(ct.dir)
	if err == nil {
		err = c.startContainer(ct)
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
	_, err := c.stdout.Write([]byte(featuresJSON))
	return err
}

// featuresJSON is what launch features says (the runtime spec's features.md).
const featuresJSON = `{"ociVersionMin":"1.0.0","ociVersionMax":"` + ociVersion + `",` +
	`"hooks":["poststart","poststop"],` +
	`"mountOptions":["ro","rw","nosuid","suid","nodev","dev","noexec","exec","noatime","atime","nodiratime","diratime",` +
	`"relatime","norelatime","strictatime","nostrictatime","bind","rbind","private","rprivate"],` +
	`"linux":{"namespaces":["cgroup","ipc","mount","network","pid","uts"],` +
	`"capabilities":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_DAC_READ_SEARCH","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_SETGID",` +
	`"CAP_SETUID","CAP_SETPCAP","CAP_LINUX_IMMUTABLE","CAP_NET_BIND_SERVICE","CAP_NET_BROADCAST","CAP_NET_ADMIN","CAP_NET_RAW",` +
	`"CAP_IPC_LOCK","CAP_IPC_OWNER","CAP_SYS_MODULE","CAP_SYS_RAWIO","CAP_SYS_CHROOT","CAP_SYS_PTRACE","CAP_SYS_PACCT",` +
	`"CAP_SYS_ADMIN","CAP_SYS_BOOT","CAP_SYS_NICE","CAP_SYS_RESOURCE","CAP_SYS_TIME","CAP_SYS_TTY_CONFIG","CAP_MKNOD","CAP_LEASE",` +
	`"CAP_AUDIT_WRITE","CAP_AUDIT_CONTROL","CAP_SETFCAP","CAP_MAC_OVERRIDE","CAP_MAC_ADMIN","CAP_SYSLOG","CAP_WAKE_ALARM",` +
	`"CAP_BLOCK_SUSPEND","CAP_AUDIT_READ","CAP_PERFMON","CAP_BPF","CAP_CHECKPOINT_RESTORE"],` +
	`"cgroup":{"v1":true,"v2":true,"systemd":false,"systemdUser":false},` +
	`"seccomp":{"enabled":true,"actions":["SCMP_ACT_ALLOW","SCMP_ACT_ERRNO","SCMP_ACT_KILL","SCMP_ACT_KILL_PROCESS",` +
	`"SCMP_ACT_KILL_THREAD","SCMP_ACT_LOG","SCMP_ACT_TRAP","SCMP_ACT_TRACE"],"operators":["SCMP_CMP_EQ","SCMP_CMP_NE",` +
	`"SCMP_CMP_LT","SCMP_CMP_LE","SCMP_CMP_GT","SCMP_CMP_GE","SCMP_CMP_MASKED_EQ"]},` +
	`"apparmor":{"enabled":false},"selinux":{"enabled":false}},` +
	`"annotations":{"org.launch.seccomp.compiler":"launch"}}` + "\n"

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
	_, err = file.WriteString(strings.TrimLeft(defaultSpec, "\n"))
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	return err
}

// defaultSpec is the config.json launch spec writes: a shell in ./rootfs, with
// launch's own defaults as far as the runtime spec can say them.
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
			"bounding": ["CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
				"CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"],
			"effective": ["CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
				"CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"],
			"permitted": ["CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
				"CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"]
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
