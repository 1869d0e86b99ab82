// Package fdpass hands descriptors between the child and the launcher before the
// child's exec: over a socket, in one message whose only ancillary data carries one
// (SCM_RIGHTS). A Pair goes from the child (which may not allocate, and only writes the
// descriptor's number into a message the launcher prepared) to the launcher or to an
// engine's console socket; an Inbox the other way, for a mount the launcher makes for
// the child. (An earlier version moved the descriptor to a number prepared in the
// message, above the child's others; with the soft RLIMIT_NOFILE restored below that
// number, the move failed.)
package fdpass

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/raw"
)

// A Plan is what the child needs to send a descriptor, prepared by the launcher.
type Plan struct {
	Sock int    // the child's end of the socket
	slot *int32 // where msg's rights hold the descriptor's number, which the child sets
	msg  unix.Msghdr
}

// NewPlan prepares the sending of a descriptor over sock, in a message whose data is
// data (at least one byte, kept by the caller).
func NewPlan(sock int, data []byte) *Plan {
	p := &Plan{Sock: sock}
	p.msg, p.slot = message(data)
	return p
}

// message returns a message of data (at least one byte, kept by the caller) whose
// ancillary data carries one descriptor, and where in it the descriptor's number is.
func message(data []byte) (unix.Msghdr, *int32) {
	var msg unix.Msghdr
	rights := unix.UnixRights(0)
	// SAFETY: rights holds one cmsghdr and one int of data after it (UnixRights).
	slot := (*int32)(unsafe.Pointer(&rights[unix.CmsgLen(0)]))
	msg.Iov = &unix.Iovec{Base: &data[0]}
	msg.Iov.SetLen(len(data))
	msg.SetIovlen(1)
	msg.Control = &rights[0]
	msg.SetControllen(len(rights))
	return msg, slot
}

// Send runs in the child: it writes fd's number into its copy of the message, sends
// it, and closes the socket; fd itself stays open. (The child's memory is its own: the
// launcher's message is not changed.)
//
//go:nosplit
//go:norace
func Send(p *Plan, fd uintptr) unix.Errno {
	*p.slot = int32(fd)
	// SAFETY: msg and what it points to are p's, prepared by NewPlan.
	_, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(p.Sock), uintptr(unsafe.Pointer(&p.msg)), 0)
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(p.Sock), 0, 0)
	return e
}

// SendNew runs in the child: it opens path (prepared by the launcher) with flags,
// moves the new descriptor to the number at (replacing what the child had there),
// and sends it as Send does.
//
//go:nosplit
//go:norace
func SendNew(p *Plan, path *byte, flags int, at int) unix.Errno {
	// SAFETY: path is a NUL-terminated string prepared by the launcher.
	fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(raw.AtFDCWD), uintptr(unsafe.Pointer(path)), uintptr(flags), 0, 0, 0)
	if e != 0 {
		return e
	}
	if fd != uintptr(at) {
		_, _, e = unix.RawSyscall(unix.SYS_DUP3, fd, uintptr(at), unix.O_CLOEXEC)
		unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
		if e != 0 {
			return e
		}
	}
	return Send(p, uintptr(at))
}

// A Pair is a socket pair from the child to the launcher for one descriptor.
type Pair struct {
	sock int   // the launcher's end
	Plan *Plan // the child's
}

var one = []byte{0}

// New makes a pair.
func New() (*Pair, error) {
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	return &Pair{sock: sv[0], Plan: NewPlan(sv[1], one)}, nil
}

// CloseChildEnd closes the child's end of the pair, once the child has it.
func (p *Pair) CloseChildEnd() {
	if p.Plan.Sock >= 0 {
		unix.Close(p.Plan.Sock)
		p.Plan.Sock = -1
	}
}

// Receive takes the descriptor the child sent, close-on-exec; what names it for
// errors. The child sends it before its exec: by then it is waiting in the socket.
// unix.EAGAIN: the child sent none.
func (p *Pair) Receive(what string) (int, error) {
	oob := make([]byte, unix.CmsgSpace(4))
	var b [1]byte
	_, oobn, _, _, err := unix.Recvmsg(p.sock, b[:], oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return -1, os.NewSyscallError("recvmsg ("+what+")", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, os.NewSyscallError("recvmsg ("+what+")", unix.EBADMSG)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return -1, os.NewSyscallError("recvmsg ("+what+")", unix.EBADMSG)
	}
	return fds[0], nil
}

// Close closes both ends.
func (p *Pair) Close() {
	p.CloseChildEnd()
	if p.sock >= 0 {
		unix.Close(p.sock)
		p.sock = -1
	}
}

// An Inbox is a socket pair over which the launcher hands the child one descriptor
// (the other way round from a Pair): the launcher sends it once the child exists, and
// the child takes it with Take, which waits for it.
type Inbox struct {
	sock int    // the launcher's end
	Sock int    // the child's
	slot *int32 // where the child's copy of msg receives the descriptor's number
	msg  unix.Msghdr
}

// NewInbox makes an inbox.
func NewInbox() (*Inbox, error) {
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	in := &Inbox{sock: sv[0], Sock: sv[1]}
	in.msg, in.slot = message(make([]byte, 1))
	*in.slot = -1
	return in, nil
}

// Send hands fd to the child; fd stays open in the launcher.
func (in *Inbox) Send(fd int) error {
	return os.NewSyscallError("sendmsg", unix.Sendmsg(in.sock, one, unix.UnixRights(fd), nil, 0))
}

// CloseChildEnd closes the child's end, once the child has it.
func (in *Inbox) CloseChildEnd() {
	if in.Sock >= 0 {
		unix.Close(in.Sock)
		in.Sock = -1
	}
}

// Close closes both ends.
func (in *Inbox) Close() {
	in.CloseChildEnd()
	if in.sock >= 0 {
		unix.Close(in.sock)
		in.sock = -1
	}
}

// Take runs in the child: it waits for the descriptor, receives it close-on-exec,
// closes its end of the socket and returns the descriptor's number. EBADMSG: the
// message carried no descriptor; EPIPE: the launcher closed its end without sending.
//
//go:nosplit
//go:norace
func Take(in *Inbox) (int, unix.Errno) {
	var n uintptr
	var e unix.Errno
	for {
		// SAFETY: msg and what it points to are the child's copy of in's, prepared by
		// NewInbox.
		n, _, e = unix.RawSyscall(unix.SYS_RECVMSG, uintptr(in.Sock), uintptr(unsafe.Pointer(&in.msg)), unix.MSG_CMSG_CLOEXEC)
		if e != unix.EINTR {
			break
		}
	}
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(in.Sock), 0, 0)
	switch {
	case e != 0:
		return -1, e
	case n == 0:
		return -1, unix.EPIPE
	case *in.slot < 0:
		return -1, unix.EBADMSG
	}
	return int(*in.slot), 0
}
