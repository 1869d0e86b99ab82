package launch

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	def := defaults()
	for _, tt := range []struct {
		name string
		args []string
		want func(c *Config) // edits the defaults into the expected config
	}{
		{"plain", []string{"/r", "cmd", "-x", "--y"}, func(c *Config) { c.Rootfs, c.Command = "/r", []string{"cmd", "-x", "--y"} }},
		{"options before ROOTFS", []string{"--hostname", "h", "--read-only", "-v", "/r", "cmd"}, func(c *Config) {
			c.Hostname, c.ReadOnly, c.Verbose, c.Rootfs, c.Command = "h", true, true, "/r", []string{"cmd"}
		}},
		{"equals form", []string{"--hostname=h", "--net=host", "/r", "cmd"}, func(c *Config) {
			c.Hostname, c.HostNet, c.Rootfs, c.Command = "h", true, "/r", []string{"cmd"}
		}},
		{"double dash", []string{"--", "-r", "cmd"}, func(c *Config) { c.Rootfs, c.Command = "-r", []string{"cmd"} }},
		{"repeatable", []string{"-e", "A=1", "--env", "B=2", "--bind", "/a:/b", "--bind", "/c:/d:ro", "--bind", "/e/:/f/:dev,ro", "/r", "cmd"}, func(c *Config) {
			c.Env = []string{"A=1", "B=2"}
			c.Binds = []Bind{{Src: "/a", Dst: "/b"}, {Src: "/c", Dst: "/d", ReadOnly: true}, {Src: "/e", Dst: "/f", ReadOnly: true, Device: true}}
			c.Rootfs, c.Command = "/r", []string{"cmd"}
		}},
		{"limits", []string{"-m", "1G", "--cpu-shares", "512", "--cpus", "1.5", "--pids", "max", "--io-weight", "0", "/r", "cmd"}, func(c *Config) {
			c.Limits = Limits{Memory: 1 << 30, CPUShares: 512, CPUs: 1.5, Pids: 0, IOWeight: 0,
				Explicit: map[string]bool{"memory": true, "cpu-shares": true, "cpus": true, "pids": true, "io-weight": true}}
			c.Rootfs, c.Command = "/r", []string{"cmd"}
		}},
		{"memory sizes", []string{"--memory", "8192k", "--memory", "8M", "/r", "cmd"}, func(c *Config) {
			c.Limits.Memory = 8 << 20
			c.Limits.Explicit = map[string]bool{"memory": true}
			c.Rootfs, c.Command = "/r", []string{"cmd"}
		}},
		{"user", []string{"-u", "1000:100", "-w", "/srv/", "/r", "cmd"}, func(c *Config) {
			c.User, c.Workdir, c.Rootfs, c.Command = &User{UID: 1000, GID: 100}, "/srv", "/r", []string{"cmd"}
		}},
		{"user without group", []string{"--user", "7", "/r", "cmd"}, func(c *Config) {
			c.User, c.Rootfs, c.Command = &User{UID: 7, GID: 7}, "/r", []string{"cmd"}
		}},
		{"capabilities", []string{"--cap-add", "SYS_ADMIN", "--cap-drop", "ALL", "/r", "cmd"}, func(c *Config) {
			c.CapAdd, c.CapDrop, c.Rootfs, c.Command = []string{"SYS_ADMIN"}, []string{"ALL"}, "/r", []string{"cmd"}
		}},
		{"seccomp off", []string{"--seccomp", "unconfined", "/r", "cmd"}, func(c *Config) { c.Seccomp, c.Rootfs, c.Command = false, "/r", []string{"cmd"} }},
		{"seccomp profile", []string{"--seccomp=p.json", "/r", "cmd"}, func(c *Config) { c.SeccompProfile, c.Rootfs, c.Command = "p.json", "/r", []string{"cmd"} }},
		{"seccomp profile, then default", []string{"--seccomp=p.json", "--seccomp", "default", "/r", "cmd"}, func(c *Config) { c.Rootfs, c.Command = "/r", []string{"cmd"} }},
		{"help needs nothing else", []string{"--help"}, func(c *Config) { c.Help = true }},
		{"version", []string{"--version"}, func(c *Config) { c.Version = true }},
		{"gc", []string{"--gc"}, func(c *Config) { c.GC = true }},
		{"cgroup parent", []string{"--cgroup-parent", "/system.slice/app.service/", "/r", "cmd"}, func(c *Config) {
			c.CgroupParent, c.Rootfs, c.Command = "/system.slice/app.service", "/r", []string{"cmd"}
		}},
		{"cgroup parent root, with --gc", []string{"--gc", "--cgroup-parent=/"}, func(c *Config) { c.GC, c.CgroupParent = true, "/" }},
		{"gc with options", []string{"-v", "--gc"}, func(c *Config) { c.GC, c.Verbose = true, true }},
		{"hostnames", []string{"--hostname", "a-1.B2.c", "/r", "cmd"}, func(c *Config) { c.Hostname, c.Rootfs, c.Command = "a-1.B2.c", "/r", []string{"cmd"} }},
		{"short forms", []string{"-e", "A=1", "-u", "7", "-w", "/x", "-m", "8M", "-v", "-h", "/r", "cmd"}, func(c *Config) {
			c.Env, c.User, c.Workdir, c.Verbose, c.Help = []string{"A=1"}, &User{UID: 7, GID: 7}, "/x", true, true
			c.Limits.Memory, c.Limits.Explicit = 8<<20, map[string]bool{"memory": true}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(tt.args)
			if err != nil {
				t.Fatalf("ParseArgs(%q): %v", tt.args, err)
			}
			want := defaults()
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ParseArgs(%q) = %+v, want %+v", tt.args, got, want)
			}
		})
	}
	if def.Limits.Memory != 64<<20 || def.Limits.CPUShares != 256 || def.Limits.Pids != 64 || def.Limits.IOWeight != 50 {
		t.Errorf("defaults = %+v, want README's 64M, 256 shares, 64 pids, weight 50", def.Limits)
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "missing ROOTFS and COMMAND"},
		{[]string{"/r"}, "missing COMMAND"},
		{[]string{"", "cmd"}, "ROOTFS is empty"},
		{[]string{"/r", ""}, "COMMAND is empty"},
		{[]string{"--nope", "/r", "cmd"}, "unknown option: --nope"},
		{[]string{"--memory"}, "needs a value"},
		{[]string{"--init=1", "/r", "cmd"}, "takes no value"},
		{[]string{"--memory", "64X", "/r", "cmd"}, "want a size"},
		{[]string{"--memory", "1k", "/r", "cmd"}, "at least 4M"},
		{[]string{"--memory", "-1", "/r", "cmd"}, "want a size"},
		{[]string{"--pids", "-3", "/r", "cmd"}, "want 1 to"},
		{[]string{"--cpu-shares", "1", "/r", "cmd"}, "want 2 to 262144"},
		{[]string{"--io-weight", "5", "/r", "cmd"}, "want 10 to 1000"},
		{[]string{"--cpus", "x", "/r", "cmd"}, "want a number of CPUs"},
		{[]string{"--cpus", "NaN", "/r", "cmd"}, "want a number of CPUs"},
		{[]string{"--net", "bridge", "/r", "cmd"}, "want none or host"},
		{[]string{"--seccomp", "", "/r", "cmd"}, "want default, unconfined or a FILE"},
		{[]string{"--seccomp", "/p.json", "--allow-socket", "packet", "/r", "cmd"}, "--allow-socket lifts a refusal of the built-in filter"},
		{[]string{"--hostname", "a b", "/r", "cmd"}, "RFC 1123"},
		{[]string{"--hostname", "a\nb", "/r", "cmd"}, `--hostname "a\nb": want 1 to 64`},
		{[]string{"--hostname", strings.Repeat("h", 65), "/r", "cmd"}, "1 to 64"},
		{[]string{"--hostname", strings.Repeat("h", 64), "/r", "cmd"}, "at most 63"},
		{[]string{"--hostname", "-a", "/r", "cmd"}, "RFC 1123"},
		{[]string{"--hostname", "a-.b", "/r", "cmd"}, "RFC 1123"},
		{[]string{"--hostname", "a..b", "/r", "cmd"}, "RFC 1123"},
		{[]string{"--hostname", ".a", "/r", "cmd"}, "RFC 1123"},
		{[]string{"--hostname", "a_b", "/r", "cmd"}, "RFC 1123"},
		{[]string{"--hostname", "h\u00e9", "/r", "cmd"}, "RFC 1123"},
		{[]string{"-memory", "64M", "/r", "cmd"}, "unknown option: -memory (long options take two dashes: --memory)"},
		{[]string{"---memory", "64M", "/r", "cmd"}, "unknown option: ---memory"},
		{[]string{"--m", "64M", "/r", "cmd"}, "unknown option: --m"},
		{[]string{"-gc"}, "unknown option: -gc"},
		{[]string{"-\x1b[2J", "/r", "cmd"}, `unknown option: "-\x1b[2J"`},
		{[]string{"--gc", "extra", "words"}, "--gc takes no ROOTFS or COMMAND: extra"},
		{[]string{"--gc", "--", "/r"}, "--gc takes no ROOTFS or COMMAND"},
		{[]string{"--env", "NOEQUALS", "/r", "cmd"}, "want K=V"},
		{[]string{"--env", "=x", "/r", "cmd"}, "want K=V"},
		{[]string{"--user", "root", "/r", "cmd"}, "numeric"},
		{[]string{"--user", "1:x", "/r", "cmd"}, "numeric"},
		{[]string{"--workdir", "rel", "/r", "cmd"}, "absolute"},
		{[]string{"--bind", "/a", "/r", "cmd"}, "SRC:DST"},
		{[]string{"--bind", "a:/b", "/r", "cmd"}, "absolute"},
		{[]string{"--bind", "/a:/", "/r", "cmd"}, "root"},
		{[]string{"--bind", "/a:/b:rx", "/r", "cmd"}, "SRC:DST"},
		{[]string{"--bind", "/a:/b:ro,", "/r", "cmd"}, "OPTS"},
		{[]string{"--bind", "/a:/b:ro:dev", "/r", "cmd"}, "SRC:DST"},
		{[]string{"--cap-add", "FROB", "/r", "cmd"}, "unknown capability"},
		{[]string{"--cgroup-parent", "app.service", "/r", "cmd"}, "want an absolute path"},
		{[]string{"--cgroup-parent", "/a/../b", "/r", "cmd"}, "without . or .."},
		{[]string{"--cgroup-parent", "/a/./b", "/r", "cmd"}, "without . or .."},
		{[]string{"--cgroup-parent", "//a", "/r", "cmd"}, "without . or .."},
		{[]string{"/r", "cmd", "a\x00b"}, "NUL"},
	} {
		_, err := ParseArgs(tt.args)
		var u *UsageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseArgs(%q) = %v, want a usage error containing %q", tt.args, err, tt.want)
		}
	}
}

// documented are the options README's "Usage" promises, each with its other names and
// its argument as --help writes them, written out rather than taken from the options
// table: an option added without documentation, or dropped, fails here.
var documented = []string{
	"--hostname NAME", "--net, --network MODE", "--read-only", "--bind SRC:DST[:OPTS]", "--cap-add CAP",
	"--cap-drop CAP", "--seccomp MODE", "--allow-socket NAME", "-e, --env K=V", "-u, --user UID[:GID]",
	"--group-add GID", "-w, --workdir DIR", "--init", "-t, --pty", "-m, --memory SIZE", "--cpu-shares N", "--cpus N",
	"--pids, --pids-limit N", "--io-weight, --blkio-weight N", "--cpuset-cpus LIST", "--proc-view on|off",
	"--cgroup-parent PATH", "--userns MODE", "--gc", "-v, --verbose", "--version", "-h, --help",
}

// TestUsageListsEveryOption compares the options --help lists, in its order, with the
// documented ones.
func TestUsageListsEveryOption(t *testing.T) {
	u := Usage()
	_, opts, ok := strings.Cut(u, "\nOptions:\n")
	opts, _, _ = strings.Cut(opts, "\n\n")
	if !ok {
		t.Fatalf("--help has no Options: section:\n%s", u)
	}
	var listed []string
	for _, line := range strings.Split(opts, "\n") {
		// "  NAMES [ARG]   help": the names end at the first run of spaces.
		names, _, _ := strings.Cut(strings.TrimPrefix(line, "  "), "  ")
		listed = append(listed, names)
	}
	if !slices.Equal(listed, documented) {
		t.Errorf("--help lists\n\t%q\nwant the documented\n\t%q", listed, documented)
	}
	for _, code := range []string{"125", "126", "127", "128+N"} {
		if !strings.Contains(u, code) {
			t.Errorf("--help does not explain exit status %s", code)
		}
	}
}
