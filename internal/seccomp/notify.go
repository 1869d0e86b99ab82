package seccomp

import (
	"golang.org/x/sys/unix"

	"launch/internal/fdpass"
)

// LoadNotifier runs in the child, before the container's own filter is loaded (which
// may refuse seccomp(2) and sendmsg(2)): it loads prog, a filter that sends some calls
// to its listener (profile.Notifier), with flags (SECCOMP_FILTER_FLAG_NEW_LISTENER),
// and sends the listener to the launcher as send says, keeping no copy. A kernel
// without user notification (before Linux 5.0), or one where a filter of the
// launcher's own already has a listener, refuses the flag (EINVAL, EBUSY): nothing is
// loaded or sent, the calls go to the kernel, and the launcher, receiving nothing,
// says so.
//
//go:nosplit
//go:norace
func LoadNotifier(prog *unix.SockFprog, flags uintptr, send *fdpass.Plan) unix.Errno {
	fd, e := load(prog, flags)
	switch e {
	case 0:
	case unix.EINVAL, unix.EBUSY, unix.ENOSYS:
		unix.RawSyscall(unix.SYS_CLOSE, uintptr(send.Sock), 0, 0)
		return 0
	default:
		return e
	}
	e = fdpass.Send(send, fd)
	unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	return e
}
