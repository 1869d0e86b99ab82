package procview

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysinfo(2) answered from the container's cgroups. busybox free, uptime and many
// runtimes' memory sizing ask the kernel for sysinfo rather than read /proc/meminfo,
// and the kernel answers with the host's memory and load. The child loads, before the
// container's own filter, one that sends sysinfo to a listener (seccomp user
// notification, Linux 5.0; profile.Notifier), which the launcher serves beside the
// view's files: the caller waits while the launcher writes the answer into its buffer
// and tells the kernel the call succeeded. Where --cpus shows fewer CPUs than the
// container's affinity has, sched_getaffinity(2) goes the same way (nproc and Go's
// runtime.NumCPU ask it), so that it agrees with /proc/cpuinfo.

// notif and notifResp are struct seccomp_notif and struct seccomp_notif_resp
// (linux/seccomp.h), which x/sys/unix does not define; it has the ioctls, whose
// numbers hold the structures' sizes (a test checks them).
type notif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32 // struct seccomp_data from here
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// The flags of an AUDIT_ARCH_* value (linux/audit.h), which x/sys/unix does not
// define: its word size and byte order, which the layout of struct sysinfo follows.
const (
	auditArch64 = 0x80000000 // __AUDIT_ARCH_64BIT
	auditArchLE = 0x40000000 // __AUDIT_ARCH_LE
)

// A listener is the listener of the container's sysinfo filter and what answering
// takes, allocated once: answering allocates nothing.
type listener struct {
	fd       int
	req      notif
	resp     notifResp
	name     func(arch, nr uint32) string // which call a notification is
	info     [112]byte                    // struct sysinfo: 112 bytes for a 64-bit ABI, 64 for a 32-bit one
	mask     [(maxCPU + 1) / 8]byte       // a cpumask for sched_getaffinity
	nrCPUs   int                          // the kernel's nr_cpu_ids
	maskSize int                          // the bytes of a cpumask the kernel copies out
	path     []byte                       // "/proc/PID/mem" and the like, NUL-terminated, made in place
	entry    [8]byte                      // one entry of the caller's page map

	// The counters of the last answer, taken at at: a call less than freshFor later
	// gets them again, as a file's look does, so that a container calling sysinfo in
	// a loop costs the launcher one reading of its cgroup files per millisecond.
	at                                 time.Time
	total, free, shared, swap, swapped uint64
	nthreads                           int
}

// Listen makes the view answer, from Start on, the calls that the container's filter
// sends to the listener fd: sysinfo(2), and sched_getaffinity(2) when the view shows
// fewer CPUs than the container's affinity has (Source.Narrowed). name tells which
// call a notification is, by its audit arch and number ("" for another). The view
// closes fd when it is done.
func (v *View) Listen(fd int, name func(arch, nr uint32) string) {
	l := &listener{fd: fd, name: name, path: make([]byte, 0, len("/proc/4294967295/pagemap\x00"))}
	// What sched_getaffinity checks a length against (nr_cpu_ids), and how much of a
	// mask it copies (cpumask_size(), which depends on the kernel's build): asked of
	// the kernel itself.
	l.nrCPUs = maxCPU + 1
	if cpus, err := ParseCPUList(string(bytes.TrimSpace(readHost("/sys/devices/system/cpu/possible")))); err == nil && len(cpus) > 0 {
		l.nrCPUs = cpus[len(cpus)-1] + 1
	}
	// SAFETY: mask is l's, len(mask) bytes.
	n, _, e := unix.RawSyscall(unix.SYS_SCHED_GETAFFINITY, 0, uintptr(len(l.mask)), uintptr(unsafe.Pointer(&l.mask[0])))
	l.maskSize = len(l.mask)
	if e == 0 {
		l.maskSize = int(n)
	}
	v.lis = l
}

// listen answers the calls of the listener until its filter has no process left, in
// a goroutine of its own: not the FUSE server's, as writing an answer can fault in a
// page of a file of the view (the caller's buffer in a private mapping of one, its
// page cache dropped meanwhile), whose read only the server answers. A caller that
// makes the write wait (a page of its own FUSE file system) holds up this goroutine
// and the container's other calls, never the view's files.
func (v *View) listen() {
	fds := []unix.PollFd{{Fd: int32(v.lis.fd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			break
		}
		// POLLHUP: every process of the filter has exited.
		if fds[0].Revents&unix.POLLIN == 0 || !v.answer() {
			break
		}
	}
}

// answer takes one call from the listener and answers it; false once the listener
// is finished (its filter has no process left).
func (v *View) answer() bool {
	l := v.lis
	l.req = notif{} // the kernel wants it zeroed
	// SAFETY: req is l's, a struct seccomp_notif.
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(l.fd), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&l.req))); e != 0 {
		// EINTR; ENOENT: the caller was killed before it was read.
		return e == unix.EINTR || e == unix.ENOENT
	}
	l.resp = notifResp{ID: l.req.ID}
	var out []byte
	addr := l.req.Args[0]
	call := l.name(l.req.Arch, uint32(l.req.Nr))
	switch call {
	case "sysinfo":
		out = v.sysinfo(l.req.Arch)
	case "sched_getaffinity":
		out, addr = v.affinity(), l.req.Args[2]
	}
	if out != nil {
		v.write(out, addr)
		if l.resp.Error == 0 && l.resp.Flags == 0 && call == "sched_getaffinity" {
			l.resp.Val = int64(len(out)) // the bytes copied; sysinfo returns 0
		}
	} else if l.resp.Error == 0 {
		// Another process's affinity, or a call this server does not know: the
		// kernel answers it, as if the filter had let it through.
		l.resp.Flags = unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE
	}
	// SAFETY: resp is l's, a struct seccomp_notif_resp. ENOENT: the caller is gone.
	unix.Syscall(unix.SYS_IOCTL, uintptr(l.fd), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&l.resp)))
	return true
}

// write writes out at addr of the caller's memory, setting the response's error to
// EFAULT where it cannot, as the kernel's copy to a bad buffer fails, or its flags to
// let the kernel answer the call instead where the launcher should not write.
func (v *View) write(out []byte, addr uint64) {
	l := v.lis
	if l.req.Arch&auditArch64 == 0 {
		addr &= math.MaxUint32
	}
	if addr > math.MaxInt64-uint64(len(out)) {
		l.resp.Error = -int32(unix.EFAULT) // a kernel address
		return
	}
	// The caller's memory and page map, by descriptors: its pid names it only while
	// the call waits, which the check after the opens proves (seccomp_unotify(2)). A
	// pid written into after that check could be another process's by then.
	mem, pagemap := l.open("mem", unix.O_WRONLY), l.open("pagemap", unix.O_RDONLY)
	defer func() {
		for _, fd := range [2]int{mem, pagemap} {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}()
	// SAFETY: req.ID is l's, a __u64.
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(l.fd), unix.SECCOMP_IOCTL_NOTIF_ID_VALID, uintptr(unsafe.Pointer(&l.req.ID))); e != 0 {
		return // not the caller's memory: the call is no longer waited for, and the response finds nothing
	}
	// Only into pages the caller has in memory (or in swap): a write elsewhere would
	// fault them in from the launcher, which the kernel then charges the page tables
	// of to the launcher's cgroup, not the container's (a container could grow the
	// host's memory without bound, a page table per call), and a page of a file of
	// this view would wait for this very server to read it. The kernel answers the
	// call then, with the host's figures (or its EFAULT).
	if mem < 0 || pagemap < 0 || !l.resident(pagemap, addr, len(out)) {
		l.resp.Flags = unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE
		return
	}
	// (/proc/PID/mem writes a read-only page of the caller's own as a debugger would:
	// only an unmapped buffer fails.)
	if n, err := unix.Pwrite(mem, out, int64(addr)); err != nil || n != len(out) {
		l.resp.Error = -int32(unix.EFAULT)
	}
}

// open opens /proc/PID/name of the caller, without allocating (see openPath); -1 if
// it cannot.
func (l *listener) open(name string, flags int) int {
	l.path = strconv.AppendUint(append(l.path[:0], "/proc/"...), uint64(l.req.Pid), 10)
	l.path = append(append(append(l.path, '/'), name...), 0)
	return openPath(l.path, flags)
}

// resident reports whether every page of n bytes at addr is in the caller's memory or
// in its swap, by its page map (Documentation/admin-guide/mm/pagemap.rst: bit 63
// present, bit 62 swapped, one 64-bit entry per page).
func (l *listener) resident(pagemap int, addr uint64, n int) bool {
	page := uint64(unix.Getpagesize())
	for p := addr / page; p <= (addr+uint64(n)-1)/page; p++ {
		if m, err := unix.Pread(pagemap, l.entry[:], int64(p*8)); err != nil || m != len(l.entry) {
			return false
		}
		if binary.NativeEndian.Uint64(l.entry[:])>>62 == 0 {
			return false
		}
	}
	return true
}

// affinity answers sched_getaffinity(pid, len, mask) for the calling thread (pid 0)
// with the view's CPUs (their host numbers, as sched_setaffinity takes them), and
// returns the mask's bytes to write; nil for another pid (the kernel answers), or a
// len the kernel refuses (the response's error set). The kernel copies min(len, the
// size of its cpumask) bytes, in words of the caller's ABI, and returns that count;
// so does this.
func (v *View) affinity() []byte {
	l := v.lis
	if int32(l.req.Args[0]) != 0 {
		return nil
	}
	word := 4
	if l.req.Arch&auditArch64 != 0 {
		word = 8
	}
	// len is an unsigned int, and the kernel's len*8 wraps as one.
	n := uint32(l.req.Args[1])
	if n*8 < uint32(l.nrCPUs) || n%uint32(word) != 0 {
		l.resp.Error = -int32(unix.EINVAL)
		return nil
	}
	out := l.mask[:min(int(n), l.maskSize)]
	clear(out)
	for _, c := range v.src.CPUs {
		w, bit := c/(8*word), c%(8*word)
		b := bit / 8
		if l.req.Arch&auditArchLE == 0 {
			b = word - 1 - b // a big-endian word
		}
		if i := w*word + b; i < len(out) {
			out[i] |= 1 << (bit % 8)
		}
	}
	return out
}

// sysinfo returns struct sysinfo for a caller of audit arch arch, from the container's
// counters now: the memory limit as the total RAM, the limit less the memory charged
// as the free RAM (as the view's MemFree), shared memory from memory.stat, no buffers,
// the swap it may use (as /proc/swaps), the container's uptime, load and threads.
func (v *View) sysinfo(arch uint32) []byte {
	l := v.lis
	now := time.Now()
	v.mu.Lock()
	if now.Sub(l.at) >= freshFor {
		v.memStats()
		st := &v.stats
		l.at, l.total, l.free, l.shared = now, st.MemLimit, st.MemLimit-min(st.MemUsage, st.MemLimit), min(st.Mem.Shmem, st.MemLimit)
		l.swap, l.swapped = st.SwapTotal, st.SwapUsed
		l.nthreads = v.load.threads()
	}
	total, free, threads := l.total, l.free, l.nthreads
	// The kernel rounds the uptime up to a whole second.
	up := now.Sub(v.src.Start)
	uptime := uint64((up + time.Second - 1) / time.Second)
	loads, _, _ := v.loads()
	v.mu.Unlock()

	wide, order := arch&auditArch64 != 0, binary.ByteOrder(binary.BigEndian)
	if arch&auditArchLE != 0 {
		order = binary.LittleEndian
	}
	word, size := 4, 64
	if wide {
		word, size = 8, 112
	}
	// A 32-bit caller gets the sizes in units of mem_unit bytes, the smallest power
	// of two that makes them fit, as the kernel does.
	unit := uint64(1)
	for !wide && (total+l.swap)/unit > math.MaxUint32 {
		unit <<= 1
	}
	out := l.info[:size]
	clear(out)
	off := 0
	put := func(x uint64) {
		if word == 8 {
			order.PutUint64(out[off:], x)
		} else {
			order.PutUint32(out[off:], uint32(x))
		}
		off += word
	}
	put(uptime)
	for _, ld := range loads {
		put(ld)
	}
	put(total / unit) // totalram
	put(free / unit)  // freeram
	put(l.shared / unit)
	put(0)                           // bufferram
	put(l.swap / unit)               // totalswap
	put((l.swap - l.swapped) / unit) // freeswap
	order.PutUint16(out[off:], uint16(min(threads, math.MaxUint16)))
	off += 4 // procs, pad
	off = (off + word - 1) &^ (word - 1)
	put(0) // totalhigh
	put(0) // freehigh
	order.PutUint32(out[off:], uint32(unit))
	return out
}
