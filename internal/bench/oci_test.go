package main

import (
	"os"
	"runtime"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"launch/gen/xsys"
	"launch/internal/policy"
	"launch/internal/testutil"
)

// ociAllows reports whether profile p allows call name with args, as libseccomp reads
// it: some ALLOW rule of the name whose every arg holds.
func ociAllows(p *ociSeccomp, name string, args []uint64) bool {
	for _, r := range p.Syscalls {
		if r.Action != "SCMP_ACT_ALLOW" || !slices.Contains(r.Names, name) {
			continue
		}
		ok := true
		for _, a := range r.Args {
			x := args[a.Index]
			switch a.Op {
			case "SCMP_CMP_EQ":
				ok = ok && x == a.Value
			case "SCMP_CMP_LT":
				ok = ok && x < a.Value
			case "SCMP_CMP_GT":
				ok = ok && x > a.Value
			case "SCMP_CMP_MASKED_EQ":
				ok = ok && x&a.Value == a.ValueTwo
			default:
				return false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// TestSeccompProfile checks the profile the peers run under against launch's own filter
// for this GOARCH, run in the BPF VM: for every call syscalls.txt allows by argument,
// over the values its tests name and their neighbours, the two agree; every call it
// allows outright is in the profile; clone3 gets ENOSYS.
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
	tested := 0
	for _, c := range tab.Calls {
		if len(c.Checks) == 0 {
			if c.Action == policy.Allow && !ociAllows(p, c.Name, make([]uint64, 6)) {
				t.Errorf("%s is allowed by launch, not by the profile", c.Name)
			}
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
				got, err := vm.Run(testutil.SeccompData(a.BigEndian, a.AuditArch, a.Nr[c.Name], args...))
				if err != nil {
					t.Fatal(err)
				}
				if want := policy.Action(got) == policy.Allow; ociAllows(p, c.Name, args) != want {
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
