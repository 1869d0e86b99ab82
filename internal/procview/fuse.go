package procview

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The FUSE wire protocol: the structures of include/uapi/linux/fuse.h that this file
// system reads and writes, field for field. The kernel lays every structure out so
// that a 64-bit field sits at a multiple of 8 with explicit padding ("Make sure all
// structures are padded to 64bit boundary, so 32bit userspace works under 64bit
// kernels"), so Go lays them out alike on every GOARCH; TestWireLayout checks sizes and
// offsets against the numbers of the header. Integers are in the host's byte order.

// inHeader is struct fuse_in_header, which starts every request.
type inHeader struct {
	Len         uint32
	Opcode      uint32
	Unique      uint64
	NodeID      uint64
	UID         uint32
	GID         uint32
	PID         uint32
	TotalExtlen uint16
	Padding     uint16
}

// outHeader is struct fuse_out_header, which starts every reply. Error is a negated
// errno; in a notification, it holds the notification's code.
type outHeader struct {
	Len    uint32
	Error  int32
	Unique uint64
}

// initIn is struct fuse_init_in. Kernels before protocol 7.36 send its first four
// fields only.
type initIn struct {
	Major        uint32
	Minor        uint32
	MaxReadahead uint32
	Flags        uint32
	Flags2       uint32
	Unused       [11]uint32
}

// initOut is struct fuse_init_out (protocol 7.23 and later; a kernel of an older
// protocol takes its first 24 bytes, FUSE_COMPAT_22_INIT_OUT_SIZE).
type initOut struct {
	Major               uint32
	Minor               uint32
	MaxReadahead        uint32
	Flags               uint32
	MaxBackground       uint16
	CongestionThreshold uint16
	MaxWrite            uint32
	TimeGran            uint32
	MaxPages            uint16
	MapAlignment        uint16
	Flags2              uint32
	Unused              [7]uint32
}

// attr is struct fuse_attr.
type attr struct {
	Ino       uint64
	Size      uint64
	Blocks    uint64
	Atime     uint64
	Mtime     uint64
	Ctime     uint64
	Atimensec uint32
	Mtimensec uint32
	Ctimensec uint32
	Mode      uint32
	Nlink     uint32
	UID       uint32
	GID       uint32
	Rdev      uint32
	Blksize   uint32
	Flags     uint32
}

// attrOut is struct fuse_attr_out, the reply to GETATTR.
type attrOut struct {
	AttrValid     uint64 // how long the kernel may keep the attributes, in seconds
	AttrValidNsec uint32
	Dummy         uint32
	Attr          attr
}

// openIn is struct fuse_open_in.
type openIn struct {
	Flags     uint32 // open(2)'s flags
	OpenFlags uint32
}

// openOut is struct fuse_open_out, the reply to OPEN.
type openOut struct {
	FH        uint64
	OpenFlags uint32 // FOPEN_*
	BackingID int32
}

// readIn is struct fuse_read_in.
type readIn struct {
	FH        uint64
	Offset    uint64
	Size      uint32
	ReadFlags uint32
	LockOwner uint64
	Flags     uint32
	Padding   uint32
}

// releaseIn is struct fuse_release_in.
type releaseIn struct {
	FH           uint64
	Flags        uint32
	ReleaseFlags uint32
	LockOwner    uint64
}

// interruptIn is struct fuse_interrupt_in: the request the kernel asks to interrupt.
type interruptIn struct {
	Unique uint64
}

// kstatfs is struct fuse_kstatfs, the reply to STATFS (struct fuse_statfs_out).
type kstatfs struct {
	Blocks  uint64
	Bfree   uint64
	Bavail  uint64
	Files   uint64
	Ffree   uint64
	Bsize   uint32
	Namelen uint32
	Frsize  uint32
	Padding uint32
	Spare   [6]uint32
}

// Operation codes (enum fuse_opcode) and flags this file system uses.
const (
	opGetattr     = 3
	opForget      = 2 // no reply
	opOpen        = 14
	opRead        = 15
	opStatfs      = 17
	opRelease     = 18
	opFlush       = 25
	opInit        = 26
	opInterrupt   = 36 // no reply, see handle
	opDestroy     = 38
	opBatchForget = 42 // no reply

	kernelVersion = 7  // FUSE_KERNEL_VERSION
	ourMinor      = 31 // the protocol minor this server speaks: nothing it uses is newer
	compatMinor   = 23 // the first minor with the 64-byte fuse_init_out
	compatInitOut = 24 // FUSE_COMPAT_22_INIT_OUT_SIZE

	fopenDirectIO = 1 << 0 // FOPEN_DIRECT_IO: read(2) goes to the server, whatever the size
	readLockOwner = 1 << 1 // FUSE_READ_LOCKOWNER: a READ names its lock owner

	rootID = 1 // FUSE_ROOT_ID: each connection's file system is one file, its root

	// A read of /dev/fuse must have room for any request: FUSE_MIN_READ_BUFFER (8 KiB)
	// or more. The largest this file system gets are far smaller (no writes).
	readBuffer = 64 << 10
	// The most a READ reply carries: the kernel asks for at most max_pages pages
	// (FUSE_DEFAULT_MAX_PAGES_PER_REQ, 32, as INIT does not set FUSE_MAX_PAGES); a
	// larger request gets a short reply, which the kernel takes as it takes any.
	maxReadReply = 32 << 12
)

var (
	sizeofInHeader  = int(unsafe.Sizeof(inHeader{}))
	sizeofOutHeader = int(unsafe.Sizeof(outHeader{}))
)

// A buffer holds one message: a request read from /dev/fuse or a reply to write. It
// is made of uint64s, so that the structures above can be read and written in place
// at any offset that is a multiple of 8, as every one of them is.
type buffer []byte

func newBuffer(n int) buffer {
	words := make([]uint64, (n+7)/8)
	// SAFETY: words is n rounded up to 8 bytes long, live as long as the slice, and
	// any byte pattern is a valid uint64.
	return unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)
}

// at returns a pointer to a T at offset off of b, or nil if b is too short. off must
// be a multiple of 8.
func at[T any](b []byte, off int) *T {
	var zero T
	if off%8 != 0 || off < 0 || off+int(unsafe.Sizeof(zero)) > len(b) {
		return nil
	}
	// SAFETY: b[off:] holds the whole T (checked above); b is a buffer, 8-byte
	// aligned, and off a multiple of 8, so the T is aligned too; every T here is made
	// of fixed-size integers, for which any byte pattern is valid.
	return (*T)(unsafe.Pointer(&b[off]))
}

// request decodes the header of the request in b, or returns nil if b is shorter than
// one.
func request(b []byte) *inHeader { return at[inHeader](b, 0) }

// body returns the request's argument of type T, or nil if the request is too short to
// hold one. Arguments follow the header.
func body[T any](req []byte) *T { return at[T](req, sizeofInHeader) }

// reply starts a reply to unique in out with an n-byte argument and error errno
// (0 for none), and returns the whole message, the argument zeroed. out must have
// room for it.
func reply(out buffer, unique uint64, errno unix.Errno, n int) []byte {
	msg := out[:sizeofOutHeader+n]
	clear(msg[sizeofOutHeader:])
	*at[outHeader](msg, 0) = outHeader{Len: uint32(len(msg)), Error: -int32(errno), Unique: unique}
	return msg
}

// replyArg is reply for an argument of type T, which it returns for the caller to
// fill in.
func replyArg[T any](out buffer, unique uint64) ([]byte, *T) {
	var zero T
	msg := reply(out, unique, 0, int(unsafe.Sizeof(zero)))
	return msg, at[T](msg, sizeofOutHeader)
}

// openDevice opens /dev/fuse for a new connection. Non-blocking: a request can vanish
// between poll(2) saying so and the read (its process was killed while it was
// queued), and the read must then answer EAGAIN rather than wait for the next request
// of that one connection while the others wait for the server.
func openDevice() (int, error) {
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: "/dev/fuse", Err: err}
	}
	return fd, nil
}
