package execve

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/raw"
)

// TestDirent parses what getdents64(2) returns for a directory whose names are
// numbers, as /proc/self/fd's are, and others: each record's length agrees with
// x/sys's parser of the same buffer, and exactly the decimal names give a descriptor.
// The directory holds more than one buffer of 256 bytes takes.
func TestDirent(t *testing.T) {
	dir := t.TempDir()
	names := []string{"0", "3", "42", "1234567", "2147483647", "abc", "12a", "-1", "1.5", " 7"}
	for i := 100; i < 130; i++ {
		names = append(names, strconv.Itoa(i))
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	var got, seen []string
	calls := 0
	for {
		var buf [256]byte
		n, err := unix.Getdents(fd, buf[:])
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		calls++
		_, _, want := unix.ParseDirent(buf[:n], -1, nil) // skips . and ..
		var names []string
		off := uintptr(0)
		for off < uintptr(n) {
			reclen := direntReclen(&buf, off)
			if reclen == 0 || off+reclen > uintptr(n) {
				t.Fatalf("direntReclen at %d = %d, past the %d bytes read", off, reclen, n)
			}
			name := unix.ByteSliceToString(buf[off+19 : off+reclen])
			if name != "." && name != ".." {
				names = append(names, name)
			}
			if fd, ok := direntFD(&buf, off, reclen); ok {
				got = append(got, strconv.Itoa(fd))
				if strconv.Itoa(fd) != name {
					t.Errorf("direntFD(%q) = %d", name, fd)
				}
			}
			off += reclen
		}
		if off != uintptr(n) || !slices.Equal(names, want) {
			t.Errorf("records by direntReclen: %q, %d bytes; x/sys's ParseDirent: %q, %d bytes", names, off, want, n)
		}
		seen = append(seen, names...)
	}
	if calls < 2 {
		t.Errorf("the directory took %d getdents64 calls, want more than one", calls)
	}
	slices.Sort(seen)
	if want := slices.Sorted(slices.Values(names)); !slices.Equal(seen, want) {
		t.Errorf("entries read %q, want %q", seen, want)
	}
	want := []string{"0", "3", "42", "1234567", "2147483647"}
	for i := 100; i < 130; i++ {
		want = append(want, strconv.Itoa(i))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("descriptors parsed %q, want %q", got, want)
	}
}

// TestDirentByteOrder: d_reclen is read in the machine's byte order, either one; a
// name is read up to its NUL or the end of its record, whichever comes first.
func TestDirentByteOrder(t *testing.T) {
	// SAFETY: the two bytes are read as the machine's uint16.
	if native := *(*uint16)(unsafe.Pointer(&[]byte{0, 1}[0])) == 1; raw.BigEndian != native {
		t.Errorf("raw.BigEndian = %v on this machine", raw.BigEndian)
	}
	defer func(b bool) { raw.BigEndian = b }(raw.BigEndian)
	for _, big := range []bool{false, true} {
		raw.BigEndian = big
		var buf [256]byte
		order := binary.ByteOrder(binary.LittleEndian)
		if big {
			order = binary.BigEndian
		}
		// Two records: "17" (24 bytes, NUL-padded) at 0, then "905" at 24, whose
		// record ends without a NUL.
		order.PutUint16(buf[16:], 24)
		copy(buf[19:], "17")
		order.PutUint16(buf[24+16:], 22)
		copy(buf[24+19:], "905x")
		if got := direntReclen(&buf, 0); got != 24 {
			t.Errorf("big endian %v: direntReclen(0) = %d, want 24", big, got)
		}
		if got := direntReclen(&buf, 24); got != 22 {
			t.Errorf("big endian %v: direntReclen(24) = %d, want 22", big, got)
		}
		if fd, ok := direntFD(&buf, 0, 24); fd != 17 || !ok {
			t.Errorf("direntFD(0) = %d, %v; want 17, true", fd, ok)
		}
		if fd, ok := direntFD(&buf, 24, 22); fd != 905 || !ok {
			t.Errorf("direntFD(24) = %d, %v; want 905, true (the x is past the record)", fd, ok)
		}
		if fd, ok := direntFD(&buf, 24, 19); ok {
			t.Errorf("direntFD of an empty name = %d, true; want false", fd)
		}
	}
}
