package profile

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"launch/internal/jsondec"
	"launch/internal/policy"
)

// A Profile is a seccomp profile: the OCI runtime spec's linux.seccomp, or Docker's
// and podman's file, which names its arches by archMap and conditions rules on the
// container's capabilities, arch and kernel (includes, excludes). Fields a profile
// may carry that launch does not read (comment, listenerMetadata) are ignored.
type Profile struct {
	DefaultAction   string    `json:"defaultAction"`
	DefaultErrnoRet *uint     `json:"defaultErrnoRet,omitempty"`
	Architectures   []string  `json:"architectures,omitempty"`
	ArchMap         []ArchMap `json:"archMap,omitempty"`
	Flags           []string  `json:"flags,omitempty"`
	ListenerPath    string    `json:"listenerPath,omitempty"`
	Syscalls        []Syscall `json:"syscalls,omitempty"`
}

// An ArchMap lists the ABIs a profile admits on a kernel whose native ABI is
// Architecture.
type ArchMap struct {
	Architecture     string   `json:"architecture"`
	SubArchitectures []string `json:"subArchitectures"`
}

// A Syscall is a rule: the calls Names get Action when all of Args hold (any of them,
// when two test the same argument). Includes and Excludes apply the rule to some
// containers only. Of several rules for one call, the first without Args decides it
// whatever the others say; without one, the first whose Args hold; else the default.
// (libseccomp builds filters so, and runc and crun with it: tried here with runc 1.1.5.)
type Syscall struct {
	Names    []string `json:"names"`
	Action   string   `json:"action"`
	ErrnoRet *uint    `json:"errnoRet,omitempty"`
	Args     []Arg    `json:"args,omitempty"`
	Includes *Filter  `json:"includes,omitempty"`
	Excludes *Filter  `json:"excludes,omitempty"`
}

// An Arg tests argument Index of a call: Op compares it with Value (MASKED_EQ:
// arg & Value == ValueTwo), all 64 bits of it.
type Arg struct {
	Index    uint   `json:"index"`
	Value    uint64 `json:"value"`
	ValueTwo uint64 `json:"valueTwo,omitempty"`
	Op       string `json:"op"`
}

// A Filter selects containers (Docker's includes and excludes): by the capabilities they
// keep (all of Caps), the GOARCH of their kernel (one of Arches) and the kernel's
// version (MinKernel, as "4.8").
type Filter struct {
	Caps      []string `json:"caps,omitempty"`
	Arches    []string `json:"arches,omitempty"`
	MinKernel string   `json:"minKernel,omitempty"`
}

// MaxSize is the largest profile Parse reads: Docker's default profile is 20 KiB.
const MaxSize = 4 << 20

// Parse reads a profile of at most MaxSize bytes of JSON. Its fields are those of the
// json tags above (a test holds the two to each other); others are ignored, and null
// is the same as a field left out.
func Parse(r io.Reader) (*Profile, error) {
	v, err := jsondec.Parse(r, MaxSize)
	if err != nil {
		return nil, err
	}
	return FromJSON(v)
}

// FromJSON reads a profile from parsed JSON (a bundle's linux.seccomp).
func FromJSON(v *jsondec.Value) (*Profile, error) {
	var p Profile
	d := &decoder{}
	d.Object(v, "", "the profile", profileFields, func(key string, v *jsondec.Value, at string) {
		switch key {
		case "defaultAction":
			p.DefaultAction = d.Str(v, at)
		case "defaultErrnoRet":
			p.DefaultErrnoRet = d.Uintp(v, at)
		case "architectures":
			p.Architectures = d.Strs(v, at)
		case "archMap":
			p.ArchMap = jsondec.List(&d.Decoder, v, at, func(v *jsondec.Value, at string) (m ArchMap) {
				d.Object(v, at, "", archMapFields, func(key string, v *jsondec.Value, at string) {
					switch key {
					case "architecture":
						m.Architecture = d.Str(v, at)
					case "subArchitectures":
						m.SubArchitectures = d.Strs(v, at)
					}
				})
				return m
			})
		case "flags":
			p.Flags = d.Strs(v, at)
		case "listenerPath":
			p.ListenerPath = d.Str(v, at)
		case "syscalls":
			p.Syscalls = jsondec.List(&d.Decoder, v, at, d.syscall)
		}
	})
	if d.Err != nil {
		return nil, d.Err
	}
	if p.DefaultAction == "" {
		return nil, errors.New("no defaultAction")
	}
	return &p, nil
}

// A decoder reads a profile's objects.
type decoder struct{ jsondec.Decoder }

// The fields of each object, as the json tags name them.
var (
	profileFields = []string{"defaultAction", "defaultErrnoRet", "architectures", "archMap", "flags", "listenerPath", "syscalls"}
	archMapFields = []string{"architecture", "subArchitectures"}
	syscallFields = []string{"names", "action", "errnoRet", "args", "includes", "excludes"}
	argFields     = []string{"index", "value", "valueTwo", "op"}
	filterFields  = []string{"caps", "arches", "minKernel"}
)

func (d *decoder) syscall(v *jsondec.Value, at string) Syscall {
	var s Syscall
	d.Object(v, at, "", syscallFields, func(key string, v *jsondec.Value, at string) {
		switch key {
		case "names":
			s.Names = d.Strs(v, at)
		case "action":
			s.Action = d.Str(v, at)
		case "errnoRet":
			s.ErrnoRet = d.Uintp(v, at)
		case "args":
			s.Args = jsondec.List(&d.Decoder, v, at, func(v *jsondec.Value, at string) (a Arg) {
				d.Object(v, at, "", argFields, func(key string, v *jsondec.Value, at string) {
					switch key {
					case "index":
						a.Index = uint(min(d.Uint64(v, at), 1<<16)) // past 5 either way
					case "value":
						a.Value = d.Uint64(v, at)
					case "valueTwo":
						a.ValueTwo = d.Uint64(v, at)
					case "op":
						a.Op = d.Str(v, at)
					}
				})
				return a
			})
		case "includes":
			s.Includes = d.filter(v, at)
		case "excludes":
			s.Excludes = d.filter(v, at)
		}
	})
	return s
}

func (d *decoder) filter(v *jsondec.Value, at string) *Filter {
	if v.Type() == jsondec.TypeNull {
		return nil
	}
	f := &Filter{}
	d.Object(v, at, "", filterFields, func(key string, v *jsondec.Value, at string) {
		switch key {
		case "caps":
			f.Caps = d.Strs(v, at)
		case "arches":
			f.Arches = d.Strs(v, at)
		case "minKernel":
			f.MinKernel = d.Str(v, at)
		}
	})
	return f
}

// A Container is what Includes and Excludes look at.
type Container struct {
	Caps   []string // the capabilities it keeps, as CAP_NAME
	Kernel [2]int   // the running kernel's version, major and minor
}

// A Program is a compiled profile.
type Program struct {
	Filter []unix.SockFilter
	Flags  uintptr  // SECCOMP_FILTER_FLAG_* for seccomp(2)
	ABIs   []string // the GOARCHes whose calls it admits, the native one first
	// MaxPath is the most instructions any call runs through.
	MaxPath int
	// Skipped are the names of rules that no admitted ABI has, skipped as runc does.
	Skipped []string

	insns    []bpf.RawInstruction // the filter, for RefusesCall
	notified []notified           // a Notifier's calls
	// self is what it does with the calls of the launcher's own ABI, which launch
	// makes after loading it (the kernel's native one, or its compat one for a 32-bit
	// launcher on a 64-bit kernel); nil if the profile does not admit that ABI.
	self *policy.Table
}

// Compile compiles p for the running kernel's ABIs and the container c.
func (p *Profile) Compile(c Container) (*Program, error) {
	return p.compile(kernelABIs(), c)
}

func (p *Profile) compile(all []*abi, c Container) (*Program, error) {
	if len(all) == 0 {
		return nil, errors.New("no system-call tables for this GOARCH: a profile cannot be compiled")
	}
	if p.ListenerPath != "" {
		return nil, errors.New("listenerPath: seccomp user notification is not supported")
	}
	def, err := action(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("defaultAction: %w", err)
	}
	// A number past the table is a call newer than the profile: ENOSYS lets a program
	// fall back to an older call, where another error would be taken as the answer.
	newer := def
	if def != policy.Allow && def != policy.Log {
		newer = policy.Errno(unix.ENOSYS)
	}
	flags, err := filterFlags(p.Flags)
	if err != nil {
		return nil, err
	}
	admitted, err := p.admitted(all)
	if err != nil {
		return nil, err
	}
	rs, err := p.rules(all[0].goarch, c, def)
	if err != nil {
		return nil, err
	}
	prog := &Program{Flags: flags}
	tables := make([]policy.Table, len(admitted))
	known := make(map[string]bool, 512)
	for i, a := range admitted {
		tables[i] = table(a, rs, def, newer, known)
		prog.ABIs = append(prog.ABIs, a.goarch)
	}
	skipped := map[string]bool{}
	for _, r := range p.Syscalls {
		for _, n := range r.Names {
			if !known[n] && !skipped[n] {
				skipped[n] = true
				prog.Skipped = append(prog.Skipped, n)
			}
		}
	}
	// A call through an ABI the profile does not admit kills the process, as the
	// built-in filter's does.
	compiled, err := policy.Compile(tables, policy.KillProcess)
	if err != nil {
		return nil, err
	}
	prog.Filter = compiled.SockFilters()
	for _, l := range compiled.ABIs {
		prog.MaxPath = max(prog.MaxPath, l.MaxPath)
	}
	prog.insns = compiled.Insns
	for _, t := range tables {
		if t.ABI.Name == runtime.GOARCH {
			prog.self = &t
		}
	}
	return prog, nil
}

// Refuses returns those of names that the filter could refuse, by any of its rules,
// through the launcher's own ABI: the calls launch itself makes after loading it, with
// arguments a profile cannot foresee (descriptors, pointers), which a profile must
// leave it whatever their arguments. Allowing one or logging it is leaving it. All of
// names, if the profile does not admit that ABI.
func (p *Program) Refuses(names ...string) []string {
	if p.self == nil {
		return names
	}
	leaves := func(a policy.Action) bool { return a == policy.Allow || a == policy.Log }
	var out []string
	for _, n := range names {
		if _, ok := p.self.ABI.Nr[n]; !ok {
			continue
		}
		i := slices.IndexFunc(p.self.Calls, func(c policy.Call) bool { return c.Name == n })
		if i < 0 {
			if !leaves(p.self.Default) {
				out = append(out, n)
			}
			continue
		}
		c := p.self.Calls[i]
		ok := leaves(c.Action)
		for _, ch := range c.Checks {
			ok = ok && leaves(ch.Action)
		}
		if !ok {
			out = append(out, n)
		}
	}
	return out
}

// RefusesCall reports whether the filter refuses the call name with exactly args
// through the launcher's own ABI (run by policy.Eval): for a call launch makes with
// arguments it knows, as fork.RawClone's clone(2).
func (p *Program) RefusesCall(name string, args ...uint64) bool {
	if p.self == nil {
		return true
	}
	a := p.self.ABI
	nr, ok := a.Nr[name]
	if !ok {
		return false
	}
	act, ok := policy.Eval(p.insns, policy.VMData(a.BigEndian, a.AuditArch, nr, args...))
	// Not ok: not a program Eval runs, so nothing can be said allowed.
	return !ok || act != policy.Allow && act != policy.Log
}

// admitted returns the ABIs of all (the native one first) that p admits: the native
// one always, and the others p names, by architectures or by the archMap entry of the
// native ABI. A name of an ABI this kernel does not run is left out; one that no
// kernel runs is an error.
func (p *Profile) admitted(all []*abi) ([]*abi, error) {
	if len(p.Architectures) > 0 && len(p.ArchMap) > 0 {
		return nil, errors.New("both architectures and archMap are given")
	}
	names := p.Architectures
	for _, m := range p.ArchMap {
		if m.Architecture == all[0].scmp {
			names = append([]string{m.Architecture}, m.SubArchitectures...)
		}
	}
	out := []*abi{all[0]}
	for _, n := range names {
		if !slices.ContainsFunc(policy.Arches, func(a policy.Arch) bool { return a.SCMPName == n }) && !slices.Contains(otherSCMP, n) {
			return nil, fmt.Errorf("architectures: unknown architecture %q", n)
		}
		for _, a := range all[1:] {
			if a.scmp == n && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// otherSCMP are libseccomp's names of ABIs that no GOARCH is: a profile may list them
// (Docker's does), and their calls meet the foreign-arch rule. A slice, not a map: it
// is static data, which costs a start without --seccomp=FILE nothing.
var otherSCMP = []string{"SCMP_ARCH_X32", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
	"SCMP_ARCH_S390", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV32", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB"}

// A rule is a Syscall of the profile as it applies to the container: its action and
// its checks (nil for none).
type rule struct {
	names  []string
	act    policy.Action
	checks []policy.Check
}

// rules resolves p's rules for the container c on a kernel whose native GOARCH is
// native, leaving out those that its includes and excludes leave out, and those whose
// action is the default (def), which libseccomp refuses and runc skips: they decide
// nothing there, and must not here. Every rule is checked, applied or not.
func (p *Profile) rules(native string, c Container, def policy.Action) ([]rule, error) {
	out := make([]rule, 0, len(p.Syscalls))
	conds := 0
	for i := range p.Syscalls {
		r := &p.Syscalls[i]
		act, in, checks, err := r.resolve(native, c)
		if err != nil {
			return nil, errors.New("syscalls[" + strconv.Itoa(i) + "]: " + err.Error())
		}
		if in && act != def {
			names := dedupe(r.Names)
			out = append(out, rule{names: names, act: act, checks: checks})
			conds += len(r.Args) * len(names)
		}
		// Every test of an argument costs the filter two instructions at least, and a
		// filter holds 4096: refuse before building what cannot be loaded.
		if conds > maxConds {
			return nil, fmt.Errorf("more than %d tests of arguments: the filter would be longer than the kernel takes", maxConds)
		}
	}
	return out, nil
}

// resolve checks the rule and returns its action, whether it applies to the container
// c on a kernel whose native GOARCH is native, and its checks.
func (r *Syscall) resolve(native string, c Container) (act policy.Action, in bool, checks []policy.Check, err error) {
	if err = r.checkNames(); err != nil {
		return
	}
	if act, err = action(r.Action, r.ErrnoRet); err != nil {
		return
	}
	if in, err = r.applies(native, c); err != nil {
		return
	}
	checks, err = r.checks(act)
	return
}

// maxConds bounds the tests of arguments a profile may ask for, counted per name.
const maxConds = 2048

// checkNames refuses a name no call can have: one with a NUL, which runc would cut
// there, so that the rule would be another call's.
func (r *Syscall) checkNames() error {
	for _, n := range r.Names {
		if strings.ContainsRune(n, 0) {
			return fmt.Errorf("names: %q holds a NUL", n)
		}
	}
	return nil
}

// dedupe returns names without repeats, in order.
func dedupe(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// table builds what the filter does with a's calls by the rules rs. known collects the
// names a has.
func table(a *abi, rs []rule, def, newer policy.Action, known map[string]bool) policy.Table {
	pa := a.policyABI()
	n := 0
	for _, r := range rs {
		n += len(r.names)
	}
	// x32's calls, where the ABI has them (see policyABI), answer ENOSYS: no profile
	// admits x32 here, and runc answers them so when a profile does not name it.
	t := policy.Table{ABI: pa, Default: def, Newer: newer, Other: policy.Errno(unix.ENOSYS), Calls: make([]policy.Call, 0, n)}
	// The index of each call in t.Calls, plus one, by its number: a slice up to the
	// table's end, a map past it (ARM's private calls).
	index := make([]int32, a.maxNr+1)
	var past map[uint32]int32
	set := make([]bool, 0, n) // by index: a rule without arguments has given the call its action
	call := func(name string, nr uint32) int {
		var i int32
		if nr <= a.maxNr {
			i = index[nr]
		} else {
			i = past[nr]
		}
		if i == 0 {
			t.Calls = append(t.Calls, policy.Call{Name: name, Action: def})
			set = append(set, false)
			i = int32(len(t.Calls))
			if nr <= a.maxNr {
				index[nr] = i
			} else {
				if past == nil {
					past = make(map[uint32]int32)
				}
				past[nr] = i
			}
		}
		return int(i) - 1
	}
	// Only some ABIs multiplex calls (see multiplexedBy).
	_, socketcall := pa.Nr["socketcall"]
	_, ipc := pa.Nr["ipc"]
	for _, r := range rs {
		for _, name := range r.names {
			if nr, ok := pa.Nr[name]; ok {
				known[name] = true
				i := call(name, nr)
				switch {
				case r.checks != nil:
					t.Calls[i].Checks = append(t.Calls[i].Checks, r.checks...)
				case !set[i]:
					// Of two rules without arguments for one call, the first stands.
					t.Calls[i].Action, set[i] = r.act, true
				}
			}
			// Where the ABI multiplexes socket or System V IPC calls through one
			// (socketcall(2), ipc(2)), a rule without arguments also holds for the
			// call made that way, as libseccomp makes it hold: else a 32-bit program
			// would pass a refusal of socket(2) by socketcall(SYS_SOCKET). A rule with
			// arguments cannot: they are in memory there (see the README). It holds
			// also for a call the ABI has no number of its own for (i386's accept,
			// send and recv are socketcall's only).
			if !socketcall && !ipc || r.checks != nil {
				continue
			}
			if m, ok := multiplexedBy(name); ok {
				if nr, ok := pa.Nr[m.via]; ok {
					known[name] = true
					j := call(m.via, nr)
					cd := policy.Cond{Arg: 0, Op: policy.In, Values: []uint64{m.call}}
					if m.via == "ipc" {
						// ipc(2) reads the call from the low 16 bits, a version from the high.
						cd = policy.Cond{Arg: 0, Op: policy.MaskedEQ, Values: []uint64{0xffff, m.call}}
					}
					t.Calls[j].Checks = append(t.Calls[j].Checks, policy.Check{Conds: []policy.Cond{cd}, Action: r.act})
				}
			}
		}
	}
	for i := range t.Calls {
		if set[i] {
			// A rule without arguments decides the call whatever the others say, as
			// libseccomp builds it (runc 1.1.5 and crun run it so here).
			t.Calls[i].Checks = nil
		}
	}
	return t
}

// checks returns the rule's argument tests as the compiler's checks, which are ORed:
// one with every test, or, when two tests look at the same argument, one per test (as
// runc adds such a rule to libseccomp). nil for a rule without tests.
func (r *Syscall) checks(act policy.Action) ([]policy.Check, error) {
	if len(r.Args) == 0 {
		return nil, nil
	}
	conds := make([]policy.Cond, 0, len(r.Args))
	var seen [6]bool
	split := false
	for i, a := range r.Args {
		if a.Index > 5 {
			return nil, fmt.Errorf("args[%d]: index %d, want 0 to 5", i, a.Index)
		}
		cd := policy.Cond{Arg: uint8(a.Index), Wide: true}
		switch a.Op {
		case "SCMP_CMP_EQ":
			cd.Op, cd.Values = policy.In, []uint64{a.Value}
		case "SCMP_CMP_NE":
			cd.Op, cd.Values = policy.NotIn, []uint64{a.Value}
		case "SCMP_CMP_LT":
			cd.Op, cd.Values = policy.LT, []uint64{a.Value}
		case "SCMP_CMP_LE":
			cd.Op, cd.Values = policy.LE, []uint64{a.Value}
		case "SCMP_CMP_GE":
			cd.Op, cd.Values = policy.GE, []uint64{a.Value}
		case "SCMP_CMP_GT":
			cd.Op, cd.Values = policy.GT, []uint64{a.Value}
		case "SCMP_CMP_MASKED_EQ":
			cd.Op, cd.Values = policy.MaskedEQ, []uint64{a.Value, a.ValueTwo}
		default:
			return nil, fmt.Errorf("args[%d]: unknown op %q", i, a.Op)
		}
		split = split || seen[a.Index]
		seen[a.Index] = true
		conds = append(conds, cd)
	}
	if !split {
		return []policy.Check{{Conds: conds, Action: act}}, nil
	}
	out := make([]policy.Check, len(conds))
	for i, cd := range conds {
		out[i] = policy.Check{Conds: []policy.Cond{cd}, Action: act}
	}
	return out, nil
}

// applies reports whether the rule is for the container c on a kernel whose native
// GOARCH is native.
func (r *Syscall) applies(native string, c Container) (bool, error) {
	if r.Includes != nil {
		ok, err := r.Includes.matches(native, c, true)
		if err != nil || !ok {
			return false, err
		}
	}
	if r.Excludes != nil {
		hit, err := r.Excludes.matches(native, c, false)
		if err != nil || hit {
			return false, err
		}
	}
	return true, nil
}

// matches reports whether c is selected by f: by all of f's conditions for includes
// (all), by any of them for excludes.
func (f *Filter) matches(native string, c Container, all bool) (bool, error) {
	var results []bool
	if len(f.Caps) > 0 {
		has := true
		any := false
		for _, cp := range f.Caps {
			in := slices.Contains(c.Caps, cp)
			has, any = has && in, any || in
		}
		results = append(results, has && all || any && !all)
	}
	if len(f.Arches) > 0 {
		results = append(results, slices.Contains(f.Arches, native) || native == "386" && slices.Contains(f.Arches, "x86"))
	}
	if f.MinKernel != "" {
		want, err := parseKernel(f.MinKernel)
		if err != nil {
			return false, err
		}
		results = append(results, c.Kernel[0] > want[0] || c.Kernel[0] == want[0] && c.Kernel[1] >= want[1])
	}
	if all {
		return !slices.Contains(results, false), nil
	}
	return slices.Contains(results, true), nil
}

// parseKernel reads a version as minKernel writes it: "4.8".
func parseKernel(s string) ([2]int, error) {
	maj, min, ok := strings.Cut(s, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if !ok || err1 != nil || err2 != nil || a < 0 || b < 0 {
		return [2]int{}, fmt.Errorf("minKernel %q, want MAJOR.MINOR", s)
	}
	return [2]int{a, b}, nil
}

// action returns the action a profile names, with its errno (or a tracer's message).
func action(name string, errnoRet *uint) (policy.Action, error) {
	data := uint(unix.EPERM)
	if errnoRet != nil {
		if name != "SCMP_ACT_ERRNO" && name != "SCMP_ACT_TRACE" {
			return 0, fmt.Errorf("errnoRet with %s, which returns no errno", name)
		}
		if *errnoRet > 4095 {
			return 0, fmt.Errorf("errnoRet %d is past the largest errno, 4095", *errnoRet)
		}
		data = *errnoRet
	}
	switch name {
	case "SCMP_ACT_ALLOW":
		return policy.Allow, nil
	case "SCMP_ACT_ERRNO":
		return policy.Errno(unix.Errno(data)), nil
	case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD":
		return policy.KillThread, nil
	case "SCMP_ACT_KILL_PROCESS":
		return policy.KillProcess, nil
	case "SCMP_ACT_TRAP":
		return policy.Trap, nil
	case "SCMP_ACT_TRACE":
		return policy.Trace(uint16(data)), nil
	case "SCMP_ACT_LOG":
		return policy.Log, nil
	case "SCMP_ACT_NOTIFY":
		return 0, errors.New("SCMP_ACT_NOTIFY: seccomp user notification is not supported")
	}
	return 0, fmt.Errorf("unknown action %q", name)
}

// filterFlags returns the flags of seccomp(2) that names name.
func filterFlags(names []string) (uintptr, error) {
	var f uintptr
	for _, n := range names {
		switch n {
		case "SECCOMP_FILTER_FLAG_TSYNC":
			// The filter is loaded before the container's first program runs, by its
			// only thread: there is nothing to synchronize.
		case "SECCOMP_FILTER_FLAG_LOG":
			f |= unix.SECCOMP_FILTER_FLAG_LOG
		case "SECCOMP_FILTER_FLAG_SPEC_ALLOW":
			f |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		default:
			return 0, fmt.Errorf("flags: %q is not supported", n)
		}
	}
	return f, nil
}

// RunningKernel returns the running kernel's version, major and minor, as uname(2)
// gives its release ("6.18.0-1-amd64"), or zeros.
func RunningKernel() [2]int {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return [2]int{}
	}
	var v [2]int
	fields := strings.FieldsFunc(unix.ByteSliceToString(u.Release[:]), func(r rune) bool { return r < '0' || r > '9' })
	for i := 0; i < 2 && i < len(fields); i++ {
		v[i], _ = strconv.Atoi(fields[i])
	}
	return v
}

// A mux is a call some ABIs (i386, s390x, MIPS o32, PowerPC) also make through
// socketcall(2) or ipc(2), with its number there: SYS_SOCKET and the rest of
// linux/net.h, SEMOP and the rest of linux/ipc.h, which x/sys does not export.
type mux struct {
	name, via string
	call      uint64
}

// multiplexed lists them. A slice, not a map: static data, which costs a start without
// --seccomp=FILE nothing.
var multiplexed = []mux{
	{"socket", "socketcall", 1}, {"bind", "socketcall", 2}, {"connect", "socketcall", 3},
	{"listen", "socketcall", 4}, {"accept", "socketcall", 5}, {"getsockname", "socketcall", 6},
	{"getpeername", "socketcall", 7}, {"socketpair", "socketcall", 8}, {"send", "socketcall", 9},
	{"recv", "socketcall", 10}, {"sendto", "socketcall", 11}, {"recvfrom", "socketcall", 12},
	{"shutdown", "socketcall", 13}, {"setsockopt", "socketcall", 14}, {"getsockopt", "socketcall", 15},
	{"sendmsg", "socketcall", 16}, {"recvmsg", "socketcall", 17}, {"accept4", "socketcall", 18},
	{"recvmmsg", "socketcall", 19}, {"sendmmsg", "socketcall", 20},
	{"semop", "ipc", 1}, {"semget", "ipc", 2}, {"semctl", "ipc", 3}, {"semtimedop", "ipc", 4},
	{"msgsnd", "ipc", 11}, {"msgrcv", "ipc", 12}, {"msgget", "ipc", 13}, {"msgctl", "ipc", 14},
	{"shmat", "ipc", 21}, {"shmdt", "ipc", 22}, {"shmget", "ipc", 23}, {"shmctl", "ipc", 24},
}

// multiplexedBy returns the entry of multiplexed for the call name.
func multiplexedBy(name string) (mux, bool) {
	i := slices.IndexFunc(multiplexed, func(m mux) bool { return m.name == name })
	if i < 0 {
		return mux{}, false
	}
	return multiplexed[i], true
}
