package main

import (
	"encoding/binary"
	"math/bits"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/probe/report"
)

// sysinfo(2) as a program that asks the kernel directly sees it (busybox free and
// uptime do):
//
//	sysinfo         the answer: uptime= load1= totalram= freeram= sharedram=
//	                totalswap= freeswap= procs= unit= (load1 scaled by 65536, as sysinfo's)
//	sysinfo-null    sysinfo(NULL): the errno (EFAULT, as the kernel answers)
//	sysinfo-compat  the same call through the 32-bit ABI (amd64 only), its fields from
//	                the 32-bit layout
//	sysinfo-at WHERE FILE  sysinfo into a page that is "untouched" (fresh, never
//	                written), "touched", or "private" (a private writable mapping of
//	                FILE, never read): the totalram it got, or the errno
//	sysinfo-fuserace FILE SECONDS  for SECONDS, one thread calls sysinfo into a private
//	                mapping of FILE (a file of the /proc view) while another drops the
//	                mapping's page and FILE's page cache and reads the page again: the
//	                launcher's write can then fault in a page that only the view's
//	                server can read. "done" and the count of calls
//	numcpu          Go's runtime.NumCPU (the affinity's CPUs at the probe's start)
//	affinity PID    the CPUs of sched_getaffinity(PID), as a count
//	affinity-compat the same for pid 0 through the 32-bit ABI (amd64 only): the count
//	                and the length the call returned
func init() {
	moreOps["affinity-compat"] = func([]string) string { return below4G(affinityCompat) }
	moreOps["numcpu"] = func([]string) string { return strconv.Itoa(runtime.NumCPU()) }
	moreOps["affinity"] = func(a []string) string {
		pid, _ := strconv.Atoi(arg(a, 0))
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(pid, &set); err != nil {
			return report.ErrName(err)
		}
		return strconv.Itoa(set.Count())
	}
	moreOps["sysinfo"] = func([]string) string {
		var si unix.Sysinfo_t
		if err := unix.Sysinfo(&si); err != nil {
			return report.ErrName(err)
		}
		return sysinfoLine(uint64(si.Uptime), uint64(si.Loads[0]), uint64(si.Totalram), uint64(si.Freeram),
			uint64(si.Sharedram), uint64(si.Totalswap), uint64(si.Freeswap), uint64(si.Procs), uint64(si.Unit))
	}
	moreOps["sysinfo-null"] = func([]string) string {
		_, _, e := unix.RawSyscall(unix.SYS_SYSINFO, 0, 0, 0)
		return report.ErrName(errOrNil(e))
	}
	moreOps["sysinfo-compat"] = func([]string) string { return below4G(sysinfoCompat) }
	moreOps["sysinfo-fuserace"] = sysinfoFuseRace
	moreOps["sysinfo-at"] = func(a []string) string {
		fd, flags := -1, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS
		if arg(a, 0) == "private" {
			var err error
			if fd, err = unix.Open(arg(a, 1), unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
				return report.ErrName(err)
			}
			defer unix.Close(fd)
			flags = unix.MAP_PRIVATE
		}
		mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, flags)
		if err != nil {
			return report.ErrName(err)
		}
		defer unix.Munmap(mem)
		if arg(a, 0) == "touched" {
			mem[0] = 1
		}
		_, _, e := unix.RawSyscall(unix.SYS_SYSINFO, uintptr(unsafe.Pointer(&mem[0])), 0, 0)
		if e != 0 {
			return report.ErrName(e)
		}
		return "totalram=" + strconv.FormatUint(uint64((*unix.Sysinfo_t)(unsafe.Pointer(&mem[0])).Totalram), 10)
	}
}

// below4G runs op on a page of memory that a 32-bit call can point to (amd64 only),
// written to first.
func below4G(op func(mem []byte) string) string {
	if map32bit == 0 {
		return "ENOSYS"
	}
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|map32bit)
	if err != nil {
		return report.ErrName(err)
	}
	defer unix.Munmap(mem)
	mem[0] = 1 // in memory, as a program's buffer is (launch leaves a page that is not to the kernel)
	return op(mem)
}

func affinityCompat(mem []byte) string {
	r := compatSyscall(compatSchedGetaffinity, 0, 512, uintptr(unsafe.Pointer(&mem[0])))
	if r < 0 {
		return compatResult(r)
	}
	n := 0
	for _, b := range mem[:r] {
		n += bits.OnesCount8(b)
	}
	return strconv.Itoa(n) + " len=" + strconv.Itoa(int(r))
}

func sysinfoCompat(mem []byte) string {
	if r := compatSyscall(compatSysinfo, uintptr(unsafe.Pointer(&mem[0])), 0, 0); r != 0 {
		return compatResult(r)
	}
	w := func(off int) uint64 { return uint64(binary.LittleEndian.Uint32(mem[off:])) }
	// struct sysinfo of a 32-bit ABI: longs of 4 bytes.
	return sysinfoLine(w(0), w(4), w(16), w(20), w(24), w(32), w(36), uint64(binary.LittleEndian.Uint16(mem[40:])), w(52))
}

func sysinfoLine(uptime, load1, total, free, shared, totalSwap, freeSwap, procs, unit uint64) string {
	out := ""
	for _, f := range []struct {
		k string
		v uint64
	}{{"uptime", uptime}, {"load1", load1}, {"totalram", total}, {"freeram", free}, {"sharedram", shared},
		{"totalswap", totalSwap}, {"freeswap", freeSwap}, {"procs", procs}, {"unit", unit}} {
		out += f.k + "=" + strconv.FormatUint(f.v, 10) + " "
	}
	return out[:len(out)-1]
}

func sysinfoFuseRace(a []string) string {
	secs, _ := strconv.Atoi(arg(a, 1))
	end := time.Now().Add(time.Duration(secs) * time.Second)
	var calls atomic.Int64
	for time.Now().Before(end) {
		fd, err := unix.Open(arg(a, 0), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return report.ErrName(err)
		}
		mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
		if err != nil {
			unix.Close(fd)
			return report.ErrName(err)
		}
		var sink byte
		sink += mem[0]
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				unix.Syscall(unix.SYS_SYSINFO, uintptr(unsafe.Pointer(&mem[0])), 0, 0)
				calls.Add(1)
			}
		}()
		for round := time.Now().Add(500 * time.Millisecond); time.Now().Before(round); {
			unix.Madvise(mem, unix.MADV_DONTNEED)
			unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
			sink += mem[0]
		}
		close(stop)
		<-done
		unix.Munmap(mem)
		unix.Close(fd)
		_ = sink
	}
	return "done " + strconv.FormatInt(calls.Load(), 10)
}
