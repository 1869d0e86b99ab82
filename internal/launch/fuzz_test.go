package launch

import (
	"bytes"
	"errors"
	"math"
	"path"
	"reflect"
	"regexp"
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
		{"--hostname", "a\tb", "/r", "cmd"}, {"-memory", "64M", "/r", "cmd"}, {"--gc", "extra", "words"}, {"--v", "/r", "cmd"},
		{"-m=64M", "/r", "cmd"}, {"--help", "-x", "junk"}, {"-h", "--gc", "x"}, {"\x7f0"},
	} {
		f.Add(strings.Join(args, "\n"))
	}
	f.Fuzz(func(t *testing.T, in string) {
		var args []string
		if in != "" {
			args = strings.Split(in, "\n")
		}
		checkParseArgs(t, args)
	})
}

// FuzzOptionValue: every option, with any value, as FuzzParseArgs checks a command
// line: each option's own parser gets the whole input, which FuzzParseArgs reaches
// only once it has found the option's name.
//
//	go test -run '^$' -fuzz FuzzOptionValue -fuzztime 30s ./internal/launch
func FuzzOptionValue(f *testing.F) {
	for _, v := range []string{"", "0", "max", "64M", "1.5", "0-2,4", "/a:/b:ro", "1000:100", "K=V", "/srv",
		"host", "default", "on", "ALL", "a-1.b", "a\x00b", "-1", "9223372036854775807", "1e308", "NaN", "\xff"} {
		for i := range options {
			f.Add(uint8(i), v, false)
		}
	}
	f.Fuzz(func(t *testing.T, i uint8, value string, equals bool) {
		o := options[int(i)%len(options)]
		name := "--" + o.names[0]
		var args []string
		switch {
		case o.arg == "" && equals:
			args = []string{name + "=" + value, "/r", "cmd"}
		case o.arg == "":
			args = []string{name, "/r", "cmd"}
		case equals:
			args = []string{name + "=" + value, "/r", "cmd"}
		default:
			args = []string{name, value, "/r", "cmd"}
		}
		checkParseArgs(t, args)
	})
}

// checkParseArgs checks what ParseArgs makes of args: a usage error that Report prints
// as one error line and a hint, with exit status 125, or a Config that is consistent
// (see FuzzParseArgs).
func checkParseArgs(t *testing.T, args []string) {
	t.Helper()
	{
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
			for _, r := range lines[0] {
				if r < ' ' || r == 0x7f {
					t.Fatalf("Report(ParseArgs(%q)): the error line %q holds a control character", args, lines[0])
				}
			}
			return
		}
		checkOptionForms(t, args, c)
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
		if h := c.Hostname; len(h) > 64 || !hostnameRE.MatchString(h) {
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
		if u := c.User; u != nil && (u.UID < 0 || u.GID < 0 || int64(u.UID) >= math.MaxUint32 || int64(u.GID) >= math.MaxUint32) {
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
	}
}

// hostnameRE is RFC 1123's hostname: dot-separated labels of 1 to 63 letters, digits
// and hyphens, neither first nor last a hyphen.
var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// checkOptionForms checks a command line ParseArgs accepted: every argument before
// ROOTFS (or, with --help, --version or --gc, every argument) is "--", --LONG[=V] or
// -S[=V] of an option of the table, or the value of the one before; nothing follows
// --gc's options.
func checkOptionForms(t *testing.T, args []string, c *Config) {
	t.Helper()
	end := len(args)
	if c.Rootfs != "" {
		end = len(args) - len(c.Command) - 1
	}
	for i := 0; i < end; i++ {
		a := args[i]
		if a == "--" {
			if c.GC && i != len(args)-1 {
				t.Fatalf("ParseArgs(%q): --gc accepted with arguments after --", args)
			}
			break
		}
		name, _, hasValue := strings.Cut(a, "=")
		var o *option
		for j := range options {
			for _, n := range options[j].names {
				if (len(n) > 1 && name == "--"+n) || (len(n) == 1 && name == "-"+n) {
					o = &options[j]
				}
			}
		}
		switch {
		case o == nil && (c.Help || c.Version) && !c.GC:
			return // --help and --version ignore what follows them
		case o == nil:
			t.Fatalf("ParseArgs(%q): accepted %q where an option belongs", args, a)
		case o.arg != "" && !hasValue:
			i++ // its value
		}
	}
}
