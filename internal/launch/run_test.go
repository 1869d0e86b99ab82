package launch

import (
	"testing"

	"golang.org/x/sys/unix"

	"launch/internal/caps"
)

func TestFormatSize(t *testing.T) {
	for _, tt := range []struct {
		in   int64
		want string
	}{
		{64 << 20, "64M"},
		{32 << 20, "32M"},
		{1 << 30, "1G"},
		{3 << 30, "3G"},
		{1536 << 20, "1536M"},
		{1 << 10, "1K"},
		{1536 << 10, "1536K"},
		{1000, "1000"},
		{1<<20 + 1, "1048577"},
		{1 << 40, "1024G"},
	} {
		if got := formatSize(tt.in); got != tt.want {
			t.Errorf("formatSize(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestExitStatus: COMMAND's own status, or 128+N when a signal N ended it, with or
// without a core dump.
func TestExitStatus(t *testing.T) {
	for _, tt := range []struct {
		name string
		ws   unix.WaitStatus // as wait4(2) reports it
		want int
	}{
		{"exit 0", 0, 0},
		{"exit 3", 3 << 8, 3},
		{"exit 255", 255 << 8, 255},
		{"SIGKILL", 9, 137},
		{"SIGTERM", 15, 143},
		{"SIGHUP", 1, 129},
		{"SIGSEGV, core dumped", 11 | 0x80, 139},
		{"SIGABRT, core dumped", 6 | 0x80, 134},
	} {
		if got := exitStatus(tt.ws); got != tt.want {
			t.Errorf("exitStatus(%s: %#x) = %d, want %d", tt.name, uint32(tt.ws), got, tt.want)
		}
	}
}

// TestCapabilities: caps.txt's set, with --cap-add and --cap-drop applied as docker
// does (ALL in --cap-drop empties the set before the additions; a drop wins over an
// add of the same), and none the kernel lacks.
func TestCapabilities(t *testing.T) {
	for _, tt := range []struct {
		name      string
		add, drop []string
		last      int // the kernel's highest capability
		want      caps.Set
	}{
		{"default", nil, nil, 40, 0xa80425fb},
		{"add SYS_ADMIN", []string{"SYS_ADMIN"}, nil, 40, 0xa82425fb},
		{"add with CAP_ and in lower case", []string{"cap_sys_admin", "CAP_SYS_PTRACE"}, nil, 40, 0xa82c25fb},
		{"drop CHOWN and NET_RAW", nil, []string{"CHOWN", "cap_net_raw"}, 40, 0xa80405fa},
		{"drop ALL, add KILL", []string{"KILL"}, []string{"ALL"}, 40, 0x20},
		{"drop ALL", nil, []string{"all"}, 40, 0},
		{"add and drop the same", []string{"SYS_ADMIN"}, []string{"SYS_ADMIN"}, 40, 0xa80425fb},
		{"add ALL", []string{"ALL"}, nil, 40, 0x1ffffffffff},
		{"add ALL on a kernel up to 37", []string{"ALL"}, nil, 37, 0x3fffffffff},
		{"add ALL, drop one", []string{"ALL"}, []string{"SYS_MODULE"}, 40, 0x1fffffeffff},
		{"kernel with every bit", []string{"ALL"}, nil, 63, caps.All},
	} {
		cfg := &Config{CapAdd: tt.add, CapDrop: tt.drop}
		if got := capabilities(cfg, tt.last); got != tt.want {
			t.Errorf("capabilities(%s, last %d) = %#x, want %#x", tt.name, tt.last, uint64(got), uint64(tt.want))
		}
	}
}
