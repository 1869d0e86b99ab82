package profile

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"launch/internal/policy"
	"launch/internal/testutil"
)

// load compiles p for every ABI of this GOARCH and loads the filter into the BPF VM.
func load(t *testing.T, p *Profile, c Container) (*bpf.VM, *Program) {
	t.Helper()
	prog, err := p.compile(abis, c)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	raw := make([]bpf.RawInstruction, len(prog.Filter))
	for i, f := range prog.Filter {
		raw[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	return testutil.VM(t, raw), prog
}

// call returns the VM's answer to the call name of a with args.
func call(t *testing.T, v *bpf.VM, a *abi, name string, args ...uint64) policy.Action {
	t.Helper()
	nr, ok := a.nr(name)
	if !ok {
		t.Fatalf("%s has no %s", a.goarch, name)
	}
	return callNr(t, v, a, nr, args...)
}

func callNr(t *testing.T, v *bpf.VM, a *abi, nr uint32, args ...uint64) policy.Action {
	t.Helper()
	got, err := v.Run(policy.VMData(a.bigEndian, a.audit, nr, args...))
	if err != nil {
		t.Fatal(err)
	}
	return policy.Action(got)
}

func parse(t *testing.T, s string) *Profile {
	t.Helper()
	p, err := Parse(strings.NewReader(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func need(t *testing.T) {
	if len(abis) == 0 {
		t.Skip("no system-call tables for GOARCH " + runtime.GOARCH)
	}
}

var (
	eperm  = policy.Errno(unix.EPERM)
	enosys = policy.Errno(unix.ENOSYS)
)

// TestRules: each action, errno, argument op, the order of rules, a rule that tests
// one argument twice, and a name no table has, as the VM answers them.
func TestRules(t *testing.T) {
	need(t)
	p := parse(t, `{
		"defaultAction": "SCMP_ACT_ERRNO",
		"syscalls": [
			{"names": ["read", "write", "nosuch_call"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
			{"names": ["getpid"], "action": "SCMP_ACT_KILL"},
			{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"},
			{"names": ["getuid"], "action": "SCMP_ACT_TRAP"},
			{"names": ["getgid"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
			{"names": ["geteuid"], "action": "SCMP_ACT_LOG"},
			{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
			{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}]},
			{"names": ["dup3"], "action": "SCMP_ACT_ALLOW", "args": [
				{"index": 0, "value": 10, "op": "SCMP_CMP_LT"}, {"index": 1, "value": 3, "op": "SCMP_CMP_GE"}]},
			{"names": ["pipe2"], "action": "SCMP_ACT_ALLOW", "args": [
				{"index": 0, "value": 10, "op": "SCMP_CMP_LT"}, {"index": 1, "value": 524288, "op": "SCMP_CMP_LE"}]},
			{"names": ["dup3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9},
			{"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [
				{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 15, "op": "SCMP_CMP_EQ"}]},
			{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
			{"names": ["setns"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 4294967296, "op": "SCMP_CMP_NE"}]},
			{"names": ["lseek"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 2, "value": 2, "op": "SCMP_CMP_LE"}]},
			{"names": ["lseek"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22, "args": [{"index": 2, "value": 1, "op": "SCMP_CMP_GT"}]}
		]}`)
	v, prog := load(t, p, Container{})
	if !slices.Contains(prog.Skipped, "nosuch_call") || slices.Contains(prog.Skipped, "read") {
		t.Errorf("skipped %v, want nosuch_call only", prog.Skipped)
	}
	a := abis[0]
	for _, c := range []struct {
		name string
		args []uint64
		want policy.Action
	}{
		{"read", nil, policy.Allow},
		{"write", nil, policy.Allow},
		{"close", nil, eperm},
		{"mkdirat", nil, policy.Errno(unix.ENOSYS)},
		{"getpid", nil, policy.KillThread},
		{"getppid", nil, policy.KillProcess},
		{"getuid", nil, policy.Trap},
		{"getgid", nil, policy.Trace(7)},
		{"geteuid", nil, policy.Log},
		{"personality", []uint64{8}, policy.Allow},
		{"personality", []uint64{0xffffffff}, policy.Allow},
		{"personality", []uint64{0xffffffffffffffff}, eperm}, // all 64 bits are compared
		{"personality", []uint64{8 | 1<<32}, eperm},
		{"personality", []uint64{0}, eperm},
		{"dup3", []uint64{9, 3}, policy.Errno(unix.EBADF)}, // the rule without arguments decides
		{"dup3", []uint64{10, 3}, policy.Errno(unix.EBADF)},
		{"pipe2", []uint64{0, 0}, policy.Allow},
		{"pipe2", []uint64{0, unix.O_CLOEXEC}, policy.Allow},
		{"pipe2", []uint64{0, 1 << 20}, eperm},
		{"kill", []uint64{1, 9}, policy.Allow}, // two tests of one argument: either
		{"kill", []uint64{1, 15}, policy.Allow},
		{"kill", []uint64{1, 2}, eperm},
		{"clone", []uint64{uint64(unix.SIGCHLD)}, policy.Allow},
		{"clone", []uint64{unix.CLONE_NEWNS | uint64(unix.SIGCHLD)}, eperm},
		{"setns", []uint64{3, 0}, policy.Allow},
		{"setns", []uint64{3, 1 << 32}, eperm},
		{"lseek", []uint64{0, 0, 2}, policy.Allow},
		{"lseek", []uint64{0, 0, 3}, policy.Errno(unix.EINVAL)},
	} {
		if got := call(t, v, a, c.name, c.args...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.args, got, c.want)
		}
	}
	if got := callNr(t, v, a, a.maxNr+1); got != enosys {
		t.Errorf("a number past the table = %v, want ENOSYS", got)
	}
	if len(abis) > 1 {
		// No architectures: the native ABI only.
		if got := call(t, v, abis[1], "read"); got != policy.KillProcess {
			t.Errorf("%s read = %v, want the process killed", abis[1].goarch, got)
		}
	}
	if got, err := v.Run(policy.VMData(false, 0x1234, 0)); err != nil || policy.Action(got) != policy.KillProcess {
		t.Errorf("a foreign audit arch = %v, %v, want the process killed", policy.Action(got), err)
	}
}

// TestX32: on x86_64, a call with the x32 bit in its number is another ABI's, which no
// profile admits: a profile that allows what it does not name (a list of refusals)
// must not allow x32's mkdir, which would pass its refusal of x86_64's mkdir. It gets
// ENOSYS, as under runc.
func TestX32(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("x32 is x86_64's")
	}
	v, _ := load(t, parse(t, `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}`), Container{})
	a := abis[0]
	nr, _ := a.nr("mkdir")
	const x32 = 0x40000000
	for n, want := range map[uint32]policy.Action{nr: eperm, a.maxNr + 1: policy.Allow, x32 - 1: policy.Allow, x32 | nr: enosys, 0xffffffff: enosys} {
		if got := callNr(t, v, a, n); got != want {
			t.Errorf("number %#x = %v, want %v", n, got, want)
		}
	}
}

// TestArches: architectures and archMap admit the native ABI and the compat ones they
// name; Docker's includes and excludes select rules by capability, arch and kernel.
func TestArches(t *testing.T) {
	need(t)
	if len(abis) < 2 {
		t.Skip("GOARCH " + runtime.GOARCH + " has no compat ABI")
	}
	nat, compat := abis[0], abis[1]
	for _, src := range []string{
		`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["` + compat.scmp + `", "SCMP_ARCH_X32"], "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}`,
		`{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_PPC64LE", "subArchitectures": ["SCMP_ARCH_PPC64"]},
			{"architecture": "` + nat.scmp + `", "subArchitectures": ["` + compat.scmp + `"]}], "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}`,
	} {
		v, prog := load(t, parse(t, src), Container{})
		if !slices.Equal(prog.ABIs, []string{nat.goarch, compat.goarch}) {
			t.Errorf("ABIs %v", prog.ABIs)
		}
		for _, a := range []*abi{nat, compat} {
			if got := call(t, v, a, "read"); got != policy.Allow {
				t.Errorf("%s read = %v", a.goarch, got)
			}
			if got := call(t, v, a, "close"); got != eperm {
				t.Errorf("%s close = %v", a.goarch, got)
			}
		}
	}

	p := parse(t, `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
		{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
		{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]}},
		{"names": ["write"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]}},
		{"names": ["close"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["`+nat.goarch+`"]}},
		{"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x", "x32"]}},
		{"names": ["getuid"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
		{"names": ["getgid"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "6.20"}}
	]}`)
	for _, c := range []struct {
		c    Container
		want map[string]policy.Action
	}{
		{Container{Caps: []string{"CAP_SYS_ADMIN"}, Kernel: [2]int{6, 18}}, map[string]policy.Action{
			"mount": policy.Allow, "read": eperm, "write": eperm, "close": policy.Allow, "getuid": policy.Allow, "getgid": policy.Allow}},
		{Container{Caps: []string{"CAP_NET_ADMIN", "CAP_SYS_ADMIN"}, Kernel: [2]int{4, 7}}, map[string]policy.Action{
			"mount": policy.Allow, "read": policy.Allow, "write": eperm, "getuid": eperm, "getgid": policy.Allow}},
		{Container{Kernel: [2]int{6, 20}}, map[string]policy.Action{
			"mount": eperm, "read": eperm, "write": policy.Allow, "getpid": eperm, "getuid": policy.Allow, "getgid": eperm}},
	} {
		v, _ := load(t, p, c.c)
		for name, want := range c.want {
			if nat.goarch == "s390x" && name == "getpid" {
				continue
			}
			if got := call(t, v, nat, name); got != want {
				t.Errorf("%+v: %s = %v, want %v", c.c, name, got, want)
			}
		}
	}
}

// TestBadProfiles: each mistake is one error that names it, at Parse or at Compile.
func TestBadProfiles(t *testing.T) {
	need(t)
	for _, c := range []struct{ src, want string }{
		{``, "cannot parse empty string"},
		{`{"defaultAction": "SCMP_ACT_ERRNO",}`, `for object key; unparsed tail: "}"`},
		{"{\n\"defaultAction\": 7}", "defaultAction: want a string, got number"},
		{`{"syscalls": []}`, "no defaultAction"},
		{`[]`, "the profile: want an object, got array"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}}`, "syscalls: want an array, got object"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": "read"}]}`, "syscalls[0].names: want an array, got string"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1.5}`, "defaultErrnoRet: want an integer"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 4294967296, "op": "SCMP_CMP_EQ"}]}]}`, "index 65536, want 0 to 5"},
		{"{\"defaultAction\": \"SCMP_ACT_ERRNO\"\n,\n}", "unparsed tail"},
		{strings.Repeat("[", 1000), "nested deeper than 300"},
		{`{"defaultAction": "SCMP_ACT_ERRNO"} {}`, `unexpected tail: "{}"`},
		{`{"defaultAction": "SCMP_ACT_DENY"}`, `defaultAction: unknown action "SCMP_ACT_DENY"`},
		{`{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}`, "errnoRet with SCMP_ACT_ALLOW"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 4096}`, "past the largest errno"},
		{`{"defaultAction": "SCMP_ACT_NOTIFY"}`, "user notification is not supported"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/x"}`, "listenerPath"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_NEW_LISTENER"]}`, "flags:"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_VAX"]}`, `unknown architecture "SCMP_ARCH_VAX"`},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"], "archMap": []}`, ""},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"], "archMap": [{"architecture": "SCMP_ARCH_X86"}]}`, "both architectures and archMap"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "allow"}]}`, `syscalls[0]: unknown action "allow"`},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`, "syscalls[0]: args[0]: index 6"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}]}]}`, `unknown op "SCMP_CMP_LIKE"`},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]}`, "errnoRet with SCMP_ACT_KILL"},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4"}}]}`, `minKernel "4"`},
		{`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]}`, "syscalls[0].args[0].value: want an integer from 0 to 18446744073709551615, got -1"},
	} {
		p, err := Parse(strings.NewReader(c.src))
		if err == nil {
			_, err = p.compile(abis, Container{})
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.src, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one with %q", c.src, err, c.want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: error of more than one line: %q", c.src, err)
		}
	}
	big := bytes.Repeat([]byte(" "), MaxSize+1)
	if _, err := Parse(bytes.NewReader(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a profile of %d bytes: %v", len(big), err)
	}
}

// TestRandomProfiles compiles random profiles and checks the filter's answer to random
// calls against the rules as the profile format defines them (reference, below).
func TestRandomProfiles(t *testing.T) {
	need(t)
	a := abis[0]
	names := []string{"read", "write", "close", "ioctl", "socket", "no_such_call"}
	ops := []string{"SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"}
	acts := []string{"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_LOG"}
	values := []uint64{0, 1, 2, 3, 0xff, 0xffffffff, 1 << 32, 1<<32 | 1, 0xffffffffffffffff}
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(s []uint64) uint64 { return s[r.IntN(len(s))] }
	for round := range 300 {
		p := &Profile{DefaultAction: acts[r.IntN(len(acts))]}
		for range r.IntN(8) {
			s := Syscall{Action: acts[r.IntN(len(acts))]}
			if s.Action == "SCMP_ACT_ERRNO" {
				e := uint(1 + r.IntN(100))
				s.ErrnoRet = &e
			}
			for range 1 + r.IntN(2) {
				s.Names = append(s.Names, names[r.IntN(len(names))])
			}
			for range r.IntN(4) {
				s.Args = append(s.Args, Arg{Index: uint(r.IntN(3)), Op: ops[r.IntN(len(ops))], Value: pick(values), ValueTwo: pick(values)})
			}
			p.Syscalls = append(p.Syscalls, s)
		}
		v, _ := load(t, p, Container{})
		for range 50 {
			name := names[r.IntN(len(names)-1)]
			args := []uint64{pick(values), pick(values), pick(values)}
			got, want := call(t, v, a, name, args...), reference(t, p, name, args)
			if got != want {
				t.Fatalf("round %d: %s%v = %v, want %v, profile %+v", round, name, args, got, want, p)
			}
		}
	}
}

// reference decides a call as the profile format defines it: the first rule without
// arguments, else the first rule with arguments that holds (its tests ANDed, or ORed
// when two test one argument), else the default; a rule whose action is the default's
// is no rule.
func reference(t *testing.T, p *Profile, name string, args []uint64) policy.Action {
	act := func(name string, e *uint) policy.Action {
		a, err := action(name, e)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	holds := func(a Arg) bool {
		x := args[a.Index]
		switch a.Op {
		case "SCMP_CMP_EQ":
			return x == a.Value
		case "SCMP_CMP_NE":
			return x != a.Value
		case "SCMP_CMP_LT":
			return x < a.Value
		case "SCMP_CMP_LE":
			return x <= a.Value
		case "SCMP_CMP_GE":
			return x >= a.Value
		case "SCMP_CMP_GT":
			return x > a.Value
		case "SCMP_CMP_MASKED_EQ":
			return x&a.Value == a.ValueTwo
		}
		t.Fatalf("op %s", a.Op)
		return false
	}
	def := act(p.DefaultAction, p.DefaultErrnoRet)
	for _, s := range p.Syscalls {
		if slices.Contains(s.Names, name) && len(s.Args) == 0 && act(s.Action, s.ErrnoRet) != def {
			return act(s.Action, s.ErrnoRet)
		}
	}
	for _, s := range p.Syscalls {
		if !slices.Contains(s.Names, name) || len(s.Args) == 0 || act(s.Action, s.ErrnoRet) == def {
			continue
		}
		seen := map[uint]bool{}
		split := false
		for _, a := range s.Args {
			split = split || seen[a.Index]
			seen[a.Index] = true
		}
		all, any := true, false
		for _, a := range s.Args {
			h := holds(a)
			all, any = all && h, any || h
		}
		if split && any || !split && all {
			return act(s.Action, s.ErrnoRet)
		}
	}
	return def
}

// podmanProfile is the default profile of podman (containers-common), where installed.
const podmanProfile = "/usr/share/containers/seccomp.json"

// TestPodmanProfile compiles podman's default profile, Docker's with podman's changes,
// where it is installed, and checks calls it decides.
func TestPodmanProfile(t *testing.T) {
	need(t)
	f, err := os.Open(podmanProfile)
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	p, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	v, prog := load(t, p, Container{Caps: []string{"CAP_CHOWN", "CAP_KILL"}, Kernel: [2]int{6, 18}})
	t.Logf("%d instructions, at most %d per call; ABIs %v; %d names skipped", len(prog.Filter), prog.MaxPath, prog.ABIs, len(prog.Skipped))
	a := abis[0]
	for name, want := range map[string]policy.Action{"read": policy.Allow, "mount": policy.Allow, "kexec_load": eperm, "bpf": eperm} {
		if got := call(t, v, a, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := callNr(t, v, a, a.maxNr+1); got != enosys {
		t.Errorf("a number past the table = %v, want ENOSYS", got)
	}
	// Rules for CAP_SYS_ADMIN (includes) replace those for a container without it (excludes).
	v, _ = load(t, p, Container{Caps: []string{"CAP_SYS_ADMIN"}, Kernel: [2]int{6, 18}})
	if got := call(t, v, a, "bpf"); got != policy.Allow {
		t.Errorf("bpf with CAP_SYS_ADMIN = %v, want allow", got)
	}
}

// BenchmarkCompilePodman parses and compiles podman's default profile, as a container
// start with it would.
func BenchmarkCompilePodman(b *testing.B) {
	data, err := os.ReadFile(podmanProfile)
	if err != nil {
		b.Skip(err)
	}
	c := Container{Caps: []string{"CAP_CHOWN", "CAP_KILL"}, Kernel: [2]int{6, 18}}
	for b.Loop() {
		p, err := Parse(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Compile(c); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseMatchesTags: what encoding/json writes of a Profile, by its json tags,
// Parse reads back as that Profile: the tags and the decoder name the same fields.
func TestParseMatchesTags(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	strs := func() []string {
		var out []string
		for range r.IntN(3) {
			out = append(out, []string{"a", "SCMP_ARCH_X86", "CAP_KILL", "é\"\\\n"}[r.IntN(4)])
		}
		return out
	}
	uintp := func() *uint {
		if r.IntN(2) == 0 {
			return nil
		}
		u := uint(r.IntN(5000))
		return &u
	}
	filter := func() *Filter {
		if r.IntN(2) == 0 {
			return nil
		}
		return &Filter{Caps: strs(), Arches: strs(), MinKernel: []string{"", "4.8"}[r.IntN(2)]}
	}
	for range 200 {
		p := Profile{DefaultAction: "SCMP_ACT_ERRNO", DefaultErrnoRet: uintp(), Architectures: strs(), Flags: strs(), ListenerPath: strs2(r)}
		for range r.IntN(3) {
			p.ArchMap = append(p.ArchMap, ArchMap{Architecture: "SCMP_ARCH_X86_64", SubArchitectures: strs()})
		}
		for range r.IntN(4) {
			s := Syscall{Names: strs(), Action: "SCMP_ACT_ALLOW", ErrnoRet: uintp(), Includes: filter(), Excludes: filter()}
			for range r.IntN(3) {
				s.Args = append(s.Args, Arg{Index: uint(r.IntN(6)), Value: r.Uint64(), ValueTwo: r.Uint64(), Op: "SCMP_CMP_EQ"})
			}
			p.Syscalls = append(p.Syscalls, s)
		}
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if !reflect.DeepEqual(*got, p) {
			t.Fatalf("%s reads as\n%+v, want\n%+v", data, *got, p)
		}
	}
}

func strs2(r *rand.Rand) string { return []string{"", "/run/x"}[r.IntN(2)] }

// FuzzParse: Parse never panics, and what it reads encoding/json reads the same.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`))
	f.Add([]byte(`{"defaultAction": "x", "archMap": [{"architecture": "a", "subArchitectures": null}], "syscalls": null, "flags": [null]}`))
	if data, err := os.ReadFile(podmanProfile); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(bytes.NewReader(data))
		if err != nil || !utf8.Valid(data) {
			// encoding/json makes each invalid byte of a string U+FFFD; Parse keeps it.
			// Either way such a string is no name of a call, arch or capability.
			return
		}
		var q Profile
		if err := json.Unmarshal(data, &q); err != nil {
			return // a number encoding/json cannot put in a field's type, which Parse refuses too
		}
		if !reflect.DeepEqual(*p, q) {
			t.Fatalf("%q reads as\n%+v, encoding/json reads\n%+v", data, *p, q)
		}
	})
}

// TestMultiplexed: where an ABI makes socket and System V IPC calls through
// socketcall(2) and ipc(2) too (i386), a rule without arguments for socket or shmget
// holds for them made that way, as libseccomp makes it hold; an ipc call's version
// bits do not get past it; socketcall's own rule without arguments decides it.
func TestMultiplexed(t *testing.T) {
	need(t)
	var a *abi
	for _, x := range abis {
		if _, ok := x.nr("socketcall"); ok {
			a = x
		}
	}
	if a == nil {
		t.Skip("no ABI of GOARCH " + runtime.GOARCH + " has socketcall")
	}
	arches := `"architectures": ["` + a.scmp + `"], `
	v, _ := load(t, parse(t, `{"defaultAction": "SCMP_ACT_ALLOW", `+arches+`"syscalls": [
		{"names": ["socket", "shmget", "accept"], "action": "SCMP_ACT_ERRNO"},
		{"names": ["connect"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_EQ"}]}]}`), Container{})
	for _, c := range []struct {
		name string
		args []uint64
		want policy.Action
	}{
		{"socket", []uint64{2, 1, 0}, eperm},
		{"socketcall", []uint64{1, 0}, eperm}, // SYS_SOCKET
		{"socketcall", []uint64{2, 0}, policy.Allow},
		{"socketcall", []uint64{5, 0}, eperm},        // SYS_ACCEPT: i386 has no accept(2) of its own
		{"socketcall", []uint64{3, 0}, policy.Allow}, // connect's rule has arguments: in memory here
		{"shmget", nil, eperm},
		{"ipc", []uint64{23}, eperm}, // SHMGET
		{"ipc", []uint64{1<<16 | 23}, eperm},
		{"ipc", []uint64{21}, policy.Allow}, // SHMAT
	} {
		if _, ok := a.nr(c.name); !ok {
			continue
		}
		if got := call(t, v, a, c.name, c.args...); got != c.want {
			t.Errorf("%s %s%v = %v, want %v", a.goarch, c.name, c.args, got, c.want)
		}
	}
	v, _ = load(t, parse(t, `{"defaultAction": "SCMP_ACT_ERRNO", `+arches+`"syscalls": [
		{"names": ["socketcall"], "action": "SCMP_ACT_ALLOW"},
		{"names": ["socket"], "action": "SCMP_ACT_KILL"}]}`), Container{})
	if got := call(t, v, a, "socketcall", 1); got != policy.Allow {
		t.Errorf("socketcall's own rule: socketcall(SYS_SOCKET) = %v, want allow", got)
	}
}

// TestRulesLikeDefault: a rule whose action is the default's decides nothing (libseccomp
// refuses it, runc skips it), so a later rule does.
func TestRulesLikeDefault(t *testing.T) {
	need(t)
	v, _ := load(t, parse(t, `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
		{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
		{"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
		{"names": ["getuid"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]},
		{"names": ["getuid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]}]}`), Container{})
	a := abis[0]
	if got := call(t, v, a, "getpid"); got != eperm {
		t.Errorf("getpid = %v, want EPERM", got)
	}
	if got := call(t, v, a, "getuid", 5); got != eperm {
		t.Errorf("getuid(5) = %v, want EPERM", got)
	}
}

// TestLargeProfiles: names repeated in a rule count once, a profile asking more tests
// than a filter holds is refused before anything is built, and many unknown names cost
// little.
func TestLargeProfiles(t *testing.T) {
	need(t)
	rep := func(n int, s string) string { return strings.TrimSuffix(strings.Repeat(s+",", n), ",") }
	arg := `{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}`
	p := parse(t, `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [`+rep(5000, `"read"`)+`], "action": "SCMP_ACT_ERRNO", "args": [`+arg+`]}]}`)
	v, prog := load(t, p, Container{})
	if len(prog.Filter) > 200 {
		t.Errorf("one rule for read, named 5000 times: %d instructions", len(prog.Filter))
	}
	if got := call(t, v, abis[0], "read", 1); got != eperm {
		t.Errorf("read(1) = %v, want EPERM", got)
	}
	var names []string
	for i := range 3000 {
		names = append(names, `"call`+strconv.Itoa(i)+`"`)
	}
	p = parse(t, `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [`+strings.Join(names, ",")+`], "action": "SCMP_ACT_ERRNO", "args": [`+arg+`]}]}`)
	if _, err := p.compile(abis, Container{}); err == nil || !strings.Contains(err.Error(), "more than 2048 tests of arguments") {
		t.Errorf("3000 names with a test each: %v", err)
	}
	p = parse(t, `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [`+strings.Join(names, ",")+`], "action": "SCMP_ACT_ERRNO"}]}`)
	if prog, err := p.compile(abis, Container{}); err != nil || len(prog.Skipped) != 3000 {
		t.Errorf("3000 unknown names: %v, %d skipped", err, len(prog.Skipped))
	}
	if _, err := Parse(strings.NewReader(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getuid\u0000"], "action": "SCMP_ACT_ERRNO"}]}`)); err != nil {
		t.Fatal(err)
	}
	p = parse(t, `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getuid\u0000"], "action": "SCMP_ACT_ERRNO"}]}`)
	if _, err := p.compile(abis, Container{}); err == nil || !strings.Contains(err.Error(), "holds a NUL") {
		t.Errorf("a name with a NUL: %v", err)
	}
}

// TestRefuses: the calls a profile could refuse, whatever their arguments, among those
// asked; a name the ABI lacks is none of them. RefusesCall runs one call as made.
func TestRefuses(t *testing.T) {
	need(t)
	if runtime.GOARCH != abis[0].goarch {
		t.Skip("the launcher's ABI is not the first of this GOARCH's")
	}
	p := parse(t, `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
		{"names": ["read", "close"], "action": "SCMP_ACT_ALLOW"},
		{"names": ["write"], "action": "SCMP_ACT_LOG"},
		{"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]},
		{"names": ["wait4"], "action": "SCMP_ACT_ALLOW"},
		{"names": ["wait4"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]},
		{"names": ["exit_group"], "action": "SCMP_ACT_ALLOW"},
		{"names": ["exit_group"], "action": "SCMP_ACT_KILL", "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}]},
		{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 131072, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]}`)
	prog, err := p.compile(abis, Container{})
	if err != nil {
		t.Fatal(err)
	}
	// wait4 and exit_group: the rule without arguments decides them.
	got := prog.Refuses("read", "write", "close", "kill", "wait4", "exit_group", "getpid", "no_such_call")
	if want := []string{"kill", "getpid"}; !slices.Equal(got, want) {
		t.Errorf("Refuses = %v, want %v", got, want)
	}
	if runtime.GOARCH != "s390x" {
		if prog.RefusesCall("clone", uint64(unix.SIGCHLD)) || !prog.RefusesCall("clone", unix.CLONE_NEWNS|uint64(unix.SIGCHLD)) {
			t.Error("RefusesCall: clone(SIGCHLD) refused, or clone(CLONE_NEWNS) allowed")
		}
	}
	// A profile that does not admit the launcher's own ABI refuses it everything.
	if len(abis) > 1 {
		prog, err := p.compile([]*abi{abis[1], abis[0]}, Container{})
		if err != nil {
			t.Fatal(err)
		}
		if got := prog.Refuses("read"); !slices.Equal(got, []string{"read"}) {
			t.Errorf("the launcher's ABI not admitted: Refuses = %v", got)
		}
	}
}
