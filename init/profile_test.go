package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"launch/internal/probe/report"
	"launch/internal/testutil"
)

// TestSeccompProfile: --seccomp=FILE loads the profile instead of the built-in filter,
// and the container meets its rules from inside: an errno of its own, a rule by
// argument that compares all 64 bits, the compat ABI admitted only when the profile
// names it. A bad profile is one line, exit 125, and nothing left on the host.
func TestSeccompProfile(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const rules = `"syscalls": [
		{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
		{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [{"index": 0, "value": 4242, "op": "SCMP_CMP_EQ"}]}]`
	native := write("native.json", `{"defaultAction": "SCMP_ACT_ALLOW", `+rules+`}`)
	getpgid := strconv.Itoa(unix.SYS_GETPGID)
	for _, c := range []struct {
		op   []string
		want string
	}{
		{[]string{"mkdir", "/tmp/x"}, "ENOSYS"},
		{[]string{"syscall", getpgid, "4242"}, "EACCES"},
		{[]string{"syscall", getpgid, "0"}, "ok"},
		// The kernel reads pid 4242 from it; the profile compares all 64 bits.
		{[]string{"syscall", getpgid, strconv.FormatUint(1<<32|4242, 10)}, "ESRCH"},
		// Not in the profile: the built-in filter's refusal is gone.
		{[]string{"personality", "0x400000"}, "ok"},
	} {
		if got := w.try(rootfs, []string{"--seccomp=" + native}, c.op...); got != c.want {
			t.Errorf("--seccomp=%s: try %v = %q, want %q", native, c.op, got, c.want)
		}
	}
	r := w.run("--seccomp", native, rootfs, "/probe", "report")
	var rep report.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != 0 || err != nil || rep.Status["Seccomp"] != "2" || rep.Status["NoNewPrivs"] != "1" {
		t.Errorf("the probe's report under the profile: exit %d, %v, Seccomp %q NoNewPrivs %q, want 2 and 1 (%s)", r.code, err, rep.Status["Seccomp"], rep.Status["NoNewPrivs"], r.stderr)
	}

	if runtime.GOARCH == "amd64" {
		addProbe32(t, rootfs)
		// The profile names no architectures: a 386 program is killed at its first call.
		for _, opts := range [][]string{nil, {"--init"}} {
			r := w.run(append(append([]string{"--seccomp", native}, opts...), rootfs, "/probe32", "try", "mkdir", "/tmp/x")...)
			if r.code != 128+int(unix.SIGSYS) || !strings.Contains(r.stderr, "launch: COMMAND was killed by SIGSYS: the system-call filter kills a call through an ABI it does not admit") {
				t.Errorf("a 386 program under a profile of amd64 only %v: exit %d (%s %s), want %d and a word on SIGSYS", opts, r.code, r.stdout, r.stderr, 128+int(unix.SIGSYS))
			}
		}
		both := write("both.json", `{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}], `+rules+`}`)
		if got := w.try(rootfs, []string{"--seccomp=" + both}, "mkdir", "/tmp/x"); got != "ENOSYS" {
			t.Errorf("archMap with SCMP_ARCH_X86, the 64-bit probe: mkdir %q, want ENOSYS", got)
		}
		r := w.run("--seccomp", both, rootfs, "/probe32", "try", "mkdir", "/tmp/x")
		if got := strings.TrimSpace(r.stdout); r.code != 0 || got != "ENOSYS" {
			t.Errorf("archMap with SCMP_ARCH_X86, a 386 program: exit %d, mkdir %q (%s), want ENOSYS", r.code, got, r.stderr)
		}
		// A refusal of socket(2) holds for a 386 program's socketcall(SYS_SOCKET) too,
		// which is how Go (and older libcs) make sockets there.
		nosock := write("nosock.json", `{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
			"syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}`)
		for _, op := range []string{"socket", "socket-libc"} {
			r := w.run("--seccomp", nosock, rootfs, "/probe32", "try", op, "1")
			if got := strings.TrimSpace(r.stdout); r.code != 0 || got != "EACCES" {
				t.Errorf("a refusal of socket, a 386 program's %s: exit %d, %q (%s), want EACCES", op, r.code, got, r.stderr)
			}
		}
	}

	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, want string }{
		{filepath.Join(dir, "none.json"), "no such file or directory"},
		{write("bad.json", "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n}"), "cannot parse JSON"},
		{write("action.json", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}`), "syscalls[0]: SCMP_ACT_NOTIFY"},
		{write("op.json", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "op": "SCMP_CMP_EQ"}]}]}`), "index 9"},
		{fifo, "not a regular file"},
		{"/dev/zero", "not a regular file"},
		{dir, "not a regular file"},
	} {
		r := w.run("--seccomp", c.file, rootfs, "/probe")
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code != 125 || len(lines) != 1 || !strings.Contains(lines[0], "--seccomp "+c.file+": ") || !strings.Contains(lines[0], c.want) {
			t.Errorf("--seccomp %s: exit %d, stderr %q; want 125 and one line naming the file and %q", c.file, r.code, r.stderr, c.want)
		}
	}
	// A profile must leave launch the calls it makes under it; --init's PID 1 needs
	// wait4 for the container's life (it would never reap, and never end).
	// A rule with arguments counts: PID 1's wait4(-1, ...) would be refused by one on
	// arg0 != 0, which a call with zero arguments passes.
	nowait := write("nowait.json", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_ERRNO"},
		{"names": ["wait4"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]}]}`)
	noclone := write("noclone.json", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ERRNO"}]}`)
	for _, c := range []struct {
		file string
		opts []string
		want string
	}{
		{nowait, nil, "(to start COMMAND), or some of their arguments: execve"},
		{nowait, []string{"--init"}, "(to start COMMAND, and in --init's PID 1), or some of their arguments: execve, wait4"},
		{noclone, []string{"--init"}, "(to start COMMAND, and in --init's PID 1), or some of their arguments: clone"},
	} {
		r := w.run(append(append([]string{"--seccomp", c.file}, c.opts...), rootfs, "/probe")...)
		if r.code != 125 || !strings.Contains(r.stderr, "the profile refuses calls launch makes under it "+c.want) {
			t.Errorf("--seccomp %s %v: exit %d, %q; want 125 and %q", c.file, c.opts, r.code, r.stderr, c.want)
		}
	}
	r = w.run("--seccomp", native, "--allow-socket", "packet", rootfs, "/probe")
	if r.code != 125 || !strings.Contains(r.stderr, "--allow-socket lifts a refusal of the built-in filter") {
		t.Errorf("--seccomp=FILE with --allow-socket: exit %d, %q", r.code, r.stderr)
	}
	w.check()
}
