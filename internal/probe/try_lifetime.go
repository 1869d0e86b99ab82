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

// Operations of probe try about the container's lifetime and its terminal.
//
//	try orphan MODE     try to outlive the launcher: MODE pdeath clears the
//	                    parent-death signal, setuid changes the user (which clears it
//	                    too); print "ready SIGNAL" (the signal left) and sleep
//	try ptracestop PID  attach to PID with ptrace, and detach leaving it stopped
//	try tty             change the terminal on 0: no echo, exclusive use, output
//	                    suspended, the N_NULL line discipline; print what worked
//	try ttystate        the terminal on 0: "excl=0|1 echo=0|1"
//	try fault           fault on a memory access with SIGSEGV blocked, so that the
//	                    kernel forces the signal at its default action, as on a
//	                    program without a handler: the process dies by SIGSEGV
func init() {
	moreOps["fault"] = tryFault
	moreOps["orphan"] = tryOrphan
	moreOps["execthread"] = tryExecThread
	moreOps["ptracestop"] = tryPtraceStop
	moreOps["tty"] = tryTTY
	moreOps["ttystate"] = tryTTYState
}

func tryTTYState([]string) string {
	excl, err := unix.IoctlGetInt(0, unix.TIOCGEXCL)
	if err != nil {
		return "tiocgexcl " + report.ErrName(err)
	}
	tio, err := unix.IoctlGetTermios(0, unix.TCGETS)
	if err != nil {
		return "tcgets " + report.ErrName(err)
	}
	echo := 0
	if tio.Lflag&unix.ECHO != 0 {
		echo = 1
	}
	return "excl=" + strconv.Itoa(excl) + " echo=" + strconv.Itoa(echo)
}

// tryExecThread execs ARGS from a thread that is not the process's first: the kernel
// gives the new program the first thread's pid and drops the first thread, with
// whatever was attached to that thread alone (its tracer; a parent-death signal is
// per thread too).
func tryExecThread(a []string) string {
	runtime.LockOSThread() // this one stays where it is; the exec runs on another
	out := make(chan string)
	for range 16 {
		go func() {
			runtime.LockOSThread()
			if unix.Gettid() == unix.Getpid() {
				out <- ""
				return
			}
			out <- report.ErrName(unix.Exec(a[0], a, os.Environ()))
		}()
		if r := <-out; r != "" {
			return r
		}
	}
	return "no thread but the first"
}

func tryOrphan(a []string) string {
	var err error
	switch arg(a, 0) {
	case "pdeath":
		err = unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0)
	case "setuid":
		err = unix.Setresuid(65534, 65534, 65534)
	default:
		return "usage: orphan pdeath|setuid"
	}
	if err != nil {
		return report.ErrName(err)
	}
	var sig int
	unix.RawSyscall(unix.SYS_PRCTL, unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&sig)), 0)
	fmt.Println("ready", sig)
	time.Sleep(time.Minute)
	return "survived"
}

func tryPtraceStop(a []string) string {
	pid, _ := strconv.Atoi(arg(a, 0))
	if err := unix.PtraceAttach(pid); err != nil {
		return "attach " + report.ErrName(err)
	}
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, unix.WALL, nil)
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(pid), 0, uintptr(unix.SIGSTOP), 0, 0)
	return report.ErrName(errOrNil(e))
}

func tryTTY([]string) string {
	tio, err := unix.IoctlGetTermios(0, unix.TCGETS)
	if err != nil {
		return "tcgets " + report.ErrName(err)
	}
	tio.Lflag &^= unix.ECHO
	out := "echo=" + report.ErrName(unix.IoctlSetTermios(0, unix.TCSETS, tio))
	out += " excl=" + report.ErrName(unix.IoctlSetInt(0, unix.TIOCEXCL, 0))
	nnull := 27 // N_NULL, include/uapi/linux/tty.h; x/sys has no N_* line disciplines
	out += " ldisc=" + report.ErrName(unix.IoctlSetPointerInt(0, unix.TIOCSETD, nnull))
	// Last, and nothing written after it: a write to a terminal whose output is
	// suspended waits until it is resumed, which the launcher does once the container
	// has ended.
	os.Stdout.WriteString(out + " flow=ok\n")
	if err := unix.IoctlSetInt(0, unix.TCXONC, unix.TCOOFF); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
	return ""
}

// tryInflight sends the process's stdout and stderr, and both ends of a socket pair,
// over that very pair to itself (SCM_RIGHTS), fills a file of /tmp, and exits. The
// descriptors then live on in the socket, out of any process, until the kernel's
// garbage collector finds the cycle.
//
//	try inflight MIB   the same, with a file of MIB MiB in /tmp held open in flight
func init() { moreOps["inflight"] = tryInflight }

func tryInflight(a []string) string {
	mib, _ := strconv.Atoi(arg(a, 0))
	f, err := os.Create("/tmp/inflight")
	if err != nil {
		return "create " + report.ErrName(err)
	}
	f.Write(make([]byte, mib<<20))
	os.Remove("/tmp/inflight")
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return "socketpair " + report.ErrName(err)
	}
	rights := unix.UnixRights(1, 2, sv[0], sv[1], int(f.Fd()))
	if err := unix.Sendmsg(sv[0], []byte{0}, rights, nil, 0); err != nil {
		return "sendmsg " + report.ErrName(err)
	}
	fmt.Println("sent")
	os.Exit(0)
	return ""
}

func tryFault([]string) string {
	runtime.LockOSThread()
	var set unix.Sigset_t
	set.Val[0] = 1 << (unix.SIGSEGV - 1)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, nil); err != nil {
		return "sigprocmask " + report.ErrName(err)
	}
	// A write through nil: the compiler leaves its check to the MMU, page 0 being
	// mapped by nothing.
	var p *int
	if len(os.Args) > 0 {
		*p = 1
	}
	return "survived the fault"
}
