package procview

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const hostMeminfo = `MemTotal:       24683620 kB
MemFree:        22458620 kB
MemAvailable:   23000000 kB
Buffers:           10000 kB
Cached:           250000 kB
SwapCached:            0 kB
Active:           500000 kB
Inactive:         400000 kB
Shmem:              8000 kB
Slab:              90000 kB
SReclaimable:      60000 kB
VmallocTotal:   34359738367 kB
SwapTotal:       1000000 kB
SwapFree:        1000000 kB
`

func TestMeminfo(t *testing.T) {
	st := Stats{MemLimit: 64 << 20, MemUsage: 20 << 20, Mem: MemStat{File: 4 << 20, Shmem: 3 << 20, ActiveAnon: 1 << 20, ActiveFile: 2 << 20,
		SlabReclaimable: 1 << 20, SlabUnreclaimable: 2 << 20}}
	got := string(meminfo(nil, []byte(hostMeminfo), &st))
	for _, want := range []string{
		"MemTotal:          65536 kB\n", "MemFree:           45056 kB\n", "MemAvailable:      45056 kB\n",
		"Cached:             4096 kB\n", "Shmem:              3072 kB\n", "Active:             3072 kB\n",
		"SwapTotal:             0 kB\n", "SwapFree:              0 kB\n", "Buffers:               0 kB\n",
		"Slab:               3072 kB\n", "SReclaimable:       1024 kB\n", // the container's, as free(1) counts them
		"VmallocTotal:   34359738367 kB\n", // the kernel's own, passed through
	} {
		if !strings.Contains(got, want) {
			t.Errorf("meminfo lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "\n") != strings.Count(hostMeminfo, "\n") {
		t.Errorf("meminfo has %d lines, the host's %d", strings.Count(got, "\n"), strings.Count(hostMeminfo, "\n"))
	}
	// Usage above the limit (possible for a moment): nothing free, never negative.
	st.MemUsage = 70 << 20
	if got := string(meminfo(nil, []byte(hostMeminfo), &st)); !strings.Contains(got, "MemFree:               0 kB") {
		t.Errorf("usage above the limit: %s", got)
	}
	// A number wider than its 8 columns pushes the unit right, as the kernel's does.
	st.MemLimit = 1 << 40
	if got := string(meminfo(nil, []byte(hostMeminfo), &st)); !strings.Contains(got, "MemTotal:       1073741824 kB\n") {
		t.Errorf("a 1 TiB limit: %s", got)
	}
}

func TestMemoryStat(t *testing.T) {
	for _, tt := range []struct {
		name, data string
		v2         bool
		want       MemStat
	}{
		{"v2", "anon 4096\nfile 8192\nshmem 1\nfile_mapped 2\nactive_file 3\nkernel 99\n", true,
			MemStat{Anon: 4096, File: 8192, Shmem: 1, FileMapped: 2, ActiveFile: 3}},
		// v1: the total_ counters (the whole subtree), not the cgroup's own.
		{"v1", "cache 1\nrss 2\ntotal_cache 10\ntotal_rss 20\ntotal_shmem 30\ntotal_mapped_file 40\ntotal_inactive_anon 50\n", false,
			MemStat{File: 10, Anon: 20, Shmem: 30, FileMapped: 40, InactiveAnon: 50}},
		{"garbage", "file\nfile x\n\n file 1\n", true, MemStat{}},
	} {
		var got MemStat
		parseMemStat(&got, []byte(tt.data), tt.v2)
		if got != tt.want {
			t.Errorf("%s: parseMemStat(%q) = %+v, want %+v", tt.name, tt.data, got, tt.want)
		}
	}
}

func TestCPUFiles(t *testing.T) {
	host := "processor\t: 0\nmodel name\t: A\n\nprocessor\t: 1\nmodel name\t: B\n\nprocessor\t: 2\nmodel name\t: C\n"
	st := Stats{CPUs: []int{1, 2}, CPUUser: []uint64{2e9, 0}, CPUSys: []uint64{1e9, 5e8}, Uptime: 10, Boot: 1700000000}
	if got, want := string(cpuinfo(nil, []byte(host), &st)), "processor\t: 0\nmodel name\t: B\n\nprocessor\t: 1\nmodel name\t: C\n\n"; got != want {
		t.Errorf("cpuinfo = %q, want %q", got, want)
	}
	if got := string(online(nil, &st)); got != "0-1\n" {
		t.Errorf("online = %q, want 0-1", got)
	}
	if got := string(online(nil, &Stats{CPUs: []int{3}})); got != "0\n" {
		t.Errorf("online with one CPU = %q, want 0", got)
	}
	hostStat := "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 1 1 1 1 1 1 1 1 1\nintr 5 6\nctxt 99\nbtime 1600000000\nprocesses 7\n"
	got := string(stat(nil, []byte(hostStat), &st))
	want := "cpu  200 0 150 1650 0 0 0 0 0 0\ncpu0 200 0 100 700 0 0 0 0 0 0\ncpu1 0 0 50 950 0 0 0 0 0 0\n" +
		"intr 5 6\nctxt 99\nbtime 1700000000\nprocesses 7\n"
	if got != want {
		t.Errorf("stat = %q, want %q", got, want)
	}
	if got, want := string(uptime(nil, &st)), "10.00 16.50\n"; got != want {
		t.Errorf("uptime = %q, want %q", got, want)
	}
	hs := hostStats{Stats: st, index: []int{-1, 0, 1}}
	out := make([]uint64, 2)
	hs.perCPU([]byte("5 6 7 8\n"), out)
	// Host CPUs 0 and 3 are hidden (by --cpus): their time counts on a visible one.
	if !slices.Equal(out, []uint64{6 + 5, 7 + 8}) {
		t.Errorf("usage of host CPUs 1 and 2 of \"5 6 7 8\", 0 and 3 folded in = %v, want [11 15]", out)
	}
}

func TestParseCPUList(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []int
		ok   bool
	}{
		{"0", []int{0}, true}, {"0-2,4", []int{0, 1, 2, 4}, true}, {"3,1,3", []int{3, 1}, true},
		{"", nil, false}, {"a", nil, false}, {"2-1", nil, false}, {"-1", nil, false}, {"0-99999", nil, false},
		{"4095", []int{4095}, true}, {"4096", nil, false}, {"9223372036854775807", nil, false}, // once an endless loop
	} {
		got, err := ParseCPUList(tt.in)
		if (err == nil) != tt.ok || (tt.ok && !slices.Equal(got, tt.want)) {
			t.Errorf("ParseCPUList(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestWireLayout checks the Go structures of fuse.go against the kernel's ABI. The
// numbers are those of include/uapi/linux/fuse.h (Linux 6.1, protocol 7.38; none of
// these structures has changed size since protocol 7.23), worked out from its fields:
// they are the kernel's, not the code's.
func TestWireLayout(t *testing.T) {
	for _, tt := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"sizeof(struct fuse_in_header)", unsafe.Sizeof(inHeader{}), 40},
		{"sizeof(struct fuse_out_header)", unsafe.Sizeof(outHeader{}), 16},
		{"sizeof(struct fuse_init_in)", unsafe.Sizeof(initIn{}), 64},
		{"sizeof(struct fuse_init_out)", unsafe.Sizeof(initOut{}), 64},
		{"sizeof(struct fuse_attr)", unsafe.Sizeof(attr{}), 88},
		{"sizeof(struct fuse_attr_out)", unsafe.Sizeof(attrOut{}), 104},
		{"sizeof(struct fuse_open_in)", unsafe.Sizeof(openIn{}), 8},
		{"sizeof(struct fuse_open_out)", unsafe.Sizeof(openOut{}), 16},
		{"sizeof(struct fuse_read_in)", unsafe.Sizeof(readIn{}), 40},
		{"sizeof(struct fuse_release_in)", unsafe.Sizeof(releaseIn{}), 24},
		{"sizeof(struct fuse_interrupt_in)", unsafe.Sizeof(interruptIn{}), 8},
		{"sizeof(struct fuse_kstatfs)", unsafe.Sizeof(kstatfs{}), 80},
		{"offsetof(struct fuse_in_header, nodeid)", unsafe.Offsetof(inHeader{}.NodeID), 16},
		{"offsetof(struct fuse_in_header, pid)", unsafe.Offsetof(inHeader{}.PID), 32},
		{"offsetof(struct fuse_init_out, max_background)", unsafe.Offsetof(initOut{}.MaxBackground), 16},
		{"offsetof(struct fuse_init_out, max_write)", unsafe.Offsetof(initOut{}.MaxWrite), 20},
		{"offsetof(struct fuse_init_out, flags2)", unsafe.Offsetof(initOut{}.Flags2), 32},
		{"offsetof(struct fuse_attr, mode)", unsafe.Offsetof(attr{}.Mode), 60},
		{"offsetof(struct fuse_attr, blksize)", unsafe.Offsetof(attr{}.Blksize), 80},
		{"offsetof(struct fuse_attr_out, attr)", unsafe.Offsetof(attrOut{}.Attr), 16},
		{"offsetof(struct fuse_open_out, open_flags)", unsafe.Offsetof(openOut{}.OpenFlags), 8},
		{"offsetof(struct fuse_read_in, size)", unsafe.Offsetof(readIn{}.Size), 16},
		{"offsetof(struct fuse_read_in, flags)", unsafe.Offsetof(readIn{}.Flags), 32},
		{"offsetof(struct fuse_kstatfs, bsize)", unsafe.Offsetof(kstatfs{}.Bsize), 40},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}

var ne = binary.NativeEndian

// msg builds a FUSE request as the kernel lays it out (fuse.h): struct fuse_in_header
// (40 bytes: len, opcode, unique, nodeid, uid, gid, pid at 32, ...) and the argument,
// from thread pid.
func msgFrom(pid uint32, op uint32, unique, node uint64, arg []byte) []byte {
	b := newBuffer(40 + len(arg))[:40+len(arg)]
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint32(b[4:], op)
	ne.PutUint64(b[8:], unique)
	ne.PutUint64(b[16:], node)
	ne.PutUint32(b[32:], pid)
	copy(b[40:], arg)
	return b
}

// msg is msgFrom thread 42.
func msg(op uint32, unique, node uint64, arg []byte) []byte {
	return msgFrom(42, op, unique, node, arg)
}

// Kinds of READ: read(2), which names its lock owner, and the kernel's own into the
// page cache (sendfile, splice, mmap), which does not (read_flags,
// FUSE_READ_LOCKOWNER = 1 << 1).
const (
	direct = 2
	cached = 0
)

// readArg is a struct fuse_read_in: fh, offset, size, read_flags at 20, then 16 bytes
// the server ignores.
func readArg(fh, off uint64, size uint32, flags uint32) []byte {
	b := make([]byte, 40)
	ne.PutUint64(b[0:], fh)
	ne.PutUint64(b[8:], off)
	ne.PutUint32(b[16:], size)
	ne.PutUint32(b[20:], flags)
	return b
}

// testConn is a connection whose content is gen's and whose clock is *clock.
func testConn(gen func([]byte) []byte, clock *time.Time) *conn {
	c := newConn(-1, gen)
	c.now = func() time.Time { return *clock }
	return c
}

// TestProtocol drives a connection's request handler without a kernel, with requests
// laid out as fuse.h says, and reads the replies at the offsets fuse.h gives: the
// reply's length, error and unique (struct fuse_out_header, 16 bytes), then its
// argument. What a container could send wrongly (writes, unknown nodes and handles,
// short requests) is refused.
func TestProtocol(t *testing.T) {
	clock := time.Unix(1e9, 0)
	content := "MemTotal: 1 kB\n"
	c := testConn(func(dst []byte) []byte { return append(dst, content...) }, &clock)
	out := newBuffer(16 + maxReadReply)
	errno := func(r []byte) int32 { return int32(ne.Uint32(r[4:])) }
	check := func(what string, r []byte, unique uint64, wantLen int, wantErr unix.Errno) {
		t.Helper()
		switch {
		case r == nil:
			t.Errorf("%s: no reply", what)
		case len(r) != wantLen || int(ne.Uint32(r[0:])) != wantLen:
			t.Errorf("%s: reply of %d bytes saying %d, want %d", what, len(r), ne.Uint32(r[0:]), wantLen)
		case errno(r) != -int32(wantErr):
			t.Errorf("%s: error %d, want %d (%v)", what, errno(r), -int32(wantErr), wantErr)
		case ne.Uint64(r[8:]) != unique:
			t.Errorf("%s: reply to %d, want %d", what, ne.Uint64(r[8:]), unique)
		}
	}

	// INIT (struct fuse_init_in: major, minor, max_readahead, flags, ...; the reply a
	// struct fuse_init_out of 64 bytes). A kernel of protocol 7.40 gets 7.31 back.
	init := make([]byte, 64)
	ne.PutUint32(init[0:], 7)
	ne.PutUint32(init[4:], 40)
	ne.PutUint32(init[8:], 128<<10)
	r := c.handle(msg(26, 1, 0, init), out)
	check("INIT", r, 1, 16+64, 0)
	if ne.Uint32(r[16:]) != 7 || ne.Uint32(r[20:]) != 31 || ne.Uint32(r[24:]) != 128<<10 || ne.Uint32(r[28:]) != 0 {
		t.Errorf("INIT reply: version %d.%d, max_readahead %d, flags %#x", ne.Uint32(r[16:]), ne.Uint32(r[20:]), ne.Uint32(r[24:]), ne.Uint32(r[28:]))
	}
	// A kernel before 7.36 sends only 16 bytes; one before 7.23 takes a 24-byte reply.
	r = c.handle(msg(26, 2, 0, init[:16]), out)
	check("INIT from a 7.40 kernel in 16 bytes", r, 2, 16+64, 0)
	ne.PutUint32(init[4:], 22)
	r = c.handle(msg(26, 3, 0, init[:16]), out)
	check("INIT from a 7.22 kernel", r, 3, 16+24, 0)
	ne.PutUint32(init[0:], 6)
	check("INIT of protocol 6", c.handle(msg(26, 4, 0, init[:16]), out), 4, 16, unix.EPROTO)

	// GETATTR (struct fuse_attr_out, 104 bytes: attr_valid, attr_valid_nsec, dummy,
	// then struct fuse_attr: ino, size, ..., mode at 60, nlink at 64).
	r = c.handle(msg(3, 5, 1, make([]byte, 16)), out)
	check("GETATTR", r, 5, 16+104, 0)
	attr := r[16+16:]
	if valid, ino, size, mode, nlink := ne.Uint64(r[16:]), ne.Uint64(attr[0:]), ne.Uint64(attr[8:]), ne.Uint32(attr[60:]), ne.Uint32(attr[64:]); valid != 0 || ino != 1 || size != uint64(len(content)) ||
		mode != unix.S_IFREG|0o444 || nlink != 1 {
		t.Errorf("GETATTR: attr_valid %d, ino %d, size %d, mode %#o, nlink %d; want 0, 1, %d, %#o, 1", valid, ino, size, mode, nlink, len(content), unix.S_IFREG|0o444)
	}
	check("GETATTR of a node that does not exist", c.handle(msg(3, 6, 7, nil), out), 6, 16, unix.ENOENT)

	// OPEN (struct fuse_open_in: flags, open_flags; struct fuse_open_out: fh,
	// open_flags, backing_id; 16 bytes).
	wr := make([]byte, 8)
	ne.PutUint32(wr, unix.O_RDWR)
	check("OPEN for writing", c.handle(msg(14, 7, 1, wr), out), 7, 16, unix.EROFS)
	check("OPEN with a short argument", c.handle(msg(14, 8, 1, nil), out), 8, 16, unix.EINVAL)
	r = c.handle(msg(14, 9, 1, make([]byte, 8)), out)
	check("OPEN", r, 9, 16+16, 0)
	fh := ne.Uint64(r[16:])
	if flags := ne.Uint32(r[24:]); flags != 1 /* FOPEN_DIRECT_IO, without FOPEN_KEEP_CACHE */ {
		t.Errorf("OPEN: open_flags %#x, want FOPEN_DIRECT_IO alone", flags)
	}

	// READ (struct fuse_read_in: fh, offset, size at 16, ...): the data after the
	// header, short at the end of the content.
	r = c.handle(msg(15, 10, 1, readArg(fh, 4, 5, direct)), out)
	check("READ 5 bytes at 4", r, 10, 16+5, 0)
	if string(r[16:]) != "otal:" {
		t.Errorf("READ 5 bytes at 4 = %q, want %q", r[16:], "otal:")
	}
	check("READ past the end", c.handle(msg(15, 11, 1, readArg(fh, 100, 4096, direct)), out), 11, 16, 0)
	check("a short READ request", c.handle(msg(15, 12, 1, readArg(fh, 0, 5, direct)[:24]), out), 12, 16, unix.EINVAL)
	check("READ of an unknown handle", c.handle(msg(15, 13, 1, readArg(fh+100, 0, 5, direct)), out), 13, 16, unix.EBADF)

	// RELEASE (struct fuse_release_in: fh, flags, release_flags, lock_owner; 24 bytes).
	rel := make([]byte, 24)
	ne.PutUint64(rel, fh+100)
	check("RELEASE of an unknown handle", c.handle(msg(18, 14, 1, rel), out), 14, 16, 0)
	if c.file(fh) == nil {
		t.Error("RELEASE of an unknown handle closed another")
	}
	ne.PutUint64(rel, fh)
	check("RELEASE", c.handle(msg(18, 15, 1, rel), out), 15, 16, 0)
	check("READ after RELEASE", c.handle(msg(15, 16, 1, readArg(fh, 0, 5, direct)), out), 16, 16, unix.EBADF)

	// STATFS (struct fuse_kstatfs, 80 bytes, bsize at 40, namelen at 44).
	r = c.handle(msg(17, 17, 1, nil), out)
	check("STATFS", r, 17, 16+80, 0)
	if ne.Uint32(r[16+40:]) != 4096 || ne.Uint32(r[16+44:]) != 255 {
		t.Errorf("STATFS: bsize %d, namelen %d", ne.Uint32(r[16+40:]), ne.Uint32(r[16+44:]))
	}
	// FLUSH gets ENOSYS, so that the kernel stops sending it.
	check("FLUSH", c.handle(msg(25, 18, 1, make([]byte, 24)), out), 18, 16, unix.ENOSYS)
	for _, tt := range []struct {
		name string
		op   uint32
		arg  []byte
	}{{"FORGET", 2, make([]byte, 8)}, {"BATCH_FORGET", 42, make([]byte, 8)}, {"INTERRUPT", 36, make([]byte, 8)}} {
		if r := c.handle(msg(tt.op, 19, 1, tt.arg), out); r != nil {
			t.Errorf("%s got a reply: %x", tt.name, r)
		}
	}
	check("LOOKUP in a one-file file system", c.handle(msg(1, 20, 1, []byte("x\x00")), out), 20, 16, unix.ENOSYS)
	if r := c.handle(make([]byte, 39), out); r != nil {
		t.Errorf("a request shorter than its header got a reply: %x", r)
	}
}

// open opens c's file as the kernel does, GETATTR then OPEN, and returns the size
// GETATTR reported and the handle.
func open(t *testing.T, c *conn, out buffer) (size, fh uint64) {
	t.Helper()
	r := c.handle(msg(3, 1, 1, make([]byte, 16)), out)
	size = ne.Uint64(r[16+16+8:])
	r = c.handle(msg(14, 2, 1, make([]byte, 8)), out)
	if int32(ne.Uint32(r[4:])) != 0 {
		t.Fatalf("OPEN: error %d", int32(ne.Uint32(r[4:])))
	}
	return size, ne.Uint64(r[16:])
}

// read reads n bytes at off of handle fh with read(2).
func read(c *conn, out buffer, fh, off uint64, n uint32) string {
	return readAs(c, out, fh, off, n, direct)
}

// readAs is read with a READ of kind flags.
func readAs(c *conn, out buffer, fh, off uint64, n uint32, flags uint32) string {
	r := c.handle(msg(15, 3, 1, readArg(fh, off, n, flags)), out)
	if int32(ne.Uint32(r[4:])) != 0 {
		return "error " + unix.Errno(-int32(ne.Uint32(r[4:]))).Error()
	}
	return string(r[16:])
}

// TestSnapshots: what each open file reads, and what the server holds.
func TestSnapshots(t *testing.T) {
	clock := time.Unix(1e9, 0)
	looks := 0
	c := testConn(func(dst []byte) []byte {
		looks++
		return append(dst, strings.Repeat("x", looks)+"\n"...) // each look one byte longer
	}, &clock)
	out := newBuffer(16 + maxReadReply)

	// With no file open, GETATTR's size is the length of what the next open reads,
	// taken fresh.
	size, a := open(t, c, out)
	if got := read(c, out, a, 0, 100); size != 2 || got != "x\n" {
		t.Errorf("first open: size %d, read %q; want 2, %q", size, got, "x\n")
	}
	// Within a millisecond, another open reads the same content.
	clock = clock.Add(freshFor / 2)
	if size, b := open(t, c, out); size != 2 || read(c, out, b, 0, 100) != "x\n" || looks != 1 {
		t.Errorf("an open within %v: size %d, %d looks, want 2 and 1", freshFor, size, looks)
	}
	// Later, a new look; the file opened before keeps its own, whole, however small
	// its reads. While files are open, GETATTR's size stays that of the content
	// read through the page cache.
	clock = clock.Add(freshFor)
	size, b := open(t, c, out)
	if got := read(c, out, b, 0, 100); size != 2 || got != "xx\n" {
		t.Errorf("an open later: size %d, read %q; want 2 (the first content's), %q", size, got, "xx\n")
	}
	if got := read(c, out, a, 1, 1) + read(c, out, a, 2, 1); got != "\n" {
		t.Errorf("the first file, read on byte by byte: %q, want %q", got, "\n")
	}
	// A second read from 0 is a new look (top keeps the file open).
	clock = clock.Add(freshFor)
	if got := read(c, out, a, 0, 100); got != "xxx\n" {
		t.Errorf("a read from 0 again: %q, want %q", got, "xxx\n")
	}

	// Files left open hold at most maxSnapshots contents: once every buffer is held,
	// a new open reads the newest content rather than a new one.
	for range 2 * maxSnapshots {
		clock = clock.Add(freshFor)
		open(t, c, out)
	}
	held := map[*snapshot]bool{}
	for _, h := range c.handles {
		if h.snap != nil {
			held[h.snap] = true
		}
	}
	if len(held) > maxSnapshots {
		t.Errorf("open files hold %d contents, more than %d", len(held), maxSnapshots)
	}

	// At most maxHandles open files; then ENFILE, until one is closed.
	for len(c.handles) < maxHandles || len(c.free) > 0 {
		open(t, c, out)
	}
	r := c.handle(msg(14, 4, 1, make([]byte, 8)), out)
	if int32(ne.Uint32(r[4:])) != -int32(unix.ENFILE) {
		t.Errorf("open number %d: error %d, want ENFILE", maxHandles+1, int32(ne.Uint32(r[4:])))
	}
	rel := make([]byte, 24)
	ne.PutUint64(rel, 5)
	c.handle(msg(18, 5, 1, rel), out)
	if _, fh := open(t, c, out); fh != 5 {
		t.Errorf("open after a close got handle %d, want the closed one's, 5", fh)
	}
	// Closing every file gives every buffer back but the newest content's.
	for fh := range c.handles {
		ne.PutUint64(rel, uint64(fh))
		c.handle(msg(18, 6, 1, rel), out)
	}
	refs := 0
	for i := range c.snaps {
		refs += c.snaps[i].refs
	}
	if refs != 2 { // cur and told
		t.Errorf("%d references left once every file is closed, want 2", refs)
	}
}

// TestPageCache: what the kernel may read into its page cache (sendfile, splice,
// mmap), shared by every open file, is always as long as the size GETATTR last
// reported; any other such read is refused, and the reader falls back to read(2).
func TestPageCache(t *testing.T) {
	clock := time.Unix(1e9, 0)
	looks := 0
	c := testConn(func(dst []byte) []byte {
		looks++
		return append(dst, strings.Repeat("x", looks)+"\n"...)
	}, &clock)
	out := newBuffer(16 + maxReadReply)
	getattr := func(pid uint32) uint64 {
		return ne.Uint64(c.handle(msgFrom(pid, 3, 1, 1, make([]byte, 16)), out)[16+16+8:])
	}
	openAs := func(pid uint32) uint64 {
		return ne.Uint64(c.handle(msgFrom(pid, 14, 2, 1, make([]byte, 8)), out)[16:])
	}
	closeFile := func(fh uint64) {
		rel := make([]byte, 24)
		ne.PutUint64(rel, fh)
		c.handle(msg(18, 3, 1, rel), out)
	}
	refused := "error " + unix.EINVAL.Error()

	// The opener's GETATTR right before its OPEN told the length of what it reads.
	if size := getattr(7); size != 2 {
		t.Fatalf("GETATTR: size %d, want 2", size)
	}
	a := openAs(7)
	if got := readAs(c, out, a, 0, 4096, cached); got != "x\n" {
		t.Errorf("a read into the page cache after the opener's GETATTR: %q, want %q", got, "x\n")
	}
	// While it is open, the size stays, and what another open reads (fresh, longer)
	// cannot go into the page cache; read(2) reads it whole.
	clock = clock.Add(2 * freshFor)
	if size := getattr(8); size != 2 {
		t.Errorf("GETATTR while a file is open: size %d, want 2", size)
	}
	b := openAs(8)
	if got := readAs(c, out, b, 0, 4096, cached); got != refused {
		t.Errorf("a read into the page cache of another content: %q, want EINVAL", got)
	}
	if got := read(c, out, b, 0, 4096); got != "xx\n" {
		t.Errorf("read(2) of it: %q, want %q", got, "xx\n")
	}
	closeFile(a)
	closeFile(b)
	// With no file open, GETATTR tells a new length.
	if size := getattr(7); size != 3 {
		t.Errorf("GETATTR once every file is closed: size %d, want 3", size)
	}
	a = openAs(7)
	if got := readAs(c, out, a, 0, 4096, cached); got != "xx\n" {
		t.Errorf("a read into the page cache of the new content: %q, want %q", got, "xx\n")
	}
	closeFile(a)

	// Not the opener's GETATTR right before the OPEN: another thread's came between,
	// or none; or a thread outside the container (pid 0).
	for _, tt := range []struct {
		name  string
		steps func() uint64
	}{
		{"another thread's GETATTR between", func() uint64 { getattr(7); getattr(9); return openAs(7) }},
		{"another request between", func() uint64 { getattr(7); c.handle(msg(17, 4, 1, nil), out); return openAs(7) }},
		{"no GETATTR", func() uint64 { return openAs(7) }},
		{"pid 0", func() uint64 { getattr(0); return openAs(0) }},
	} {
		fh := tt.steps()
		if got := readAs(c, out, fh, 0, 4096, cached); got != refused {
			t.Errorf("%s: a read into the page cache got %q, want EINVAL", tt.name, got)
		}
		closeFile(fh)
	}

	// A content older than cachedFor is no longer read into the page cache: the
	// reader falls back to read(2), whose read from 0 again is a new look.
	getattr(7)
	a = openAs(7)
	clock = clock.Add(cachedFor)
	if got := readAs(c, out, a, 0, 4096, cached); got != refused {
		t.Errorf("a read into the page cache after %v: %q, want EINVAL", cachedFor, got)
	}
}

// TestNoAllocations: once its buffers have grown, the server allocates nothing to
// answer opens, reads, new looks and closes, whatever content it computes: the
// launcher runs with the garbage collector off until its child has exec'd, and must
// not grow with the number of reads in any case.
func TestNoAllocations(t *testing.T) {
	mem, cpu := t.TempDir(), t.TempDir()
	for dir, files := range map[string]map[string]string{
		mem: {"memory.max": "67108864\n", "memory.current": "1000000\n", "memory.stat": "anon 4096\nfile 8192\nshmem 0\n"},
		cpu: {"cpu.stat": "usage_usec 100\nuser_usec 60\nsystem_usec 40\n"},
	} {
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	v := newTestView(Source{MemoryDir: mem, MemoryV2: true, CPUDir: cpu, CPUV2: true, CPUs: []int{0}, Start: time.Now()})
	defer v.closeHostFiles()
	clock := time.Now()
	out := newBuffer(16 + maxReadReply)
	getattr, open := msg(3, 1, 1, make([]byte, 16)), msg(14, 2, 1, make([]byte, 8))
	read, release := msg(15, 3, 1, readArg(0, 0, 4096, direct)), msg(18, 4, 1, make([]byte, 24))
	page := msg(15, 3, 1, readArg(0, 0, 4096, cached))
	for i, c := range v.conns {
		c.now = func() time.Time { return clock }
		round := func() {
			clock = clock.Add(2 * freshFor) // every look computes the file anew
			c.handle(getattr, out)
			fh := ne.Uint64(c.handle(open, out)[16:])
			ne.PutUint64(read[40:], fh)
			ne.PutUint64(page[40:], fh)
			ne.PutUint64(release[40:], fh)
			if r := c.handle(page, out); ne.Uint32(r[4:]) != 0 {
				t.Fatalf("%s: a read into the page cache refused", Files[i].Name)
			}
			c.handle(read, out)
			c.handle(read, out) // a new look
			c.handle(release, out)
		}
		for range 3 * maxSnapshots {
			round() // buffers grow to the files' sizes
		}
		if n := testing.AllocsPerRun(100, round); n != 0 {
			t.Errorf("%s: %.1f allocations per open, reads and close", Files[i].Name, n)
		}
	}
}

// newTestView is New without /dev/fuse: connections that only compute content.
func newTestView(src Source) *View {
	v := newView(src)
	for i := range Files {
		v.conns = append(v.conns, newConn(-1, v.generator(i)))
	}
	return v
}

// TestServeOne: a connection whose request went away (EAGAIN on its non-blocking
// descriptor) stays served; one whose descriptor is gone ends.
func TestServeOne(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[1])
	in, out := newBuffer(readBuffer), newBuffer(16+maxReadReply)
	c := newConn(p[0], func(dst []byte) []byte { return dst })
	if !c.serveOne(in, out) {
		t.Error("a read answering EAGAIN ended the connection")
	}
	unix.Close(p[0])
	if c.serveOne(in, out) {
		t.Error("a closed descriptor did not end the connection")
	}
}

// TestHostFileClose: closing the host files closes only those the view opened. A file
// the view never set up (no memory cgroup, say) has fd 0, the launcher's stdin: closing
// that took the terminal from the launcher, which could then not give it back.
func TestHostFileClose(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	unused := hostFile{fd: p[0]} // as if the descriptor number were 0
	unused.close()
	if _, err := unix.FcntlInt(uintptr(p[0]), unix.F_GETFD, 0); err != nil {
		t.Errorf("closing a host file never opened closed descriptor %d: %v", p[0], err)
	}
	f := newHostFile("/proc/self/stat")
	if len(f.read()) == 0 {
		t.Fatal("reading /proc/self/stat: nothing")
	}
	fd := f.fd
	f.close()
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("after close, descriptor %d: %v, want EBADF", fd, err)
	}
	if f.read() != nil {
		t.Error("a closed host file read again")
	}
}
