package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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
			// A busy loop of about half a second first: its CPU time is the
			// container's, whichever CPU it ran on (--cpus hides CPUs from the view,
			// not from the scheduler).
			r := runLaunch(t, append(tt.opts, rootfs, "/bin/sh", "-c",
				"i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; "+
					"grep -c ^processor /proc/cpuinfo; cat /sys/devices/system/cpu/online; grep -c '^cpu[0-9]' /proc/stat; nproc; "+
					"grep '^cpu ' /proc/stat")...)
			f := strings.Fields(r.stdout)
			if r.code != 0 || len(f) != 15 {
				t.Fatalf("exit %d, %q, %q", r.code, r.stdout, r.stderr)
			}
			want := strconv.Itoa(tt.want)
			if f[0] != want || f[1] != "0" || f[2] != want {
				t.Errorf("cpuinfo CPUs %s, online %s, /proc/stat cpu lines %s; want %d, 0, %d", f[0], f[1], f[2], tt.want, tt.want)
			}
			// The cpuset limits the affinity; the quota's CPUs are answered by launch.
			if f[3] != want {
				t.Errorf("nproc = %s, want %s", f[3], want)
			}
			user, _ := strconv.Atoi(f[5])
			sys, _ := strconv.Atoi(f[7])
			if user+sys < 10 {
				t.Errorf("/proc/stat's cpu line %q after a busy loop of about half a second: want at least 10 ticks of user and system time", f[4:])
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

// TestProcViewLoadavg: /proc/loadavg counts the container's tasks, not the host's, and
// its load starts at 0; two busy loops running for 11 s (two samples, 5 s apart) make
// the 1-minute load nonzero, and no more than 2 (the kernel's after two samples of 2
// tasks is 0.30). /proc/swaps shows no swap: the container has none by default.
func TestProcViewLoadavg(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	r := runLaunch(t, "--memory", "64M", rootfs, "/bin/sh", "-c",
		"cat /proc/loadavg; while :; do :; done & a=$!; while :; do :; done & b=$!; sleep 11; cat /proc/loadavg; kill $a $b; cat /proc/swaps")
	lines := strings.Split(r.stdout, "\n")
	if r.code != 0 || len(lines) != 4 || lines[3] != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	parse := func(line string) (load1 float64, running, total int) {
		f := strings.Fields(line)
		if len(f) != 5 || f[4] != "0" {
			t.Fatalf("/proc/loadavg = %q, want 5 fields, the last 0", line)
		}
		load1, err := strconv.ParseFloat(f[0], 64)
		rs, ts, ok := strings.Cut(f[3], "/")
		running, err2 := strconv.Atoi(rs)
		total, err3 := strconv.Atoi(ts)
		if err != nil || !ok || err2 != nil || err3 != nil {
			t.Fatalf("/proc/loadavg = %q", line)
		}
		return load1, running, total
	}
	// The container has a shell and cat (and busybox runs no other thread); the host
	// has hundreds of threads.
	if l, running, total := parse(lines[0]); l != 0 || running > total || total > 5 {
		t.Errorf("/proc/loadavg at the start = %q: want a load of 0 and the container's few tasks", lines[0])
	}
	if l, running, total := parse(lines[1]); l <= 0 || l > 2 || running < 1 || total < 4 || total > 8 {
		t.Errorf("/proc/loadavg after 11 s of 2 busy loops = %q: want a 1-minute load in (0, 2], the loops runnable", lines[1])
	}
	if lines[2] != "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority" {
		t.Errorf("/proc/swaps = %q, want its header alone", lines[2])
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

// TestProcViewDiskstats: /proc/diskstats lists the container's own I/O, on the disks
// it did I/O on alone: after it writes and reads 1 MiB with O_DIRECT in a directory of
// the host's disk bound into it, that disk's sectors written and read have grown by
// at least 2048, and no other disk of the host is listed.
//
// On cgroup v1 since Linux 6.10 the kernel counts a cgroup's I/O to a disk only once
// a throttle rule was written for the disk, in any cgroup (blk-throttle is set up at
// the first rule): the test writes one to the root blkio cgroup, 0 for no limit.
func TestProcViewDiskstats(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	dir := t.TempDir()
	disk, name := diskOf(t, dir)
	blkio := blkioMount(t)
	if blkio != "" {
		rule := []byte(disk + " 0")
		if err := os.WriteFile(blkio+"/blkio.throttle.read_bps_device", rule, 0); err != nil {
			t.Fatalf("turning on blk-throttle's counting for %s (%s): %v", name, disk, err)
		}
	}
	r := runLaunch(t, "--memory", "64M", "--bind", dir+":/data", rootfs, "/bin/sh", "-c",
		"cat /proc/diskstats; echo ====; dd if=/dev/zero of=/data/x bs=64k count=16 oflag=direct 2>/dev/null &&"+
			" dd if=/data/x of=/dev/null bs=64k iflag=direct 2>/dev/null && cat /proc/diskstats")
	parts := strings.Split(r.stdout, "====\n")
	if r.code != 0 || len(parts) != 2 {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// The container's lines have as many fields as the host's (20 since Linux 5.5).
	host, err := os.ReadFile("/proc/diskstats")
	if err != nil {
		t.Fatal(err)
	}
	fields := 0
	for _, line := range strings.Split(string(host), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == name {
			fields = len(f)
		}
	}
	// sectors returns the sectors read and written of disk name in a /proc/diskstats
	// text, and fails the test for any other disk.
	sectors := func(text string) (read, written int, found bool) {
		for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			f := strings.Fields(line)
			switch {
			case line == "":
			case len(f) != fields:
				t.Errorf("/proc/diskstats line %q: %d fields, want the host's %d", line, len(f), fields)
			case f[2] != name:
				t.Errorf("/proc/diskstats lists %s, on which the container did no I/O: %q", f[2], line)
			default:
				read, _ = strconv.Atoi(f[5])
				written, _ = strconv.Atoi(f[9])
				found = true
			}
		}
		return read, written, found
	}
	r0, w0, _ := sectors(parts[0])
	r1, w1, found := sectors(parts[1])
	switch {
	case !found && blkio == "":
		testutil.Skip(t, "cgroup v2 counts a container's I/O only with the io controller enabled in its cgroup, "+
			"which launch does for --io-weight, and may not have done here")
	case !found:
		t.Errorf("/proc/diskstats lacks %s after 1 MiB written and read with O_DIRECT:\n%s", name, parts[1])
	case r1-r0 < 2048 || w1-w0 < 2048:
		t.Errorf("%s: sectors read %d -> %d, written %d -> %d after 1 MiB written and read; want each up by 2048:\n%s%s",
			name, r0, r1, w0, w1, parts[0], parts[1])
	}
	t.Logf("\n%s====\n%s", parts[0], parts[1])
}

// diskOf returns the disk ("MAJ:MIN") that the file system of dir is on and its
// name: a partition's disk, as the kernel's cgroups count I/O to partitions.
func diskOf(t *testing.T, dir string) (dev, name string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	if _, err := os.Stat(sys); err != nil {
		testutil.Skip(t, "needs TMPDIR on a block device's file system: "+dir+" is on none")
	}
	if _, err := os.Stat(sys + "/partition"); err == nil {
		sys += "/.."
	}
	uevent, err := os.ReadFile(sys + "/uevent")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(uevent), "\n") {
		if v, ok := strings.CutPrefix(line, "DEVNAME="); ok {
			name = v
		}
	}
	b, err := os.ReadFile(sys + "/dev")
	if err != nil || name == "" {
		t.Fatalf("%s: dev %q (%v), uevent %q", sys, b, err, uevent)
	}
	return strings.TrimSpace(string(b)), name
}

// blkioMount returns where the host's v1 blkio hierarchy is mounted, "" if none.
func blkioMount(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[2] == "cgroup" && slices.Contains(strings.Split(f[3], ","), "blkio") {
			return f[1]
		}
	}
	return ""
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
	if n != len(viewFiles) {
		t.Errorf("%d /proc view mounts by default, want %d:\n%s", n, len(viewFiles), strings.Join(rep.Mounts, "\n"))
	}
}

// viewFiles are the files of the /proc view; readFiles those the readers' tests read,
// which check that every content read is whole and so not empty: /proc/diskstats is
// empty for a container that did no I/O (its programs' pages already in the host's
// page cache), and is left out of them.
var (
	readFiles = []string{"/proc/meminfo", "/proc/cpuinfo", "/proc/stat", "/proc/uptime", "/sys/devices/system/cpu/online",
		"/proc/loadavg", "/proc/swaps"}
	viewFiles = append(slices.Clone(readFiles), "/proc/diskstats")
)

// TestProcViewStress reads every file of the view in every way at once for a minute
// (10 s in make test): busybox cat (sendfile, falling back to read), head -c1 and dd,
// read(2), splice(2), mmap(2), pread from 0 on a file kept open, byte by byte, ten
// readers of each file at once; then only the readers through the page cache. Every
// read must be answered (a server that blocks, as one that wrote into a page a reader
// held locked did, hangs the container and the test times out), and every content
// read must be whole: what the kernel reads into its shared page cache is always as
// long as the size it holds.
func TestProcViewStress(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	w := newWatch(t)
	all := testutil.Count(t, "seconds of every reader", 8, 45)
	cached := testutil.Count(t, "seconds of the readers through the page cache", 2, 15)
	files := strings.Join(readFiles, " ")
	script := fmt.Sprintf("/probe try viewstress %d all %s; /probe try viewstress %d pagecache %s", all, files, cached, files)
	// Limits that leave the readers room: tens of processes and threads at once.
	r, err := w.exec(launchIO{timeout: time.Duration(all+cached)*time.Second + 2*time.Minute},
		"--memory", "256M", "--pids", "1024", rootfs, "/bin/sh", "-c", script)
	if err != nil {
		t.Fatal(err)
	}
	if r.code != 0 || strings.Contains(r.stdout, "FAIL") || strings.Count(r.stdout, "\nok\n") != 2 {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	} else {
		t.Logf("\n%s", r.stdout)
	}
	w.check()
}

// TestProcViewPageCache: a reader alone reads each file through the page cache:
// splice(2) and mmap(2) of one open file give the same whole content. The view may
// refuse a read through the page cache, by its rules (docs/PROCVIEW.md: a content
// older than a second, an open not right after its opener's GETATTR), and a reader
// alone on a loaded machine was seen refused: such a refusal, and only it, is tried
// again, up to five times; what gets through is checked whole.
func TestProcViewPageCache(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	for _, f := range readFiles {
		got := "splice: refused"
		for i := 0; i < 5 && got == "splice: refused"; i++ {
			if i > 0 {
				t.Logf("%s: splice refused, try %d", f, i+1)
			}
			got = try(t, rootfs, []string{"--memory", "64M"}, "pagecache", f)
		}
		if got != "ok" {
			t.Errorf("%s through the page cache: %s", f, got)
		}
	}
}

// TestProcViewLauncherMemory: a container that reads /proc/meminfo 100 000 times, by
// opens, reads again from 0, byte by byte, four readers at once, and with as many
// files left open as the view allows, does not grow its launcher, whose memory its
// limits do not cover: at most 16 MiB, and no more than 512 KiB more after the last
// read than after the 1 000th (what is first touched meanwhile: the open-file table,
// the buffers of the contents kept).
func TestProcViewLauncherMemory(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	w := newWatch(t)
	s := w.startPiped("--memory", "64M", rootfs, "/probe", "try", "viewload", "100000", "4", "pause")
	if l := s.lineWithin(t, time.Minute); l != "1000" {
		t.Fatalf("the container said %q; stderr %s", l, s.stderr)
	}
	first := vmRSS(t, s.cmd.Process.Pid)
	io.WriteString(s.stdin, "\n")
	if l := s.lineWithin(t, 5*time.Minute); l != "100000" {
		t.Fatalf("the container said %q; stderr %s", l, s.stderr)
	}
	last := vmRSS(t, s.cmd.Process.Pid)
	io.WriteString(s.stdin, "\n")
	res := s.lineWithin(t, 10*time.Second)
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("launch: %v; stderr %s", err, s.stderr)
	}
	t.Logf("launcher VmRSS: %d KiB after 1 000 reads, %d KiB after 100 000 (%s)", first, last, res)
	if last > 16<<10 {
		t.Errorf("launcher VmRSS %d KiB after 100 000 reads, want at most 16 MiB", last)
	}
	if last-first > 512 {
		t.Errorf("launcher VmRSS grew from %d to %d KiB between the 1 000th and the 100 000th read", first, last)
	}
	if !strings.Contains(res, "files left open: ENFILE after") {
		t.Errorf("files left open were not capped: %s", res)
	}
	w.check()
}

// vmRSS returns the resident set size of process pid in KiB.
func vmRSS(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("VmRSS of %d: %q", pid, line)
			}
			return n
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// TestProcViewKillStorm: an unprivileged user of the container starts readers of
// every file of the view and SIGKILLs them, 200 rounds (50 in make test), so that
// requests vanish from the kernel's queues between the server's poll(2) and its read;
// afterwards every file still answers within a second. A server that read a
// connection without O_NONBLOCK waited there for ever, and the other files with it.
func TestProcViewKillStorm(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	w := newWatch(t)
	rounds := strconv.Itoa(testutil.Count(t, "rounds of readers killed", 50, 200))
	args := tryArgs(rootfs, []string{"--user", "1000:1000", "--memory", "64M", "--pids", "1024"}, []string{"killstorm", rounds})
	r, err := w.exec(launchIO{timeout: 3 * time.Minute}, args...)
	if err != nil {
		t.Fatal(err)
	}
	if got := tryOutput(t, args, r); got != "ok" {
		t.Errorf("after %s rounds of readers killed: %s", rounds, got)
	}
	w.check()
}
