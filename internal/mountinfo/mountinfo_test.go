package mountinfo

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

// escape writes s as the kernel writes a path or source into mountinfo (fs/seq_file.c,
// seq_escape with " \t\n\\"): those four bytes as a backslash and three octal digits.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; strings.IndexByte(" \t\n\\", c) >= 0 {
			fmt.Fprintf(&b, "\\%03o", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// format writes m as one line of mountinfo, as the kernel would.
func format(m Mount) string {
	opt := ""
	for _, o := range m.Optional {
		opt += " " + o
	}
	return fmt.Sprintf("%d %d %d:%d %s %s %s%s - %s %s %s", m.ID, m.Parent, m.Major, m.Minor, escape(m.Root), escape(m.Point),
		strings.Join(m.Options, ","), opt, m.FSType, escape(m.Source), strings.Join(m.SuperOptions, ","))
}

func TestParse(t *testing.T) {
	// Lines of real mount tables: Debian's 6.1 kernel booted with an initramfs, with
	// paths the kernel escapes; this machine's; the optional fields of a shared mount.
	data := `1 1 0:2 / / rw - rootfs rootfs rw,size=100400k,nr_inodes=25100,inode64
26 1 0:23 / /mnt/back\134slash rw,relatime - tmpfs my\040src rw,inode64
27 1 0:24 / /mnt/tab\011here rw,relatime - tmpfs tmpfs rw,inode64
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
812 26 254:0 /tmp/launch-rootfs /dev/shm/a\040b ro,nosuid,nodev shared:1 master:12 - ext4 /dev/vda rw,discard
90 1 0:40 / /mnt/empty rw - tmpfs  rw
`
	want := []Mount{
		{1, 1, 0, 2, "/", "/", []string{"rw"}, nil, "rootfs", "rootfs", []string{"rw", "size=100400k", "nr_inodes=25100", "inode64"}},
		{26, 1, 0, 23, "/", `/mnt/back\slash`, []string{"rw", "relatime"}, nil, "tmpfs", "my src", []string{"rw", "inode64"}},
		{27, 1, 0, 24, "/", "/mnt/tab\there", []string{"rw", "relatime"}, nil, "tmpfs", "tmpfs", []string{"rw", "inode64"}},
		{34, 30, 0, 31, "/", "/sys/fs/cgroup/memory", []string{"rw", "relatime"}, nil, "cgroup", "cgroup", []string{"rw", "memory"}},
		{812, 26, 254, 0, "/tmp/launch-rootfs", "/dev/shm/a b", []string{"ro", "nosuid", "nodev"}, []string{"shared:1", "master:12"},
			"ext4", "/dev/vda", []string{"rw", "discard"}},
		// An empty source (mount -t tmpfs "" /mnt/empty) leaves two spaces.
		{90, 1, 0, 40, "/", "/mnt/empty", []string{"rw"}, nil, "tmpfs", "", []string{"rw"}},
	}
	got, err := Parse([]byte(data))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse = %+v, %v\nwant %+v", got, err, want)
	}
	if m, ok := Top(got, "/"); !ok || m.ID != 1 || !m.Has("rw", "inode64") || m.Has("ro") {
		t.Errorf("Top(/) = %+v, %v; want mount 1, with rw and inode64, without ro", m, ok)
	}
	if _, ok := Top(got, "/nowhere"); ok {
		t.Error("Top(/nowhere) found a mount")
	}
}

func TestParseErrors(t *testing.T) {
	good := "1 1 0:2 / / rw - rootfs rootfs rw"
	for _, line := range []string{
		"1 2 3",
		"1 1 0:2 / / rw rootfs rootfs rw",        // no separator
		"1 1 0:2 / / rw - rootfs rootfs",         // too few after it
		"1 1 0:2 / / rw - rootfs rootfs rw more", // too many
		"x 1 0:2 / / rw - rootfs rootfs rw",
		"1 -1 0:2 / / rw - rootfs rootfs rw",
		"1 1 02 / / rw - rootfs rootfs rw",
		"1 1 0:x / / rw - rootfs rootfs rw",
		"1 1 0:4294967296 / / rw - rootfs rootfs rw",
		"1  1 0:2 / / rw - rootfs rootfs rw",
	} {
		if m, err := ParseLine(line); err == nil {
			t.Errorf("ParseLine(%q) = %+v, want an error", line, m)
		}
		// Parse reads the good lines around a bad one, and says which line is bad.
		ms, err := Parse([]byte(good + "\n" + line + "\n" + good + "\n"))
		if len(ms) != 2 || err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("Parse(good, %q, good) = %d mounts, %v; want 2 and an error at line 2", line, len(ms), err)
		}
	}
}

func TestUnescape(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`/a\040b`, "/a b"}, {`\011\012\134`, "\t\n\\"}, {`\\`, `\\`}, {`\400`, `\400`}, {`\04`, `\04`},
		{`\0400`, " 0"}, {`a\x41`, `a\x41`}, {`\101`, "A"}, {"", ""},
	} {
		if got := Unescape(tt.in); got != tt.want {
			t.Errorf("Unescape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzParse: Parse never panics; every mount it reads, written back as the kernel
// would write it, reads the same; and a line the kernel would write for any root,
// mount point and source reads back as those.
//
//	go test -run '^$' -fuzz FuzzParse -fuzztime 30s ./internal/mountinfo
func FuzzParse(f *testing.F) {
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		f.Add(mi, "/", "/mnt/x", "none")
	}
	for _, s := range []string{
		"1 1 0:2 / / rw - rootfs rootfs rw\n",
		"26 1 0:23 / /mnt/back\\134slash rw,relatime - tmpfs my\\040src rw,inode64\n",
		"812 26 254:0 /a /b ro shared:1 master:12 - ext4 /dev/vda rw\n",
		"1 1 0:2 / / rw - - - -\n", "1 1 0:2 / / - rw - tmpfs tmpfs rw\n", "1 1 0:2 \\777 \\ - x  y\n",
		"90 1 0:40 / /mnt rw - tmpfs  rw\n", "1 1 0:2 /  rw - tmpfs tmpfs rw\n", "1 1 0:2 / mnt rw - tmpfs tmpfs rw\n", "\n\n", "",
	} {
		f.Add([]byte(s), "/a b", "/tab\there\n", `my\src`)
	}
	f.Fuzz(func(t *testing.T, data []byte, root, point, source string) {
		ms, _ := Parse(data)
		for _, m := range ms {
			again, err := ParseLine(format(m))
			if err != nil || !reflect.DeepEqual(again, m) {
				t.Fatalf("mount %+v, written as %q, reads as %+v, %v", m, format(m), again, err)
			}
		}
		want := Mount{ID: 7, Parent: 1, Major: 8, Minor: 1, Root: root, Point: point, Options: []string{"rw"},
			Optional: []string{"shared:1"}, FSType: "ext4", Source: source, SuperOptions: []string{"rw"}}
		line := format(want)
		if strings.ContainsAny(line, "\n") {
			t.Fatalf("escaped line %q has a newline", line)
		}
		if !strings.HasPrefix(point, "/") {
			if got, err := ParseLine(line); err == nil {
				t.Fatalf("line %q, whose mount point is not absolute, reads as %+v", line, got)
			}
			return
		}
		if got, err := ParseLine(line); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("line %q reads as %+v, %v; want %+v", line, got, err, want)
		}
	})
}
