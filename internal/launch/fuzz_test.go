package launch

import (
	"bytes"
	"errors"
	"math"
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"

	"launch/internal/caps"
)

// FuzzParseArgs: ParseArgs never panics; what it refuses is a usage error that Report
// prints as one error line and a hint, with exit status 125; what it accepts is
// consistent: ROOTFS and COMMAND are the arguments it was given last, and every value
// is one the rest of launch can use (in range, absolute and clean paths, no NUL byte,
// which a C string cannot hold). The input is the argument list joined by newlines.
//
//	go test -run '^$' -fuzz FuzzParseArgs -fuzztime 30s ./internal/launch
func FuzzParseArgs(f *testing.F) {
	for _, args := range [][]string{
		{"/r", "cmd", "-x", "--y"},
		{"--hostname", "h", "--read-only", "-v", "/r", "cmd"},
		{"--hostname=h", "--net=host", "/r", "cmd"},
		{"--", "-r", "cmd"},
		{"-e", "A=1", "--env", "B=2", "--bind", "/a:/b", "--bind", "/c:/d:ro", "/r", "cmd"},
		{"-m", "1G", "--cpu-shares", "512", "--cpus", "1.5", "--pids", "max", "--io-weight", "0", "/r", "cmd"},
		{"--memory", "8192k", "--memory", "8M", "/r", "cmd"},
		{"-u", "1000:100", "-w", "/srv/", "/r", "cmd"},
		{"--cap-add", "SYS_ADMIN", "--cap-drop", "ALL", "--init", "/r", "cmd"},
		{"--seccomp", "unconfined", "/r", "cmd"},
		{"--help"}, {"--version"}, {"--gc"}, {},
		{"--cgroup-parent", "/a/", "/r", "cmd"}, {"--gc", "--cgroup-parent=/a/../b"},
		{"/r"}, {"", "cmd"}, {"/r", ""}, {"--nope", "/r", "cmd"},
		{"--memory", "lots", "/r", "cmd"}, {"--memory", "3M", "/r", "cmd"}, {"--memory", "8589934591G", "/r", "cmd"},
		{"--read-only=yes", "/r", "cmd"}, {"--hostname"},
		{"--bind", "rel:/x", "/r", "cmd"}, {"--bind", "/a:/", "/r", "cmd"}, {"--bind", "/a:/b/../c:rw", "/r", "cmd"},
		{"--bind", "/a:/b\x00c", "/r", "cmd"}, {"-w", "/a\x00", "/r", "cmd"}, {"-e", "A=\x00", "/r", "cmd"},
		{"--user", "4294967295", "/r", "cmd"}, {"--user", "1:4294967294", "/r", "cmd"}, {"--user", "-1", "/r", "cmd"},
		{"--cpus", "NaN", "/r", "cmd"}, {"--cpus", "0.001", "/r", "cmd"}, {"--cpus", "1e5", "/r", "cmd"},
		{"--cpu-shares", "1", "/r", "cmd"}, {"--io-weight", "1001", "/r", "cmd"}, {"--pids", "-5", "/r", "cmd"},
		{"-", "cmd"}, {"---hostname", "h", "/r", "cmd"}, {"--hostname", "a b", "/r", "cmd"},
		{"--hostname", strings.Repeat("h", 65), "/r", "cmd"}, {"/r", "cmd\x00"}, {"--cap-add", "CAP_NOPE", "/r", "cmd"},
	} {
		f.Add(strings.Join(args, "\n"))
	}
	f.Fuzz(func(t *testing.T, in string) {
		var args []string
		if in != "" {
			args = strings.Split(in, "\n")
		}
		c, err := ParseArgs(args)
		if err != nil {
			var u *UsageError
			if !errors.As(err, &u) {
				t.Fatalf("ParseArgs(%q) = %T %v, want a *UsageError", args, err, err)
			}
			var out bytes.Buffer
			code := Report(&out, err)
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if code != ExitFailure || len(lines) != 2 || !strings.HasPrefix(lines[0], "launch: error: ") || lines[1] != "launch: hint: see launch --help" {
				t.Fatalf("Report(ParseArgs(%q)) = %d, %q; want 125, an error line and the hint", args, code, out.String())
			}
			return
		}
		if again, _ := ParseArgs(args); !reflect.DeepEqual(c, again) {
			t.Fatalf("ParseArgs(%q) = %+v, then %+v", args, c, again)
		}
		check := func(what, v string) {
			if strings.ContainsRune(v, 0) {
				t.Fatalf("ParseArgs(%q): %s %q holds a NUL byte", args, what, v)
			}
		}
		clean := func(what, p string) {
			check(what, p)
			if !path.IsAbs(p) || path.Clean(p) != p {
				t.Fatalf("ParseArgs(%q): %s %q is not a clean absolute path", args, what, p)
			}
		}
		if !c.Help && !c.Version && !c.GC {
			n := len(c.Command) + 1
			if len(c.Command) == 0 || n > len(args) || c.Rootfs != args[len(args)-n] || !slices.Equal(c.Command, args[len(args)-n+1:]) {
				t.Fatalf("ParseArgs(%q): ROOTFS %q, COMMAND %q are not the last arguments", args, c.Rootfs, c.Command)
			}
			if c.Rootfs == "" || c.Command[0] == "" {
				t.Fatalf("ParseArgs(%q): empty ROOTFS or COMMAND", args)
			}
			check("ROOTFS", c.Rootfs)
			for _, a := range c.Command {
				check("COMMAND", a)
			}
		}
		if h := c.Hostname; h == "" || len(h) > 64 || strings.ContainsAny(h, "/\x00 ") {
			t.Fatalf("ParseArgs(%q): hostname %q", args, h)
		}
		for _, b := range c.Binds {
			if !path.IsAbs(b.Src) {
				t.Fatalf("ParseArgs(%q): --bind source %q is not absolute", args, b.Src)
			}
			check("--bind source", b.Src)
			clean("--bind destination", b.Dst)
			if b.Dst == "/" {
				t.Fatalf("ParseArgs(%q): --bind onto /", args)
			}
		}
		for _, e := range c.Env {
			if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
				t.Fatalf("ParseArgs(%q): --env %q", args, e)
			}
			check("--env", e)
		}
		clean("--workdir", c.Workdir)
		if c.CgroupParent != "" {
			clean("--cgroup-parent", c.CgroupParent)
		}
		if u := c.User; u != nil && (u.UID < 0 || u.GID < 0 || u.UID >= math.MaxUint32 || u.GID >= math.MaxUint32) {
			t.Fatalf("ParseArgs(%q): user %d:%d", args, u.UID, u.GID)
		}
		for _, cp := range append(append([]string{}, c.CapAdd...), c.CapDrop...) {
			if _, err := caps.Parse(cp); err != nil {
				t.Fatalf("ParseArgs(%q): capability %q: %v", args, cp, err)
			}
		}
		l := c.Limits
		switch {
		case l.Memory < 0 || (l.Memory > 0 && l.Memory < 4<<20):
			t.Fatalf("ParseArgs(%q): memory %d", args, l.Memory)
		case l.CPUShares != 0 && (l.CPUShares < 2 || l.CPUShares > 262144):
			t.Fatalf("ParseArgs(%q): cpu shares %d", args, l.CPUShares)
		case math.IsNaN(l.CPUs) || l.CPUs < 0 || (l.CPUs > 0 && l.CPUs < 0.01) || l.CPUs > 1<<16:
			t.Fatalf("ParseArgs(%q): cpus %v", args, l.CPUs)
		case l.Pids < 0:
			t.Fatalf("ParseArgs(%q): pids %d", args, l.Pids)
		case l.IOWeight != 0 && (l.IOWeight < 10 || l.IOWeight > 1000):
			t.Fatalf("ParseArgs(%q): io weight %d", args, l.IOWeight)
		}
		for k := range l.Explicit {
			if !slices.Contains(limitOptions, k) {
				t.Fatalf("ParseArgs(%q): explicit limit %q", args, k)
			}
		}
	})
}
