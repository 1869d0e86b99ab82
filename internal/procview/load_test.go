package procview

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCalcLoad checks the averages against numbers worked out by hand from the
// kernel's formula (kernel/sched/loadavg.c: calc_load, with EXP_1 1884, EXP_5 2014,
// EXP_15 2037, FIXED_1 2048): one task from 0 gives 0*1884/2048 + 2048*164/2048,
// rounded up as the load rises, = 164 (0.08, the 1-exp(-5/60) of the textbooks).
func TestCalcLoad(t *testing.T) {
	var avg [3]uint64
	for i, tt := range []struct {
		active uint64
		want   [3]uint64
	}{
		{1, [3]uint64{164, 34, 11}},
		{1, [3]uint64{315, 68, 22}},
		{2, [3]uint64{618, 135, 44}},
		{2, [3]uint64{897, 201, 66}},
		{0, [3]uint64{825, 197, 65}},
	} {
		for j := range avg {
			avg[j] = calcLoad(avg[j], loadExp[j], tt.active*fixed1)
		}
		if avg != tt.want {
			t.Errorf("sample %d (%d tasks): %v, want %v", i+1, tt.active, avg, tt.want)
		}
	}
	// Rounding up while it rises lets a steady load reach its count exactly.
	avg = [3]uint64{}
	for range 1000 {
		for j := range avg {
			avg[j] = calcLoad(avg[j], loadExp[j], 2*fixed1)
		}
	}
	if avg != [3]uint64{2 * fixed1, 2 * fixed1, 2 * fixed1} {
		t.Errorf("after 1000 samples of 2 tasks: %v, want 4096 each", avg)
	}
	// Intervals missed are folded in at once with the exponent to the n-th power, as
	// the kernel's calc_load_n (fixed_power_int rounds each product to nearest).
	for _, tt := range []struct {
		n          uint64
		from, task uint64
		pow, want  [3]uint64
	}{
		{3, 0, 2, [3]uint64{1594, 1948, 2015}, [3]uint64{908, 200, 66}},
		{12, 2, 0, [3]uint64{751, 1677, 1919}, [3]uint64{1502, 3354, 3838}},
	} {
		for j := range avg {
			p := fixedPower(loadExp[j], tt.n)
			if got := calcLoad(tt.from*fixed1, p, tt.task*fixed1); p != tt.pow[j] || got != tt.want[j] {
				t.Errorf("EXP %d to the %d = %d, load from %d with %d tasks = %d; want %d, %d", loadExp[j], tt.n, p, tt.from, tt.task, got, tt.pow[j], tt.want[j])
			}
		}
	}
}

// TestLoadavg checks /proc/loadavg's format: two decimals, rounded as the kernel
// rounds (adding 1/200 before cutting), from sysinfo's 16-bit fractions.
func TestLoadavg(t *testing.T) {
	si := func(fixed uint64) uint64 { return fixed << (siLoadShift - fshift) }
	for _, tt := range []struct {
		st   Stats
		want string
	}{
		{Stats{}, "0.00 0.00 0.00 0/0 0\n"},
		{Stats{Load: [3]uint64{si(164), si(34), si(11)}, Running: 1, Threads: 3}, "0.08 0.02 0.01 1/3 0\n"},
		// 1023/2048 = 0.4995 rounds up to 0.50; 4095/2048 = 1.9995 carries to 2.00.
		{Stats{Load: [3]uint64{si(1023), si(4095), si(200 * fixed1)}, Running: 12, Threads: 345}, "0.50 2.00 200.00 12/345 0\n"},
	} {
		if got := string(loadavg(nil, &tt.st)); got != tt.want {
			t.Errorf("loadavg(%v, %d/%d) = %q, want %q", tt.st.Load, tt.st.Running, tt.st.Threads, got, tt.want)
		}
	}
}

// TestSwaps checks /proc/swaps in the kernel's columns: the header alone without
// swap; a line whose sizes take two tabs below 8 digits, one from 8 on.
func TestSwaps(t *testing.T) {
	const header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
	name := "none" + strings.Repeat(" ", 36)
	for _, tt := range []struct {
		total, used uint64
		want        string
	}{
		{0, 0, header},
		{1 << 30, 1 << 20, header + name + "virtual\t\t1048576\t\t1024\t\t0\n"},
		{16 << 30, 12 << 30, header + name + "virtual\t\t16777216\t12582912\t0\n"},
	} {
		st := Stats{SwapTotal: tt.total, SwapUsed: tt.used}
		if got := string(swaps(nil, &st)); got != tt.want {
			t.Errorf("swaps(%d, %d) = %q, want %q", tt.total, tt.used, got, tt.want)
		}
	}
}

// TestSwapStats reads the swap a container may use from fake cgroups: none by
// default (memory+swap = memory on v1, 0 on v2, or no files without swap accounting),
// and at most the host's.
func TestSwapStats(t *testing.T) {
	host := filepath.Join(t.TempDir(), "meminfo")
	write(t, host, "MemTotal:       1048576 kB\nSwapTotal:        524288 kB\n")
	const mib = 1 << 20
	for _, tt := range []struct {
		name        string
		v2          bool
		files       map[string]string
		total, used uint64
	}{
		{"v1 default", false, map[string]string{"memory.limit_in_bytes": "67108864", "memory.usage_in_bytes": "10485760",
			"memory.memsw.limit_in_bytes": "67108864", "memory.memsw.usage_in_bytes": "10485760"}, 0, 0},
		{"v1 no limits", false, map[string]string{"memory.limit_in_bytes": "9223372036854771712", "memory.usage_in_bytes": "1",
			"memory.memsw.limit_in_bytes": "9223372036854771712", "memory.memsw.usage_in_bytes": "1"}, 0, 0},
		{"v1 no swap accounting", false, map[string]string{"memory.limit_in_bytes": "67108864", "memory.usage_in_bytes": "1"}, 0, 0},
		{"v1 swap", false, map[string]string{"memory.limit_in_bytes": "67108864", "memory.usage_in_bytes": "10485760",
			"memory.memsw.limit_in_bytes": "201326592", "memory.memsw.usage_in_bytes": "14680064"}, 128 * mib, 4 * mib},
		{"v1 swap without limit", false, map[string]string{"memory.limit_in_bytes": "67108864", "memory.usage_in_bytes": "10485760",
			"memory.memsw.limit_in_bytes": "9223372036854771712", "memory.memsw.usage_in_bytes": "10485760"}, 512 * mib, 0},
		{"v2 default", true, map[string]string{"memory.max": "67108864", "memory.current": "1", "memory.swap.max": "0", "memory.swap.current": "0"}, 0, 0},
		{"v2 swap", true, map[string]string{"memory.max": "max", "memory.current": "1", "memory.swap.max": "33554432", "memory.swap.current": "4096"}, 32 * mib, 4096},
		{"v2 swap without limit", true, map[string]string{"memory.max": "max", "memory.current": "1", "memory.swap.max": "max", "memory.swap.current": "4096"}, 512 * mib, 4096},
	} {
		dir := t.TempDir()
		for name, data := range tt.files {
			write(t, filepath.Join(dir, name), data+"\n")
		}
		v := newView(Source{MemoryDir: dir, MemoryV2: tt.v2, CPUs: []int{0}})
		v.meminfo = newHostFile(host)
		v.memStats()
		if st := v.stats; st.SwapTotal != tt.total || st.SwapUsed != tt.used {
			t.Errorf("%s: swap %d, used %d; want %d, %d", tt.name, st.SwapTotal, st.SwapUsed, tt.total, tt.used)
		}
		v.closeHostFiles()
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// threads starts n threads of the test process, blocked (state S) until stop is
// called, and returns their TIDs.
func threads(n int) (tids []int, stop func()) {
	done := make(chan struct{})
	ch := make(chan int)
	for range n {
		go func() {
			runtime.LockOSThread() // the thread ends with the goroutine
			ch <- unix.Gettid()
			<-done
		}()
	}
	for range n {
		tids = append(tids, <-ch)
	}
	// Asleep before anything samples them: a thread that has just sent its TID may
	// still run a while in the scheduler before it blocks (seen under load in CI).
	for _, tid := range tids {
		for i := 0; i < 1000 && threadState(tid) != 'S'; i++ {
			time.Sleep(time.Millisecond)
		}
	}
	return tids, func() { close(done) }
}

// threadState is the state letter of thread tid of this process, or 0.
func threadState(tid int) byte {
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if i := bytes.LastIndexByte(b, ')'); err == nil && i >= 0 && i+2 < len(b) {
		return b[i+2]
	}
	return 0
}

// tasksDir returns a directory whose v2 cgroup.threads lists tids.
func tasksDir(t testing.TB, tids []int) string {
	dir := t.TempDir()
	var b []byte
	for _, tid := range tids {
		b = append(strconv.AppendInt(b, int64(tid), 10), '\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.threads"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSampleLoad samples real threads listed in a fake cgroup: a spinning one is
// runnable, blocked ones are not, a TID that does not exist is not counted; samples
// fall due every loadFreq from the start, and one missed is folded in.
func TestSampleLoad(t *testing.T) {
	blocked, stop := threads(3)
	defer stop()
	var spin atomic.Bool
	spin.Store(true)
	running := make(chan int)
	go func() {
		runtime.LockOSThread()
		running <- unix.Gettid()
		for spin.Load() {
		}
	}()
	defer spin.Store(false)
	tids := append(blocked, <-running, 1<<30)
	start := time.Now()
	v := newView(Source{CPUDir: tasksDir(t, tids), CPUV2: true, CPUs: []int{0}, Start: start})
	defer v.closeHostFiles()

	if d := v.sampleLoad(start.Add(time.Second)); d != loadFreq-time.Second {
		t.Errorf("1 s after the start, the first sample is due in %v, want %v", d, loadFreq-time.Second)
	}
	if avg, r, n := v.loads(); avg != [3]uint64{} || r != 1 || n != 4 {
		t.Errorf("before the first sample: load %v, %d/%d tasks; want 0, 1/4", avg, r, n)
	}
	if d := v.sampleLoad(start.Add(loadFreq + time.Second)); d != loadFreq-time.Second {
		t.Errorf("after the first sample, the next is due in %v, want %v", d, loadFreq-time.Second)
	}
	first := [3]uint64{164, 34, 11} // TestCalcLoad's, in sysinfo's 16 bits of fraction
	avg, r, n := v.loads()
	if want := [3]uint64{first[0] << 5, first[1] << 5, first[2] << 5}; avg != want || r != 1 || n != 4 {
		t.Errorf("after a sample with 1 task runnable: load %v, %d/%d; want %v, 1/4", avg, r, n, want)
	}
	// The next is due at 2*loadFreq; at 4*loadFreq, three are due: folded in at once.
	v.sampleLoad(start.Add(4 * loadFreq))
	avg, _, _ = v.loads()
	var want [3]uint64
	for i := range want {
		want[i] = calcLoad(first[i], fixedPower(loadExp[i], 3), fixed1) << 5
	}
	if avg != want {
		t.Errorf("three samples at once: %v, want %v", avg, want)
	}
	if d := v.sampleLoad(start.Add(4 * loadFreq)); d != loadFreq {
		t.Errorf("right after a sample, the next is due in %v, want %v", d, loadFreq)
	}
}

// TestLoadNoAllocations: a sample, and /proc/loadavg, allocate nothing.
func TestLoadNoAllocations(t *testing.T) {
	tids, stop := threads(4)
	defer stop()
	v := newView(Source{CPUDir: tasksDir(t, tids), CPUV2: true, CPUs: []int{0}, Start: time.Now()})
	defer v.closeHostFiles()
	now := time.Now()
	sample := func() {
		now = now.Add(loadFreq) // every call is due
		v.sampleLoad(now)
	}
	sample()
	if n := testing.AllocsPerRun(100, sample); n != 0 {
		t.Errorf("%.1f allocations per sample", n)
	}
	if _, _, n := v.loads(); n != 4 {
		t.Errorf("%d tasks counted, want 4", n)
	}
	// /proc/swaps with a swap line, which reads every file of the memory cgroup.
	mem, host := t.TempDir(), filepath.Join(t.TempDir(), "meminfo")
	write(t, host, "MemTotal:       1048576 kB\nSwapTotal:        524288 kB\n")
	for name, data := range map[string]string{"memory.limit_in_bytes": "67108864", "memory.usage_in_bytes": "10485760",
		"memory.memsw.limit_in_bytes": "201326592", "memory.memsw.usage_in_bytes": "14680064", "memory.stat": "total_rss 1\n"} {
		write(t, filepath.Join(mem, name), data+"\n")
	}
	v.src.MemoryDir = mem
	v.memLimit, v.memUsage = newHostFile(filepath.Join(mem, "memory.limit_in_bytes")), newHostFile(filepath.Join(mem, "memory.usage_in_bytes"))
	v.memStat, v.meminfo = newHostFile(filepath.Join(mem, "memory.stat")), newHostFile(host)
	v.swapLimit, v.swapUsage = newHostFile(filepath.Join(mem, "memory.memsw.limit_in_bytes")), newHostFile(filepath.Join(mem, "memory.memsw.usage_in_bytes"))
	for _, name := range []string{"loadavg", "swaps"} {
		var dst []byte
		gen := func() { dst = v.generate(fileIndex(name), dst[:0]) }
		gen()
		if name == "swaps" && !strings.Contains(string(dst), "virtual") {
			t.Errorf("/proc/swaps without the container's swap: %q", dst)
		}
		if n := testing.AllocsPerRun(100, gen); n != 0 {
			t.Errorf("%.1f allocations per /proc/%s", n, name)
		}
	}
}

// fileIndex returns the index of the file named name in Files.
func fileIndex(name string) int {
	for i, f := range Files {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// BenchmarkSampleLoad measures a sample of a container of 10, 100 and 1000 threads
// (blocked threads of the test process), whose states are read from /proc.
func BenchmarkSampleLoad(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			tids, stop := threads(n)
			defer stop()
			v := newView(Source{CPUDir: tasksDir(b, tids), CPUV2: true, CPUs: []int{0}})
			defer v.closeHostFiles()
			b.ReportAllocs()
			for b.Loop() {
				v.load.count()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/task")
		})
	}
}
