// Package fdpass hands a descriptor the child makes to the launcher (or to an engine's
// console socket) before the child's exec: over a socket, in one message whose only
// ancillary data carries it (SCM_RIGHTS). The launcher prepares the message; the
// child, which may not allocate, only moves the descriptor to the number the message
// names and sends it.
package fdpass

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Plan is what the child needs to send a descriptor, prepared by the launcher.
type Plan struct {
	Sock int // the child's end of the socket
	fd   int // the number the child moves the descriptor to: the one msg's rights name
	msg  unix.Msghdr
}

// NewPlan prepares the sending of a descriptor over sock, in a message whose data is
// data (at least one byte, kept by the caller). keep are the descriptors the child
// holds besides 0, 1, 2 and sock when it sends, the descriptor itself and one more
// excluded: the descriptor is sent from a number above all of them.
func NewPlan(sock int, data []byte, keep ...int) *Plan {
	p := &Plan{Sock: sock}
	high := sock
	for _, fd := range keep {
		high = max(high, fd)
	}
	p.fd = high + 3
	rights := unix.UnixRights(p.fd)
	p.msg.Iov = &unix.Iovec{Base: &data[0]}
	p.msg.Iov.SetLen(len(data))
	p.msg.SetIovlen(1)
	p.msg.Control = &rights[0]
	p.msg.SetControllen(len(rights))
	return p
}

// Send runs in the child: it sends fd as p says and closes the copy it sent from and
// the socket; fd itself stays open. fd must not be p's number already (NewPlan picks
// one above those the child holds).
//
//go:nosplit
//go:norace
func Send(p *Plan, fd uintptr) unix.Errno {
	if _, _, e := unix.RawSyscall(unix.SYS_DUP3, fd, uintptr(p.fd), unix.O_CLOEXEC); e != 0 {
		return e
	}
	// SAFETY: msg and what it points to are p's, prepared by NewPlan.
	_, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(p.Sock), uintptr(unsafe.Pointer(&p.msg)), 0)
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(p.fd), 0, 0)
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(p.Sock), 0, 0)
	return e
}

// A Pair is a socket pair from the child to the launcher for one descriptor.
type Pair struct {
	sock int   // the launcher's end
	Plan *Plan // the child's
}

var one = []byte{0}

// New makes a pair; keep are as NewPlan's.
func New(keep ...int) (*Pair, error) {
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	return &Pair{sock: sv[0], Plan: NewPlan(sv[1], one, keep...)}, nil
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
