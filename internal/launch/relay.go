package launch

import (
	"errors"
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
// gone. A terminal is passed as it is: job control and the terminal's size need the
// terminal itself.
type relay struct {
	src   []int      // read ends of the pipes, one per relayed stream
	dst   []*os.File // where each goes
	child [3]int     // what the child makes its 0, 1 and 2 of; -1: keep its own
	wake  [2]int     // written to once the container is gone
	done  sync.WaitGroup
}

// newRelay prepares the pipes for stdout and stderr that are not terminals; nil if
// both are. Where stdout and stderr are one file (2>&1), one pipe serves both, which
// keeps their order.
func newRelay(stdio Stdio) (*relay, error) {
	r := &relay{child: [3]int{-1, -1, -1}, wake: [2]int{-1, -1}}
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
	if len(r.src) == 0 {
		return nil, nil
	}
	if err := unix.Pipe2(r.wake[:], unix.O_CLOEXEC); err != nil {
		r.close()
		return nil, os.NewSyscallError("pipe2", err)
	}
	return r, nil
}

func sameFile(a, b *os.File) bool {
	var sa, sb unix.Stat_t
	return unix.Fstat(int(a.Fd()), &sa) == nil && unix.Fstat(int(b.Fd()), &sb) == nil && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// closeChildEnds closes the write ends, which only the child keeps. Closing twice is
// harmless.
func (r *relay) closeChildEnds() {
	for i, fd := range r.child {
		if fd >= 0 && (i != 2 || fd != r.child[1]) {
			unix.Close(fd)
		}
	}
	r.child = [3]int{-1, -1, -1}
}

// close closes everything of r. Closing twice is harmless.
func (r *relay) close() {
	r.closeChildEnds()
	for _, fd := range append(append([]int{}, r.src...), r.wake[:]...) {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	r.src, r.wake = nil, [2]int{-1, -1}
}

// start copies until stop: one goroutine for all streams, blocked in poll(2) between
// writes of the container.
func (r *relay) start() {
	r.done.Add(1)
	go func() {
		defer r.done.Done()
		fds := make([]unix.PollFd, 0, len(r.src)+1)
		for _, fd := range r.src {
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
		fds = append(fds, unix.PollFd{Fd: int32(r.wake[0]), Events: unix.POLLIN})
		buf := make([]byte, 64<<10)
		open := len(r.src)
		for open > 0 {
			if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
				break
			}
			if fds[len(fds)-1].Revents != 0 {
				// The container is gone: take what its pipes still hold, and no more.
				for i, fd := range r.src {
					if fds[i].Fd >= 0 {
						unix.SetNonblock(fd, true)
						r.copy(fd, r.dst[i], buf)
					}
				}
				return
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
