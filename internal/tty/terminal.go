package tty

import (
	"errors"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"
)

// A Terminal is the caller's terminal on stdin, as it was before the container got
// it: COMMAND shares it, and what COMMAND changes of it (modes, exclusive use, the
// line discipline, suspended output, the foreground group, and the owner and mode of
// its device node, which container root reaches through /proc/self/fd/0) is put back
// when the container is gone, however it ended.
type Terminal struct {
	fd       int
	termios  *unix.Termios
	excl     bool
	ldisc    int
	pgrp     int // the launcher's own process group
	uid, gid uint32
	mode     uint32 // permission bits
}

// Save returns f's state if f is a terminal, else nil.
func Save(f *os.File) *Terminal {
	fd := int(f.Fd())
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil
	}
	t := &Terminal{fd: fd, termios: tio, pgrp: unix.Getpgrp()}
	if x, err := unix.IoctlGetInt(fd, unix.TIOCGEXCL); err == nil {
		t.excl = x != 0
	}
	if d, err := unix.IoctlGetInt(fd, unix.TIOCGETD); err == nil {
		t.ldisc = d
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil {
		t.uid, t.gid, t.mode = st.Uid, st.Gid, st.Mode&0o7777
	}
	return t
}

// Restore gives the terminal back as it was. A background process that changes a
// terminal is sent SIGTTOU, which is ignored meanwhile.
func (t *Terminal) Restore() {
	signal.Ignore(unix.SIGTTOU)
	defer signal.Reset(unix.SIGTTOU)
	unix.IoctlSetPointerInt(t.fd, unix.TIOCSPGRP, t.pgrp)
	if d, err := unix.IoctlGetInt(t.fd, unix.TIOCGETD); err == nil && d != t.ldisc {
		unix.IoctlSetPointerInt(t.fd, unix.TIOCSETD, t.ldisc)
	}
	unix.IoctlSetTermios(t.fd, unix.TCSETS, t.termios)
	if t.excl {
		unix.IoctlSetInt(t.fd, unix.TIOCEXCL, 0)
	} else {
		unix.IoctlSetInt(t.fd, unix.TIOCNXCL, 0)
	}
	unix.IoctlSetInt(t.fd, unix.TCXONC, unix.TCOON)
	var st unix.Stat_t
	if unix.Fstat(t.fd, &st) == nil {
		if st.Uid != t.uid || st.Gid != t.gid {
			unix.Fchown(t.fd, int(t.uid), int(t.gid))
		}
		if st.Mode&0o7777 != t.mode {
			unix.Fchmod(t.fd, t.mode)
		}
	}
}

// foreground makes pgrp the terminal's foreground process group.
func (t *Terminal) foreground(pgrp int) {
	signal.Ignore(unix.SIGTTOU)
	defer signal.Reset(unix.SIGTTOU)
	unix.IoctlSetPointerInt(t.fd, unix.TIOCSPGRP, pgrp)
}

// hangupGrace is how long a container whose terminal went away has to end after its
// SIGHUP, before it is killed.
const hangupGrace = time.Second

// WatchHangup ends the container when the terminal hangs up (its session was closed,
// its emulator quit): SIGHUP, then SIGKILL, as nothing could ever read its output
// again. poll(2) reports POLLHUP whatever the events asked for.
func (t *Terminal) WatchHangup(quit chan struct{}, send func(unix.Signal)) {
	fds := []unix.PollFd{{Fd: int32(t.fd)}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
			break
		}
	}
	send(unix.SIGHUP)
	select {
	case <-quit:
	case <-time.After(hangupGrace):
		send(unix.SIGKILL)
	}
}

// JobControl passes a stop of COMMAND on to the caller under --init with a terminal:
// PID 1 writes the stop signal to the pipe stopped when COMMAND stops (Ctrl-Z, a
// background read). The launcher takes the terminal back and stops itself, as the
// job that it is; when continued (fg), it gives the terminal back to COMMAND's process
// group and continues it.
func (t *Terminal) JobControl(stopped int, send func(unix.Signal)) {
	b := make([]byte, 1)
	// kill(2) returns before the stop takes effect: the launcher learns that it has
	// been continued from the SIGCONT that continues it.
	cont := make(chan os.Signal, 1)
	signal.Notify(cont, unix.SIGCONT)
	for {
		n, err := unix.Read(stopped, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if n <= 0 {
			return // PID 1 is gone
		}
		job, err := unix.IoctlGetInt(t.fd, unix.TIOCGPGRP)
		if err != nil {
			return
		}
		t.foreground(t.pgrp)
		select {
		case <-cont: // a stale one
		default:
		}
		unix.Kill(os.Getpid(), unix.SIGTSTP)
		<-cont
		t.foreground(job)
		send(unix.SIGCONT)
	}
}
