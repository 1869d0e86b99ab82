package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"launch/internal/caps"
	"launch/internal/probe/report"
	"launch/internal/testutil"
)

// The ENOSYS harness: the launcher run as if the kernel lacked chosen system calls.
// README promises Linux 4.6 and later, with a fallback wherever a newer call is
// missing; this machine's kernel has them all. So the test binary, re-executed with
// nosysEnv naming the calls, installs a seccomp filter that answers them ENOSYS, the
// answer of a kernel without them, and execs the launcher. The filter is inherited:
// the launcher, its child and the container all see the older kernel. The launcher's
// own filter comes on top; seccomp applies the stricter answer of the two.

// nosysEnv names the calls, comma-separated, that the re-executed test binary makes
// answer ENOSYS before it execs its arguments.
const nosysEnv = "LAUNCH_TEST_NOSYS"

// nosysABIs are the system-call tables of every ABI a process of this machine can
// call the kernel through: the native one, the compat one (i386 on amd64, arm on
// arm64) and x32. go-seccomp-bpf has tables for these arches only.
func nosysABIs() ([]*arch.Info, error) {
	switch runtime.GOARCH {
	case "amd64":
		return []*arch.Info{arch.X86_64, arch.I386, arch.X32}, nil
	case "386":
		return []*arch.Info{arch.I386}, nil
	case "arm64":
		return []*arch.Info{arch.AARCH64, arch.ARM}, nil
	case "arm":
		return []*arch.Info{arch.ARM}, nil
	}
	return nil, errors.New("the ENOSYS harness has no system-call table for " + runtime.GOARCH)
}

// Offsets in struct seccomp_data (linux/seccomp.h).
const (
	offNr   = 0
	offArch = 4
)

// nosysFilter assembles a filter that answers calls ENOSYS on every ABI of nosysABIs
// and allows everything else. A call written NAME=ERRNO (clone3=E2BIG) gets that
// errno instead: a kernel that has the call but not the feature asked of it. One block
// per ABI, each falling through to the next (x86_64 and x32 share an audit arch and
// are told apart by the x32 bit of the number):
//
//	ld [arch]; jne ID, next block; ld [nr]; jeq NR1, ret1; jeq NR2, ret2; ...
//	...
//	ret ALLOW
//	ret1: ret ERRNO(ENOSYS)
//	ret2: ...
func nosysFilter(calls []string) ([]bpf.Instruction, error) {
	abis, err := nosysABIs()
	if err != nil {
		return nil, err
	}
	if len(calls) == 0 {
		return nil, errors.New("no system call to answer ENOSYS")
	}
	calls = slices.Clone(calls)
	rets := make([]bpf.Instruction, len(calls))
	for i, c := range calls {
		errno := unix.ENOSYS
		if name, e, ok := strings.Cut(c, "="); ok {
			calls[i], errno = name, errnoByName(e)
			if errno == 0 {
				return nil, errors.New("unknown errno " + e)
			}
		}
		rets[i] = bpf.RetConstant{Val: uint32(seccomp.ActionErrno) | uint32(errno)}
	}
	type jump struct{ at, call int }
	var (
		prog  []bpf.Instruction
		jumps []jump
	)
	for _, a := range abis {
		prog = append(prog,
			bpf.LoadAbsolute{Off: offArch, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(a.ID), SkipTrue: uint8(1 + len(calls))},
			bpf.LoadAbsolute{Off: offNr, Size: 4})
		for i, c := range calls {
			nr, ok := a.SyscallNames[c]
			if !ok {
				return nil, errors.New("no system call " + c + " on " + a.Name)
			}
			jumps = append(jumps, jump{len(prog), i})
			prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(nr | a.SeccompMask)})
		}
	}
	prog = append(prog, bpf.RetConstant{Val: uint32(seccomp.ActionAllow)})
	first := len(prog)
	prog = append(prog, rets...)
	for _, j := range jumps {
		skip := first + j.call - j.at - 1
		if skip > 255 {
			return nil, errors.New("too many system calls for one filter")
		}
		jf := prog[j.at].(bpf.JumpIf)
		jf.SkipTrue = uint8(skip)
		prog[j.at] = jf
	}
	return prog, nil
}

// errnoByName returns the errno called name (E2BIG), or 0.
func errnoByName(name string) unix.Errno {
	for e := unix.Errno(1); e < 4096; e++ {
		if unix.ErrnoName(e) == name {
			return e
		}
	}
	return 0
}

// nosysExec is the re-executed test binary: it installs the filter of nosysEnv's
// calls and execs its arguments. It never returns.
func nosysExec(calls string) {
	fail := func(err error) {
		os.Stderr.WriteString("nosys: " + err.Error() + "\n")
		os.Exit(125)
	}
	prog, err := nosysFilter(strings.Split(calls, ","))
	if err != nil {
		fail(err)
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		fail(err)
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	// The test runs as root, which may load a filter without no_new_privs; the
	// launcher then runs as it would anywhere else. TSYNC puts the filter on every
	// thread of the runtime, so it does not matter which one execs.
	// SAFETY: fprog and filter stay alive until the call returns.
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&fprog))); e != 0 {
		fail(os.NewSyscallError("seccomp", e))
	}
	runtime.KeepAlive(filter)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, nosysEnv+"=") {
			env = append(env, kv)
		}
	}
	if len(os.Args) < 2 {
		fail(errors.New("nothing to run"))
	}
	fail(unix.Exec(os.Args[1], os.Args[1:], env))
}

// nosysVariants are the kernels TestNosys runs the container suite on: each lacks the
// calls of one fallback of launch (the kernel that brought them in brackets), the last
// all of them. A new fallback is one line.
var nosysVariants = []struct {
	name  string
	calls []string
}{
	{"openat2", []string{"openat2"}},                       // 5.6: mount targets walked with O_NOFOLLOW
	{"clone3", []string{"clone3"}},                         // 5.3: clone, then a write to cgroup.procs
	{"CLONE_INTO_CGROUP", []string{"clone3=E2BIG"}},        // 5.7: as without clone3
	{"close_range", []string{"close_range"}},               // 5.9: /proc/self/fd listed
	{"pidfd", []string{"pidfd_open", "pidfd_send_signal"}}, // 5.3: kill(2)
	{"seccomp", []string{"seccomp"}},                       // 3.17: prctl(PR_SET_SECCOMP)
	{"landlock", []string{"landlock_create_ruleset"}},      // 5.13: no exec rule, the #! checks only
	// 5.2: mount(2), each mount found again and checked (mount ID, type, inode)
	{"mount API", []string{"fsopen", "fsconfig", "fsmount", "move_mount", "open_tree"}},
	{"fsopen only", []string{"fsopen"}}, // binds by open_tree, new file systems by mount(2)
	{"all", []string{"openat2", "clone3", "close_range", "pidfd_open", "pidfd_send_signal", "seccomp",
		"landlock_create_ruleset", "fsopen", "fsconfig", "fsmount", "move_mount", "open_tree"}},
}

// TestNosys runs a representative part of the container suite on each kernel of
// nosysVariants: defaults (namespaces, mounts, capabilities, seccomp, descriptors),
// the /proc view, --bind, --init (PID 1 holding no descriptor), signals forwarded with
// and without --init, the cgroups joined, the exit statuses, and a host left as it
// was. Every launch has 20 seconds: a fallback that hangs fails.
func TestNosys(t *testing.T) {
	testutil.RequireBusybox(t)
	if _, err := nosysABIs(); err != nil {
		testutil.Skip(t, err.Error())
	}
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	os.WriteFile(filepath.Join(rootfs, "noexec"), []byte("#!/bin/sh\n"), 0o644)
	src, _ := hostDir(t)
	for _, v := range nosysVariants {
		t.Run(v.name, func(t *testing.T) {
			nosysSuite(t, w, rootfs, src, v.calls)
		})
	}
	w.check()
}

// TestNosysRequired: without a call that a container cannot do without (here calls
// every kernel since 2.6 has, which a seccomp profile around launch might refuse), the
// launch fails at once with one error line naming the step, exit 125, and leaves the
// host as it was.
func TestNosysRequired(t *testing.T) {
	if _, err := nosysABIs(); err != nil {
		testutil.Skip(t, err.Error())
	}
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	for _, tt := range []struct{ call, want string }{
		{"unshare", "launch: error: unshare: cgroup namespace: function not implemented\n"},
		{"pivot_root", "launch: error: pivot_root: " + rootfs + ": function not implemented\n"},
		{"capset", "launch: error: capset: 0x" + strconv.FormatUint(uint64(caps.Default), 16) + ": function not implemented\n"},
	} {
		r, err := w.exec(launchIO{nosys: []string{tt.call}, timeout: 20 * time.Second}, "--init", rootfs, "/probe", "exit", "0")
		if err != nil {
			t.Fatal(err)
		}
		if r.code != 125 || r.stderr != tt.want {
			t.Errorf("without %s: exit %d, stderr %q; want 125 and %q", tt.call, r.code, r.stderr, tt.want)
		}
	}
	w.check()
}

// nosysNotes are what -v says of a missing call, which shows that the harness works.
var nosysNotes = map[string]string{
	"openat2": "no openat2 (Linux 5.6)",
	"clone3":  "no clone3 (Linux 5.3)",
}

func nosysSuite(t *testing.T, w *watch, rootfs, src string, calls []string) {
	l := launchIO{nosys: calls, timeout: 20 * time.Second}
	run := func(args ...string) result {
		t.Helper()
		r, err := w.exec(l, args...)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// Defaults: every check of the expectation table, as TestDefaults makes them.
	r := run("-v", rootfs, "/probe", "report")
	if r.code != 0 {
		t.Fatalf("defaults: exit %d\nstderr: %s", r.code, r.stderr)
	}
	for _, c := range calls {
		if n, ok := nosysNotes[c]; ok && !strings.Contains(r.stderr, n) {
			t.Errorf("-v does not say %q: the harness did not take:\n%s", n, r.stderr)
		}
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("probe report: %v\n%s", err, r.stdout)
	}
	expectOK(t, rep, wantDefault(t, rootfs))
	if !slices.ContainsFunc(rep.Mounts, func(l string) bool { f := strings.Fields(l); return len(f) > 4 && f[4] == "/proc/meminfo" }) {
		t.Errorf("the /proc view's /proc/meminfo is not mounted:\n%s", strings.Join(rep.Mounts, "\n"))
	}

	// The /proc view, on by default with the memory limit.
	if r := run(rootfs, "/bin/cat", "/proc/meminfo"); r.code != 0 || meminfoKB(r.stdout)["MemTotal"] != 65536 {
		t.Errorf("/proc/meminfo: exit %d, MemTotal %d kB, want 65536\nstderr: %s", r.code, meminfoKB(r.stdout)["MemTotal"], r.stderr)
	}

	// --bind, read-only, at a path made inside ROOTFS.
	r = run("--bind", src+":/mnt/host:ro", rootfs, "/bin/sh", "-c", "cat /mnt/host/marker; echo x > /mnt/host/x")
	if r.code == 0 || r.stdout != "host only\n" || !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("--bind: exit %d, stdout %q, stderr %q; want the marker, then EROFS", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(src, "x")); err == nil {
		t.Errorf("a write through a :ro bind reached the host")
	}

	// --init: COMMAND is PID 2 under a PID 1 that holds nothing of the launcher's.
	if rep := nosysProbe(t, run, "--init", rootfs, "/probe", "report"); rep.PID != 2 || rep.PPID != 1 {
		t.Errorf("--init: COMMAND has pid %d, parent %d; want 2 under 1", rep.PID, rep.PPID)
	}

	// Signals to the launcher reach COMMAND, which runs in the launcher's cgroups,
	// with and without --init.
	for _, opts := range [][]string{nil, {"--init"}} {
		s := startWith(t, l, append(opts, rootfs, "/probe", "signals")...)
		w.started(s.cmd.Process.Pid)
		if line := s.line(t); line != "ready" {
			t.Fatalf("%v: the container said %q; stderr %s", opts, line, s.stderr)
		}
		kids := children(s.cmd.Process.Pid)
		if len(kids) != 1 {
			t.Fatalf("%v: the launcher has children %v, want one", opts, kids)
		}
		inCgroups(t, s.cmd.Process.Pid, kids[0])
		if opts != nil {
			pid1Holds(t, kids[0])
		}
		s.cmd.Process.Signal(unix.SIGTERM)
		if line := s.line(t); line != "SIGTERM" {
			t.Errorf("%v: sent SIGTERM to the launcher, the container said %q", opts, line)
		}
		if err := s.cmd.Wait(); err != nil {
			t.Errorf("%v: launch: %v (stderr %s)", opts, err, s.stderr)
		}
	}

	// Exit statuses.
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{rootfs, "/probe", "exit", "0"}, 0},
		{[]string{rootfs, "/probe", "exit", "3"}, 3},
		{[]string{rootfs, "nosuchcommand"}, 127},
		{[]string{rootfs, "/noexec"}, 126},
		{[]string{"--init", rootfs, "/bin/sh", "-c", "kill -USR1 $$"}, 128 + int(unix.SIGUSR1)},
		{[]string{"--workdir", "/nope", rootfs, "/probe", "exit", "0"}, 125},
	} {
		r := run(tt.args...)
		if r.code != tt.code {
			t.Errorf("launch %q: exit %d, want %d\nstderr: %s", tt.args, r.code, tt.code, r.stderr)
		}
		if tt.code >= 125 && tt.code <= 127 && !strings.HasPrefix(r.stderr, "launch: error: ") {
			t.Errorf("launch %q: stderr %q, want an error line", tt.args, r.stderr)
		}
	}
	w.check()
}

// nosysProbe runs /probe report with run and returns the report.
func nosysProbe(t *testing.T, run func(args ...string) result, args ...string) report.Report {
	t.Helper()
	r := run(args...)
	var rep report.Report
	if r.code != 0 {
		t.Fatalf("launch %q: exit %d\nstderr: %s", args, r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("probe report: %v\n%s", err, r.stdout)
	}
	return rep
}

// inCgroups fails t unless process pid is in every cgroup the launcher made: the
// cgroup v2 one too, which it joins with clone3 or, without, through cgroup.procs.
func inCgroups(t *testing.T, launcher, pid int) {
	t.Helper()
	dirs := cgroupDirs(t, launcher)
	if len(dirs) == 0 {
		t.Fatalf("the launcher %d has no cgroups", launcher)
	}
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(strings.Fields(string(b)), strconv.Itoa(pid)) {
			t.Errorf("the container (%d) is not in %s: %q", pid, d, b)
		}
	}
}

// pid1Holds fails t if PID 1 of an --init container, pid on the host, holds any
// descriptor but 0, 1, 2 and its own signalfd once it has settled: the launcher's
// error pipe among them would keep the launcher waiting for ever. PID 1 closes them
// after it has forked COMMAND, and nothing tells the host when a process closes a
// descriptor: polled, for up to two seconds.
func pid1Holds(t *testing.T, pid int) {
	t.Helper()
	var names []string
	for i := 0; i < 100; i++ {
		ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
		names = names[:0]
		signalfd := false
		for _, e := range ents {
			if n := e.Name(); n != "0" && n != "1" && n != "2" {
				target, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + n)
				if target == "anon_inode:[signalfd]" && !signalfd {
					signalfd = true // how PID 1 reads its signals
					continue
				}
				names = append(names, n+" -> "+target)
			}
		}
		if len(names) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("--init: PID 1 holds descriptors %v", names)
}

// TestNosysFilter runs the harness's filter in golang.org/x/net/bpf's VM: each call
// named gets its answer on every ABI, and any other call, or another arch's, passes.
func TestNosysFilter(t *testing.T) {
	abis, err := nosysABIs()
	if err != nil {
		testutil.Skip(t, err.Error())
	}
	prog, err := nosysFilter([]string{"openat2", "clone3=E2BIG", "close_range"})
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	// The VM loads words big-endian, whatever the host: see gen's seccompData.
	run := func(a *arch.Info, nr int) string {
		data := make([]byte, 64) // struct seccomp_data
		binary.BigEndian.PutUint32(data[offNr:], uint32(nr|a.SeccompMask))
		binary.BigEndian.PutUint32(data[offArch:], uint32(a.ID))
		v, err := vm.Run(data)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case uint32(v) == uint32(seccomp.ActionAllow):
			return "allow"
		case uint32(v)&^0xffff == uint32(seccomp.ActionErrno):
			return unix.ErrnoName(unix.Errno(v & 0xffff))
		}
		return "unknown"
	}
	for _, a := range abis {
		for name, want := range map[string]string{"openat2": "ENOSYS", "clone3": "E2BIG", "close_range": "ENOSYS", "getpid": "allow", "close": "allow"} {
			if got := run(a, a.SyscallNames[name]); got != want {
				t.Errorf("%s %s: %s, want %s", a.Name, name, got, want)
			}
		}
	}
	other := arch.PPC64LE // no process here calls through it
	if got := run(&arch.Info{ID: other.ID}, abis[0].SyscallNames["openat2"]); got != "allow" {
		t.Errorf("another arch's call with openat2's number: %s, want allow", got)
	}
	if _, err := nosysFilter([]string{"nosuchcall"}); err == nil {
		t.Errorf("nosysFilter of an unknown call: no error")
	}

	// For real: the probe, run on the host through the harness, gets the answers;
	// without it, the kernel's (arguments 5 and 4 are invalid for each call).
	testutil.RequireRoot(t)
	probe := testutil.Build(t, "./internal/probe")
	for _, tt := range []struct{ call, name, want string }{
		{"openat2", "openat2", "ENOSYS"}, {"clone3=E2BIG", "clone3", "E2BIG"}, {"close_range", "close_range", "ENOSYS"},
	} {
		nr := strconv.Itoa(abis[0].SyscallNames[tt.name])
		cmd := exec.Command(os.Args[0], probe, "try", "syscall", nr, "5", "4")
		cmd.Env = append(os.Environ(), nosysEnv+"="+tt.call)
		out, err := cmd.CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != tt.want {
			t.Errorf("%s under the harness: %q %v, want %s", tt.name, out, err, tt.want)
		}
		out, _ = exec.Command(probe, "try", "syscall", nr, "5", "4").CombinedOutput()
		if got := strings.TrimSpace(string(out)); got == tt.want {
			t.Errorf("%s without the harness: %s too", tt.name, got)
		}
	}
}
