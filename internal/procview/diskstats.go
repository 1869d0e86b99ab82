package procview

import (
	"bytes"
	"path/filepath"
	"strconv"
)

// /proc/diskstats: the container's own block I/O, as its blkio (v1) or io (v2)
// cgroup counts it, one line per disk it did I/O on, named as the host's
// /proc/diskstats names the disk. A cgroup counts bytes and I/Os read, written and
// discarded per disk; the kernel's other columns (merges, times, I/Os in flight,
// flushes) it does not count, and they are 0.

// DiskIO is what a cgroup counts of its I/O to one disk: cgroup v2's io.stat, which
// v1's blkio.throttle.io_service_bytes and io_serviced count as well.
type DiskIO struct {
	Major, Minor                  uint64
	ReadBytes, WriteBytes, DBytes uint64 // bytes read, written and discarded
	Reads, Writes, Discards       uint64 // I/Os, as the cgroup counts them (bios, before merging)
}

// ioFiles are the files /proc/diskstats is computed from.
type ioFiles struct {
	host hostFile // the host's /proc/diskstats: the disks' names, in its order
	stat hostFile // v2's io.stat
	// v1's counters of the cgroup and the cgroups below it, and, for kernels before
	// 4.16 which have only those, of the cgroup alone.
	bytes, ios       hostFile
	ownBytes, ownIOs hostFile
}

// newIOFiles prepares the files of the cgroup src says the I/O is counted in.
func newIOFiles(src Source) ioFiles {
	f := ioFiles{host: newHostFile("/proc/diskstats")}
	switch d := src.IODir; {
	case d == "":
	case src.IOV2:
		f.stat = newHostFile(filepath.Join(d, "io.stat"))
	default:
		f.bytes = newHostFile(filepath.Join(d, "blkio.throttle.io_service_bytes_recursive"))
		f.ios = newHostFile(filepath.Join(d, "blkio.throttle.io_serviced_recursive"))
		f.ownBytes = newHostFile(filepath.Join(d, "blkio.throttle.io_service_bytes"))
		f.ownIOs = newHostFile(filepath.Join(d, "blkio.throttle.io_serviced"))
	}
	return f
}

func (f *ioFiles) close() {
	for _, h := range []*hostFile{&f.host, &f.stat, &f.bytes, &f.ios, &f.ownBytes, &f.ownIOs} {
		h.close()
	}
}

// ioStats reads the container's I/O counters now into v.stats.IO and returns the
// host's /proc/diskstats.
func (v *View) ioStats() []byte {
	f, st := &v.io, &v.stats
	st.IO = st.IO[:0] // its array is kept: no allocation once it has room for the disks
	switch {
	case v.src.IODir == "":
	case v.src.IOV2:
		st.IO = parseIOStat(st.IO, f.stat.read())
	default:
		data := f.bytes.read()
		if f.bytes.failed {
			data = f.ownBytes.read()
		}
		st.IO = parseBlkio(st.IO, data, false)
		if data = f.ios.read(); f.ios.failed {
			data = f.ownIOs.read()
		}
		st.IO = parseBlkio(st.IO, data, true)
	}
	return f.host.read()
}

// disk returns io with an entry for the disk named dev ("MAJ:MIN"), and that entry;
// nil if dev is no such name.
func disk(io []DiskIO, dev []byte) ([]DiskIO, *DiskIO) {
	ma, mi, _ := bytes.Cut(dev, []byte(":"))
	major, ok1 := parseUint(ma)
	minor, ok2 := parseUint(mi)
	if !ok1 || !ok2 {
		return io, nil
	}
	for i := range io {
		if io[i].Major == major && io[i].Minor == minor {
			return io, &io[i]
		}
	}
	io = append(io, DiskIO{Major: major, Minor: minor})
	return io, &io[len(io)-1]
}

// parseBlkio adds to io a v1 blkio.throttle file's counters: "MAJ:MIN Op N" lines,
// Op one of Read, Write, Sync, Async, Discard (since Linux 4.19; before, discards
// are counted as writes) and Total, and a last line "Total N". The file counts bytes
// (io_service_bytes) or, if ios, I/Os (io_serviced).
func parseBlkio(io []DiskIO, data []byte, ios bool) []DiskIO {
	for line := range lines(data) {
		dev, rest, _ := bytes.Cut(line, []byte(" "))
		op, num, _ := bytes.Cut(rest, []byte(" "))
		n, ok := parseUint(num)
		if !ok {
			continue
		}
		var d *DiskIO
		switch string(op) {
		case "Read", "Write", "Discard":
			if io, d = disk(io, dev); d == nil {
				continue
			}
		default:
			continue
		}
		switch {
		case string(op) == "Read" && ios:
			d.Reads = n
		case string(op) == "Read":
			d.ReadBytes = n
		case string(op) == "Write" && ios:
			d.Writes = n
		case string(op) == "Write":
			d.WriteBytes = n
		case ios:
			d.Discards = n
		default:
			d.DBytes = n
		}
	}
	return io
}

// parseIOStat adds to io the counters of a v2 io.stat: "MAJ:MIN key=N ..." lines, of
// which rbytes, wbytes, rios, wios, dbytes and dios are read.
func parseIOStat(io []DiskIO, data []byte) []DiskIO {
	for line := range lines(data) {
		dev, rest, _ := bytes.Cut(line, []byte(" "))
		var d *DiskIO
		if io, d = disk(io, dev); d == nil {
			continue
		}
		for len(rest) > 0 {
			var kv []byte
			kv, rest, _ = bytes.Cut(rest, []byte(" "))
			k, val, _ := bytes.Cut(kv, []byte("="))
			n, ok := parseUint(val)
			if !ok {
				continue
			}
			switch string(k) {
			case "rbytes":
				d.ReadBytes = n
			case "wbytes":
				d.WriteBytes = n
			case "dbytes":
				d.DBytes = n
			case "rios":
				d.Reads = n
			case "wios":
				d.Writes = n
			case "dios":
				d.Discards = n
			}
		}
	}
	return io
}

// diskstatsColumns is the number of counters of a line of /proc/diskstats since
// Linux 5.5 (11 before 4.18, 15 before 5.5).
const diskstatsColumns = 17

// diskstats is /proc/diskstats: for each line of the host's whose disk the container
// did I/O on, that disk's numbers and name, then the container's counters in the
// kernel's columns (block/genhd.c, diskstats_show: "%4d %7d %s" and the counters),
// as many as the host's line has. Sectors are 512 bytes. Other disks, and partitions
// (a cgroup counts the I/O to a partition as its disk's), are left out.
func diskstats(dst, host []byte, st *Stats) []byte {
	for line := range lines(host) {
		var f [3][]byte // major, minor, name
		rest := line
		for i := range f {
			rest = bytes.TrimLeft(rest, " ")
			f[i], rest, _ = bytes.Cut(rest, []byte(" "))
		}
		major, ok1 := parseUint(f[0])
		minor, ok2 := parseUint(f[1])
		if !ok1 || !ok2 {
			continue
		}
		var d *DiskIO
		for i := range st.IO {
			if st.IO[i].Major == major && st.IO[i].Minor == minor {
				d = &st.IO[i]
			}
		}
		if d == nil || *d == (DiskIO{Major: major, Minor: minor}) {
			continue
		}
		n := len(dst)
		dst = padLeft(strconv.AppendUint(dst, major, 10), n, 4)
		n = len(dst) + 1
		dst = padLeft(strconv.AppendUint(append(dst, ' '), minor, 10), n, 7)
		dst = append(append(dst, ' '), f[2]...)
		c := [diskstatsColumns]uint64{
			0: d.Reads, 2: d.ReadBytes / 512,
			4: d.Writes, 6: d.WriteBytes / 512,
			11: d.Discards, 13: d.DBytes / 512,
		}
		for i := range columns(rest) {
			var x uint64
			if i < len(c) {
				x = c[i]
			}
			dst = strconv.AppendUint(append(dst, ' '), x, 10)
		}
		dst = append(dst, '\n')
	}
	return dst
}

// columns returns the number of fields of s, separated by spaces.
func columns(s []byte) int {
	n := 0
	for len(s) > 0 {
		s = bytes.TrimLeft(s, " ")
		if len(s) == 0 {
			break
		}
		_, s, _ = bytes.Cut(s, []byte(" "))
		n++
	}
	return n
}
