package tty

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/fdpass"
	"launch/internal/raw"
)

// A Pty is the container's own terminal (--pty). The child makes it, once its root
// is the container's, from the container's own devpts instance (/dev/pts/ptmx): the
// slave becomes COMMAND's 0, 1 and 2 and its controlling terminal, and the master is
// sent to the launcher over a socket pair, to be relayed to the caller's stdin and
// stdout. The caller's terminal never reaches the container, and the slave is a name
// of the container's /dev/pts (ttyname(3) finds it there) that no process of the host
// can reach by path.
type Pty struct {
	pair   *fdpass.Pair
	Master int // once received, or -1
	plan   PtyPlan
}

// A PtyPlan is what the child needs to make the terminal, prepared by the launcher.
type PtyPlan struct {
	path   *byte        // "/dev/pts/ptmx", NUL-terminated
	unlock int32        // 0, for TIOCSPTLCK
	size   unix.Winsize // the caller's terminal's, or zero
	send   *fdpass.Plan // how the master goes to the launcher or the console socket
}

var ptmx = [...]byte{'/', 'd', 'e', 'v', '/', 'p', 't', 's', '/', 'p', 't', 'm', 'x', 0}

// NewPty prepares a terminal the size of the caller's terminal t (nil: none).
func NewPty(t *Terminal) (*Pty, error) {
	pair, err := fdpass.New()
	if err != nil {
		return nil, err
	}
	p := &Pty{pair: pair, Master: -1}
	p.plan.path, p.plan.send = &ptmx[0], pair.Plan
	if t != nil {
		if ws, err := unix.IoctlGetWinsize(t.fd, unix.TIOCGWINSZ); err == nil {
			p.plan.size = *ws
		}
	}
	return p, nil
}

// Plan returns what the child's step runs on.
func (p *Pty) Plan() *PtyPlan { return &p.plan }

// Sock is the child's end of the socket the master goes over.
func (p *PtyPlan) Sock() int { return p.send.Sock }

// CloseChildEnd closes the child's end of the socket pair, once the child has it.
func (p *Pty) CloseChildEnd() { p.pair.CloseChildEnd() }

// Receive takes the master the child sent. The child sends it before its exec: by
// then it is waiting in the socket.
func (p *Pty) Receive() error {
	m, err := p.pair.Receive("the container's terminal")
	if err != nil {
		return err
	}
	p.Master = m
	return nil
}

// Resize gives the terminal the size of the caller's terminal t; the kernel sends
// SIGWINCH to the container's foreground group when it changes.
func (p *Pty) Resize(t *Terminal) {
	if p.Master < 0 {
		return
	}
	if ws, err := unix.IoctlGetWinsize(t.fd, unix.TIOCGWINSZ); err == nil {
		unix.IoctlSetWinsize(p.Master, unix.TIOCSWINSZ, ws)
	}
}

// Close closes what is still open here.
func (p *Pty) Close() {
	p.pair.Close()
	if p.Master >= 0 {
		unix.Close(p.Master)
		p.Master = -1
	}
}

// MakePty runs in the child, after setsid, with the container's root as its own: it
// makes the terminal from the container's devpts, sizes it, sends the master to the
// launcher, and makes the slave its 0, 1, 2 and controlling terminal.
//
//go:nosplit
//go:norace
func MakePty(p *PtyPlan) unix.Errno {
	// SAFETY: path is a NUL-terminated array of the package.
	m, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(raw.AtFDCWD), uintptr(unsafe.Pointer(p.path)),
		unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0, 0, 0)
	if e != 0 {
		return e
	}
	// SAFETY: unlock is p's, alive for the call.
	if _, _, e = unix.RawSyscall(unix.SYS_IOCTL, m, unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&p.unlock))); e != 0 {
		return e
	}
	s, _, e := unix.RawSyscall(unix.SYS_IOCTL, m, unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY)
	if e != 0 {
		return e
	}
	if p.size.Row != 0 || p.size.Col != 0 {
		// SAFETY: size is p's, a struct winsize.
		if _, _, e = unix.RawSyscall(unix.SYS_IOCTL, s, unix.TIOCSWINSZ, uintptr(unsafe.Pointer(&p.size))); e != 0 {
			return e
		}
	}
	if e = fdpass.Send(p.send, m); e != 0 {
		return e
	}
	unix.RawSyscall(unix.SYS_CLOSE, m, 0, 0)
	for fd := uintptr(0); fd <= 2; fd++ {
		if _, _, e = unix.RawSyscall(unix.SYS_DUP3, s, fd, 0); e != 0 {
			return e
		}
	}
	unix.RawSyscall(unix.SYS_CLOSE, s, 0, 0)
	_, _, e = unix.RawSyscall(unix.SYS_IOCTL, 0, unix.TIOCSCTTY, 0)
	return e
}

// Raw puts the caller's terminal in raw mode for the relay: every byte, Ctrl-C and
// Ctrl-Z included, goes to the container's terminal, whose own modes decide what it
// means (echo, line editing, signals). Restore gives the modes back.
func (t *Terminal) Raw() {
	raw := *t.termios
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	unix.IoctlSetTermios(t.fd, unix.TCSETS, &raw)
}

// consoleName is what a console socket is told the terminal is called, as an OCI
// runtime tells it: the master's name.
var consoleName = []byte("/dev/ptmx")

// NewConsole prepares the terminal of a bundle's process (process.terminal), whose
// master goes to the engine's console socket sock (connected by the caller): one
// message, whose data is the master's name and whose only ancillary message carries
// the master. size is process.consoleSize, or zero.
func NewConsole(sock int, size unix.Winsize) *PtyPlan {
	return &PtyPlan{path: &ptmx[0], size: size, send: fdpass.NewPlan(sock, consoleName)}
}
