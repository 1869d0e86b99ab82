package policy

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// An Action is what a filter returns for a call (seccomp(2), "Filter return values"):
// the action in the high 16 bits, its data (an errno, a tracer's message) in the low 16.
type Action uint32

// The actions without data. A kernel runs only the ones it has: it lists them in
// /proc/sys/kernel/seccomp/actions_avail (Linux 4.14), by Action.Name.
const (
	KillProcess Action = unix.SECCOMP_RET_KILL_PROCESS // kill the process (Linux 4.14)
	KillThread  Action = unix.SECCOMP_RET_KILL_THREAD  // kill the thread
	Trap        Action = unix.SECCOMP_RET_TRAP         // send SIGSYS
	Log         Action = unix.SECCOMP_RET_LOG          // allow, and log it (Linux 4.14)
	Allow       Action = unix.SECCOMP_RET_ALLOW        // allow
	// Notify makes the call wait for the filter's listener to answer it (Linux 5.0).
	Notify Action = unix.SECCOMP_RET_USER_NOTIF
)

// maxErrno is the kernel's MAX_ERRNO: it answers a larger errno data with this one.
const maxErrno = 4095

// Errno is the action that fails the call with e, without running it.
func Errno(e unix.Errno) Action {
	return Action(unix.SECCOMP_RET_ERRNO | uint32(e)&unix.SECCOMP_RET_DATA)
}

// Trace is the action that stops the caller for its ptrace(2) tracer, which sees msg
// (PTRACE_GETEVENTMSG); without a tracer the call fails with ENOSYS.
func Trace(msg uint16) Action { return Action(unix.SECCOMP_RET_TRACE | uint32(msg)) }

// Name returns the action's name as actions_avail writes it, or "" for none.
func (a Action) Name() string {
	switch uint32(a) & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_KILL_PROCESS:
		return "kill_process"
	case unix.SECCOMP_RET_KILL_THREAD:
		return "kill_thread"
	case unix.SECCOMP_RET_TRAP:
		return "trap"
	case unix.SECCOMP_RET_ERRNO:
		return "errno"
	case unix.SECCOMP_RET_TRACE:
		return "trace"
	case unix.SECCOMP_RET_USER_NOTIF:
		return "user_notif"
	case unix.SECCOMP_RET_LOG:
		return "log"
	case unix.SECCOMP_RET_ALLOW:
		return "allow"
	}
	return ""
}

// String names the action and its data: allow, errno 1, trace 7.
func (a Action) String() string {
	name, data := a.Name(), uint32(a)&unix.SECCOMP_RET_DATA
	switch {
	case name == "":
		return fmt.Sprintf("action %#x", uint32(a))
	case name == "errno" || name == "trace":
		return fmt.Sprintf("%s %d", name, data)
	}
	return name
}

// check reports an action that Compile cannot return: one the kernel does not define,
// data on an action without any, or an errno past MAX_ERRNO (which the kernel would
// answer with MAX_ERRNO, and which the compiler uses for a marker).
func (a Action) check() error {
	data := uint32(a) & unix.SECCOMP_RET_DATA
	switch a.Name() {
	case "":
		return fmt.Errorf("unknown seccomp action %#x", uint32(a))
	case "errno":
		if data > maxErrno {
			return fmt.Errorf("errno %d is past MAX_ERRNO (%d)", data, maxErrno)
		}
	case "trace":
	default:
		if data != 0 {
			return fmt.Errorf("%s takes no data, has %#x", a.Name(), data)
		}
	}
	return nil
}
