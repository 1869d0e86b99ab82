package policy

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"golang.org/x/tools/txtar"
)

// The fuzz targets of the two parsers. Their seeds are the project's own input files,
// the inputs of gen's golden tests, and lines made to probe the syntax. Run one for a
// bounded time with
//
//	go test -run '^$' -fuzz FuzzParseSyscalls -fuzztime 30s ./internal/policy
//	go test -run '^$' -fuzz FuzzParseCaps -fuzztime 30s ./internal/policy

// seeds adds the file named name of the project and of every golden archive of gen to f.
func seeds(f *testing.F, name string, more ...string) {
	if b, err := os.ReadFile(filepath.Join("../..", name)); err == nil {
		f.Add(b)
	}
	golden, _ := filepath.Glob("../../gen/testdata/*.txtar")
	if len(golden) == 0 {
		f.Fatal("no golden archives in ../../gen/testdata")
	}
	for _, p := range golden {
		ar, err := txtar.ParseFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range ar.Files {
			if file.Name == name {
				f.Add(file.Data)
			}
		}
	}
	for _, s := range more {
		f.Add([]byte(s))
	}
}

// inputLines returns the lines of data as bufio.ScanLines splits them, numbered from
// 1, and which of them hold something other than a comment, or are too long to read
// (both deserve a diagnostic).
func inputLines(data []byte) (lines []string, content map[int]bool) {
	content = map[int]bool{}
	text := string(data)
	text = strings.TrimSuffix(text, "\n")
	if len(data) == 0 {
		return nil, content
	}
	for i, l := range strings.Split(text, "\n") {
		l = strings.TrimSuffix(l, "\r")
		lines = append(lines, l)
		if before, _, _ := strings.Cut(l, "#"); len(strings.Fields(before)) > 0 || len(l) >= bufio.MaxScanTokenSize {
			content[i+1] = true
		}
	}
	return lines, content
}

var diagnostic = regexp.MustCompile(`^(syscalls|caps)\.txt:([0-9]+): .+$`)

// checkDiagnostics fails t unless err is one "file:line: message" per line, each at a
// line of the input that holds something.
func checkDiagnostics(t *testing.T, err error, content map[int]bool) {
	t.Helper()
	for _, d := range strings.Split(err.Error(), "\n") {
		m := diagnostic.FindStringSubmatch(d)
		if m == nil {
			t.Fatalf("diagnostic %.200q is not file:line: message", d)
		}
		if n, _ := strconv.Atoi(m[2]); !content[n] {
			t.Fatalf("diagnostic %.200q: line %d holds nothing to parse", d, n)
		}
	}
}

// FuzzParseSyscalls: ParseSyscalls never panics; it either reports problems as
// file:line diagnostics at lines that hold a rule, or returns one rule for every such
// line, in the file's order, sorted by name, each well formed, and the same rules
// every time.
func FuzzParseSyscalls(f *testing.F) {
	seeds(f, "syscalls.txt",
		"read\nwrite\n", "read # why\n\n# comment\nwrite\r\n",
		"clone [!s390x] arg0 & CLONE_NEWNS|CLONE_NEWUSER == 0\nclone [s390x] arg1 & CLONE_NEWNS == 0\n",
		"ioctl arg1 not in TIOCSTI TIOCLINUX\n", "personality arg0 in 0 8 0x20000 0xffffffff\n",
		"socket arg0 != 40\n", "socket arg0 not in 38 40@vsock; if arg0 == 16 then arg2 not in 9@audit 15\n",
		"socketcall [compat] arg0 != 1@socketcall\nsocketcall [!compat]\n", "x [compat amd64]\n", "x if arg0 == 1 then\n",
		"x if arg0 == 1@a then arg1 == 2\n", "x arg0 in 1@a\n", "x arg0 == 1;\n", "x [amd64 arm64]\n", "x [ amd64 ]\n", "x [!amd64 !arm64]\n", "x [amd64\n", "x []\n",
		"x ]\n", "x [amd64] [arm64]\n", "x arg6 == 1\n", "x arg0 == |1\n", "x arg0 == A||B\n", "x arg0 == 1a\n",
		"b\na\n", "a\na\n", "a [amd64]\na [arm64]\n", "a [amd64]\na [!arm64]\n", "Read\n", "a-b\n", "a\x00\n",
		"read\n"+strings.Repeat("x", 70000)+"\nwrite\n", strings.Repeat("a\n", 3)+"zz\n"+strings.Repeat("#\n", 5000)+"zzz\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSyscalls("syscalls.txt", data)
		lines, content := inputLines(data)
		if err != nil {
			if s != nil {
				t.Fatalf("ParseSyscalls(%.200q) = %d rules and %v", data, len(s.Rules), err)
			}
			checkDiagnostics(t, err, content)
			return
		}
		rules := s.Rules
		if len(rules) != len(content) {
			t.Fatalf("ParseSyscalls(%.200q) = %d rules, want one for each of the %d lines that hold one", data, len(rules), len(content))
		}
		for i, r := range rules {
			if !content[r.Line] || strings.Fields(strings.SplitN(lines[r.Line-1], "#", 2)[0])[0] != r.Name {
				t.Fatalf("rule %q at line %d: the line is %q", r.Name, r.Line, lines[r.Line-1])
			}
			if !validName(r.Name) || (i > 0 && (r.Line <= rules[i-1].Line || r.Name < rules[i-1].Name)) {
				t.Fatalf("rule %d %q (line %d) out of order or badly named", i, r.Name, r.Line)
			}
			for _, a := range r.Arches {
				if _, ok := LookupArch(a); !ok {
					t.Fatalf("rule %q: unknown arch %q", r.Name, a)
				}
			}
			if r.Arches != nil && len(r.Arches) == 0 {
				t.Fatalf("rule %q: empty arch list", r.Name)
			}
			for _, c := range r.Tests {
				for c := range chain(c) {
					if c.Arg > 5 || len(c.Values) == 0 || (c.Op != In && c.Op != NotIn && c.Op != MaskedEQ) || (c.Op == MaskedEQ && len(c.Values) != 1) {
						t.Fatalf("rule %q: condition %+v", r.Name, c)
					}
					for _, v := range c.Values {
						if v.Lift != "" && (c.Op != NotIn || !validLift(v.Lift)) {
							t.Fatalf("rule %q: lift %q on %v", r.Name, v.Lift, c.Op)
						}
						for _, term := range v.Expr {
							if !isNumber(term) && !validConst(term) {
								t.Fatalf("rule %q: value term %q", r.Name, term)
							}
						}
					}
				}
				if c.When != nil && (c.When.When != nil || c.When.Lifts()) {
					t.Fatalf("rule %q: an if with an if, or with a lift: %+v", r.Name, c.When)
				}
			}
			for _, o := range rules[:i] {
				if o.Name == r.Name && overlap(&o, &r) {
					t.Fatalf("rules %q at lines %d and %d overlap", r.Name, o.Line, r.Line)
				}
			}
		}
		if again, err := ParseSyscalls("syscalls.txt", data); err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("ParseSyscalls(%.200q) differs the second time: %v", data, err)
		}
	})
}

// chain yields t and the tests it depends on.
func chain(t *Test) func(func(*Test) bool) {
	return func(yield func(*Test) bool) {
		for c := t; c != nil; c = c.When {
			if !yield(c) {
				return
			}
		}
	}
}

// capConsts are the CAP_* constants as gen finds them in x/sys.
var capConsts = map[string]uint64{
	"CAP_AUDIT_CONTROL": unix.CAP_AUDIT_CONTROL, "CAP_AUDIT_READ": unix.CAP_AUDIT_READ, "CAP_AUDIT_WRITE": unix.CAP_AUDIT_WRITE,
	"CAP_BLOCK_SUSPEND": unix.CAP_BLOCK_SUSPEND, "CAP_BPF": unix.CAP_BPF, "CAP_CHECKPOINT_RESTORE": unix.CAP_CHECKPOINT_RESTORE,
	"CAP_CHOWN": unix.CAP_CHOWN, "CAP_DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE, "CAP_DAC_READ_SEARCH": unix.CAP_DAC_READ_SEARCH,
	"CAP_FOWNER": unix.CAP_FOWNER, "CAP_FSETID": unix.CAP_FSETID, "CAP_IPC_LOCK": unix.CAP_IPC_LOCK, "CAP_IPC_OWNER": unix.CAP_IPC_OWNER,
	"CAP_KILL": unix.CAP_KILL, "CAP_LAST_CAP": unix.CAP_LAST_CAP, "CAP_LEASE": unix.CAP_LEASE,
	"CAP_LINUX_IMMUTABLE": unix.CAP_LINUX_IMMUTABLE, "CAP_MAC_ADMIN": unix.CAP_MAC_ADMIN, "CAP_MAC_OVERRIDE": unix.CAP_MAC_OVERRIDE,
	"CAP_MKNOD": unix.CAP_MKNOD, "CAP_NET_ADMIN": unix.CAP_NET_ADMIN, "CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE,
	"CAP_NET_BROADCAST": unix.CAP_NET_BROADCAST, "CAP_NET_RAW": unix.CAP_NET_RAW, "CAP_PERFMON": unix.CAP_PERFMON,
	"CAP_SETFCAP": unix.CAP_SETFCAP, "CAP_SETGID": unix.CAP_SETGID, "CAP_SETPCAP": unix.CAP_SETPCAP, "CAP_SETUID": unix.CAP_SETUID,
	"CAP_SYSLOG": unix.CAP_SYSLOG, "CAP_SYS_ADMIN": unix.CAP_SYS_ADMIN, "CAP_SYS_BOOT": unix.CAP_SYS_BOOT,
	"CAP_SYS_CHROOT": unix.CAP_SYS_CHROOT, "CAP_SYS_MODULE": unix.CAP_SYS_MODULE, "CAP_SYS_NICE": unix.CAP_SYS_NICE,
	"CAP_SYS_PACCT": unix.CAP_SYS_PACCT, "CAP_SYS_PTRACE": unix.CAP_SYS_PTRACE, "CAP_SYS_RAWIO": unix.CAP_SYS_RAWIO,
	"CAP_SYS_RESOURCE": unix.CAP_SYS_RESOURCE, "CAP_SYS_TIME": unix.CAP_SYS_TIME, "CAP_SYS_TTY_CONFIG": unix.CAP_SYS_TTY_CONFIG,
	"CAP_WAKE_ALARM": unix.CAP_WAKE_ALARM,
}

// FuzzParseCaps: ParseCaps never panics; it either reports problems as file:line
// diagnostics at lines that hold a name, or returns one capability for every such
// line: known, sorted, without duplicates, with the number x/sys gives it.
func FuzzParseCaps(f *testing.F) {
	seeds(f, "caps.txt", "CHOWN\nKILL\n", "CAP_CHOWN # with the prefix\n", "KILL\nCHOWN\n", "KILL\nKILL\n", "LAST_CAP\n",
		"CAP_LAST_CAP\n", "NOPE\n", "CHOWN KILL\n", "chown\n", "CAP_CAP_CHOWN\n", "SETUID\r\nSYS_ADMIN\r\n",
		"CHOWN\n"+strings.Repeat("K", 70000)+"\nSYS_TIME\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		caps, err := ParseCaps("caps.txt", data, capConsts)
		_, content := inputLines(data)
		if err != nil {
			if caps != nil {
				t.Fatalf("ParseCaps(%.200q) = %v and %v", data, caps, err)
			}
			checkDiagnostics(t, err, content)
			return
		}
		if len(caps) != len(content) {
			t.Fatalf("ParseCaps(%.200q) = %d capabilities, want one for each of the %d lines that hold one", data, len(caps), len(content))
		}
		var names []string
		for i, c := range caps {
			num, ok := capConsts["CAP_"+c.Name]
			if !ok || c.Name == "LAST_CAP" || num != c.Num {
				t.Fatalf("capability %q = %d, x/sys has %d (%v)", c.Name, c.Num, num, ok)
			}
			if i > 0 && c.Name <= caps[i-1].Name {
				t.Fatalf("capabilities out of order or repeated: %q after %q", c.Name, caps[i-1].Name)
			}
			names = append(names, c.Name)
		}
		if again, err := ParseCaps("caps.txt", data, capConsts); err != nil || !reflect.DeepEqual(again, caps) {
			t.Fatalf("ParseCaps(%.200q) differs the second time: %v", data, errors.Join(err, fmt.Errorf("%v", names)))
		}
		if !slices.IsSorted(names) {
			t.Fatalf("capabilities not sorted: %v", names)
		}
	})
}
