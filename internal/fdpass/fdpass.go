// Package fdpass hands a descriptor the child makes to the launcher (or to an engine's
// console socket) before the child's exec: over a socket, in one message whose only
// ancillary data carries it (SCM_RIGHTS). The launcher prepares the message; the
// child, which may not allocate, only writes the descriptor's number into it and
// sends it. (An earlier version moved the descriptor to a number prepared in the
// message, above the child's others; with the soft RLIMIT_NOFILE restored below that
// number, the move failed.)
package fdpass

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
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
	rights := unix.UnixRights(0)
	// SAFETY: rights holds one cmsghdr and one int of data after it (UnixRights).
	p.slot = (*int32)(unsafe.Pointer(&rights[unix.CmsgLen(0)]))
	p.msg.Iov = &unix.Iovec{Base: &data[0]}
	p.msg.Iov.SetLen(len(data))
	p.msg.SetIovlen(1)
	p.msg.Control = &rights[0]
	p.msg.SetControllen(len(rights))
	return p
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
