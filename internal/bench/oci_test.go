package main

import (
	"context"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"launch/gen/xsys"
	"launch/internal/policy"
	"launch/internal/profile"
	"launch/internal/testutil"
)

// compiled compiles p for this kernel, as launch --seccomp=FILE does, and returns a
// function that says whether the filter allows call nr of ABI a with args.
func compiled(t *testing.T, p *profile.Profile) func(a *policy.ABI, nr uint32, args []uint64) bool {
	prog, err := p.Compile(profile.Container{Kernel: profile.RunningKernel()})
	if err != nil {
		t.Fatalf("compile the profile: %v", err)
	}
	raw := make([]bpf.RawInstruction, len(prog.Filter))
	for i, f := range prog.Filter {
		raw[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	vm := testutil.VM(t, raw)
	return func(a *policy.ABI, nr uint32, args []uint64) bool {
		got, err := vm.Run(policy.VMData(a.BigEndian, a.AuditArch, nr, args...))
		if err != nil {
			t.Fatal(err)
		}
		return policy.Action(got) == policy.Allow
	}
}

// TestSeccompProfile checks the profile the peers run under against launch's own filter
// for this GOARCH, both run in the BPF VM, the profile compiled as --seccomp=FILE
// compiles it: every number of the table is allowed by both or by neither; for every
// call syscalls.txt allows by argument, over the values its tests name and their
// neighbours, the two agree; clone3 gets ENOSYS.
func TestSeccompProfile(t *testing.T) {
	p, err := seccompProfile("../../syscalls.txt")
	if err != nil {
		t.Fatalf("seccompProfile: %v", err)
	}
	data, err := os.ReadFile("../../syscalls.txt")
	if err != nil {
		t.Fatal(err)
	}
	s, err := policy.ParseSyscalls("syscalls.txt", data)
	if err != nil {
		t.Fatal(err)
	}
	abis, err := xsys.LoadABIs(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	a := abis[runtime.GOARCH]
	tab, _, err := s.Table(a, false)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := policy.Compile([]policy.Table{tab}, policy.KillProcess)
	if err != nil {
		t.Fatal(err)
	}
	vm := testutil.VM(t, prog.Insns)
	allows := compiled(t, p)
	conditional := map[uint32]bool{}
	for _, c := range tab.Calls {
		conditional[a.Nr[c.Name]] = len(c.Checks) > 0
	}
	for nr := uint32(0); nr <= a.MaxNr+16; nr++ {
		if conditional[nr] {
			continue
		}
		got, err := vm.Run(policy.VMData(a.BigEndian, a.AuditArch, nr, 0))
		if err != nil {
			t.Fatal(err)
		}
		if want := policy.Action(got) == policy.Allow; allows(a, nr, make([]uint64, 6)) != want {
			t.Errorf("number %d: launch allows it: %v; the profile: %v", nr, want, !want)
		}
	}
	tested := 0
	for _, c := range tab.Calls {
		if len(c.Checks) == 0 {
			continue
		}
		// The values the tests name, their neighbours, and for a mask each of its bits.
		candidates := make([][]uint64, 6)
		for i := range candidates {
			candidates[i] = []uint64{0}
		}
		var add func(cd policy.Cond)
		add = func(cd policy.Cond) {
			for _, v := range cd.Values {
				candidates[cd.Arg] = append(candidates[cd.Arg], v, v+1, v-1)
			}
			if cd.Op == policy.MaskedEQ {
				for m := cd.Values[0]; m != 0; m &= m - 1 {
					candidates[cd.Arg] = append(candidates[cd.Arg], m&-m, m&-m|uint64(unix.SIGCHLD))
				}
			}
			if cd.When != nil {
				add(*cd.When)
			}
		}
		for _, cd := range c.Checks[0].Conds {
			add(cd)
		}
		args := make([]uint64, 6)
		var each func(i int)
		each = func(i int) {
			if i == len(args) {
				got, err := vm.Run(policy.VMData(a.BigEndian, a.AuditArch, a.Nr[c.Name], args...))
				if err != nil {
					t.Fatal(err)
				}
				if want := policy.Action(got) == policy.Allow; allows(a, a.Nr[c.Name], args) != want {
					t.Errorf("%s%#x: launch allows it: %v; the profile: %v", c.Name, args, want, !want)
				}
				tested++
				return
			}
			for _, v := range candidates[i] {
				args[i] = uint64(uint32(v)) // as the kernel passes an int
				each(i + 1)
			}
		}
		each(0)
	}
	if tested == 0 {
		t.Error("no call allowed by argument was compared")
	}
	last := p.Syscalls[len(p.Syscalls)-1]
	if !slices.Equal(last.Names, []string{"clone3"}) || last.Action != "SCMP_ACT_ERRNO" || last.ErrnoRet == nil || *last.ErrnoRet != uint(unix.ENOSYS) {
		t.Errorf("last rule %+v, want clone3 ERRNO(ENOSYS)", last)
	}
	t.Logf("%d rules for %v; %d argument vectors compared", len(p.Syscalls), p.Architectures, tested)
}

// TestMeasureProfiles: the bench's profile compiles as launch compiles it, and the
// report shows its time, size and worst path.
func TestMeasureProfiles(t *testing.T) {
	p, err := seccompProfile("../../syscalls.txt")
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{seccomp: p}
	b.measureProfiles(context.Background())
	if len(b.res.profiles) != 2 {
		t.Fatalf("%d profiles measured, want 2", len(b.res.profiles))
	}
	ours := b.res.profiles[0]
	if ours.err != nil || ours.runs != 200 || ours.insns == 0 || ours.maxPath == 0 || ours.abis[0] != runtime.GOARCH {
		t.Errorf("the bench's profile: %+v", ours)
	}
	var w strings.Builder
	b.profileTable(&w)
	if !strings.Contains(w.String(), "| syscalls.txt as an OCI profile") {
		t.Errorf("report:\n%s", w.String())
	}
	t.Log("\n" + w.String())
}
