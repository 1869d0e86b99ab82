package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/probe/report"
)

// loop makes N raw system calls of one kind and prints the nanoseconds each took, for
// the benchmark of the seccomp filter's cost (internal/bench): it runs the same loop
// inside a container with and without the filter.
//
//	getppid      the cheapest call there is, so the filter's share is the largest
//	personality  personality(0xffffffff), a query the filter allows only after testing
//	             its argument: the longest path through the filter
//	sysinfo      sysinfo(2), which launch answers from the container's cgroups
func loop(a []string) {
	var nr, arg0 uintptr
	switch arg(a, 0) {
	case "getppid":
		nr = unix.SYS_GETPPID
	case "personality":
		nr, arg0 = unix.SYS_PERSONALITY, 0xffffffff
	case "sysinfo":
		nr, arg0 = unix.SYS_SYSINFO, uintptr(unsafe.Pointer(&sysinfoBuf))
	default:
		fmt.Fprintln(os.Stderr, "usage: probe loop getppid|personality|sysinfo N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(arg(a, 1))
	if err != nil || n <= 0 {
		fmt.Fprintf(os.Stderr, "probe: loop: bad count %q\n", arg(a, 1))
		os.Exit(2)
	}
	// One thread for the whole loop: a goroutine moved between threads would add the
	// scheduler's cost to some calls, and the filter is per thread anyway.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// A refused call would measure the filter's refusal instead: check once first.
	if _, _, e := unix.RawSyscall(nr, arg0, 0, 0); e != 0 {
		fmt.Fprintf(os.Stderr, "probe: loop: %s: %s\n", arg(a, 0), report.ErrName(e))
		os.Exit(1)
	}
	// The thread's CPU time leaves out the time it was preempted, which on a busy
	// machine (and in a container with few CPU shares) would swamp a cost of a few
	// nanoseconds; the wall time is printed too.
	cpu0, start := threadCPU(), time.Now()
	for i := 0; i < n; i++ {
		unix.RawSyscall(nr, arg0, 0, 0)
	}
	cpu, wall := threadCPU()-cpu0, time.Since(start)
	fmt.Printf("%.2f ns/call (thread CPU time; wall %.2f)\n", float64(cpu)/float64(n), float64(wall.Nanoseconds())/float64(n))
}

// threadCPU is the CPU time of the calling thread in nanoseconds.
func threadCPU() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return ts.Nano()
}

// sysinfoBuf is where the sysinfo loop's calls write.
var sysinfoBuf unix.Sysinfo_t
