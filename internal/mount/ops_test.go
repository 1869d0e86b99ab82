package mount

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"launch/internal/testutil"
)

func TestParentOf(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/a/b/c", "/a/b"},
		{"/dev/pts", "/dev"},
		{"/a", "/"},
		{"/", "/"},
		{"a", "/"}, // callers give absolute paths; a relative one climbs no higher than /
		{"", "/"},
	} {
		if got := parentOf(tt.in); got != tt.want {
			t.Errorf("parentOf(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestBaseOf: a path is resolved from the innermost file system launch mounts that
// holds it; a name that only starts like one is not below it.
func TestBaseOf(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"/", SlotRoot},
		{"/tmp", SlotRoot},
		{"/procx", SlotRoot},
		{"/proc", SlotProc},
		{"/proc/sys/kernel", SlotProc},
		{"/dev", SlotDev},
		{"/dev/pts", SlotDev},
		{"/devices", SlotRoot},
		{"/sys", SlotSys},
		{"/sys/kernel/vmcoreinfo", SlotSys},
		{"/sys/fs/cgroupx", SlotSys},
		{"/sys/fs/cgroup", SlotCgroup},
		{"/sys/fs/cgroup/memory", SlotCgroup},
	} {
		if got := baseOf(tt.in); got != tt.want {
			t.Errorf("baseOf(%q) = %s, want %s", tt.in, slotPath[got], slotPath[tt.want])
		}
	}
}

// TestDev: device numbers as the kernel's new_encode_dev packs them for mknodat(2):
// minor's low byte, the major, then minor's upper bits from bit 20. glibc's dev_t
// (unix.Mkdev) puts majors from 4096 up elsewhere.
func TestDev(t *testing.T) {
	for _, tt := range []struct {
		major, minor uint32
		want         uint64
	}{
		{0, 0, 0},
		{1, 3, 0x103},               // /dev/null
		{5, 0, 0x500},               // /dev/tty
		{259, 300000, 0x493103e0},   // 300000 = 0x493e0
		{4095, 0xfffff, 0xffffffff}, // the largest numbers: 12 bits of major, 20 of minor
		{4096, 1, 0x100001},         // beyond 12 bits of major: not dev_t's encoding
		{0, 0x100, 0x100000},        // minor's second byte at bit 20
		{0xfff, 0xff, 0xfffff},      // major's bits and minor's low byte
		{1, 0x12345, 0x12300145},    // both parts of the minor
	} {
		if got := Dev(tt.major, tt.minor); got != tt.want {
			t.Errorf("Dev(%d, %d) = %#x, want %#x", tt.major, tt.minor, got, tt.want)
		}
	}
	if Dev(4096, 1) == unix.Mkdev(4096, 1) {
		t.Errorf("Dev(4096, 1) = unix.Mkdev(4096, 1) = %#x, want the encodings to differ", Dev(4096, 1))
	}

	// The kernel decodes what Dev encodes: mknodat(2) of a node, read back with stat.
	testutil.RequireRoot(t)
	dir := t.TempDir()
	for _, n := range []struct{ major, minor uint32 }{{1, 3}, {259, 300000}, {4095, 0xfffff}} {
		p := filepath.Join(dir, "node")
		os.Remove(p)
		if err := unix.Mknodat(unix.AT_FDCWD, p, unix.S_IFCHR|0o600, int(Dev(n.major, n.minor))); err != nil {
			t.Fatalf("mknodat %s: %v", p, err)
		}
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if maj, min := unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)); maj != n.major || min != n.minor {
			t.Errorf("mknodat with Dev(%d, %d) made a node %d:%d", n.major, n.minor, maj, min)
		}
	}
}

// TestAttrs: the per-mount MS_* flags become fsmount(2)'s MOUNT_ATTR_* flags; other
// flags (those of the mount call, and relatime, which is the attribute 0) give none.
func TestAttrs(t *testing.T) {
	for _, tt := range []struct {
		name string
		ms   uintptr
		want uint64
	}{
		{"none", 0, 0},
		{"ro", unix.MS_RDONLY, 0x1},
		{"nosuid", unix.MS_NOSUID, 0x2},
		{"nodev", unix.MS_NODEV, 0x4},
		{"noexec", unix.MS_NOEXEC, 0x8},
		{"noatime", unix.MS_NOATIME, 0x10},
		{"strictatime", unix.MS_STRICTATIME, 0x20},
		{"nodiratime", unix.MS_NODIRATIME, 0x80},
		{"proc's", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, 0x2 | 0x4 | 0x8},
		{"sysfs's", unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, 0xf},
		{"relatime", unix.MS_RELATIME, 0},
		{"bind, rec, remount", unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT, 0},
		{"ro bind", unix.MS_BIND | unix.MS_RDONLY, 0x1},
	} {
		if got := attrs(tt.ms); got != tt.want {
			t.Errorf("attrs(%s: %#x) = %#x, want %#x", tt.name, tt.ms, got, tt.want)
		}
	}
}

// TestRootIsInitramfs reads the mount tables of testdata/*.txtar, recorded on real
// machines where they can be, and checks the answer written in each.
func TestRootIsInitramfs(t *testing.T) {
	for _, fx := range testutil.Fixtures(t) {
		t.Run(fx.Name, func(t *testing.T) {
			want := string(fx.File("want")) == "initramfs\n"
			if got := RootIsInitramfs(fx.File("mountinfo")); got != want {
				t.Errorf("RootIsInitramfs = %v, want %v (%q)", got, want, fx.File("want"))
			}
		})
	}
}
