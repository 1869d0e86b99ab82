package procview

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/errs"
	"launch/internal/rawfile"
)

// Source says where a container's counters are.
type Source struct {
	MemoryDir string // the container's memory cgroup directory, "" if none
	MemoryV2  bool   // MemoryDir is a cgroup v2 directory
	CPUDir    string // its cpuacct (v1) or v2 cgroup directory, "" if none
	CPUV2     bool
	CPUs      []int // host CPUs the container may use
	Start     time.Time
}

// A File is one file of the view and the path it covers in the container.
type File struct {
	Name   string // name in the view's own file system
	Target string // path in the container
}

// Files are the files the view covers.
var Files = []File{
	{"meminfo", "/proc/meminfo"},
	{"cpuinfo", "/proc/cpuinfo"},
	{"stat", "/proc/stat"},
	{"uptime", "/proc/uptime"},
	{"online", "/sys/devices/system/cpu/online"},
}

// A View serves a container's files, one FUSE connection each.
type View struct {
	src   Source
	conns []*conn

	mu    sync.Mutex
	cache map[string]cached // file name -> last content, for bursts of opens
}

type cached struct {
	at   time.Time
	data []byte
}

// New prepares the view of src: it opens /dev/fuse once per file; the child mounts
// each connection over its file (see Mounts). Start serves them.
func New(src Source) (*View, error) {
	if len(src.CPUs) == 0 {
		return nil, errors.New("/proc view: no CPU to show")
	}
	v := &View{src: src, cache: make(map[string]cached)}
	for _, f := range Files {
		fd, err := openDevice()
		if err != nil {
			v.Close()
			return nil, errs.Wrap("/proc view", err)
		}
		v.conns = append(v.conns, &conn{fd: fd, gen: v.generator(f.Name), open: make(map[uint64]*handle)})
	}
	return v, nil
}

// A Mount is what the child mounts for one file of the view.
type Mount struct {
	Target string // the path it covers
	FD     int    // the connection's descriptor, which the child closes once mounted
	Data   string // the data argument of mount(2)
}

// Mounts lists the child's mounts. The data names the connection's descriptor; the
// root is a regular file (rootmode=100444), mounted over the file it covers;
// allow_other lets a container user other than root read it, and
// default_permissions makes the kernel check the modes.
func (v *View) Mounts() []Mount {
	out := make([]Mount, len(v.conns))
	for i, c := range v.conns {
		out[i] = Mount{Target: Files[i].Target, FD: c.fd,
			Data: "fd=" + strconv.Itoa(c.fd) + ",rootmode=100444,user_id=0,group_id=0,allow_other,default_permissions"}
	}
	return out
}

// Start serves the connections in a goroutine until the container's mounts are gone.
// It is called once the child has exec'd: the child makes no request of its own, and
// until its exec it shares the launcher's memory copy-on-write, which a serving
// goroutine would write to.
func (v *View) Start() { go serve(v.conns) }

// Close ends the connections.
func (v *View) Close() {
	for _, c := range v.conns {
		unix.Close(c.fd)
	}
}

// generator returns the function computing file name. A file is computed at most once
// a millisecond: a container that opens it in a loop costs the launcher (which its
// limits do not cover) no more than that.
func (v *View) generator(name string) func() []byte {
	return func() []byte {
		v.mu.Lock()
		defer v.mu.Unlock()
		if c, ok := v.cache[name]; ok && time.Since(c.at) < time.Millisecond {
			return c.data
		}
		data := v.generate(name)
		v.cache[name] = cached{time.Now(), data}
		return data
	}
}

func (v *View) generate(name string) []byte {
	switch name {
	case "meminfo":
		host := readHost("/proc/meminfo")
		return meminfo(host, v.memStats(host))
	case "cpuinfo":
		return cpuinfo(readHost("/proc/cpuinfo"), Stats{CPUs: v.src.CPUs})
	case "stat":
		return stat(readHost("/proc/stat"), v.cpuStats())
	case "uptime":
		return uptime(v.cpuStats())
	case "online":
		return online(Stats{CPUs: v.src.CPUs})
	}
	return nil
}

// memStats reads the container's memory counters now; host is the host's
// /proc/meminfo, whose MemTotal bounds the limit.
func (v *View) memStats(host []byte) Stats {
	hostTotal := hostMemTotal(host)
	st := Stats{MemLimit: hostTotal, MemStat: map[string]uint64{}}
	if d := v.src.MemoryDir; d != "" {
		limitFile, usageFile := "memory.limit_in_bytes", "memory.usage_in_bytes"
		if v.src.MemoryV2 {
			limitFile, usageFile = "memory.max", "memory.current"
		}
		if l, ok := readUint(filepath.Join(d, limitFile)); ok && l < hostTotal {
			st.MemLimit = l
		}
		st.MemUsage, _ = readUint(filepath.Join(d, usageFile))
		st.MemStat = memoryStat(readHost(filepath.Join(d, "memory.stat")), v.src.MemoryV2)
	}
	return st
}

// cpuStats reads the container's CPU times now.
func (v *View) cpuStats() Stats {
	st := Stats{CPUs: v.src.CPUs, Uptime: time.Since(v.src.Start).Seconds(), Boot: v.src.Start.Unix()}
	st.CPUUser = make([]uint64, len(st.CPUs))
	st.CPUSys = make([]uint64, len(st.CPUs))
	if d := v.src.CPUDir; d != "" {
		if v.src.CPUV2 {
			// cpu.stat has totals only: spread them over the visible CPUs.
			kv := memoryStat(readHost(filepath.Join(d, "cpu.stat")), true)
			for i := range st.CPUs {
				st.CPUUser[i] = kv["user_usec"] * 1000 / uint64(len(st.CPUs))
				st.CPUSys[i] = kv["system_usec"] * 1000 / uint64(len(st.CPUs))
			}
		} else {
			user := fields(readHost(filepath.Join(d, "cpuacct.usage_percpu_user")))
			sys := fields(readHost(filepath.Join(d, "cpuacct.usage_percpu_sys")))
			for i, c := range st.CPUs {
				if c < len(user) && c < len(sys) {
					st.CPUUser[i], st.CPUSys[i] = user[c], sys[c]
				}
			}
		}
	}
	return st
}

// v1Names maps cgroup v1 memory.stat names (hierarchical totals) to v2's.
var v1Names = map[string]string{
	"total_cache": "file", "total_rss": "anon", "total_shmem": "shmem", "total_mapped_file": "file_mapped",
	"total_dirty": "file_dirty", "total_writeback": "file_writeback", "total_unevictable": "unevictable",
	"total_active_anon": "active_anon", "total_inactive_anon": "inactive_anon",
	"total_active_file": "active_file", "total_inactive_file": "inactive_file",
}

// memoryStat parses a flat-keyed cgroup file ("key value" lines), with v1's names
// mapped to v2's unless v2.
func memoryStat(data []byte, v2 bool) map[string]uint64 {
	out := make(map[string]uint64)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, val, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseUint(strings.TrimSpace(val), 10, 64)
		if !ok || err != nil {
			continue
		}
		if !v2 {
			var known bool
			if k, known = v1Names[k]; !known {
				continue
			}
		}
		out[k] = n
	}
	return out
}

func fields(data []byte) []uint64 {
	var out []uint64
	for _, f := range strings.Fields(string(data)) {
		n, _ := strconv.ParseUint(f, 10, 64)
		out = append(out, n)
	}
	return out
}

func readUint(path string) (uint64, bool) {
	s := strings.TrimSpace(string(readHost(path)))
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// hostMemTotal returns MemTotal of the host's /proc/meminfo text, in bytes.
func hostMemTotal(meminfo []byte) uint64 {
	for _, line := range strings.Split(string(meminfo), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
	}
	return 0
}

// readHost reads a file of the host's /proc or of a cgroup; a file that cannot be
// read reads as empty, and the view shows zeros rather than failing the reader.
func readHost(path string) []byte {
	b, _ := rawfile.ReadFile(path)
	return b
}

// Available reports whether this host can serve the view: /dev/fuse is there and the
// kernel knows the fuse file system.
func Available() bool {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return false
	}
	return bytes.Contains(readHost("/proc/filesystems"), []byte("\tfuse\n"))
}

// VisibleCPUs returns the CPUs a container may use: the launcher's own (its affinity),
// narrowed to cpuset if given, then to the first ceil(quota) if quota > 0.
func VisibleCPUs(cpuset []int, quota float64) ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, os.NewSyscallError("sched_getaffinity", err)
	}
	var cpus []int
	for c := 0; c < 8*int(unsafe.Sizeof(set)); c++ {
		if set.IsSet(c) && (cpuset == nil || slices.Contains(cpuset, c)) {
			cpus = append(cpus, c)
		}
	}
	if quota > 0 {
		n := int(quota)
		if float64(n) < quota {
			n++
		}
		cpus = cpus[:min(n, len(cpus))]
	}
	return cpus, nil
}

// maxCPU is the highest CPU number a CPU list may name.
const maxCPU = 4095

// ParseCPUList parses a kernel CPU list such as "0-2,4", of CPUs 0 to maxCPU.
func ParseCPUList(s string) ([]int, error) {
	var (
		out  []int
		seen [maxCPU + 1]bool
	)
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 || a > maxCPU {
			return nil, errors.New("bad CPU list " + strconv.Quote(s))
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b > maxCPU {
				return nil, errors.New("bad CPU list " + strconv.Quote(s))
			}
		}
		for c := a; c <= b; c++ {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out, nil
}
