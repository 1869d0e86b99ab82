package procview

import (
	"slices"
	"strings"
	"testing"

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
SwapTotal:       1000000 kB
SwapFree:        1000000 kB
`

func TestMeminfo(t *testing.T) {
	st := Stats{MemLimit: 64 << 20, MemUsage: 20 << 20, MemStat: map[string]uint64{
		"file": 4 << 20, "shmem": 3 << 20, "active_anon": 1 << 20, "active_file": 2 << 20}}
	got := string(meminfo([]byte(hostMeminfo), st))
	for _, want := range []string{
		"MemTotal:          65536 kB\n", "MemFree:           45056 kB\n", "MemAvailable:      45056 kB\n",
		"Cached:             4096 kB\n", "Shmem:              3072 kB\n", "Active:             3072 kB\n",
		"SwapTotal:             0 kB\n", "SwapFree:              0 kB\n", "Buffers:               0 kB\n",
		"Slab:              90000 kB\n", // the kernel's own, passed through
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
	if got := string(meminfo([]byte(hostMeminfo), st)); !strings.Contains(got, "MemFree:               0 kB") {
		t.Errorf("usage above the limit: %s", got)
	}
}

func TestCPUFiles(t *testing.T) {
	host := "processor\t: 0\nmodel name\t: A\n\nprocessor\t: 1\nmodel name\t: B\n\nprocessor\t: 2\nmodel name\t: C\n"
	st := Stats{CPUs: []int{1, 2}, CPUUser: []uint64{2e9, 0}, CPUSys: []uint64{1e9, 5e8}, Uptime: 10, Boot: 1700000000}
	if got, want := string(cpuinfo([]byte(host), st)), "processor\t: 0\nmodel name\t: B\n\nprocessor\t: 1\nmodel name\t: C\n\n"; got != want {
		t.Errorf("cpuinfo = %q, want %q", got, want)
	}
	if got := string(online(st)); got != "0-1\n" {
		t.Errorf("online = %q, want 0-1", got)
	}
	if got := string(online(Stats{CPUs: []int{3}})); got != "0\n" {
		t.Errorf("online with one CPU = %q, want 0", got)
	}
	hostStat := "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 1 1 1 1 1 1 1 1 1\nintr 5 6\nctxt 99\nbtime 1600000000\nprocesses 7\n"
	got := string(stat([]byte(hostStat), st))
	for _, want := range []string{"cpu  200 0 150 1650 0", "cpu0 200 0 100 700 0", "cpu1 0 0 50 950 0", "intr 5 6\n", "ctxt 99\n", "btime 1700000000\n", "processes 7\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("stat lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "1600000000") {
		t.Errorf("stat kept the host's boot time:\n%s", got)
	}
	if got, want := string(uptime(st)), "10.00 16.50\n"; got != want {
		t.Errorf("uptime = %q, want %q", got, want)
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

// request builds a FUSE request: struct fuse_in_header, then body.
func request(op uint32, unique, node uint64, body []byte) []byte {
	b := make([]byte, inHeaderSize+len(body))
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint32(b[4:], op)
	ne.PutUint64(b[8:], unique)
	ne.PutUint64(b[16:], node)
	copy(b[inHeaderSize:], body)
	return b
}

// TestProtocol drives a connection's request handler without a kernel: the replies'
// sizes are those of linux/fuse.h, and what a container could send wrongly (writes,
// unknown nodes, short requests) is refused.
func TestProtocol(t *testing.T) {
	c := &conn{fd: -1, open: map[uint64]*handle{}, gen: func() []byte { return []byte("MemTotal: 1 kB\n") }}
	errno := func(reply []byte) int32 { return int32(ne.Uint32(reply[4:])) }

	init := make([]byte, 16)
	ne.PutUint32(init[0:], 7)
	ne.PutUint32(init[4:], 40)
	r := c.handle(request(opInit, 1, 0, init), nil)
	if len(r) != outHeader+initOutSize || errno(r) != 0 || ne.Uint32(r[outHeader:]) != 7 || ne.Uint32(r[outHeader+4:]) != 31 {
		t.Errorf("INIT reply %d bytes, error %d, version %d.%d", len(r), errno(r), ne.Uint32(r[outHeader:]), ne.Uint32(r[outHeader+4:]))
	}
	if r := c.handle(request(opGetattr, 2, rootID, make([]byte, 16)), nil); len(r) != outHeader+16+attrSize ||
		ne.Uint32(r[outHeader+16+60:])&unix.S_IFMT != unix.S_IFREG {
		t.Errorf("GETATTR of the root: %d bytes, mode %#o", len(r), ne.Uint32(r[outHeader+16+60:]))
	}
	if r := c.handle(request(opGetattr, 3, 7, nil), nil); errno(r) != -int32(unix.ENOENT) {
		t.Errorf("GETATTR of a node that does not exist: error %d, want ENOENT", errno(r))
	}
	wr := make([]byte, 8)
	ne.PutUint32(wr, unix.O_RDWR)
	if r := c.handle(request(opOpen, 4, rootID, wr), nil); errno(r) != -int32(unix.EROFS) {
		t.Errorf("OPEN for writing: error %d, want EROFS", errno(r))
	}
	r = c.handle(request(opOpen, 6, rootID, make([]byte, 8)), nil)
	fh := ne.Uint64(r[outHeader:])
	if len(r) != outHeader+16 || ne.Uint32(r[outHeader+8:])&fopenDirectIO == 0 {
		t.Errorf("OPEN: %d bytes, flags %#x", len(r), ne.Uint32(r[outHeader+8:]))
	}
	if r := c.handle(request(opGetattr, 7, rootID, nil), nil); ne.Uint64(r[outHeader+16+8:]) != 15 {
		t.Errorf("GETATTR after an open: size %d, want the content's 15", ne.Uint64(r[outHeader+16+8:]))
	}
	read := make([]byte, 40)
	ne.PutUint64(read[0:], fh)
	ne.PutUint64(read[8:], 4)
	ne.PutUint32(read[16:], 5)
	if r := c.handle(request(opRead, 8, rootID, read), nil); string(r[outHeader:]) != "otal:" {
		t.Errorf("READ 5 bytes at 4 = %q", r[outHeader:])
	}
	if r := c.handle(request(opRead, 9, rootID, read[:10]), nil); errno(r) != -int32(unix.EINVAL) {
		t.Errorf("a short READ request: error %d, want EINVAL", errno(r))
	}
	ne.PutUint64(read[0:], fh+100)
	if r := c.handle(request(opRead, 10, rootID, read), nil); errno(r) != -int32(unix.EBADF) {
		t.Errorf("READ of an unknown handle: error %d, want EBADF", errno(r))
	}
	if r := c.handle(request(opRelease, 11, rootID, read[:24]), nil); errno(r) != 0 || len(c.open) != 1 {
		t.Errorf("RELEASE of an unknown handle: error %d, %d handles left", errno(r), len(c.open))
	}
	if r := c.handle(request(opForget, 12, rootID, nil), nil); r != nil {
		t.Error("FORGET got a reply")
	}
	if r := c.handle(request(1 /* LOOKUP */, 13, rootID, []byte("x\x00")), nil); errno(r) != -int32(unix.ENOSYS) {
		t.Errorf("LOOKUP in a one-file file system: error %d, want ENOSYS", errno(r))
	}
}
