package policy

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"launch/internal/testutil"
)

// testABI is a small made-up ABI: six calls, a table up to 50, and a byte order.
func testABI(big bool) *ABI {
	return &ABI{
		Name:      fmt.Sprintf("test-big=%v", big),
		AuditArch: unix.AUDIT_ARCH_X86_64,
		BigEndian: big,
		Nr:        map[string]uint32{"read": 0, "write": 1, "open": 2, "close": 3, "ioctl": 16, "socket": 41},
		MaxNr:     50,
	}
}

// A machine runs a program in golang.org/x/net/bpf's VM and by Eval, and fails its
// test where the two differ.
type machine struct {
	t    *testing.T
	vm   *bpf.VM
	prog []bpf.RawInstruction
}

// Run returns the VM's answer to data, having checked Eval's against it.
func (m *machine) Run(data []byte) (int, error) {
	m.t.Helper()
	got, err := m.vm.Run(data)
	if act, ok := Eval(m.prog, data); err != nil || !ok || act != Action(got) {
		m.t.Errorf("Eval(%x) = %v, %v; the VM returns %v, %v", data, act, ok, Action(got), err)
	}
	return got, err
}

// vm compiles tables and loads the program into golang.org/x/net/bpf's VM and Eval,
// with the tests of the lifts in lifted turned off as seccomp.Program does it.
func vm(t *testing.T, tables []Table, lifted ...string) (*machine, *Program) {
	t.Helper()
	p, err := Compile(tables, KillProcess)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	raw := slices.Clone(p.Insns)
	for _, name := range lifted {
		for _, pc := range p.Lifts[name] {
			raw[pc].Jt = raw[pc].Jf
		}
	}
	return &machine{t, testutil.VM(t, raw), raw}, p
}

// run returns the VM's answer to call nr of a with args.
func run(t *testing.T, v *machine, a *ABI, nr uint32, args ...uint64) Action {
	t.Helper()
	got, err := v.Run(VMData(a.BigEndian, a.AuditArch, nr, args...))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return Action(got)
}

// TestActions: every action a call, a check, the default, calls newer than the table
// and a foreign arch can get is the one returned.
func TestActions(t *testing.T) {
	for _, big := range []bool{false, true} {
		a := testABI(big)
		tab := Table{ABI: a, Default: Errno(unix.EPERM), Newer: Errno(unix.ENOSYS), Calls: []Call{
			{Name: "read", Action: Allow},
			{Name: "write", Action: Errno(unix.EACCES)},
			{Name: "open", Action: KillThread},
			{Name: "close", Action: Trap},
			{Name: "ioctl", Action: Log},
			{Name: "socket", Action: Errno(0), Checks: []Check{
				{Conds: []Cond{{Arg: 0, Op: In, Values: []uint64{1}}}, Action: Trace(7)},
				{Conds: []Cond{{Arg: 0, Op: In, Values: []uint64{1, 2}}}, Action: KillProcess},
			}},
		}}
		v, _ := vm(t, []Table{tab})
		for _, tt := range []struct {
			nr   uint32
			args []uint64
			want Action
		}{
			{0, nil, 0x7fff0000},              // SECCOMP_RET_ALLOW
			{1, nil, 0x00050000 | 13},         // SECCOMP_RET_ERRNO | EACCES
			{2, nil, 0x00000000},              // SECCOMP_RET_KILL_THREAD
			{3, nil, 0x00030000},              // SECCOMP_RET_TRAP
			{16, nil, 0x7ffc0000},             // SECCOMP_RET_LOG
			{41, []uint64{1}, 0x7ff00000 | 7}, // SECCOMP_RET_TRACE | 7: the first check that holds
			{41, []uint64{2}, 0x80000000},     // SECCOMP_RET_KILL_PROCESS
			{41, []uint64{3}, 0x00050000},     // ERRNO(0): the call's own action
			{4, nil, 0x00050000 | 1},          // not named: the default, EPERM
			{50, nil, 0x00050000 | 1},         // the table's last number
			{51, nil, 0x00050000 | 38},        // past the table: ENOSYS
			{0xffffffff, nil, 0x00050000 | 38},
		} {
			if got := run(t, v, a, tt.nr, tt.args...); got != tt.want {
				t.Errorf("big=%v: call %d%v = %v (%#x), want %v (%#x)", big, tt.nr, tt.args, got, uint32(got), tt.want, uint32(tt.want))
			}
		}
		got, err := v.Run(VMData(big, unix.AUDIT_ARCH_AARCH64, 0))
		if err != nil || Action(got) != KillProcess {
			t.Errorf("big=%v: a foreign arch = %v, %v; want kill_process", big, Action(got), err)
		}
	}
}

// holds is what c means, written as Go comparisons: the oracle of TestOps.
func holds(c Cond, args []uint64) bool {
	if c.When != nil && !holds(*c.When, args) {
		return true
	}
	x := args[c.Arg]
	if !c.Wide {
		x = uint64(uint32(x))
	}
	switch c.Op {
	case In:
		return slices.Contains(c.Values, x)
	case NotIn:
		return !slices.Contains(c.Values, x)
	case LT:
		return x < c.Values[0]
	case LE:
		return x <= c.Values[0]
	case GE:
		return x >= c.Values[0]
	case GT:
		return x > c.Values[0]
	case MaskedEQ:
		return x&c.Values[0] == c.Values[1]
	}
	panic("unknown op")
}

// TestOps compiles each op on 32 and on 64 bits, over values at the edges of both
// halves, and runs every argument near them in the VM against what the Cond means.
func TestOps(t *testing.T) {
	edges := []uint64{0, 1, 5, 0xff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x100000000, 0x100000005,
		0x5_00000005, 0x7fffffff_ffffffff, 0xffffffff_00000000, 0xffffffff_fffffffe, 0xffffffff_ffffffff}
	var args []uint64
	for _, e := range edges {
		args = append(args, e-1, e, e+1, e^0xffffffff_00000000)
	}
	masks := [][2]uint64{{0, 0}, {0xff, 0}, {0xff, 0x05}, {0xf0f0, 0x1010}, {0xffffffff, 5}, {0x0f, 0x10},
		{0xffffffff_00000000, 0}, {0xffffffff_00000000, 0x5_00000000}, {^uint64(0), 0x5_00000005}, {0xf_0000000f, 0x1_00000001}}
	var conds []Cond
	for _, wide := range []bool{false, true} {
		for _, v := range edges {
			if !wide && v > 0xffffffff {
				continue
			}
			for _, op := range []Op{LT, LE, GE, GT} {
				conds = append(conds, Cond{Arg: 2, Op: op, Values: []uint64{v}, Wide: wide})
			}
			conds = append(conds,
				Cond{Arg: 2, Op: In, Values: []uint64{v}, Wide: wide},
				Cond{Arg: 2, Op: NotIn, Values: []uint64{v}, Wide: wide})
		}
		for _, m := range masks {
			if !wide && (m[0] > 0xffffffff || m[1] > 0xffffffff) {
				continue
			}
			conds = append(conds, Cond{Arg: 2, Op: MaskedEQ, Values: m[:], Wide: wide})
		}
		in := []uint64{0, 5, 0xffffffff}
		if wide {
			in = append(in, 0x5_00000005, 0xffffffff_ffffffff)
		}
		conds = append(conds, Cond{Arg: 2, Op: In, Values: in, Wide: wide}, Cond{Arg: 2, Op: NotIn, Values: in, Wide: wide})
		// An if ... then: arg0 == 1 makes the test of arg2 apply.
		conds = append(conds, Cond{Arg: 2, Op: GT, Values: []uint64{5}, Wide: wide,
			When: &Cond{Arg: 0, Op: In, Values: []uint64{1}, Wide: wide}})
	}
	for _, big := range []bool{false, true} {
		a := testABI(big)
		for _, c := range conds {
			tab := Table{ABI: a, Default: Errno(unix.EPERM), Newer: Errno(unix.ENOSYS), Calls: []Call{
				{Name: "ioctl", Action: Errno(unix.EPERM), Checks: []Check{{Conds: []Cond{c}, Action: Allow}}},
			}}
			v, _ := vm(t, []Table{tab})
			for _, x := range args {
				for _, arg0 := range []uint64{1, 2} {
					in := []uint64{arg0, 0, x}
					want := Errno(unix.EPERM)
					if holds(c, in) {
						want = Allow
					}
					if got := run(t, v, a, 16, in...); got != want {
						t.Errorf("big=%v: %+v (when %+v): args %#x = %v, want %v", big, c, c.When, in, got, want)
					}
				}
			}
		}
	}
}

// TestLiteralOps: a few tests whose answers are written out, so that the oracle of
// TestOps cannot be wrong the same way as the compiler.
func TestLiteralOps(t *testing.T) {
	a := testABI(false)
	for _, tt := range []struct {
		c    Cond
		arg  uint64
		want bool
	}{
		{Cond{Op: GT, Values: []uint64{5}}, 6, true},
		{Cond{Op: GT, Values: []uint64{5}}, 5, false},
		{Cond{Op: GT, Values: []uint64{5}}, 1<<32 | 1, false}, // the low 32 bits are 1
		{Cond{Op: GT, Values: []uint64{5}, Wide: true}, 1<<32 | 1, true},
		{Cond{Op: LT, Values: []uint64{1 << 32}, Wide: true}, 0xffffffff, true},
		{Cond{Op: LE, Values: []uint64{1 << 32}, Wide: true}, 1<<32 + 1, false},
		{Cond{Op: GE, Values: []uint64{1<<32 | 7}, Wide: true}, 1<<32 | 7, true},
		{Cond{Op: NotIn, Values: []uint64{40}}, 40 | 1<<32, false}, // what the kernel sees of an int
		{Cond{Op: NotIn, Values: []uint64{40}, Wide: true}, 40 | 1<<32, true},
		{Cond{Op: MaskedEQ, Values: []uint64{0x7e020000, 0}}, 0x00000011, true}, // clone flags
		{Cond{Op: MaskedEQ, Values: []uint64{0x7e020000, 0}}, 0x10000011, false},
		{Cond{Op: MaskedEQ, Values: []uint64{0xff, 0x12}}, 0xab12, true},
		{Cond{Op: MaskedEQ, Values: []uint64{0xff, 0x12}}, 0xab13, false},
		{Cond{Op: MaskedEQ, Values: []uint64{0xf0, 0x0f}}, 0x0f, false}, // never: the value is outside the mask
	} {
		tab := Table{ABI: a, Default: Errno(unix.EPERM), Newer: Errno(unix.ENOSYS), Calls: []Call{
			{Name: "read", Action: Errno(unix.EPERM), Checks: []Check{{Conds: []Cond{tt.c}, Action: Allow}}},
		}}
		v, _ := vm(t, []Table{tab})
		if got := run(t, v, a, 0, tt.arg) == Allow; got != tt.want {
			t.Errorf("%+v on %#x = %v, want %v", tt.c, tt.arg, got, tt.want)
		}
	}
}

// TestLifts: a lifted value stops being refused, the others stay refused, and a lift
// of another name changes nothing.
func TestLifts(t *testing.T) {
	for _, big := range []bool{false, true} {
		a := testABI(big)
		tab := Table{ABI: a, Default: Errno(unix.EPERM), Newer: Errno(unix.ENOSYS), Calls: []Call{
			{Name: "socket", Action: Errno(unix.EPERM), Checks: []Check{{Action: Allow, Conds: []Cond{
				{Arg: 0, Op: NotIn, Values: []uint64{38, 17}, Lifts: []string{"", "packet"}},
				{Arg: 2, Op: NotIn, Values: []uint64{9}, Lifts: []string{"audit"},
					When: &Cond{Arg: 0, Op: In, Values: []uint64{16}}},
			}}}},
		}}
		for _, tt := range []struct {
			lifted        []string
			alg, pkt, aud Action
		}{
			{nil, Errno(unix.EPERM), Errno(unix.EPERM), Errno(unix.EPERM)},
			{[]string{"packet"}, Errno(unix.EPERM), Allow, Errno(unix.EPERM)},
			{[]string{"audit"}, Errno(unix.EPERM), Errno(unix.EPERM), Allow},
			{[]string{"packet", "audit"}, Errno(unix.EPERM), Allow, Allow},
		} {
			v, p := vm(t, []Table{tab}, tt.lifted...)
			if len(p.Lifts) != 2 || len(p.Lifts["packet"]) != 1 || len(p.Lifts["audit"]) != 1 {
				t.Fatalf("Lifts = %v, want one test each of packet and audit", p.Lifts)
			}
			for _, c := range []struct {
				args []uint64
				want Action
			}{
				{[]uint64{2}, Allow}, {[]uint64{38}, tt.alg}, {[]uint64{17}, tt.pkt},
				{[]uint64{16, 0, 9}, tt.aud}, {[]uint64{16, 0, 0}, Allow}, {[]uint64{2, 0, 9}, Allow},
			} {
				if got := run(t, v, a, 41, c.args...); got != c.want {
					t.Errorf("big=%v, lifted %v: socket%v = %v, want %v", big, tt.lifted, c.args, got, c.want)
				}
			}
		}
	}
}

// TestCompat: each audit arch reaches its own table, and the layout says where.
func TestCompat(t *testing.T) {
	native, compat := testABI(false), testABI(false)
	compat.AuditArch, compat.Nr = unix.AUDIT_ARCH_I386, map[string]uint32{"read": 3, "write": 4}
	v, p := vm(t, []Table{
		{ABI: native, Default: Errno(unix.EPERM), Newer: Errno(unix.ENOSYS), Calls: []Call{{Name: "read", Action: Allow}}},
		{ABI: compat, Default: Errno(unix.EACCES), Newer: Errno(unix.ENOSYS), Calls: []Call{{Name: "write", Action: Allow}}},
	})
	for _, tt := range []struct {
		a    *ABI
		nr   uint32
		want Action
	}{
		{native, 0, Allow}, {native, 3, Errno(unix.EPERM)}, {native, 4, Errno(unix.EPERM)},
		{compat, 0, Errno(unix.EACCES)}, {compat, 3, Errno(unix.EACCES)}, {compat, 4, Allow}, {compat, 60, Errno(unix.ENOSYS)},
	} {
		if got := run(t, v, tt.a, tt.nr); got != tt.want {
			t.Errorf("arch %#x, call %d = %v, want %v", tt.a.AuditArch, tt.nr, got, tt.want)
		}
	}
	if len(p.ABIs) != 2 || p.ABIs[0].Start >= p.ABIs[1].Start || p.ABIs[1].MaxPath <= p.ABIs[0].MaxPath-2 {
		t.Errorf("layouts %+v", p.ABIs)
	}
	if sf := p.SockFilters(); len(sf) != len(p.Insns) || sf[1].K != unix.AUDIT_ARCH_X86_64 || sf[1].Code != p.Insns[1].Op {
		t.Errorf("SockFilters()[1] = %+v, want the native arch's jeq %+v", sf[1], p.Insns[1])
	}
}

// TestCompileErrors: what Compile cannot lay out is an error, not a weaker filter.
func TestCompileErrors(t *testing.T) {
	a := testABI(false)
	allowIf := func(c Cond) []Call {
		return []Call{{Name: "read", Action: Errno(unix.EPERM), Checks: []Check{{Conds: []Cond{c}, Action: Allow}}}}
	}
	for _, tt := range []struct {
		name  string
		calls []Call
	}{
		{"unknown call", []Call{{Name: "frob", Action: Allow}}},
		{"call twice", []Call{{Name: "read", Action: Allow}, {Name: "read", Action: Allow}}},
		{"errno past MAX_ERRNO", []Call{{Name: "read", Action: Errno(4096)}}},
		{"unknown action", []Call{{Name: "read", Action: 0x12340000}}},
		{"data on allow", []Call{{Name: "read", Action: Allow | 1}}},
		{"argument 6", allowIf(Cond{Arg: 6, Op: In, Values: []uint64{1}})},
		{"no op", allowIf(Cond{Values: []uint64{1}})},
		{"in without values", allowIf(Cond{Op: In})},
		{"two values for GT", allowIf(Cond{Op: GT, Values: []uint64{1, 2}})},
		{"one value for MaskedEQ", allowIf(Cond{Op: MaskedEQ, Values: []uint64{1}})},
		{"64-bit value in a 32-bit test", allowIf(Cond{Op: In, Values: []uint64{1 << 32}})},
		{"lift on a 64-bit test", allowIf(Cond{Op: NotIn, Values: []uint64{1}, Lifts: []string{"x"}, Wide: true})},
		{"lift on GT", allowIf(Cond{Op: GT, Values: []uint64{1}, Lifts: []string{"x"}})},
		{"lift in a when", allowIf(Cond{Op: In, Values: []uint64{1},
			When: &Cond{Op: NotIn, Values: []uint64{1}, Lifts: []string{"x"}}})},
		{"lifts for fewer values", allowIf(Cond{Op: NotIn, Values: []uint64{1, 2}, Lifts: []string{"x"}})},
		{"bad when", allowIf(Cond{Op: In, Values: []uint64{1}, When: &Cond{Arg: 9, Op: In, Values: []uint64{1}}})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tab := Table{ABI: a, Calls: tt.calls, Default: Errno(unix.EPERM), Newer: Errno(unix.ENOSYS)}
			if p, err := Compile([]Table{tab}, KillProcess); err == nil {
				t.Errorf("Compile(%+v) = %d instructions, want an error", tt.calls, len(p.Insns))
			}
		})
	}
	if _, err := Compile(nil, KillProcess); err == nil {
		t.Error("Compile(no tables) = nil error")
	}
}

func TestActionNames(t *testing.T) {
	for _, tt := range []struct {
		a          Action
		name, text string
	}{
		{Allow, "allow", "allow"}, {KillProcess, "kill_process", "kill_process"}, {KillThread, "kill_thread", "kill_thread"},
		{Trap, "trap", "trap"}, {Log, "log", "log"}, {Errno(unix.EPERM), "errno", "errno 1"}, {Trace(9), "trace", "trace 9"},
		{0x12340000, "", "action 0x12340000"},
	} {
		if tt.a.Name() != tt.name || tt.a.String() != tt.text {
			t.Errorf("Action(%#x) = %q, %q; want %q, %q", uint32(tt.a), tt.a.Name(), tt.a.String(), tt.name, tt.text)
		}
	}
}

// TestValidate checks that the validator refuses what the kernel would.
func TestValidate(t *testing.T) {
	ret := bpf.RetConstant{Val: uint32(Allow)}
	for _, tt := range []struct {
		name string
		prog []bpf.Instruction
		ok   bool
	}{
		{"minimal", []bpf.Instruction{ret}, true},
		{"load nr", []bpf.Instruction{bpf.LoadAbsolute{Off: 0, Size: 4}, ret}, true},
		{"unaligned load", []bpf.Instruction{bpf.LoadAbsolute{Off: 2, Size: 4}, ret}, false},
		{"load past seccomp_data", []bpf.Instruction{bpf.LoadAbsolute{Off: 64, Size: 4}, ret}, false},
		{"half-word load", []bpf.Instruction{bpf.LoadAbsolute{Off: 0, Size: 2}, ret}, false},
		{"jump past the end", []bpf.Instruction{bpf.JumpIf{Cond: bpf.JumpEqual, Val: 1, SkipTrue: 5}, ret}, false},
		{"ja past the end", []bpf.Instruction{bpf.Jump{Skip: 1}, ret}, false},
		{"no return at the end", []bpf.Instruction{ret, bpf.LoadAbsolute{Off: 0, Size: 4}}, false},
		{"scratch memory", []bpf.Instruction{bpf.StoreScratch{Src: bpf.RegA, N: 0}, ret}, false},
		{"empty", nil, false},
		{"too long", func() []bpf.Instruction {
			p := make([]bpf.Instruction, maxInsns+1)
			for i := range p {
				p[i] = ret
			}
			return p
		}(), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := bpf.Assemble(tt.prog)
			if err != nil {
				t.Fatal(err)
			}
			err = validate(raw)
			if (err == nil) != tt.ok {
				t.Errorf("validate(%v) = %v, want ok=%v", tt.prog, err, tt.ok)
			}
		})
	}
}

// TestEvalRefuses: Eval says nothing of a program Compile does not emit, that loads
// past its data or that runs off its end. What it answers is held to the VM's by run.
func TestEvalRefuses(t *testing.T) {
	data := VMData(false, unix.AUDIT_ARCH_X86_64, 0)
	for _, tt := range []struct {
		name string
		prog []bpf.Instruction
	}{
		{"scratch memory", []bpf.Instruction{bpf.StoreScratch{Src: bpf.RegA, N: 0}, bpf.RetConstant{}}},
		{"return of A", []bpf.Instruction{bpf.RetA{}}},
		{"load past the data", []bpf.Instruction{bpf.LoadAbsolute{Off: 64, Size: 4}, bpf.RetConstant{}}},
		{"load at the largest offset", []bpf.Instruction{bpf.LoadAbsolute{Off: 0xffffffff, Size: 4}, bpf.RetConstant{}}},
		{"no return", []bpf.Instruction{bpf.LoadAbsolute{Off: 0, Size: 4}}},
		{"ja past the end", []bpf.Instruction{bpf.Jump{Skip: 1}, bpf.RetConstant{}}},
		{"ja by the most", []bpf.Instruction{bpf.Jump{Skip: 0xffffffff}, bpf.RetConstant{}}},
		{"jeq past the end", []bpf.Instruction{bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1}, bpf.RetConstant{}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := bpf.Assemble(tt.prog)
			if err != nil {
				t.Fatal(err)
			}
			if act, ok := Eval(raw, data); ok {
				t.Errorf("Eval(%v) = %v, true; want false", tt.prog, act)
			}
		})
	}
}

// TestLongTree: a tree whose subtrees are longer than a conditional jump reaches (255
// instructions) still sends every call to its own leaf, and its leaves' checks decide.
func TestLongTree(t *testing.T) {
	for _, big := range []bool{false, true} {
		a := &ABI{Name: "test", AuditArch: 0x4000003e, BigEndian: big, Nr: map[string]uint32{}, MaxNr: 499}
		tab := Table{ABI: a, Default: Errno(unix.EPERM), Newer: Errno(unix.ENOSYS)}
		for nr := uint32(0); nr < 500; nr += 2 {
			name := "call" + strconv.Itoa(int(nr))
			a.Nr[name] = nr
			// A wide test of two values: about a dozen instructions a leaf.
			tab.Calls = append(tab.Calls, Call{Name: name, Action: Errno(unix.EACCES), Checks: []Check{{
				Action: Errno(unix.Errno(nr%4000 + 1)),
				Conds:  []Cond{{Arg: 1, Op: In, Values: []uint64{uint64(nr), 1<<32 | uint64(nr)}, Wide: true}},
			}}})
		}
		v, p := vm(t, []Table{tab})
		if len(p.Insns) < 4*256 {
			t.Fatalf("%d instructions: not long enough to test", len(p.Insns))
		}
		for nr := uint32(0); nr < 502; nr++ {
			want := Errno(unix.EPERM)
			switch {
			case nr > 499:
				want = Errno(unix.ENOSYS)
			case nr%2 == 0:
				want = Errno(unix.Errno(nr%4000 + 1))
			}
			if got := run(t, v, a, nr, 0, uint64(nr)); got != want {
				t.Fatalf("big %v: call %d = %v, want %v", big, nr, got, want)
			}
			if nr%2 == 0 && nr <= 499 {
				if got := run(t, v, a, nr, 0, uint64(nr)+1); got != Errno(unix.EACCES) {
					t.Fatalf("big %v: call %d with another value = %v, want EACCES", big, nr, got)
				}
			}
		}
	}
}
