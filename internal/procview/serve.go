package procview

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// What a container can make the server hold, per file of the view: the container's
// limits do not cover the launcher (docs/PROCVIEW.md, "What the container can make the
// launcher hold").
const (
	// Open files at once. An open beyond fails with ENFILE ("too many open files in
	// system"), as the file table of the file system is full. Each costs 16 bytes.
	maxHandles = 1024
	// Contents held at once, each as long as the file (a few KiB; /proc/cpuinfo about
	// 1.5 KiB per visible CPU). Open files share them; when every one is held by open
	// files, a new look gets the newest of them instead of a fresh one.
	maxSnapshots = 8
	// A content younger than this is shown again rather than computed anew: a container
	// that opens a file in a loop costs the launcher at most one computation of it per
	// millisecond.
	freshFor = time.Millisecond
	// The page cache is filled with a content no older than this; a read through the
	// page cache of an older one is refused, and the reader falls back to read(2),
	// which takes a new look.
	cachedFor = time.Second
)

// A conn is one FUSE connection: a file system made of a single regular file, its
// root, mounted by the child straight over the file it covers. No name is ever looked
// up, so the child's setup makes no request; the kernel only queues INIT, which waits
// for an answer until the container first opens the file.
//
// Each open file reads one snapshot of the content, taken at most freshFor before the
// open began, so that a reader never sees a torn file however small its reads; a read from
// offset 0 after the first is a new look (programs such as top keep the file open and
// lseek back to 0). read(2) and pread(2) go to the server whatever the file's size
// (FOPEN_DIRECT_IO). sendfile(2), splice(2) and mmap(2) read through the page cache
// instead, which all open files share, up to the file's size in the kernel, which
// GETATTR sets; the server tells the two kinds of READ apart (see handle). A content
// read through the page cache must then be as long as the kernel's size for as long
// as anyone may read it there, without the server ever waiting on the page cache
// (FUSE_NOTIFY_STORE, which the server wrote into a page that a reader held locked
// while it waited for the server, deadlocked it). So:
//   - the length GETATTR reports (told) changes only while no file is open;
//   - a file may be read through the page cache only if its opener's GETATTR, just
//     before its OPEN, reported the length of a content fresh then, which the file
//     reads: the kernel holds that size from the opener's own GETATTR on, and no other
//     can be reported while the file is open. Any other read through the page cache is
//     refused with EINVAL, as for a file that does not support it, and sendfile's
//     callers (busybox cat among them) fall back to read(2).
type conn struct {
	fd  int
	gen func(dst []byte) []byte // appends the file's content to dst
	now func() time.Time

	snaps [maxSnapshots]snapshot
	cur   *snapshot // the newest content
	told  *snapshot // the content whose length GETATTR reports
	tolds uint64    // how many contents have been told: which one told is

	prev    getattrSeen // the request before the current one, if a GETATTR
	handles []handle    // by file handle; at most maxHandles
	free    []uint32    // handles of closed files, to use again
	open    int         // open files
}

// getattrSeen is a GETATTR answered: who asked, which content it told, and whether
// that content was fresh then.
type getattrSeen struct {
	pid   uint32 // 0: the request before was no GETATTR
	told  uint64
	fresh bool
}

// A snapshot is one content of the file. Its buffer is kept and written over when the
// snapshot is taken again, so that the server allocates nothing once every buffer has
// grown to the file's size.
type snapshot struct {
	data []byte
	at   time.Time
	refs int // open files reading it, and one each for being cur and told
}

// A handle is an open file.
type handle struct {
	snap   *snapshot // nil: no file has this handle
	read   bool      // read from before: a new read from offset 0 is a new look
	cached bool      // it may be read through the page cache
}

func newConn(fd int, gen func([]byte) []byte) *conn {
	return &conn{fd: fd, gen: gen, now: time.Now,
		handles: make([]handle, 0, maxHandles), free: make([]uint32, 0, maxHandles)}
}

// fresh returns a content taken less than freshFor ago, taking one if need be.
func (c *conn) fresh() *snapshot {
	now := c.now()
	if c.cur != nil && now.Sub(c.cur.at) < freshFor {
		return c.cur
	}
	var s *snapshot
	for i := range c.snaps {
		if c.snaps[i].refs == 0 {
			s = &c.snaps[i]
			break
		}
	}
	if s == nil {
		return c.cur // every buffer holds a content that open files read: show the newest
	}
	s.data, s.at = c.gen(s.data[:0]), now
	hold(&c.cur, s)
	return s
}

// hold makes *ref s, moving a reference from the snapshot *ref was.
func hold(ref **snapshot, s *snapshot) {
	s.refs++
	if *ref != nil {
		(*ref).refs--
	}
	*ref = s
}

// getattr answers GETATTR with the length of the told content, which it makes a fresh
// one when no file is open. The attributes are valid for no time (attr_valid 0), and
// the mount has default_permissions: the kernel then asks for them again at every
// open, from the opening thread, just before its OPEN, to check the file's mode
// (fs/fuse/dir.c, fuse_permission), and sets the file's size from them; a reply to a
// request sent before the kernel last took in attributes is dropped as stale
// (fs/fuse/inode.c, fuse_change_attributes: attr_version).
func (c *conn) getattr(pid uint32, unique uint64, out buffer) []byte {
	if c.open == 0 || c.told == nil {
		if s := c.fresh(); s != c.told {
			hold(&c.told, s)
			c.tolds++
		}
	}
	c.prev = getattrSeen{pid: pid, told: c.tolds, fresh: c.now().Sub(c.told.at) < freshFor}
	var now unix.Timespec
	unix.ClockGettime(unix.CLOCK_REALTIME, &now)
	msg, a := replyArg[attrOut](out, unique)
	// Owned by root, nlink 1, and its times now, as procfs has them.
	a.Attr = attr{Ino: rootID, Size: uint64(len(c.told.data)), Mode: unix.S_IFREG | 0o444, Nlink: 1, Blksize: 4096,
		Atime: uint64(now.Sec), Mtime: uint64(now.Sec), Ctime: uint64(now.Sec)}
	return msg
}

// openFile gives a new open file a fresh content and returns its handle; false if
// maxHandles files are open. seen is the request before the OPEN: if it was the
// opener's own GETATTR and told a content fresh then, the file reads that one, which
// it may then read through the page cache. (pid 0 is a process outside the
// container's PID namespace, which several could share.)
func (c *conn) openFile(pid uint32, seen getattrSeen) (uint64, bool) {
	var fh uint32
	switch {
	case len(c.free) > 0:
		fh = c.free[len(c.free)-1]
		c.free = c.free[:len(c.free)-1]
	case len(c.handles) < cap(c.handles):
		fh = uint32(len(c.handles))
		c.handles = c.handles[:fh+1]
	default:
		return 0, false
	}
	cached := pid != 0 && seen == getattrSeen{pid: pid, told: c.tolds, fresh: true}
	s := c.told
	if !cached {
		s = c.fresh()
	}
	c.handles[fh] = handle{cached: cached}
	hold(&c.handles[fh].snap, s)
	c.open++
	return uint64(fh), true
}

// file returns the open file of handle fh, or nil.
func (c *conn) file(fh uint64) *handle {
	if fh >= uint64(len(c.handles)) || c.handles[fh].snap == nil {
		return nil
	}
	return &c.handles[fh]
}

// release forgets the open file of handle fh.
func (c *conn) release(fh uint64) {
	h := c.file(fh)
	if h == nil {
		return
	}
	h.snap.refs--
	*h = handle{}
	c.free = append(c.free, uint32(fh))
	c.open--
}

// read returns the data a READ of size bytes at off of the open file f gets, or
// false to refuse it. direct is a read(2) of the reader's own; otherwise the kernel
// fills its page cache.
func (c *conn) read(f *handle, off uint64, size uint32, direct bool) ([]byte, bool) {
	switch {
	case !direct:
		if !f.cached || f.snap != c.told || c.now().Sub(f.snap.at) >= cachedFor {
			return nil, false
		}
	case off == 0 && f.read:
		// Another read from the start is a new look. The first one reads the
		// content of the open.
		f.snap.refs--
		f.snap = nil
		hold(&f.snap, c.fresh())
	}
	f.read = true
	var data []byte
	if off < uint64(len(f.snap.data)) {
		data = f.snap.data[off:]
	}
	return data[:min(uint64(len(data)), uint64(size), maxReadReply)], true
}

// serve answers the requests of all of v's conns until each one's file system has
// gone away (the container's mount namespace is gone: ENODEV) or its descriptor is
// closed, and samples the container's load meanwhile. One goroutine, one thread, one request at a time, each answered as soon as it
// is read: nothing a request needs waits for anything but the host's /proc and cgroup
// files. The server never waits on one connection while another has requests: the
// descriptors are non-blocking, and each round of poll(2) answers at most one request
// of each connection that has some.
func (v *View) serve() {
	conns := v.conns
	in := newBuffer(readBuffer)
	out := newBuffer(sizeofOutHeader + maxReadReply)
	fds := make([]unix.PollFd, len(conns))
	for i, c := range conns {
		fds[i] = unix.PollFd{Fd: int32(c.fd), Events: unix.POLLIN}
	}
	for live := len(conns); live > 0; {
		// The load average is sampled on time whether or not anyone reads it; the
		// wait is rounded up, so that poll never wakes just before a sample is due.
		v.mu.Lock()
		next := v.sampleLoad(time.Now())
		v.mu.Unlock()
		if _, err := unix.Poll(fds, int((next+time.Millisecond-1)/time.Millisecond)); err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		for i := range fds {
			if fds[i].Fd < 0 || fds[i].Revents == 0 {
				continue
			}
			if !conns[i].serveOne(in, out) {
				fds[i].Fd = -1 // poll ignores negative descriptors
				live--
			}
		}
	}
}

// serveOne reads and answers one request of c; false when c is finished.
func (c *conn) serveOne(in, out buffer) bool {
	n, err := unix.Read(c.fd, in)
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		// EAGAIN: the request poll saw is gone. A request waits in the kernel's queue
		// killably: when its process is killed before the server reads it, the kernel
		// drops it (fs/fuse/dev.c, request_wait_answer).
		return true
	case err != nil:
		return false // ENODEV once unmounted, ECONNABORTED once aborted, EBADF once closed
	}
	msg := c.handle(in[:n], out)
	for msg != nil {
		// ENOENT: the request is no longer waited for (the connection is being
		// aborted). A request the server has read is waited for until it is answered,
		// even by a process being killed, so the answer never waits.
		if _, err := unix.Write(c.fd, msg); err != unix.EINTR {
			break
		}
	}
	return true
}

// handle returns the reply to the request req, written in out, or nil for none.
func (c *conn) handle(req []byte, out buffer) []byte {
	h := request(req)
	if h == nil {
		return nil
	}
	seen := c.prev
	c.prev = getattrSeen{}
	fail := func(errno unix.Errno) []byte { return reply(out, h.Unique, errno, 0) }
	switch h.Opcode {
	case opInit:
		var in initIn
		decode(&in, req[sizeofInHeader:])
		if in.Major < kernelVersion {
			return fail(unix.EPROTO)
		}
		// Both sides speak the older of their two minor versions (fuse.h, "Version
		// negotiation"). No optional feature (flags 0): reads are synchronous, and
		// there is no writeback cache, so the file's size is the server's.
		minor := min(in.Minor, ourMinor)
		msg, o := replyArg[initOut](out, h.Unique)
		*o = initOut{Major: kernelVersion, Minor: minor, MaxReadahead: in.MaxReadahead,
			// Closing a file sends RELEASE as a background request: let enough of them
			// be under way that a burst of closes does not queue behind the others.
			MaxBackground: 64, CongestionThreshold: 48,
			MaxWrite: 4096, TimeGran: 1}
		if minor < compatMinor {
			msg = msg[:sizeofOutHeader+compatInitOut]
			at[outHeader](msg, 0).Len = uint32(len(msg))
		}
		return msg
	case opGetattr:
		if h.NodeID != rootID {
			return fail(unix.ENOENT) // a file system of one file: no other node exists
		}
		return c.getattr(h.PID, h.Unique, out)
	case opOpen:
		if h.NodeID != rootID {
			return fail(unix.ENOENT)
		}
		in := body[openIn](req)
		if in == nil {
			return fail(unix.EINVAL)
		}
		if in.Flags&unix.O_ACCMODE != unix.O_RDONLY {
			return fail(unix.EROFS)
		}
		fh, ok := c.openFile(h.PID, seen)
		if !ok {
			return fail(unix.ENFILE)
		}
		// Without FOPEN_KEEP_CACHE, the kernel drops the file's cached pages at each
		// open (fs/fuse/file.c, fuse_open): what the page cache holds was read for a
		// file that is open.
		msg, o := replyArg[openOut](out, h.Unique)
		o.FH, o.OpenFlags = fh, fopenDirectIO
		return msg
	case opRead:
		in := body[readIn](req)
		if in == nil {
			return fail(unix.EINVAL)
		}
		f := c.file(in.FH)
		if f == nil {
			return fail(unix.EBADF)
		}
		// A read(2) of a FOPEN_DIRECT_IO file names the reader's file table as its
		// lock owner (fs/fuse/file.c, fuse_direct_io and fuse_send_read); the kernel's
		// own reads into the page cache (fuse_read_folio, fuse_readahead) name none.
		data, ok := c.read(f, in.Offset, in.Size, in.ReadFlags&readLockOwner != 0)
		if !ok {
			// sendfile(2) and splice(2) fail with it (the man pages' "not available
			// for in_fd"), a mapping's page with SIGBUS.
			return fail(unix.EINVAL)
		}
		msg := reply(out, h.Unique, 0, len(data))
		copy(msg[sizeofOutHeader:], data)
		return msg
	case opRelease:
		if in := body[releaseIn](req); in != nil {
			c.release(in.FH)
		}
		return fail(0)
	case opFlush:
		// Nothing to flush (no writes). ENOSYS makes the kernel stop sending FLUSH at
		// every close of this connection (fs/fuse/file.c, fuse_flush: fc->no_flush).
		return fail(unix.ENOSYS)
	case opStatfs:
		msg, st := replyArg[kstatfs](out, h.Unique)
		st.Bsize, st.Namelen = 4096, 255
		return msg
	case opForget, opBatchForget:
		return nil // the root is never forgotten, and FORGET has no reply
	case opInterrupt:
		// The request to interrupt has been answered already: the kernel sends an
		// INTERRUPT only for a request the server has read (Documentation/
		// filesystems/fuse.rst, "Interrupting filesystem operations"), and this server
		// answers each request before it reads the next. The kernel drops an
		// INTERRUPT whose request is answered; answering it EAGAIN would make the
		// kernel send it again. So no reply.
		return nil
	case opDestroy:
		return fail(0)
	}
	return fail(unix.ENOSYS)
}

// decode copies the argument of a request into *dst, zero where the request is
// shorter: a kernel of an older protocol sends shorter structures (fuse.h).
func decode[T any](dst *T, arg []byte) {
	var zero T
	*dst = zero
	// SAFETY: dst points to a T, which is made of fixed-size integers only: viewing
	// its bytes and writing any byte pattern into them is valid.
	copy(unsafe.Slice((*byte)(unsafe.Pointer(dst)), unsafe.Sizeof(zero)), arg)
}
