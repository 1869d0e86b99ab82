package main

import (
	"bufio"
	"strconv"
	"strings"
	"testing"

	"launch/internal/testutil"
)

// meminfoKB returns the kB values of the lines of a /proc/meminfo text.
func meminfoKB(text string) map[string]int {
	out := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		if err == nil {
			out[k] = n
		}
	}
	return out
}

// TestProcViewMemory: inside a container with --memory 64M, /proc/meminfo says
// 65536 kB, and MemAvailable follows what the container uses: 20 MiB written to its
// /tmp (tmpfs, charged to its memory cgroup) take at least 16 MiB off it.
func TestProcViewMemory(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	before := snapshot(t)
	r := runLaunch(t, "--memory", "64M", rootfs, "/bin/sh", "-c",
		"cat /proc/meminfo; echo ====; dd if=/dev/zero of=/tmp/fill bs=1M count=20 2>/dev/null; cat /proc/meminfo; echo ====; free")
	parts := strings.Split(r.stdout, "====\n")
	if r.code != 0 || len(parts) != 3 {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	m1, m2 := meminfoKB(parts[0]), meminfoKB(parts[1])
	if m1["MemTotal"] != 65536 {
		t.Errorf("MemTotal = %d kB, want 65536", m1["MemTotal"])
	}
	if m1["SwapTotal"] != 0 || m1["SwapFree"] != 0 {
		t.Errorf("SwapTotal %d, SwapFree %d, want 0 (swap is off)", m1["SwapTotal"], m1["SwapFree"])
	}
	if m1["MemFree"] > 65536 || m1["MemAvailable"] > 65536 || m1["MemAvailable"] < 32768 {
		t.Errorf("MemFree %d, MemAvailable %d kB: want at most the limit and most of it free", m1["MemFree"], m1["MemAvailable"])
	}
	if drop := m1["MemAvailable"] - m2["MemAvailable"]; drop < 16*1024 {
		t.Errorf("MemAvailable went from %d to %d kB after filling 20 MiB of /tmp; want a drop of at least 16 MiB", m1["MemAvailable"], m2["MemAvailable"])
	}
	if m2["Shmem"] < 16*1024 {
		t.Errorf("Shmem = %d kB after 20 MiB in /tmp", m2["Shmem"])
	}
	// busybox free takes its totals from sysinfo(2), which no file can change, and its
	// "available" column from /proc/meminfo: the container's.
	if f := strings.Fields(parts[2]); len(f) < 13 || f[12] == "" {
		t.Errorf("free printed %q", parts[2])
	} else if avail, _ := strconv.Atoi(f[12]); avail > 65536 {
		t.Errorf("free shows %d kB available, more than the 64M limit:\n%s", avail, parts[2])
	}
	before.unchanged(t)
}

func TestProcViewCPUs(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	for _, tt := range []struct {
		name string
		opts []string
		want int
	}{
		{"cpuset", []string{"--cpuset-cpus", "0"}, 1},
		{"quota", []string{"--cpus", "0.5"}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runLaunch(t, append(tt.opts, rootfs, "/bin/sh", "-c",
				"grep -c ^processor /proc/cpuinfo; cat /sys/devices/system/cpu/online; grep -c '^cpu[0-9]' /proc/stat; nproc")...)
			f := strings.Fields(r.stdout)
			if r.code != 0 || len(f) != 4 {
				t.Fatalf("exit %d, %q, %q", r.code, r.stdout, r.stderr)
			}
			want := strconv.Itoa(tt.want)
			if f[0] != want || f[1] != "0" || f[2] != want {
				t.Errorf("cpuinfo CPUs %s, online %s, /proc/stat cpu lines %s; want %d, 0, %d", f[0], f[1], f[2], tt.want, tt.want)
			}
			if tt.name == "cpuset" && f[3] != "1" {
				t.Errorf("nproc = %s, want 1 (the cpuset limits the affinity)", f[3])
			}
		})
	}
}

func TestProcViewUptimeAndStat(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	r := runLaunch(t, "--memory", "64M", rootfs, "/bin/sh", "-c", "cat /proc/uptime; grep -E '^(cpu |btime)' /proc/stat; top -bn1 | head -3")
	lines := strings.Split(r.stdout, "\n")
	up, err := strconv.ParseFloat(strings.Fields(lines[0])[0], 64)
	if err != nil || up > 10 {
		t.Errorf("/proc/uptime = %q: want the seconds since the container started", lines[0])
	}
	if !strings.Contains(r.stdout, "btime ") || !strings.Contains(r.stdout, "cpu  ") {
		t.Errorf("/proc/stat lacks its cpu or btime line:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "Mem:") {
		t.Errorf("top -bn1 printed no memory line:\n%s%s", r.stdout, r.stderr)
	}
}

// TestProcViewReaders: 4 concurrent readers, 10 000 reads each, never see a torn or
// empty file; the files cannot be written.
func TestProcViewReaders(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	for _, tt := range []struct{ file, reads string }{{"/proc/meminfo", "10000"}, {"/proc/stat", "500"}} {
		if got := try(t, rootfs, []string{"--memory", "64M"}, "readloop", tt.file, tt.reads, "4"); got != "ok" {
			t.Errorf("4 readers of %s, %s reads each: %s", tt.file, tt.reads, got)
		}
	}
	for _, f := range []string{"/proc/meminfo", "/proc/uptime", "/sys/devices/system/cpu/online"} {
		if got := try(t, rootfs, []string{"--memory", "64M"}, "write", f, "x"); got != "EROFS" && got != "EACCES" {
			t.Errorf("writing %s: %s, want EROFS", f, got)
		}
	}
}

func TestProcViewOff(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	rep := probe(t, rootfs, "--proc-view=off")
	for _, l := range rep.Mounts {
		if strings.Contains(l, " fuse ") {
			t.Errorf("--proc-view=off: %s", l)
		}
	}
	rep = probe(t, rootfs)
	n := 0
	for _, l := range rep.Mounts {
		if strings.Contains(l, " - fuse ") {
			n++
		}
	}
	if n != 5 {
		t.Errorf("%d /proc view mounts by default, want 5:\n%s", n, strings.Join(rep.Mounts, "\n"))
	}
}
