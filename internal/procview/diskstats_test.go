package procview

import (
	"path/filepath"
	"testing"
	"time"
)

// hostDiskstats is a host's /proc/diskstats (Linux 6.18): two loop devices, a disk
// and its partition, and a disk of a kernel before 4.18, with 11 counters.
const hostDiskstats = `   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
   7       1 loop1 5 0 10 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 1365779 178259 55679362 1075193 290438 482028 55201112 476586 0 238416 1606147 444204 105 56223760 51768 37228 2598
 254       1 vda1 1365000 178000 55679000 1075000 290000 482000 55201000 476000 0 238000 1606000 444000 105 56223000 51000 0 0
   8      16 sdb 1 2 3 4 5 6 7 8 9 10 11
`

// TestDiskstats: the container's counters in the kernel's columns, for the disks it
// did I/O on alone, with as many counters as the host's line has.
func TestDiskstats(t *testing.T) {
	st := Stats{IO: []DiskIO{
		{Major: 254, Minor: 0, ReadBytes: 1 << 20, WriteBytes: 3 << 20, DBytes: 4096, Reads: 16, Writes: 48, Discards: 1},
		{Major: 7, Minor: 1},              // listed by the cgroup, no I/O: left out
		{Major: 8, Minor: 16, Reads: 2},   // an old kernel's 11 columns
		{Major: 9, Minor: 0, Writes: 100}, // not in the host's file: left out
	}}
	want := " 254       0 vda 16 0 2048 0 48 0 6144 0 0 0 0 1 0 8 0 0 0\n" +
		"   8      16 sdb 2 0 0 0 0 0 0 0 0 0 0\n"
	if got := string(diskstats(nil, []byte(hostDiskstats), &st)); got != want {
		t.Errorf("diskstats = %q, want %q", got, want)
	}
	if got := string(diskstats(nil, []byte(hostDiskstats), &Stats{})); got != "" {
		t.Errorf("diskstats of a container without I/O = %q, want it empty", got)
	}
}

// TestIOStats reads a container's I/O from fake cgroups: v1's blkio throttle files
// (the recursive ones, else those of the cgroup alone) and v2's io.stat.
func TestIOStats(t *testing.T) {
	const (
		v1Bytes = "254:0 Read 1048576\n254:0 Write 2097152\n254:0 Sync 3145728\n254:0 Async 0\n254:0 Discard 8192\n254:0 Total 3153920\n" +
			"7:1 Read 0\n7:1 Write 0\n7:1 Total 0\nTotal 3153920\n"
		v1IOs = "254:0 Read 16\n254:0 Write 32\n254:0 Sync 48\n254:0 Async 0\n254:0 Discard 2\n254:0 Total 50\nTotal 50\n"
		v1Own = "254:0 Read 512\n254:0 Write 0\nTotal 512\n"
	)
	vda := DiskIO{Major: 254, Minor: 0, ReadBytes: 1 << 20, WriteBytes: 2 << 20, DBytes: 8192, Reads: 16, Writes: 32, Discards: 2}
	for _, tt := range []struct {
		name  string
		v2    bool
		files map[string]string
		want  string
	}{
		{"v1", false, map[string]string{"blkio.throttle.io_service_bytes_recursive": v1Bytes, "blkio.throttle.io_serviced_recursive": v1IOs,
			"blkio.throttle.io_service_bytes": v1Own, "blkio.throttle.io_serviced": v1Own},
			" 254       0 vda 16 0 2048 0 32 0 4096 0 0 0 0 2 0 16 0 0 0\n"},
		{"v1 before 4.16", false, map[string]string{"blkio.throttle.io_service_bytes": v1Own, "blkio.throttle.io_serviced": v1Own},
			" 254       0 vda 512 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"},
		{"v1 without accounting", false, map[string]string{"blkio.throttle.io_service_bytes_recursive": "Total 0\n",
			"blkio.throttle.io_serviced_recursive": "Total 0\n"}, ""},
		{"v2", true, map[string]string{"io.stat": "254:0 rbytes=1048576 wbytes=2097152 rios=16 wios=32 dbytes=8192 dios=2 cost.usage=7\n" +
			"7:1 rbytes=0 wbytes=0 rios=0 wios=0 dbytes=0 dios=0\n"},
			" 254       0 vda 16 0 2048 0 32 0 4096 0 0 0 0 2 0 16 0 0 0\n"},
		{"v2 without the io controller", true, nil, ""},
	} {
		dir, host := t.TempDir(), filepath.Join(t.TempDir(), "diskstats")
		write(t, host, hostDiskstats)
		for name, data := range tt.files {
			write(t, filepath.Join(dir, name), data)
		}
		v := newView(Source{IODir: dir, IOV2: tt.v2, CPUs: []int{0}})
		v.io.host = newHostFile(host)
		if got := string(v.generate(fileIndex("diskstats"), nil)); got != tt.want {
			t.Errorf("%s: /proc/diskstats = %q, want %q", tt.name, got, tt.want)
		}
		if tt.name == "v1" || tt.name == "v2" {
			if len(v.stats.IO) != 2 || v.stats.IO[0] != vda {
				t.Errorf("%s: counters %+v, want %+v and 7:1's zeros", tt.name, v.stats.IO, vda)
			}
		}
		v.closeHostFiles()
	}
}

// TestDiskstatsNoAllocations: once warmed up, a look at /proc/diskstats allocates
// nothing, on v1 (two files) and v2.
func TestDiskstatsNoAllocations(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		dir, host := t.TempDir(), filepath.Join(t.TempDir(), "diskstats")
		write(t, host, hostDiskstats)
		write(t, filepath.Join(dir, "io.stat"), "254:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=0 rios=1 wios=0\n")
		write(t, filepath.Join(dir, "blkio.throttle.io_service_bytes_recursive"), "254:0 Read 512\n254:0 Write 1024\n8:16 Read 1\nTotal 1537\n")
		write(t, filepath.Join(dir, "blkio.throttle.io_serviced_recursive"), "254:0 Read 1\n254:0 Write 2\n8:16 Read 1\nTotal 4\n")
		v := newView(Source{IODir: dir, IOV2: v2, CPUs: []int{0}, Start: time.Now()})
		v.io.host = newHostFile(host)
		var dst []byte
		gen := func() { dst = v.generate(fileIndex("diskstats"), dst[:0]) }
		gen()
		if len(dst) == 0 {
			t.Fatalf("v2=%v: /proc/diskstats is empty", v2)
		}
		if n := testing.AllocsPerRun(100, gen); n != 0 {
			t.Errorf("v2=%v: %.1f allocations per /proc/diskstats", v2, n)
		}
		v.closeHostFiles()
	}
}
