package procview

import (
	"bytes"
	"math"
	"slices"
	"strconv"
)

// The files' contents. Each function appends a file to dst and returns the result,
// as strconv's Append functions do, and allocates nothing once dst has room: the
// server computes a file for every look a container takes at it, into buffers it
// reuses, and the launcher's memory must not grow with the number of looks
// (docs/PROCVIEW.md, "The server never waits").

// Stats are what the files are computed from: the container's cgroup counters and
// the host's own files, read at each look.
type Stats struct {
	MemLimit uint64  // bytes; the host's total if the container has no limit
	MemUsage uint64  // bytes charged to the container
	Mem      MemStat // memory.stat
	CPUs     []int   // host CPU numbers the container may use, in order
	CPUUser  []uint64
	CPUSys   []uint64 // per visible CPU, nanoseconds
	Uptime   float64  // seconds since the container started
	Boot     int64    // the container's start, seconds since the epoch (btime)

	SwapTotal, SwapUsed uint64 // bytes of swap the container may use (0: none) and uses

	Load             [3]uint64 // load averages over 1, 5 and 15 minutes, 16 bits of fraction (sysinfo's)
	Running, Threads int       // the container's runnable tasks and all its tasks

	IO []DiskIO // the container's I/O, per disk it did I/O on
}

// MemStat holds the counters of a memory cgroup's memory.stat that /proc/meminfo
// shows, in bytes, under cgroup v2's names (v1 says total_cache for file, total_rss
// for anon, and so on).
type MemStat struct {
	File, Anon, Shmem, FileMapped, FileDirty, FileWriteback, Unevictable uint64
	ActiveAnon, InactiveAnon, ActiveFile, InactiveFile                   uint64
	SlabReclaimable, SlabUnreclaimable                                   uint64 // v2 only
}

// field returns the counter that key of memory.stat holds, or nil. v1's file has
// both the cgroup's own counters and, prefixed total_, those of its whole subtree,
// which are the ones that count a container's processes in child cgroups too.
func (m *MemStat) field(key []byte, v2 bool) *uint64 {
	if !v2 {
		k, ok := bytes.CutPrefix(key, []byte("total_"))
		if !ok {
			return nil
		}
		switch string(k) {
		case "cache":
			return &m.File
		case "rss":
			return &m.Anon
		case "mapped_file":
			return &m.FileMapped
		case "dirty":
			return &m.FileDirty
		case "writeback":
			return &m.FileWriteback
		case "shmem", "unevictable", "active_anon", "inactive_anon", "active_file", "inactive_file":
			key = k // the same name as v2's
		default:
			return nil
		}
	}
	switch string(key) {
	case "file":
		return &m.File
	case "anon":
		return &m.Anon
	case "shmem":
		return &m.Shmem
	case "file_mapped":
		return &m.FileMapped
	case "file_dirty":
		return &m.FileDirty
	case "file_writeback":
		return &m.FileWriteback
	case "unevictable":
		return &m.Unevictable
	case "active_anon":
		return &m.ActiveAnon
	case "inactive_anon":
		return &m.InactiveAnon
	case "active_file":
		return &m.ActiveFile
	case "inactive_file":
		return &m.InactiveFile
	case "slab_reclaimable":
		return &m.SlabReclaimable
	case "slab_unreclaimable":
		return &m.SlabUnreclaimable
	}
	return nil
}

// parseMemStat reads a memory.stat ("key value" lines) into m.
func parseMemStat(m *MemStat, data []byte, v2 bool) {
	*m = MemStat{}
	for line := range lines(data) {
		k, v, ok := bytes.Cut(line, []byte(" "))
		if !ok {
			continue
		}
		if p := m.field(k, v2); p != nil {
			*p, _ = parseUint(v)
		}
	}
}

// userHZ is the unit of /proc/stat (USER_HZ, 100 on every Linux arch).
const userHZ = 100

// meminfo rewrites the host's /proc/meminfo with the container's memory: MemTotal is
// the limit, MemFree and MemAvailable the limit minus what is charged, the page cache,
// LRU and slab lines come from memory.stat, and the swap is the container's (0 unless
// it may use some: see swaps).
// Other lines, which describe the kernel and not the container, are the host's.
func meminfo(dst, host []byte, st *Stats) []byte {
	free := uint64(0)
	if st.MemLimit > st.MemUsage {
		free = st.MemLimit - st.MemUsage
	}
	m := &st.Mem
	for line := range lines(host) {
		key, _, ok := bytes.Cut(line, []byte(":"))
		known := true
		var v uint64
		switch string(key) {
		case "MemTotal":
			v = st.MemLimit
		case "MemFree", "MemAvailable":
			v = free
		case "Buffers", "SwapCached":
			v = 0
		case "SwapTotal":
			v = st.SwapTotal
		case "SwapFree":
			v = st.SwapTotal - min(st.SwapUsed, st.SwapTotal)
		case "Cached":
			v = m.File
		case "Active":
			v = m.ActiveAnon + m.ActiveFile
		case "Inactive":
			v = m.InactiveAnon + m.InactiveFile
		case "Active(anon)":
			v = m.ActiveAnon
		case "Inactive(anon)":
			v = m.InactiveAnon
		case "Active(file)":
			v = m.ActiveFile
		case "Inactive(file)":
			v = m.InactiveFile
		case "Unevictable", "Mlocked":
			v = m.Unevictable
		case "Dirty":
			v = m.FileDirty
		case "Writeback":
			v = m.FileWriteback
		case "AnonPages":
			v = m.Anon
		case "Mapped":
			v = m.FileMapped
		case "Shmem":
			v = m.Shmem
		// The kernel memory charged to the container (v2; v1's memory.stat does not
		// count it): the host's would make free(1), which counts SReclaimable as
		// cache, show more cache than the container has memory.
		case "Slab":
			v = m.SlabReclaimable + m.SlabUnreclaimable
		case "SReclaimable", "KReclaimable":
			v = m.SlabReclaimable
		case "SUnreclaim":
			v = m.SlabUnreclaimable
		default:
			known = false
		}
		if !ok || !known {
			dst = append(append(dst, line...), '\n')
			continue
		}
		// The kernel's own layout (fs/proc/meminfo.c): the name and colon in 16
		// columns, the number right-aligned in 8, then " kB".
		n := len(dst)
		dst = append(append(dst, key...), ':')
		dst = pad(dst, n+16)
		n = len(dst)
		dst = strconv.AppendUint(dst, v/1024, 10)
		dst = padLeft(dst, n, 8)
		dst = append(dst, " kB\n"...)
	}
	return dst
}

// cpuinfo keeps the host's entries for the visible CPUs, numbered from 0 as the
// container's CPUs.
func cpuinfo(dst, host []byte, st *Stats) []byte {
	host = bytes.TrimRight(host, "\n")
	for len(host) > 0 {
		block, rest, _ := bytes.Cut(host, []byte("\n\n"))
		host = rest
		first, body, _ := bytes.Cut(block, []byte("\n"))
		k, v, _ := bytes.Cut(first, []byte(":"))
		n, ok := parseUint(bytes.TrimSpace(v))
		if !ok || string(bytes.TrimSpace(k)) != "processor" {
			continue
		}
		idx := slices.Index(st.CPUs, int(n))
		if idx < 0 {
			continue
		}
		dst = append(append(dst, k...), ": "...)
		dst = strconv.AppendInt(dst, int64(idx), 10)
		dst = append(append(append(dst, '\n'), body...), "\n\n"...)
	}
	return dst
}

// online is /sys/devices/system/cpu/online: the container's CPUs, 0 to n-1.
func online(dst []byte, st *Stats) []byte {
	if len(st.CPUs) <= 1 {
		return append(dst, "0\n"...)
	}
	dst = strconv.AppendInt(append(dst, "0-"...), int64(len(st.CPUs)-1), 10)
	return append(dst, '\n')
}

// stat rewrites /proc/stat: the cpu lines from the container's own CPU time, one per
// visible CPU, idle being the rest of each CPU's time since the container started;
// btime is the container's start. The other lines (interrupts, context switches,
// processes) are the host's: the kernel counts them for it alone.
func stat(dst, host []byte, st *Stats) []byte {
	total := uint64(math.Max(0, st.Uptime) * userHZ)
	times := func(i int) (user, sys, idle uint64) {
		user, sys = st.CPUUser[i]/(1e9/userHZ), st.CPUSys[i]/(1e9/userHZ)
		if total > user+sys {
			idle = total - user - sys
		}
		return user, sys, idle
	}
	var tu, ts, ti uint64
	for i := range st.CPUs {
		u, s, idle := times(i)
		tu, ts, ti = tu+u, ts+s, ti+idle
	}
	dst = cpuLine(append(dst, "cpu  "...), tu, ts, ti)
	for i := range st.CPUs {
		u, s, idle := times(i)
		dst = strconv.AppendInt(append(dst, "cpu"...), int64(i), 10)
		dst = cpuLine(append(dst, ' '), u, s, idle)
	}
	for line := range lines(host) {
		switch {
		case bytes.HasPrefix(line, []byte("cpu")):
		case bytes.HasPrefix(line, []byte("btime ")):
			dst = strconv.AppendInt(append(dst, "btime "...), st.Boot, 10)
			dst = append(dst, '\n')
		default:
			dst = append(append(dst, line...), '\n')
		}
	}
	return dst
}

// cpuLine appends the ten times of a cpu line of /proc/stat (user nice system idle
// iowait irq softirq steal guest guest_nice), of which the container has three.
func cpuLine(dst []byte, user, sys, idle uint64) []byte {
	dst = append(strconv.AppendUint(dst, user, 10), " 0 "...)
	dst = append(strconv.AppendUint(dst, sys, 10), ' ')
	dst = strconv.AppendUint(dst, idle, 10)
	return append(dst, " 0 0 0 0 0 0\n"...)
}

// uptime is /proc/uptime: seconds since the container started, and the idle time of
// its CPUs over that span.
func uptime(dst []byte, st *Stats) []byte {
	var busy uint64
	for i := range st.CPUs {
		busy += st.CPUUser[i] + st.CPUSys[i]
	}
	idle := math.Max(0, st.Uptime*float64(len(st.CPUs))-float64(busy)/1e9)
	dst = append(strconv.AppendFloat(dst, st.Uptime, 'f', 2, 64), ' ')
	return append(strconv.AppendFloat(dst, idle, 'f', 2, 64), '\n')
}

// loadavg is /proc/loadavg: the container's load averages, its runnable and all its
// tasks, and the last PID given out, as the kernel writes them (fs/proc/loadavg.c):
// each average rounded to two decimals. The kernel's last PID is that of the reader's
// PID namespace; the launcher, in the host's, would have to enter the container's to
// read it, and the host's own would tell the container how many processes the host
// starts. So it is 0.
func loadavg(dst []byte, st *Stats) []byte {
	for _, a := range st.Load {
		// Back to FSHIFT's 11 bits of fraction, plus 1/200 to round (LOAD_INT and
		// LOAD_FRAC of get_avenrun with FIXED_1/200).
		x := a>>(siLoadShift-fshift) + fixed1/200
		dst = append(strconv.AppendUint(dst, x>>fshift, 10), '.')
		frac := (x & (fixed1 - 1)) * 100 >> fshift
		dst = append(append(dst, byte('0'+frac/10), byte('0'+frac%10)), ' ')
	}
	dst = append(strconv.AppendInt(dst, int64(st.Running), 10), '/')
	dst = strconv.AppendInt(dst, int64(st.Threads), 10)
	return append(dst, " 0\n"...)
}

// swaps is /proc/swaps: its header, and a line for the swap the container may use if
// any, in the kernel's columns (mm/swapfile.c, swap_show): the name padded to 40
// columns, the type, and the sizes in kB, each followed by a second tab when shorter
// than 8 digits. The swap is no area of the host's: it is named "none", of type
// "virtual" (the kernel's types are partition and file), as LXCFS names it, so that
// tools that have met containers know it.
func swaps(dst []byte, st *Stats) []byte {
	dst = append(dst, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"...)
	if st.SwapTotal == 0 {
		return dst
	}
	n := len(dst)
	dst = pad(append(dst, "none"...), n+40)
	dst = append(dst, "virtual\t\t"...)
	for _, kb := range [2]uint64{st.SwapTotal / 1024, st.SwapUsed / 1024} {
		dst = append(strconv.AppendUint(dst, kb, 10), '\t')
		if kb < 10000000 {
			dst = append(dst, '\t')
		}
	}
	return append(dst, "0\n"...) // priority
}

// lines yields the lines of data without their newlines.
func lines(data []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(data) > 0 {
			line, rest, _ := bytes.Cut(data, []byte("\n"))
			data = rest
			if !yield(line) {
				return
			}
		}
	}
}

// parseUint parses a decimal number, as strconv.ParseUint would but from bytes and
// without an error value to allocate; a number too large for 64 bits saturates.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return math.MaxUint64, true
		}
		n = n*10 + d
	}
	return n, true
}

// pad appends spaces to dst up to length n; padLeft moves what dst holds from start
// on to the right, behind spaces, to make it width bytes long.
func pad(dst []byte, n int) []byte {
	for len(dst) < n {
		dst = append(dst, ' ')
	}
	return dst
}

func padLeft(dst []byte, start, width int) []byte {
	if k := width - (len(dst) - start); k > 0 {
		dst = pad(dst, len(dst)+k)
		copy(dst[start+k:], dst[start:len(dst)-k])
		for i := start; i < start+k; i++ {
			dst[i] = ' '
		}
	}
	return dst
}
