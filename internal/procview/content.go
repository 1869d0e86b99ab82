package procview

import (
	"bufio"
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Stats are what the files are computed from: the container's cgroup counters and
// the host's own files, read at each open.
type Stats struct {
	MemLimit uint64            // bytes; the host's total if the container has no limit
	MemUsage uint64            // bytes charged to the container
	MemStat  map[string]uint64 // memory.stat, with v1's total_* names mapped to v2's
	CPUs     []int             // host CPU numbers the container may use, in order
	CPUUser  []uint64          // per visible CPU, nanoseconds
	CPUSys   []uint64
	Uptime   float64 // seconds since the container started
	Boot     int64   // the container's start, seconds since the epoch (btime)
}

// userHZ is the unit of /proc/stat (USER_HZ, 100 on every Linux arch).
const userHZ = 100

// meminfo rewrites the host's /proc/meminfo with the container's memory: MemTotal is
// the limit, MemFree and MemAvailable the limit minus what is charged, the page cache
// and LRU lines come from memory.stat, and swap is 0 (the container has none). Other
// lines, which describe the kernel and not the container, are the host's.
func meminfo(host []byte, st Stats) []byte {
	free := uint64(0)
	if st.MemLimit > st.MemUsage {
		free = st.MemLimit - st.MemUsage
	}
	m := st.MemStat
	set := map[string]uint64{
		"MemTotal": st.MemLimit, "MemFree": free, "MemAvailable": free,
		"Buffers": 0, "Cached": m["file"], "SwapCached": 0,
		"Active": m["active_anon"] + m["active_file"], "Inactive": m["inactive_anon"] + m["inactive_file"],
		"Active(anon)": m["active_anon"], "Inactive(anon)": m["inactive_anon"],
		"Active(file)": m["active_file"], "Inactive(file)": m["inactive_file"],
		"Unevictable": m["unevictable"], "Mlocked": m["unevictable"],
		"SwapTotal": 0, "SwapFree": 0, "Dirty": m["file_dirty"], "Writeback": m["file_writeback"],
		"AnonPages": m["anon"], "Mapped": m["file_mapped"], "Shmem": m["shmem"],
	}
	var b bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		line := sc.Text()
		key, _, ok := strings.Cut(line, ":")
		v, known := set[key]
		if !ok || !known {
			b.WriteString(line)
			b.WriteByte('\n')
			continue
		}
		b.WriteString(pad(key+":", 16) + padLeft(strconv.FormatUint(v/1024, 10), 8) + " kB\n")
	}
	return b.Bytes()
}

// cpuinfo keeps the host's entries for the visible CPUs, numbered from 0 as the
// container's CPUs.
func cpuinfo(host []byte, st Stats) []byte {
	var b bytes.Buffer
	for _, block := range strings.Split(strings.TrimRight(string(host), "\n"), "\n\n") {
		first, rest, _ := strings.Cut(block, "\n")
		k, v, _ := strings.Cut(first, ":")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if strings.TrimSpace(k) != "processor" || err != nil {
			continue
		}
		idx := slices.Index(st.CPUs, n)
		if idx < 0 {
			continue
		}
		b.WriteString(k + ": " + strconv.Itoa(idx) + "\n" + rest + "\n\n")
	}
	return b.Bytes()
}

// online is /sys/devices/system/cpu/online: the container's CPUs, 0 to n-1.
func online(st Stats) []byte {
	if len(st.CPUs) <= 1 {
		return []byte("0\n")
	}
	return []byte("0-" + strconv.Itoa(len(st.CPUs)-1) + "\n")
}

// stat rewrites /proc/stat: the cpu lines from the container's own CPU time, one per
// visible CPU, idle being the rest of each CPU's time since the container started;
// btime is the container's start. The other lines (interrupts, context switches,
// processes) are the host's: the kernel counts them for it alone.
func stat(host []byte, st Stats) []byte {
	var b bytes.Buffer
	var tu, ts, ti uint64
	lines := make([]string, len(st.CPUs))
	for i := range st.CPUs {
		u, s := st.CPUUser[i]/(1e9/userHZ), st.CPUSys[i]/(1e9/userHZ)
		total := uint64(math.Max(0, st.Uptime) * userHZ)
		idle := uint64(0)
		if total > u+s {
			idle = total - u - s
		}
		tu, ts, ti = tu+u, ts+s, ti+idle
		lines[i] = "cpu" + strconv.Itoa(i) + " " + u64(u) + " 0 " + u64(s) + " " + u64(idle) + " 0 0 0 0 0 0\n"
	}
	b.WriteString("cpu  " + u64(tu) + " 0 " + u64(ts) + " " + u64(ti) + " 0 0 0 0 0 0\n")
	for _, l := range lines {
		b.WriteString(l)
	}
	sc := bufio.NewScanner(bytes.NewReader(host))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "cpu"):
		case strings.HasPrefix(line, "btime "):
			b.WriteString("btime " + strconv.FormatInt(st.Boot, 10) + "\n")
		default:
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// uptime is /proc/uptime: seconds since the container started, and the idle time of
// its CPUs over that span.
func uptime(st Stats) []byte {
	var busy uint64
	for i := range st.CPUs {
		busy += st.CPUUser[i] + st.CPUSys[i]
	}
	idle := math.Max(0, st.Uptime*float64(len(st.CPUs))-float64(busy)/1e9)
	return []byte(strconv.FormatFloat(st.Uptime, 'f', 2, 64) + " " + strconv.FormatFloat(idle, 'f', 2, 64) + "\n")
}

func u64(n uint64) string { return strconv.FormatUint(n, 10) }

// pad returns s followed by spaces up to n bytes; padLeft, preceded by them.
func pad(s string, n int) string     { return s + strings.Repeat(" ", max(0, n-len(s))) }
func padLeft(s string, n int) string { return strings.Repeat(" ", max(0, n-len(s))) + s }
