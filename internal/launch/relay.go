package launch

import (
	"errors"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// A relay stands between COMMAND's stdout and stderr and the caller's, when these
// are not terminals. COMMAND writes into pipes of the launcher's, which copies what
// arrives to the caller's files. A container could otherwise keep the caller's own
// descriptors alive past its end, by sending them to itself over a unix socket
// (SCM_RIGHTS) before it exits: they live on in the socket until the kernel's
// garbage collector finds the cycle, and meanwhile the caller's pipe has a writer, so
// `$(launch ...)` did not return for minutes. With the relay, what the container
// keeps is the relay's pipe, which the launcher stops reading once the container is
// gone. Without --pty a terminal is passed as it is: job control and the terminal's
// size need the terminal itself. With --pty the relay stands between the
// container's own terminal and the caller's stdin and stdout.
//
// A stdin that is a file of the host (a regular file, a block device, or a character
// device that is not a terminal: `launch ... < file`, `< /dev/null`) comes through a
// pipe as well: /proc/self/fd/0 would otherwise be a way to reopen it, and container
// root would write, chown or chmod a file the caller only let it read (or make the
// host's /dev/null unusable for every other user). The relay reads ahead of COMMAND
// by at most its buffer and a pipe's worth; when the container ends before reading
// all of it, the caller's offset is put back to what COMMAND did not read, as a
// shell's next command expects.
type relay struct {
	src   []int      // read ends of the pipes, one per relayed stream
	dst   []*os.File // where each goes
	in    *os.File   // the caller's stdin, when relayed; or nil
	inW   int        // the write end of its pipe, non-blocking, or -1
	inR   int        // the launcher's copy of its read end, to count what COMMAND left; or -1
	sent  int        // bytes of stdin put in its pipe
	pty   bool       // --pty: stdin goes to the container's terminal, its output comes from it
	child [3]int     // what the child makes its 0, 1 and 2 of; -1: keep its own
	wake  [2]int     // written to once the container is gone
	done  sync.WaitGroup
}

// newRelay prepares the pipes for stdout and stderr that are not terminals, and for
// a stdin that is a host file or device but not a terminal; nil if none is needed.
// Where stdout and stderr are one file (2>&1), one pipe serves both, which keeps
// their order. With pty, it prepares the relay of the container's terminal.
func newRelay(stdio Stdio, pty bool) (*relay, error) {
	r := &relay{inW: -1, inR: -1, child: [3]int{-1, -1, -1}, wake: [2]int{-1, -1}}
	if pty {
		return r.forPty(stdio)
	}
	if relayedIn(stdio.In) {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			return nil, os.NewSyscallError("pipe2", err)
		}
		unix.SetNonblock(p[1], true)
		r.in, r.inW, r.inR, r.child[0] = stdio.In, p[1], p[0], p[0]
	}
	same := sameFile(stdio.Out, stdio.Err)
	for i, f := range []*os.File{stdio.Out, stdio.Err} {
		if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			continue
		}
		if i == 1 && same && r.child[1] >= 0 {
			r.child[2] = r.child[1]
			continue
		}
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			r.close()
			return nil, os.NewSyscallError("pipe2", err)
		}
		r.src, r.dst = append(r.src, p[0]), append(r.dst, f)
		r.child[i+1] = p[1]
	}
	if len(r.src) == 0 && r.in == nil {
		return nil, nil
	}
	if err := unix.Pipe2(r.wake[:], unix.O_CLOEXEC); err != nil {
		r.close()
		return nil, os.NewSyscallError("pipe2", err)
	}
	return r, nil
}

// forPty makes r the relay of the container's own terminal (--pty): the caller's stdin
// to its master, its master to the caller's stdout. The master comes from the child
// (see attach); COMMAND's 0, 1 and 2 are its slave, which the child makes itself.
func (r *relay) forPty(stdio Stdio) (*relay, error) {
	if err := unix.Pipe2(r.wake[:], unix.O_CLOEXEC); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	r.pty, r.in, r.dst = true, stdio.In, []*os.File{stdio.Out}
	return r, nil
}

// attach gives the relay the container's terminal's master, before start. It works
// on two copies: one read, one written to (and closed at the end of stdin).
func (r *relay) attach(master int) error {
	var fds [2]int
	for i := range fds {
		fd, err := unix.FcntlInt(uintptr(master), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			if i > 0 {
				unix.Close(fds[0])
			}
			return os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", err)
		}
		fds[i] = fd
	}
	unix.SetNonblock(fds[0], true) // the master's open file, which both copies share
	r.src, r.inW = []int{fds[0]}, fds[1]
	return nil
}

// relayedIn reports whether stdin f comes through a relay pipe: a regular file, a
// block device or a character device that is not a terminal. Pipes and sockets are
// passed as they are (nothing reopens them to more than they are), and so is a
// terminal, which job control needs.
func relayedIn(f *os.File) bool {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return false
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFBLK:
		return true
	case unix.S_IFCHR:
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		return err != nil
	}
	return false
}

func sameFile(a, b *os.File) bool {
	var sa, sb unix.Stat_t
	return unix.Fstat(int(a.Fd()), &sa) == nil && unix.Fstat(int(b.Fd()), &sb) == nil && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// closeChildEnds closes the ends only the child keeps: the write ends of stdout's and
// stderr's pipes (stdin's read end stays, as inR). Closing twice is harmless.
func (r *relay) closeChildEnds() {
	for i, fd := range r.child {
		if fd >= 0 && i != 0 && (i != 2 || fd != r.child[1]) {
			unix.Close(fd)
		}
	}
	r.child = [3]int{-1, -1, -1}
}

// close closes everything of r. Closing twice is harmless.
func (r *relay) close() {
	r.closeChildEnds()
	for _, fd := range append(append([]int{r.inW, r.inR}, r.src...), r.wake[:]...) {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	r.src, r.inW, r.inR, r.wake = nil, -1, -1, [2]int{-1, -1}
}

// start copies until stop: one goroutine for all streams, blocked in poll(2) between
// writes of the container (and, for stdin, its reads).
func (r *relay) start() {
	r.done.Add(1)
	go func() {
		defer r.done.Done()
		fds := make([]unix.PollFd, 0, len(r.src)+3)
		for _, fd := range r.src {
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
		// stdin: its file, read when the pipe has room for what was read, and its pipe.
		rd, wr := len(fds), len(fds)+1
		inFd := -1
		if r.in != nil {
			inFd = int(r.in.Fd())
		}
		fds = append(fds, unix.PollFd{Fd: -1, Events: unix.POLLIN}, unix.PollFd{Fd: -1, Events: unix.POLLOUT})
		fds = append(fds, unix.PollFd{Fd: int32(r.wake[0]), Events: unix.POLLIN})
		buf := make([]byte, 64<<10)
		var pending []byte // read from stdin, not yet in its pipe
		if r.in != nil {
			pending = make([]byte, 0, 64<<10)
		}
		open := len(r.src)
		for open > 0 || r.in != nil {
			fds[rd].Fd, fds[wr].Fd = -1, -1
			switch {
			case r.inW < 0:
			case len(pending) == 0:
				fds[rd].Fd = int32(inFd)
			default:
				fds[wr].Fd = int32(r.inW)
			}
			if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
				break
			}
			if fds[len(fds)-1].Revents != 0 {
				// The container is gone: take what its pipes still hold, and no more;
				// give stdin back what it did not read.
				for i, fd := range r.src {
					if fds[i].Fd >= 0 {
						unix.SetNonblock(fd, true)
						r.copy(fd, r.dst[i], buf)
					}
				}
				r.giveBack(len(pending))
				return
			}
			if fds[rd].Fd >= 0 && fds[rd].Revents != 0 {
				n, err := unix.Read(inFd, pending[:cap(pending)])
				switch {
				case n > 0:
					pending = pending[:n]
				case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
				default: // the end of stdin, or an error: COMMAND gets the end once the pipe is read
					if r.pty {
						unix.Write(r.inW, []byte{eot}) // what ends input on a terminal
					}
					r.closeIn()
				}
			}
			if fds[wr].Fd >= 0 && fds[wr].Revents != 0 {
				n, err := unix.Write(r.inW, pending)
				switch {
				case n > 0:
					pending = pending[:copy(pending, pending[n:])]
					r.sent += n
				case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
				default:
					r.closeIn()
				}
			}
			for i := range r.src {
				if fds[i].Fd < 0 || fds[i].Revents == 0 {
					continue
				}
				if !r.copy(r.src[i], r.dst[i], buf) {
					fds[i].Fd = -1 // poll skips it from now on
					open--
				}
			}
		}
	}()
}

// eot is Ctrl-D, the end of input on a terminal in its default modes.
const eot = 4

// closeIn closes the write end of stdin's pipe: COMMAND reads what it holds, then
// the end of the file.
func (r *relay) closeIn() {
	if r.inW >= 0 {
		unix.Close(r.inW)
		r.inW = -1
	}
}

// giveBack closes stdin's pipe once the container is gone, putting the caller's
// offset back by what COMMAND did not read: what the pipe still holds (no more than
// the relay put in it: the container may write to the pipe too) and the unsent bytes
// read ahead. A file whose offset cannot move is left where it is.
func (r *relay) giveBack(unsent int) {
	if r.in == nil {
		return
	}
	r.closeIn()
	held, err := unix.IoctlGetInt(r.inR, unix.TIOCINQ) // FIONREAD
	if back := min(max(held, 0), r.sent) + unsent; err == nil && back > 0 {
		unix.Seek(int(r.in.Fd()), -int64(back), io.SeekCurrent)
	}
}

// copy moves what fd has to dst, once if fd blocks, until EAGAIN if it does not; false
// at the end of the stream.
func (r *relay) copy(fd int, dst *os.File, buf []byte) bool {
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if n <= 0 {
			return err != nil && errors.Is(err, unix.EAGAIN)
		}
		dst.Write(buf[:n])
		if nb, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); nb&unix.O_NONBLOCK == 0 {
			return true
		}
	}
}

// stop ends the relay once the container is gone, after passing on what it wrote.
func (r *relay) stop() {
	unix.Write(r.wake[1], []byte{1})
	r.done.Wait()
	r.close()
}

// collect has the kernel look for descriptors that only unix sockets in flight keep
// alive, as a container leaves them (see relay): they pin the relay's pipe, and with
// it files of the container's /tmp, in memory charged to a cgroup that is gone. The
// kernel runs its collector when a socket that has descriptors in flight is released,
// which is what this does with a pair of its own.
func collect() {
	sv, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	unix.Sendmsg(sv[0], []byte{0}, unix.UnixRights(sv[0]), nil, 0)
	unix.Close(sv[0])
	unix.Close(sv[1])
}
