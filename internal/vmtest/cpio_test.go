package main

import (
	"bytes"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// cpioEntry is one entry read back from a newc archive.
type cpioEntry struct {
	name       string
	mode       uint64
	nlink      uint64
	rmaj, rmin uint64
	data       string
}

// readCpio parses a newc archive the way the kernel's initramfs unpacker does, and
// fails the test on anything it would reject: a bad magic, a field that is not hex,
// a name without its NUL, or an entry that does not start on a 4-byte boundary.
func readCpio(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	for {
		if off%4 != 0 {
			t.Fatalf("entry at offset %d: not 4-byte aligned", off)
		}
		if len(b)-off < 110 || string(b[off:off+6]) != "070701" {
			t.Fatalf("entry at offset %d: no newc header", off)
		}
		field := func(i int) uint64 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("entry at offset %d, field %d: %v", off, i, err)
			}
			return v
		}
		e := cpioEntry{mode: field(1), nlink: field(4), rmaj: field(9), rmin: field(10)}
		size, namesize := int(field(6)), int(field(11))
		name := b[off+110 : off+110+namesize]
		if name[namesize-1] != 0 {
			t.Fatalf("entry at offset %d: name %q without NUL", off, name)
		}
		e.name = string(name[:namesize-1])
		off += 110 + namesize
		off += (4 - off%4) % 4
		e.data = string(b[off : off+size])
		off += size
		off += (4 - off%4) % 4
		if e.name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		out = append(out, e)
	}
}

func TestCpioWriter(t *testing.T) {
	var buf bytes.Buffer
	c := newCpioWriter(&buf)
	c.Dir("/dev", 0o755)
	c.CharDev("dev/console", 0o600, 5, 1)
	c.File("init", 0o755, []byte("#!x")) // 3 bytes: padded
	c.Symlink("sh", "busybox")
	c.File("empty", 0o644, nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := readCpio(t, buf.Bytes())
	want := []struct {
		name       string
		mode       uint64
		nlink      uint64
		rmaj, rmin uint64
		data       string
	}{
		{"dev", unix.S_IFDIR | 0o755, 2, 0, 0, ""},
		{"dev/console", unix.S_IFCHR | 0o600, 1, 5, 1, ""},
		{"init", unix.S_IFREG | 0o755, 1, 0, 0, "#!x"},
		{"sh", unix.S_IFLNK | 0o777, 1, 0, 0, "busybox"},
		{"empty", unix.S_IFREG | 0o644, 1, 0, 0, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("read back %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.name != w.name || g.mode != w.mode || g.nlink != w.nlink || g.rmaj != w.rmaj || g.rmin != w.rmin || g.data != w.data {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
	}
	// The first header in full: inode 1, root's, mtime 0, name size 4 ("dev" and NUL).
	const first = "070701" + "00000001" + "000041ED" + "00000000" + "00000000" + "00000002" + "00000000" +
		"00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "00000004" + "00000000" + "dev\x00"
	if h := buf.String()[:len(first)]; h != first {
		t.Errorf("first header = %q, want %q", h, first)
	}
}
