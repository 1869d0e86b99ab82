package procview

import (
	"math"
	"path/filepath"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/raw"
)

// The container's load average, computed as the kernel computes the host's
// (kernel/sched/loadavg.c): every loadFreq, the number of the container's tasks that
// are runnable or in uninterruptible sleep is folded into three exponentially decaying
// averages, in fixed point with fshift fraction bits, which start at 0 when the
// container starts. The kernel counts per CPU; the launcher counts the tasks of the
// container's cgroup, reading each one's state from /proc/TID/task/TID/stat. It does
// so from the server's goroutine, between requests, so it needs no lock, and into
// buffers of fixed size, so that a sample allocates nothing and the launcher does not
// grow with what the container runs (see the top of content.go).
//
// The taskstats netlink family's CGROUPSTATS_CMD_GET counts a cgroup's tasks by state
// in one call, 10 to 100 times faster here, but only on cgroup v1, only from the host's
// network namespace, and it counts a state only when it is exactly
// TASK_UNINTERRUPTIBLE: a task in a killable wait (a page being read from disk, a FUSE
// request) is left out, which the kernel's load counts (docs/PROCVIEW.md).

const (
	// loadFreq is LOAD_FREQ: the kernel's is 5 s and one tick, the tick so that it
	// does not beat with work done every 5 s; 10 ms is a tick at HZ=100.
	loadFreq = 5*time.Second + 10*time.Millisecond
	fshift   = 11 // FSHIFT: bits of fraction
	fixed1   = 1 << fshift
	// siLoadShift is SI_LOAD_SHIFT: sysinfo(2) gives the averages with 16 bits of
	// fraction.
	siLoadShift = 16
	// maxLoadTasks bounds a sample's work: the states of at most this many tasks are
	// read, each an open, a read and a close of a /proc file (10 to 15 µs on the
	// development VM: a sample of 1024 tasks holds the server up some 15 ms). A
	// container with more tasks has the first ones counted (v1's tasks lists them by
	// TID).
	maxLoadTasks = 1024
	// statHead is how much of a task's stat is read: the TID, the name in
	// parentheses (at most 63 bytes: fs/proc/array.c, proc_task_name) and the state
	// after it.
	statHead = 128
)

// loadExp are EXP_1, EXP_5 and EXP_15: 1/exp(5 s/1 min), 1/exp(5 s/5 min) and
// 1/exp(5 s/15 min) in fixed point.
var loadExp = [3]uint64{1884, 2014, 2037}

// A loadSampler holds the container's load averages and what it takes to sample them.
type loadSampler struct {
	tasks hostFile // the cgroup's list of TIDs; only its path and descriptor are used
	next  time.Time

	avg                     [3]uint64 // fixed point, fshift bits of fraction
	running, blocked, total int       // the last sample's counts: R, D, all

	chunk [4096]byte     // a part of the list of TIDs
	path  [48]byte       // "/proc/TID/task/TID/stat\x00"
	head  [statHead]byte // the start of a task's stat
}

// newLoadSampler samples the tasks of the cgroup src says the CPU time is counted in,
// else of its memory cgroup. v1's tasks and v2's cgroup.threads list the TIDs of the
// cgroup's own tasks, not of cgroups below it.
func newLoadSampler(src Source) loadSampler {
	dir, v2 := src.CPUDir, src.CPUV2
	if dir == "" {
		dir, v2 = src.MemoryDir, src.MemoryV2
	}
	if dir == "" {
		return loadSampler{}
	}
	name := "tasks"
	if v2 {
		name = "cgroup.threads"
	}
	return loadSampler{tasks: newHostFile(filepath.Join(dir, name))}
}

// sampleLoad takes a sample of the container's load if one is due at now and returns
// how long until the next one is, at most loadFreq. The server calls it between
// requests and waits in poll(2) no longer than it says (rounded up to poll's
// milliseconds: a sample is due no earlier than the time returned). Samples missed
// (the server was busy, or is called late) are folded in as the kernel folds in the
// ticks a tickless CPU slept through: the load is decayed over every missed interval
// with the count of now (calc_load_n).
func (v *View) sampleLoad(now time.Time) time.Duration {
	l := &v.load
	if l.next.IsZero() {
		// The first call: the averages are 0 from the start on, and the counts are
		// taken at once so that /proc/loadavg has some before the first sample.
		start := v.src.Start
		if start.IsZero() || start.After(now) {
			start = now
		}
		l.next = start.Add(loadFreq)
		l.count()
	}
	if d := l.next.Sub(now); d > 0 {
		return min(d, loadFreq)
	}
	n := 1 + uint64(now.Sub(l.next)/loadFreq)
	l.count()
	active := uint64(l.running+l.blocked) * fixed1
	for i := range l.avg {
		l.avg[i] = calcLoad(l.avg[i], fixedPower(loadExp[i], n), active)
	}
	l.next = l.next.Add(time.Duration(n) * loadFreq)
	return min(l.next.Sub(now), loadFreq)
}

// loads returns the load averages as sysinfo(2) gives them, with siLoadShift bits of
// fraction, and the last sample's counts of runnable and of all tasks.
func (v *View) loads() (avg [3]uint64, running, total int) {
	for i, a := range v.load.avg {
		avg[i] = a << (siLoadShift - fshift)
	}
	return avg, v.load.running, v.load.total
}

// calcLoad is the kernel's calc_load: load decayed by exp, with active (a count of
// tasks in fixed point) folded in. Rounding up while the load rises lets it reach
// active, which rounding down alone never would.
func calcLoad(load, exp, active uint64) uint64 {
	n := load*exp + active*(fixed1-exp)
	if active >= load {
		n += fixed1 - 1
	}
	return n / fixed1
}

// fixedPower returns x, in fixed point, to the power n, by squaring, rounding each
// product to nearest as the kernel's fixed_power_int does: calc_load with exp to
// the n is n intervals with the same count at once.
func fixedPower(x, n uint64) uint64 {
	r := uint64(fixed1)
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			r = (r*x + fixed1/2) >> fshift
		}
		x = (x*x + fixed1/2) >> fshift
	}
	return r
}

// count counts the cgroup's tasks and those runnable (R) or in uninterruptible sleep
// (D; the kernel counts them into the load, but not idle kernel threads, I), of at
// most maxLoadTasks. A task that ends meanwhile is not counted.
func (l *loadSampler) count() {
	l.running, l.blocked, l.total = 0, 0, 0
	l.scan(maxLoadTasks, l.task)
}

// threads returns how many tasks the cgroup has now, all of them (sysinfo's procs).
func (l *loadSampler) threads() int { return l.scan(math.MaxInt, nil) }

// scan reads the cgroup's list of TIDs, calls each (if not nil) with each of at most
// max of them, and returns how many it saw.
func (l *loadSampler) scan(max int, each func(tid int)) int {
	if !l.open() {
		return 0
	}
	tid, digits, seen := 0, false, 0
	for off := int64(0); seen < max; {
		n, err := unix.Pread(l.tasks.fd, l.chunk[:], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		off += int64(n)
		// One TID a line; a line may go on in the next chunk.
		for _, c := range l.chunk[:n] {
			if c >= '0' && c <= '9' {
				tid, digits = tid*10+int(c-'0'), true
				continue
			}
			if digits && seen < max {
				if each != nil {
					each(tid)
				}
				seen++
			}
			tid, digits = 0, false
		}
	}
	if digits && seen < max {
		if each != nil {
			each(tid) // a last line without its newline
		}
		seen++
	}
	return seen
}

// open opens the list of TIDs once; false if there is none.
func (l *loadSampler) open() bool {
	return l.tasks.open()
}

// task counts the task tid by the state that /proc/TID/stat gives after the name,
// which is in parentheses and may itself hold any byte: the state follows the last ')'.
func (l *loadSampler) task(tid int) {
	// /proc/TID/stat of a thread other than its process's first sums up the times of
	// all the process's threads, a walk of them all at each read; the thread's own,
	// under task/, does not.
	p := strconv.AppendInt(append(l.path[:0], "/proc/"...), int64(tid), 10)
	p = append(strconv.AppendInt(append(p, "/task/"...), int64(tid), 10), "/stat\x00"...)
	if len(p) > len(l.path) {
		return // never: a TID has at most 10 digits
	}
	fd := openPath(p, unix.O_RDONLY)
	if fd < 0 {
		return // the task is gone
	}
	n, err := unix.Read(fd, l.head[:])
	unix.Close(fd)
	if err != nil || n <= 0 {
		return
	}
	head := l.head[:n]
	end := -1
	for i, c := range head {
		if c == ')' {
			end = i
		}
	}
	if end < 0 || end+2 >= n {
		return
	}
	l.total++
	switch head[end+2] {
	case 'R':
		l.running++
	case 'D':
		l.blocked++
	}
}

// openPath opens the NUL-terminated path p, close-on-exec, without copying it
// (unix.Open would copy it to the heap: the server allocates nothing per request);
// -1 if it cannot.
func openPath(p []byte, flags int) int {
	// SAFETY: p is NUL-terminated, alive until the call returns.
	fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(raw.AtFDCWD), uintptr(unsafe.Pointer(&p[0])),
		uintptr(flags|unix.O_CLOEXEC), 0, 0, 0)
	if e != 0 {
		return -1
	}
	return int(fd)
}
