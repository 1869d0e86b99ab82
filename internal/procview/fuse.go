package procview

import (
	"encoding/binary"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// FUSE protocol (linux/fuse.h, protocol 7.x). Only what this file system needs.
const (
	opLookup      = 1
	opForget      = 2
	opGetattr     = 3
	opOpen        = 14
	opRead        = 15
	opStatfs      = 17
	opRelease     = 18
	opFlush       = 25
	opInit        = 26
	opOpendir     = 27
	opReaddir     = 28
	opReleasedir  = 29
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
	rootID     = 1
)

var ne = binary.NativeEndian

// A file of the view: its node id, name and content generator.
type file struct {
	id   uint64
	name string
	gen  func() []byte
}

// server answers the kernel's requests on a /dev/fuse descriptor.
type server struct {
	fd    int
	files []file

	mu     sync.Mutex
	open   map[uint64]*handle // file handle -> content snapshot
	nextFH uint64
	last   map[uint64]int // node -> length of its last content, for its size
}

// A handle is an open file: its node and the content it reads.
type handle struct {
	node    uint64
	content []byte
	read    bool // read from before: a new read from offset 0 is a new look
}

// serve reads requests until the file system goes away (the container's mount
// namespace is gone: ENODEV) or the descriptor is closed. One request at a time:
// each is a few microseconds of work, and the kernel queues the rest.
func (s *server) serve() {
	buf := make([]byte, readBuffer)
	out := make([]byte, 0, readBuffer)
	for {
		n, err := unix.Read(s.fd, buf)
		switch {
		case err == unix.EINTR || err == unix.ENOENT: // ENOENT: a request interrupted before we read it
			continue
		case err == unix.EPERM:
			// Not mounted yet: the child mounts it a moment after the fork, and the
			// device has nothing to poll for until then. Its first use of the file
			// system waits for our answer to INIT, so a short sleep costs little.
			// (A raw nanosleep: the first runtime timer would set up the netpoller.)
			unix.Nanosleep(&unix.Timespec{Nsec: 50000}, nil)
			continue
		case err != nil:
			return // ENODEV once unmounted, EBADF once closed
		case n < inHeaderSize:
			continue
		}
		req := buf[:n]
		reply := s.handle(req, out[:0])
		if reply == nil {
			continue // FORGET and friends get no reply
		}
		for {
			_, err := unix.Write(s.fd, reply)
			if err != unix.EINTR {
				break
			}
		}
	}
}

// handle returns the reply to one request, or nil for none.
func (s *server) handle(req, out []byte) []byte {
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
	case opLookup:
		if node != rootID {
			return fail(unix.ENOENT)
		}
		name := body
		for i, c := range body {
			if c == 0 {
				name = body[:i]
				break
			}
		}
		for _, f := range s.files {
			if f.name == string(name) {
				out = header(out, unique, 0, 40+attrSize)
				p := out[outHeader:]
				ne.PutUint64(p[0:], f.id) // nodeid
				// generation 0; the entry is valid for 1 s (the set never changes),
				// the attributes not at all (the size changes)
				ne.PutUint64(p[16:], 1)
				putAttr(p[40:], f.id, unix.S_IFREG|0o444)
				return out
			}
		}
		return fail(unix.ENOENT)
	case opGetattr:
		mode := uint32(unix.S_IFREG | 0o444)
		if node == rootID {
			mode = unix.S_IFDIR | 0o555
		} else if s.lookup(node) == nil {
			return fail(unix.ENOENT)
		}
		out = header(out, unique, 0, 16+attrSize)
		p := out[outHeader:]
		putAttr(p[16:], node, mode)
		// The size of the last content (procfs says 0, but a size of 0 here would
		// also become the kernel's size, and sendfile would then read nothing).
		s.mu.Lock()
		ne.PutUint64(p[16+8:], uint64(s.last[node]))
		s.mu.Unlock()
		return out
	case opOpen:
		f := s.lookup(node)
		if f == nil {
			return fail(unix.ENOENT)
		}
		if len(body) >= 4 && ne.Uint32(body)&unix.O_ACCMODE != unix.O_RDONLY {
			return fail(unix.EROFS)
		}
		content := f.gen()
		// read(2) is direct, but sendfile(2) and splice(2) read FUSE files through
		// the page cache, up to the size the kernel holds: tell it this content's
		// length first (busybox cat uses sendfile). The size only grows this way; a
		// shorter content shrinks it at the short read that ends it.
		s.notifySize(node, content)
		s.mu.Lock()
		s.nextFH++
		fh := s.nextFH
		s.open[fh] = &handle{node: node, content: content}
		s.last[node] = len(content)
		s.mu.Unlock()
		out = header(out, unique, 0, 16)
		ne.PutUint64(out[outHeader:], fh)
		ne.PutUint32(out[outHeader+8:], fopenDirectIO)
		return out
	case opRead:
		if len(body) < 24 {
			return fail(unix.EINVAL)
		}
		fh, off, size := ne.Uint64(body), ne.Uint64(body[8:]), ne.Uint32(body[16:])
		s.mu.Lock()
		h, ok := s.open[fh]
		s.mu.Unlock()
		if !ok {
			return fail(unix.EBADF)
		}
		if off == 0 && h.read {
			// Another read from the start is a new look: programs such as top keep
			// the file open and re-read it after lseek(fd, 0, SEEK_SET). The first
			// read keeps the content of the open, whose length the kernel was told.
			if f := s.lookup(h.node); f != nil {
				h.content = f.gen()
			}
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
			s.mu.Lock()
			delete(s.open, ne.Uint64(body))
			s.mu.Unlock()
		}
		return header(out, unique, 0, 0)
	case opFlush, opReleasedir:
		return header(out, unique, 0, 0)
	case opOpendir:
		if node != rootID {
			return fail(unix.ENOTDIR)
		}
		out = header(out, unique, 0, 16)
		return out
	case opReaddir:
		// An empty listing: the scratch mount is detached before COMMAND runs, so
		// nobody lists this directory; the bound files are opened by their own names.
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

// notifySize makes the kernel's size of node at least len(content): a
// FUSE_NOTIFY_STORE of content's last byte at its offset (struct
// fuse_notify_store_out: nodeid, offset, size, padding; then the data). The kernel
// only moves the size for a store of at least one byte. The page it lands in is not
// complete, so the kernel still asks for it, and the open drops it anyway.
func (s *server) notifySize(node uint64, content []byte) {
	if len(content) == 0 {
		return
	}
	var msg [outHeader + 24 + 1]byte
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint32(msg[4:], notifyStore) // a notification carries its code where a reply has the error
	ne.PutUint64(msg[outHeader:], node)
	ne.PutUint64(msg[outHeader+8:], uint64(len(content)-1))
	ne.PutUint32(msg[outHeader+16:], 1)
	msg[outHeader+24] = content[len(content)-1]
	unix.Write(s.fd, msg[:])
}

func (s *server) lookup(id uint64) *file {
	for i := range s.files {
		if s.files[i].id == id {
			return &s.files[i]
		}
	}
	return nil
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

// putAttr writes a struct fuse_attr: size 0 like procfs, owned by root, nlink 1.
func putAttr(p []byte, ino uint64, mode uint32) {
	clear(p[:attrSize])
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
