package main

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

	"launch/internal/testutil"
)

// The fuzz targets of gen's two parsers. Their seeds are the project's own input
// files, the inputs of the golden tests, and lines made to probe the syntax. Run one
// for a bounded time with
//
//	go test -run '^$' -fuzz FuzzParseSyscalls -fuzztime 30s ./gen
//	go test -run '^$' -fuzz FuzzParseCaps -fuzztime 30s ./gen

// seeds adds the file named name of the project and of every golden archive to f.
func seeds(f *testing.F, name string, more ...string) {
	if b, err := os.ReadFile(filepath.Join("..", name)); err == nil {
		f.Add(b)
	}
	for _, fx := range testutil.Fixtures(f) {
		if b := fx.File(name); b != nil {
			f.Add(b)
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

// FuzzParseSyscalls: parseSyscalls never panics; it either reports problems as
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
		rules, err := parseSyscalls("syscalls.txt", data)
		lines, content := inputLines(data)
		if err != nil {
			if rules != nil {
				t.Fatalf("parseSyscalls(%.200q) = %d rules and %v", data, len(rules), err)
			}
			checkDiagnostics(t, err, content)
			return
		}
		if len(rules) != len(content) {
			t.Fatalf("parseSyscalls(%.200q) = %d rules, want one for each of the %d lines that hold one", data, len(rules), len(content))
		}
		for i, r := range rules {
			if !content[r.line] || strings.Fields(strings.SplitN(lines[r.line-1], "#", 2)[0])[0] != r.name {
				t.Fatalf("rule %q at line %d: the line is %q", r.name, r.line, lines[r.line-1])
			}
			if !validName(r.name) || (i > 0 && (r.line <= rules[i-1].line || r.name < rules[i-1].name)) {
				t.Fatalf("rule %d %q (line %d) out of order or badly named", i, r.name, r.line)
			}
			for _, a := range r.arches {
				if _, ok := auditArches[a]; !ok {
					t.Fatalf("rule %q: unknown arch %q", r.name, a)
				}
			}
			if r.arches != nil && len(r.arches) == 0 {
				t.Fatalf("rule %q: empty arch list", r.name)
			}
			for _, c := range r.conds {
				for c := range chain(c) {
					if c.arg > 5 || len(c.values) == 0 || (c.op != "in" && c.op != "not in" && c.op != "mask") || (c.op == "mask" && len(c.values) != 1) {
						t.Fatalf("rule %q: condition %+v", r.name, c)
					}
					for _, v := range c.values {
						if v.lift != "" && (c.op != "not in" || !validLift(v.lift)) {
							t.Fatalf("rule %q: lift %q on %q", r.name, v.lift, c.op)
						}
						for _, term := range v.expr {
							if !isNumber(term) && !validConst(term) {
								t.Fatalf("rule %q: value term %q", r.name, term)
							}
						}
					}
				}
				if c.when != nil && (c.when.when != nil || c.when.lifts()) {
					t.Fatalf("rule %q: an if with an if, or with a lift: %+v", r.name, c.when)
				}
			}
			for _, o := range rules[:i] {
				if o.name == r.name && overlap(&o, &r) {
					t.Fatalf("rules %q at lines %d and %d overlap", r.name, o.line, r.line)
				}
			}
		}
		if again, err := parseSyscalls("syscalls.txt", data); err != nil || !reflect.DeepEqual(again, rules) {
			t.Fatalf("parseSyscalls(%.200q) differs the second time: %v", data, err)
		}
	})
}

// chain yields c and the conds it depends on.
func chain(c *cond) func(func(*cond) bool) {
	return func(yield func(*cond) bool) {
		for ; c != nil; c = c.when {
			if !yield(c) {
				return
			}
		}
	}
}

// capConsts are the CAP_* constants as loadTables finds them in x/sys.
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

// FuzzParseCaps: parseCaps never panics; it either reports problems as file:line
// diagnostics at lines that hold a name, or returns one capability for every such
// line: known, sorted, without duplicates, with the number x/sys gives it.
func FuzzParseCaps(f *testing.F) {
	seeds(f, "caps.txt", "CHOWN\nKILL\n", "CAP_CHOWN # with the prefix\n", "KILL\nCHOWN\n", "KILL\nKILL\n", "LAST_CAP\n",
		"CAP_LAST_CAP\n", "NOPE\n", "CHOWN KILL\n", "chown\n", "CAP_CAP_CHOWN\n", "SETUID\r\nSYS_ADMIN\r\n",
		"CHOWN\n"+strings.Repeat("K", 70000)+"\nSYS_TIME\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		caps, err := parseCaps("caps.txt", data, capConsts)
		_, content := inputLines(data)
		if err != nil {
			if caps != nil {
				t.Fatalf("parseCaps(%.200q) = %v and %v", data, caps, err)
			}
			checkDiagnostics(t, err, content)
			return
		}
		if len(caps) != len(content) {
			t.Fatalf("parseCaps(%.200q) = %d capabilities, want one for each of the %d lines that hold one", data, len(caps), len(content))
		}
		var names []string
		for i, c := range caps {
			num, ok := capConsts["CAP_"+c.name]
			if !ok || c.name == "LAST_CAP" || num != c.num {
				t.Fatalf("capability %q = %d, x/sys has %d (%v)", c.name, c.num, num, ok)
			}
			if i > 0 && c.name <= caps[i-1].name {
				t.Fatalf("capabilities out of order or repeated: %q after %q", c.name, caps[i-1].name)
			}
			names = append(names, c.name)
		}
		if again, err := parseCaps("caps.txt", data, capConsts); err != nil || !reflect.DeepEqual(again, caps) {
			t.Fatalf("parseCaps(%.200q) differs the second time: %v", data, errors.Join(err, fmt.Errorf("%v", names)))
		}
		if !slices.IsSorted(names) {
			t.Fatalf("capabilities not sorted: %v", names)
		}
	})
}
