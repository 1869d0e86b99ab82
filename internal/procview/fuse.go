package procview

import (
	"encoding/binary"
	"os"

	"golang.org/x/sys/unix"
)

// FUSE protocol (linux/fuse.h, protocol 7.x). Only what this file system needs.
const (
	opForget      = 2
	opGetattr     = 3
	opOpen        = 14
	opRead        = 15
	opStatfs      = 17
	opRelease     = 18
	opFlush       = 25
	opInit        = 26
	opInterrupt   = 36
	opDestroy     = 38
	opBatchForget = 42

	fopenDirectIO = 1 << 0 // read(2) goes to the server, whatever the size

	notifyStore = 4 // FUSE_NOTIFY_STORE: set a file's size (and data) in the kernel

	inHeaderSize = 40 // struct fuse_in_header
	outHeader    = 16 // struct fuse_out_header
	attrSize     = 88 // struct fuse_attr
	initOutSize  = 64 // struct fuse_init_out, protocol 7.23 and later
	kstatfsSize  = 80 // struct fuse_kstatfs

	// A read buffer must hold a whole request: FUSE_MIN_READ_BUFFER, more than the
	// largest request this file system gets (no writes).
	readBuffer = 64 << 10
	rootID     = 1 // each connection's file system is one file, its root
)

var ne = binary.NativeEndian

// A conn is one FUSE connection: a file system made of a single regular file, its
// root, mounted by the child straight over the file it covers. No name is ever looked
// up, so the child's setup makes no request; the kernel only queues INIT, which waits
// for an answer until the container first opens the file.
type conn struct {
	fd   int
	gen  func() []byte
	open map[uint64]*handle // file handle -> content snapshot
	fh   uint64
	last int // length of the last content: the file's size
}

// A handle is an open file and the content it reads.
type handle struct {
	content []byte
	read    bool // read from before: a new read from offset 0 is a new look
}

// serve answers the requests of all conns until each one's file system has gone away
// (the container's mount namespace is gone: ENODEV) or its descriptor is closed. One
// goroutine, one thread, one request at a time: each is a few microseconds of work,
// and the kernel queues the rest.
func serve(conns []*conn) {
	buf := make([]byte, readBuffer)
	out := make([]byte, 0, readBuffer)
	fds := make([]unix.PollFd, len(conns))
	for i, c := range conns {
		fds[i] = unix.PollFd{Fd: int32(c.fd), Events: unix.POLLIN}
	}
	for live := len(conns); live > 0; {
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		for i, c := range conns {
			if fds[i].Fd < 0 || fds[i].Revents == 0 {
				continue
			}
			if !c.serveOne(buf, out) {
				fds[i].Fd = -1 // poll ignores negative descriptors
				live--
			}
		}
	}
}

// serveOne reads and answers one request of c; false when c is finished.
func (c *conn) serveOne(buf, out []byte) bool {
	n, err := unix.Read(c.fd, buf)
	switch {
	case err == unix.EINTR || err == unix.ENOENT || err == unix.EAGAIN:
		return true // ENOENT: a request interrupted before we read it
	case err != nil:
		return false // ENODEV once unmounted, EBADF once closed
	case n < inHeaderSize:
		return true
	}
	reply := c.handle(buf[:n], out[:0])
	for reply != nil {
		if _, err := unix.Write(c.fd, reply); err != unix.EINTR {
			break
		}
	}
	return true
}

// handle returns the reply to one request, or nil for none.
func (c *conn) handle(req, out []byte) []byte {
	op := ne.Uint32(req[4:])
	unique := ne.Uint64(req[8:])
	node := ne.Uint64(req[16:])
	body := req[inHeaderSize:]
	fail := func(errno unix.Errno) []byte { return header(out, unique, -int32(errno), 0) }

	switch op {
	case opInit:
		if len(body) < 16 {
			return fail(unix.EINVAL)
		}
		major, minor, readahead := ne.Uint32(body), ne.Uint32(body[4:]), ne.Uint32(body[8:])
		if major < 7 {
			return fail(unix.EPROTO)
		}
		out = header(out, unique, 0, initOutSize)
		p := out[outHeader:]
		ne.PutUint32(p[0:], 7)
		ne.PutUint32(p[4:], min(minor, 31))
		ne.PutUint32(p[8:], readahead) // max_readahead
		ne.PutUint32(p[12:], 0)        // flags: nothing optional
		ne.PutUint16(p[16:], 1)        // max_background
		ne.PutUint16(p[18:], 1)        // congestion_threshold
		ne.PutUint32(p[20:], 4096)     // max_write: there are no writes
		ne.PutUint32(p[24:], 1)        // time_gran
		return out
	case opGetattr:
		if node != rootID {
			return fail(unix.ENOENT)
		}
		out = header(out, unique, 0, 16+attrSize)
		p := out[outHeader:]
		putAttr(p[16:], rootID, unix.S_IFREG|0o444)
		// The size of the last content (procfs says 0, but a size of 0 here would also
		// become the kernel's size, and sendfile would then read nothing).
		ne.PutUint64(p[16+8:], uint64(c.last))
		return out
	case opOpen:
		if node != rootID {
			return fail(unix.ENOENT)
		}
		if len(body) >= 4 && ne.Uint32(body)&unix.O_ACCMODE != unix.O_RDONLY {
			return fail(unix.EROFS)
		}
		content := c.gen()
		// read(2) is direct, but sendfile(2) and splice(2) read FUSE files through
		// the page cache, up to the size the kernel holds: tell it this content's
		// length first (busybox cat uses sendfile). The size only grows this way; a
		// shorter content shrinks it at the short read that ends it.
		c.notifySize(content)
		c.fh++
		c.open[c.fh] = &handle{content: content}
		c.last = len(content)
		out = header(out, unique, 0, 16)
		ne.PutUint64(out[outHeader:], c.fh)
		ne.PutUint32(out[outHeader+8:], fopenDirectIO)
		return out
	case opRead:
		if len(body) < 24 {
			return fail(unix.EINVAL)
		}
		fh, off, size := ne.Uint64(body), ne.Uint64(body[8:]), ne.Uint32(body[16:])
		h, ok := c.open[fh]
		if !ok {
			return fail(unix.EBADF)
		}
		if off == 0 && h.read {
			// Another read from the start is a new look: programs such as top keep
			// the file open and re-read it after lseek(fd, 0, SEEK_SET). The first
			// read keeps the content of the open, whose length the kernel was told.
			h.content = c.gen()
		}
		h.read = true
		var data []byte
		if off < uint64(len(h.content)) {
			data = h.content[off:min(uint64(len(h.content)), off+uint64(size))]
		}
		out = header(out, unique, 0, len(data))
		copy(out[outHeader:], data)
		return out
	case opRelease:
		if len(body) >= 8 {
			delete(c.open, ne.Uint64(body))
		}
		return header(out, unique, 0, 0)
	case opFlush:
		return header(out, unique, 0, 0)
	case opStatfs:
		out = header(out, unique, 0, kstatfsSize)
		ne.PutUint32(out[outHeader+40:], 4096) // bsize
		ne.PutUint32(out[outHeader+44:], 255)  // namelen
		return out
	case opForget, opBatchForget, opInterrupt:
		return nil
	case opDestroy:
		return header(out, unique, 0, 0)
	}
	return fail(unix.ENOSYS)
}

// notifySize makes the kernel's size of the file at least len(content): a
// FUSE_NOTIFY_STORE of content's last byte at its offset (struct
// fuse_notify_store_out: nodeid, offset, size, padding; then the data). The kernel
// only moves the size for a store of at least one byte. The page it lands in is not
// complete, so the kernel still asks for it, and the open drops it anyway.
func (c *conn) notifySize(content []byte) {
	if len(content) == 0 {
		return
	}
	var msg [outHeader + 24 + 1]byte
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint32(msg[4:], notifyStore) // a notification carries its code where a reply has the error
	ne.PutUint64(msg[outHeader:], rootID)
	ne.PutUint64(msg[outHeader+8:], uint64(len(content)-1))
	ne.PutUint32(msg[outHeader+16:], 1)
	msg[outHeader+24] = content[len(content)-1]
	unix.Write(c.fd, msg[:])
}

// header starts a reply of n payload bytes in out: struct fuse_out_header.
func header(out []byte, unique uint64, errno int32, n int) []byte {
	if cap(out) < outHeader+n {
		out = make([]byte, outHeader+n)
	}
	out = out[:outHeader+n]
	clear(out)
	ne.PutUint32(out[0:], uint32(outHeader+n))
	ne.PutUint32(out[4:], uint32(errno))
	ne.PutUint64(out[8:], unique)
	return out
}

// putAttr writes a struct fuse_attr: owned by root, nlink 1, and its times now, as
// procfs has them.
func putAttr(p []byte, ino uint64, mode uint32) {
	clear(p[:attrSize])
	var now unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME, &now)
	for _, off := range []int{24, 32, 40} { // atime, mtime, ctime
		ne.PutUint64(p[off:], uint64(now.Sec))
	}
	ne.PutUint64(p[0:], ino)
	ne.PutUint32(p[60:], mode)
	ne.PutUint32(p[64:], 1)    // nlink
	ne.PutUint32(p[80:], 4096) // blksize
}

// openDevice opens /dev/fuse for a new connection.
func openDevice() (int, error) {
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: "/dev/fuse", Err: err}
	}
	return fd, nil
}
