package main

import (
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/testutil"
)

// sysinfoFields parses what /probe try sysinfo printed: key=value words.
func sysinfoFields(t *testing.T, line string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, w := range strings.Fields(line) {
		k, v, ok := strings.Cut(w, "=")
		n, err := strconv.ParseUint(v, 10, 64)
		if !ok || err != nil {
			t.Fatalf("sysinfo printed %q", line)
		}
		out[k] = n
	}
	if len(out) != 9 {
		t.Fatalf("sysinfo printed %q", line)
	}
	return out
}

// hostUptime is the host's uptime in seconds.
func hostUptime(t *testing.T) uint64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	return uint64(si.Uptime)
}

// TestSysinfo: sysinfo(2), which busybox free and uptime call instead of reading
// /proc, answers from the container's cgroups: the memory limit as the total RAM,
// what the container has not used of it as the free RAM, no swap, the container's
// own threads and uptime; through the 32-bit ABI too (amd64); sysinfo(NULL) fails
// with EFAULT as the kernel's does; and the listener never reaches the container.
func TestSysinfo(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	w := newWatch(t)
	if hostUptime(t) < 60 {
		time.Sleep(time.Duration(60-hostUptime(t)) * time.Second) // so that the container's uptime differs
	}
	for _, c := range []struct {
		limit string
		kib   uint64
	}{{"64M", 64 << 10}, {"200M", 200 << 10}} {
		r := runLaunch(t, "--memory", c.limit, rootfs, "/bin/sh", "-c",
			"/probe try sysinfo; /probe try sysinfo-compat; /probe try sysinfo-null; free; uptime; ls -l /proc/self/fd/ /proc/1/fd/")
		lines := strings.Split(r.stdout, "\n")
		if r.code != 0 || len(lines) < 6 {
			t.Fatalf("--memory %s: exit %d: %q %s", c.limit, r.code, r.stdout, r.stderr)
		}
		for i, abi := range []string{"native", "32-bit"} {
			if abi == "32-bit" && runtime.GOARCH != "amd64" {
				continue
			}
			f := sysinfoFields(t, lines[i])
			total, free := f["totalram"]*f["unit"], f["freeram"]*f["unit"]
			if total != c.kib<<10 || free > total || free < total/2 {
				t.Errorf("--memory %s, %s sysinfo: total %d, free %d bytes: want the limit, and most of it free (%s)", c.limit, abi, total, free, lines[i])
			}
			if f["totalswap"] != 0 || f["freeswap"] != 0 {
				t.Errorf("--memory %s, %s sysinfo: swap %d/%d, want none", c.limit, abi, f["totalswap"], f["freeswap"])
			}
			if f["procs"] < 1 || f["procs"] > 8 {
				t.Errorf("--memory %s, %s sysinfo: %d threads, want the container's few", c.limit, abi, f["procs"])
			}
			if f["uptime"] > 10 || f["uptime"] >= hostUptime(t) {
				t.Errorf("--memory %s, %s sysinfo: uptime %d s, want the container's (the host's is %d)", c.limit, abi, f["uptime"], hostUptime(t))
			}
		}
		if lines[2] != "EFAULT" {
			t.Errorf("sysinfo(NULL): %q, want EFAULT", lines[2])
		}
		// free: "Mem:" total used free ...: the limit, in KiB.
		for _, l := range lines[3:] {
			if f := strings.Fields(l); len(f) > 3 && f[0] == "Mem:" {
				total, _ := strconv.ParseUint(f[1], 10, 64)
				used, _ := strconv.ParseUint(f[2], 10, 64)
				if total != c.kib || used > total {
					t.Errorf("--memory %s: free says %q: want %d total, less used", c.limit, l, c.kib)
				}
			}
			if strings.Contains(l, "load average") && !strings.Contains(l, "up 0 min") {
				t.Errorf("uptime says %q: want the container's, up 0 min", l)
			}
		}
		if strings.Contains(r.stdout, "seccomp") {
			t.Errorf("a descriptor of the container names seccomp (the listener):\n%s", r.stdout)
		}
	}
	w.check()
}

// TestSysinfoLoop: a container calling sysinfo in a loop does not grow the launcher,
// which answers each call; and a profile that refuses sysinfo (--seccomp) still
// refuses it: the stricter filter wins.
func TestSysinfoLoop(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	w := newWatch(t)
	n := strconv.Itoa(testutil.Count(t, "sysinfo calls", 20000, 100000))
	s := w.startPiped("--memory", "64M", rootfs, "/bin/sh", "-c", "/probe loop sysinfo 1000; read x; /probe loop sysinfo "+n+"; read x")
	if l := s.lineWithin(t, time.Minute); !strings.Contains(l, "ns/call") {
		t.Fatalf("the container said %q; stderr %s", l, s.stderr)
	}
	first := vmRSS(t, s.cmd.Process.Pid)
	io.WriteString(s.stdin, "\n")
	l := s.lineWithin(t, 5*time.Minute)
	if !strings.Contains(l, "ns/call") {
		t.Fatalf("the container said %q; stderr %s", l, s.stderr)
	}
	last := vmRSS(t, s.cmd.Process.Pid)
	io.WriteString(s.stdin, "\n")
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("launch: %v; stderr %s", err, s.stderr)
	}
	t.Logf("%s sysinfo calls: %s; launcher VmRSS %d KiB after 1 000, %d KiB after", n, l, first, last)
	if last-first > 256 {
		t.Errorf("launcher VmRSS grew from %d to %d KiB over %s sysinfo calls", first, last, n)
	}

	profile := writeTemp(t, `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["sysinfo"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}`)
	r := runLaunch(t, "--seccomp="+profile, rootfs, "/probe", "try", "sysinfo")
	if strings.TrimSpace(r.stdout) != "EPERM" {
		t.Errorf("sysinfo under a profile that refuses it: %q (exit %d, %s), want EPERM", r.stdout, r.code, r.stderr)
	}
	w.check()
}

// writeTemp writes data to a file of the test's and returns its path.
func writeTemp(t *testing.T, data string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "data")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// TestSysinfoLoad: sysinfo's load averages are the container's, sampled by the
// launcher every 5 s whether or not anything reads them: two busy loops for 11 s (two
// samples) raise the 1-minute load, which nothing but sysinfo reads meanwhile.
func TestSysinfoLoad(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	w := newWatch(t)
	r := runLaunch(t, "--memory", "64M", rootfs, "/bin/sh", "-c",
		"/probe try sysinfo; (while :; do :; done) & (while :; do :; done) & sleep 11; /probe try sysinfo; kill %1 %2")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 2 {
		t.Fatalf("exit %d: %q %s", r.code, r.stdout, r.stderr)
	}
	before, after := sysinfoFields(t, lines[0]), sysinfoFields(t, lines[1])
	// Two runnable tasks over two samples: 2*(1-e^(-10/60)) = 0.31 (the kernel's
	// fixed point gives about 0.30); 65536 is 1.0.
	if before["load1"] != 0 || after["load1"] < 65536/10 || after["load1"] > 65536 {
		t.Errorf("sysinfo's 1-minute load: %d at the start, %d after 11 s of two busy loops: want 0, then about 0.3 (x 65536)",
			before["load1"], after["load1"])
	}
	w.check()
}

// TestSysinfoAffinity: with --cpus N below the CPUs the container may run on, the
// view shows N CPUs, and sched_getaffinity(2) of the calling thread says the same
// (nproc, Go's runtime.NumCPU, the 32-bit call), with the length the kernel returns;
// another process's affinity is the kernel's answer. Without --cpus, nothing is
// answered but by the kernel.
func TestSysinfoAffinity(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() < 2 {
		testutil.Skip(t, "needs 2 CPUs or more")
	}
	var mask [512]byte
	kernelLen, _, _ := unix.RawSyscall(unix.SYS_SCHED_GETAFFINITY, 0, uintptr(len(mask)), uintptr(unsafe.Pointer(&mask[0])))
	w := newWatch(t)
	script := "nproc; /probe try numcpu; /probe try affinity 0; /probe try affinity-compat; /probe try affinity 1; grep -c ^processor /proc/cpuinfo"
	for _, c := range []struct {
		opts []string
		want []string
	}{
		{[]string{"--cpus", "1"}, []string{"1", "1", "1", "1 len=" + strconv.Itoa(int(kernelLen)), strconv.Itoa(set.Count()), "1"}},
		{nil, []string{strconv.Itoa(set.Count()), strconv.Itoa(set.Count()), strconv.Itoa(set.Count()),
			strconv.Itoa(set.Count()) + " len=" + strconv.Itoa(int(kernelLen)), strconv.Itoa(set.Count()), strconv.Itoa(set.Count())}},
	} {
		r := runLaunch(t, append(c.opts, rootfs, "/bin/sh", "-c", script)...)
		got := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if runtime.GOARCH != "amd64" && len(got) == len(c.want) {
			got[3] = c.want[3] // the 32-bit call is amd64's only
		}
		if r.code != 0 || strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%v: nproc, NumCPU, affinity, 32-bit affinity, PID 1's, cpuinfo: %q, want %q (exit %d, %s)",
				c.opts, got, c.want, r.code, r.stderr)
		}
	}
	w.check()
}

// TestSysinfoAttacks: what a container makes the launcher write for sysinfo cannot
// hurt the host or the launcher. A buffer on a page the caller has not in memory is
// left to the kernel (the launcher faulting it in would charge its page tables to the
// launcher's cgroup: a page table per call, unbounded), so is a private mapping of a
// file of the view itself, whose fault would wait for the server that is writing (it
// hung every later call and read), however the page is dropped meanwhile; and the
// listener is handed over however many
// descriptors the caller leaves the launcher, above the soft limit the child restores.
func TestSysinfoAttacks(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	w := newWatch(t)
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	host := "totalram=" + strconv.FormatUint(uint64(si.Totalram)*uint64(si.Unit), 10)
	r := runLaunch(t, "--memory", "64M", rootfs, "/bin/sh", "-c",
		"/probe try sysinfo-at untouched; /probe try sysinfo-at touched; "+
			"timeout 10 /probe try sysinfo-at private /proc/meminfo; timeout 10 head -1 /proc/meminfo; timeout 10 /probe try sysinfo-at touched")
	want := []string{host, "totalram=67108864", host, "MemTotal:          65536 kB", "totalram=67108864"}
	got := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(got) == len(want) && got[2] == "EFAULT" {
		// The kernel's own write faults the mapping's page in through the view, which
		// may refuse a read through the page cache (docs/PROCVIEW.md): EFAULT.
		got[2] = host
	}
	if r.code != 0 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("sysinfo into an untouched page, a touched one, a private mapping of /proc/meminfo, then meminfo and sysinfo:\n%q, want\n%q (exit %d, %s)",
			got, want, r.code, r.stderr)
	}

	// A page of a private mapping of a view file, present when the launcher looks and
	// dropped (with the file's page cache) before it writes: the write faults in a page
	// only the view's server can read, which hung the server when it was also the one
	// writing (a second review), and with it every file and the container's exit.
	secs := strconv.Itoa(testutil.Count(t, "seconds of the race on a mapping of a view file", 4, 15))
	r = runLaunch(t, "--memory", "64M", rootfs, "/bin/sh", "-c",
		"/probe try sysinfo-fuserace /proc/meminfo "+secs+" & /probe try sysinfo-fuserace /proc/cpuinfo "+secs+" & wait; "+
			"timeout 10 head -1 /proc/meminfo; timeout 10 /probe try sysinfo-at touched")
	if got := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != 0 || len(got) != 4 || !strings.HasPrefix(got[0], "done ") ||
		!strings.HasPrefix(got[1], "done ") || got[2] != "MemTotal:          65536 kB" || got[3] != "totalram=67108864" {
		t.Errorf("sysinfo racing a dropped page of a view file's mapping: %q (exit %d, %s)", got, r.code, r.stderr)
	}

	// About a thousand descriptors left open to the launcher, under a soft limit of 1024.
	bash, err := exec.LookPath("bash")
	if err != nil {
		testutil.Skip(t, "needs bash")
	}
	script := `ulimit -Sn 1024; for i in $(seq 3 999); do eval "exec $i</dev/null"; done; exec "$@"`
	out, err := exec.Command(bash, "-c", script, "bash", launcher(t), "--memory", "64M", rootfs, "/probe", "try", "sysinfo").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "totalram=67108864") {
		t.Errorf("with descriptors 3 to 999 open: %v: %s", err, out)
	}
	w.check()
}
