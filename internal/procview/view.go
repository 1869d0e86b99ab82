package procview

import (
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
	"launch/internal/mount"
	"launch/internal/rawfile"
)

// Source says where a container's counters are.
type Source struct {
	MemoryDir string // the container's memory cgroup directory, "" if none
	MemoryV2  bool   // MemoryDir is a cgroup v2 directory
	CPUDir    string // its cpuacct (v1) or v2 cgroup directory, "" if none
	CPUV2     bool
	IODir     string // its blkio (v1) or v2 cgroup directory, "" if none
	IOV2      bool
	CPUs      []int // host CPUs the container may use
	// Narrowed: CPUs leaves out some of the CPUs the container's affinity allows
	// (a quota, --cpus, smaller than them): sched_getaffinity(2) is answered too.
	Narrowed bool
	Start    time.Time
}

// A File is one file of the view and the path it covers in the container.
type File struct {
	Name   string // name in the view's own file system
	Target string // path in the container
}

// Files are the files the view covers, in the order of View.Mounts.
var Files = []File{
	{"meminfo", "/proc/meminfo"},
	{"cpuinfo", "/proc/cpuinfo"},
	{"stat", "/proc/stat"},
	{"uptime", "/proc/uptime"},
	{"online", "/sys/devices/system/cpu/online"},
	{"loadavg", "/proc/loadavg"},
	{"swaps", "/proc/swaps"},
	{"diskstats", "/proc/diskstats"},
}

// A View serves a container's files, one FUSE connection each.
type View struct {
	src   Source
	conns []*conn
	files []int // the file of Files each connection serves

	// What the files are computed from, kept from one look to the next (the server is
	// one goroutine): the host's files and the cgroup's, and the numbers read from them.
	stats                                hostStats
	meminfo, cpuinfo, stat               hostFile
	memLimit, memUsage, memStat, cpuStat hostFile
	cpuUser, cpuSys                      hostFile
	swapLimit, swapUsage                 hostFile
	load                                 loadSampler
	io                                   ioFiles

	lis *listener // sysinfo's, or nil

	// mu guards what the files and the answers to sysinfo are computed from, which
	// the server and the listener (a goroutine of its own, see listen) share.
	mu sync.Mutex
}

// hostStats are Stats and what it takes to fill them in without allocating.
type hostStats struct {
	Stats
	index []int // host CPU -> its position in CPUs, or -1
}

// New prepares the view of src: it opens /dev/fuse once per file; the child mounts
// each connection over its file (see Mounts). Start serves them.
func New(src Source) (*View, error) {
	if len(src.CPUs) == 0 {
		return nil, errors.New("/proc view: no CPU to show")
	}
	v := newView(src)
	for i, f := range Files {
		// A file of /proc the kernel does not have (/proc/swaps without CONFIG_SWAP)
		// is not covered: the child's mount would have nothing to go over. (The
		// launcher's own /proc is the kernel's; its /sys may not be mounted.)
		if _, err := os.Stat(f.Target); err != nil && strings.HasPrefix(f.Target, "/proc/") {
			continue
		}
		fd, err := openDevice()
		if err != nil {
			v.Close()
			return nil, errs.Wrap("/proc view", err)
		}
		v.conns = append(v.conns, newConn(fd, v.generator(i)))
		v.files = append(v.files, i)
	}
	return v, nil
}

// newView prepares what the files of src are computed from.
func newView(src Source) *View {
	v := &View{src: src}
	v.stats.CPUs = src.CPUs
	v.stats.CPUUser = make([]uint64, len(src.CPUs))
	v.stats.CPUSys = make([]uint64, len(src.CPUs))
	v.stats.index = make([]int, slices.Max(src.CPUs)+1)
	for i := range v.stats.index {
		v.stats.index[i] = slices.Index(src.CPUs, i)
	}
	v.meminfo = newHostFile("/proc/meminfo")
	v.cpuinfo = newHostFile("/proc/cpuinfo")
	v.stat = newHostFile("/proc/stat")
	if d := src.MemoryDir; d != "" {
		limit, usage := "memory.limit_in_bytes", "memory.usage_in_bytes"
		if src.MemoryV2 {
			limit, usage = "memory.max", "memory.current"
		}
		v.memLimit = newHostFile(filepath.Join(d, limit))
		v.memUsage = newHostFile(filepath.Join(d, usage))
		v.memStat = newHostFile(filepath.Join(d, "memory.stat"))
		// v1 limits memory+swap, v2 swap alone. Without swap accounting the files
		// are missing, and the container is shown no swap.
		swapLimit, swapUsage := "memory.memsw.limit_in_bytes", "memory.memsw.usage_in_bytes"
		if src.MemoryV2 {
			swapLimit, swapUsage = "memory.swap.max", "memory.swap.current"
		}
		v.swapLimit = newHostFile(filepath.Join(d, swapLimit))
		v.swapUsage = newHostFile(filepath.Join(d, swapUsage))
	}
	v.load = newLoadSampler(src)
	v.io = newIOFiles(src)
	if d := src.CPUDir; d != "" {
		if src.CPUV2 {
			v.cpuStat = newHostFile(filepath.Join(d, "cpu.stat"))
		} else {
			v.cpuUser = newHostFile(filepath.Join(d, "cpuacct.usage_percpu_user"))
			v.cpuSys = newHostFile(filepath.Join(d, "cpuacct.usage_percpu_sys"))
		}
	}
	return v
}

// generator returns the function that appends the content of file i of Files.
func (v *View) generator(i int) func([]byte) []byte {
	return func(dst []byte) []byte {
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.generate(i, dst)
	}
}

// Mounts lists the child's mounts. The data names the connection's descriptor; the
// root is a regular file (rootmode=100444), mounted over the file it covers;
// allow_other lets a container user other than root read it, and
// default_permissions makes the kernel check the modes, which it does with fresh
// attributes at every open (see conn.getattr).
// The mounts' owner is uid and gid of the container (in a user namespace, IDs it
// maps).
func (v *View) Mounts(uid, gid int) []mount.View {
	out := make([]mount.View, len(v.conns))
	for i, c := range v.conns {
		out[i] = mount.View{Target: Files[v.files[i]].Target, FD: c.fd,
			Data: "fd=" + strconv.Itoa(c.fd) + ",rootmode=100444,user_id=" + strconv.Itoa(uid) + ",group_id=" + strconv.Itoa(gid) +
				",allow_other,default_permissions"}
	}
	return out
}

// FDs are the connections' descriptors, as the mounts name them.
func (v *View) FDs() []int {
	fds := make([]int, len(v.conns))
	for i, c := range v.conns {
		fds[i] = c.fd
	}
	return fds
}

// Adopt makes fd the descriptor of connection i, in place of the one New opened: in a
// user namespace, the kernel mounts only a connection opened inside it, which the
// child opens and sends (see fdpass.SendNew). Called before Start.
func (v *View) Adopt(i, fd int) error {
	err := unix.Dup3(fd, v.conns[i].fd, unix.O_CLOEXEC)
	unix.Close(fd)
	return os.NewSyscallError("dup3 (/proc view)", err)
}

// Start serves the connections in a goroutine until the container's mounts are gone.
// It is called once the child has exec'd: the child makes no request of its own, and
// until its exec it shares the launcher's memory copy-on-write, which a serving
// goroutine would write to.
func (v *View) Start() {
	go func() {
		v.serve()
		v.mu.Lock()
		v.closeHostFiles()
		v.mu.Unlock()
	}()
	if v.lis != nil {
		go v.listen()
	}
}

// Narrowed reports whether the view shows fewer CPUs than the container's affinity
// has (see Source.Narrowed).
func (v *View) Narrowed() bool { return v.src.Narrowed }

// Close ends the connections.
func (v *View) Close() {
	for _, c := range v.conns {
		unix.Close(c.fd)
	}
	if v.lis != nil {
		unix.Close(v.lis.fd)
	}
}

// generate appends the content of file i of Files to dst.
func (v *View) generate(i int, dst []byte) []byte {
	st := &v.stats.Stats
	switch Files[i].Name {
	case "meminfo":
		return meminfo(dst, v.memStats(), st)
	case "cpuinfo":
		return cpuinfo(dst, v.cpuinfo.read(), st)
	case "stat":
		v.cpuStats()
		return stat(dst, v.stat.read(), st)
	case "uptime":
		v.cpuStats()
		return uptime(dst, st)
	case "online":
		return online(dst, st)
	case "loadavg":
		// A sample due is taken now, should the server not have woken for it yet.
		v.sampleLoad(time.Now())
		st.Load, st.Running, st.Threads = v.loads()
		return loadavg(dst, st)
	case "swaps":
		v.memStats()
		return swaps(dst, st)
	case "diskstats":
		return diskstats(dst, v.ioStats(), st)
	}
	return dst
}

// memStats reads the container's memory counters now into v.stats and returns the
// host's /proc/meminfo, whose MemTotal bounds the limit.
func (v *View) memStats() []byte {
	host := v.meminfo.read()
	st := &v.stats
	st.MemLimit, st.MemUsage, st.Mem = hostMeminfoBytes(host, "MemTotal:"), 0, MemStat{}
	st.SwapTotal, st.SwapUsed = 0, 0
	if v.src.MemoryDir != "" {
		// v2's memory.max says "max" when there is no limit, which parses as none.
		limit, ok := parseUint(bytes.TrimSpace(v.memLimit.read()))
		if ok && limit < st.MemLimit {
			st.MemLimit = limit
		}
		st.MemUsage, _ = parseUint(bytes.TrimSpace(v.memUsage.read()))
		parseMemStat(&st.Mem, v.memStat.read(), v.src.MemoryV2)
		v.swapStats(limit, hostMeminfoBytes(host, "SwapTotal:"))
	}
	return host
}

// swapStats reads into v.stats the swap the container may use, at most the host's
// hostSwap bytes, and how much of it is used. v2 limits swap itself; v1 limits
// memory+swap, and the swap is that limit less the memory limit memLimit (launch
// makes them equal, for no swap, unless told otherwise).
func (v *View) swapStats(memLimit, hostSwap uint64) {
	st := &v.stats
	text := bytes.TrimSpace(v.swapLimit.read())
	limit, ok := parseUint(text)
	used, _ := parseUint(bytes.TrimSpace(v.swapUsage.read()))
	switch {
	case v.src.MemoryV2 && string(text) == "max":
		limit = hostSwap
	case !ok:
		return // no swap accounting: the files are missing
	case !v.src.MemoryV2:
		limit = max(limit, memLimit) - memLimit
		used = max(used, st.MemUsage) - st.MemUsage // memory+swap less memory
	}
	st.SwapTotal = min(limit, hostSwap)
	st.SwapUsed = min(used, st.SwapTotal)
}

// cpuStats reads the container's CPU times now into v.stats.
func (v *View) cpuStats() {
	st := &v.stats
	st.Uptime, st.Boot = time.Since(v.src.Start).Seconds(), v.src.Start.Unix()
	clear(st.CPUUser)
	clear(st.CPUSys)
	switch {
	case v.src.CPUDir == "":
	case v.src.CPUV2:
		// cpu.stat has totals only: spread them over the visible CPUs.
		var user, sys uint64
		for line := range lines(v.cpuStat.read()) {
			k, val, _ := bytes.Cut(line, []byte(" "))
			switch string(k) {
			case "user_usec":
				user, _ = parseUint(val)
			case "system_usec":
				sys, _ = parseUint(val)
			}
		}
		n := uint64(len(st.CPUs))
		for i := range st.CPUs {
			st.CPUUser[i], st.CPUSys[i] = user*1000/n, sys*1000/n
		}
	default:
		// One number per host CPU, in nanoseconds.
		st.perCPU(v.cpuUser.read(), st.CPUUser)
		st.perCPU(v.cpuSys.read(), st.CPUSys)
	}
}

// perCPU sets out[i] to the number for the host CPU CPUs[i] of data, a list of one
// number per host CPU. A CPU that is not visible but counts time is one that --cpus
// hid from the view but not from the scheduler: its time is added to a visible CPU's,
// so that the view's totals are the container's.
func (st *hostStats) perCPU(data []byte, out []uint64) {
	cpu := 0
	for len(data) > 0 {
		data = bytes.TrimLeft(data, " \n")
		end := bytes.IndexAny(data, " \n")
		if end < 0 {
			end = len(data)
		}
		if end == 0 {
			break
		}
		i := cpu % len(out)
		if cpu < len(st.index) && st.index[cpu] >= 0 {
			i = st.index[cpu]
		}
		n, _ := parseUint(data[:end])
		out[i] += n
		data, cpu = data[end:], cpu+1
	}
}

// hostMeminfoBytes returns the number of the line that key starts in the host's
// /proc/meminfo text, in bytes.
func hostMeminfoBytes(meminfo []byte, key string) uint64 {
	for line := range lines(meminfo) {
		if v, ok := bytes.CutPrefix(line, []byte(key)); ok {
			n, _ := parseUint(bytes.TrimSpace(bytes.TrimSuffix(v, []byte(" kB"))))
			return n * 1024
		}
	}
	return 0
}

// A hostFile is a file of the host's /proc or of a cgroup that the view reads at each
// look. It is opened at the first and read again from its start with pread(2), which
// makes procfs and cgroupfs compute it anew (seq_file restarts at offset 0), into a
// buffer kept from look to look. A file that cannot be read reads as empty, and the
// view shows zeros rather than failing the reader.
type hostFile struct {
	path   string // "": none, which reads as empty
	fd     int
	opened bool // fd is open
	failed bool // it could not be opened; not tried again, as the path would be copied each time
	buf    []byte
}

func newHostFile(path string) hostFile { return hostFile{path: path} }

// open opens the file once; false if it cannot be (then or before).
func (f *hostFile) open() bool {
	if f.path == "" || f.failed {
		return false
	}
	if !f.opened {
		fd, err := unix.Open(f.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			f.failed = true
			return false
		}
		f.fd, f.opened = fd, true
	}
	return true
}

func (f *hostFile) read() []byte {
	if !f.open() {
		return nil
	}
	n := 0
	for {
		if n == len(f.buf) {
			f.buf = slices.Grow(f.buf, 4096)
			f.buf = f.buf[:cap(f.buf)]
		}
		m, err := unix.Pread(f.fd, f.buf[n:], int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil
		}
		if m == 0 {
			return f.buf[:n]
		}
		n += m
	}
}

// close closes the file if it was opened. A hostFile that was never set up (its
// zero value) has nothing open: its fd 0 is the launcher's stdin.
func (f *hostFile) close() {
	if f.opened {
		unix.Close(f.fd)
	}
	f.opened, f.failed = false, true
}

// closeHostFiles closes the host's files once the server is done with them.
func (v *View) closeHostFiles() {
	for _, f := range []*hostFile{&v.meminfo, &v.cpuinfo, &v.stat, &v.memLimit, &v.memUsage, &v.memStat, &v.cpuStat, &v.cpuUser, &v.cpuSys,
		&v.swapLimit, &v.swapUsage, &v.load.tasks} {
		f.close()
	}
	v.io.close()

}

// readHost reads a file of the host: empty if it cannot be read.
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
// narrowed to cpuset if given, then to the first ceil(quota) if quota > 0; and
// whether the quota left some out (the container's affinity still has them).
func VisibleCPUs(cpuset []int, quota float64) ([]int, bool, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, false, os.NewSyscallError("sched_getaffinity", err)
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
		if n < len(cpus) {
			return cpus[:n], true, nil
		}
	}
	return cpus, false, nil
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
