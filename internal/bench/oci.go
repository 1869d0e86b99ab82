package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"

	"golang.org/x/sys/unix"

	"launch/gen/xsys"
	"launch/internal/policy"
	"launch/internal/profile"
)

// The OCI runtime spec (github.com/opencontainers/runtime-spec, config.md and
// config-linux.md), only the fields the bundle sets. Written here rather than imported:
// the bench adds no dependency to the module.
type (
	ociSpec struct {
		Version  string     `json:"ociVersion"`
		Process  ociProcess `json:"process"`
		Root     ociRoot    `json:"root"`
		Hostname string     `json:"hostname"`
		Mounts   []ociMount `json:"mounts"`
		Linux    ociLinux   `json:"linux"`
	}
	ociProcess struct {
		Terminal        bool     `json:"terminal"`
		User            ociUser  `json:"user"`
		Args            []string `json:"args"`
		Env             []string `json:"env"`
		Cwd             string   `json:"cwd"`
		Capabilities    ociCaps  `json:"capabilities"`
		NoNewPrivileges bool     `json:"noNewPrivileges"`
	}
	ociUser struct {
		UID uint32 `json:"uid"`
		GID uint32 `json:"gid"`
	}
	ociCaps struct {
		Bounding    []string `json:"bounding"`
		Effective   []string `json:"effective"`
		Permitted   []string `json:"permitted"`
		Inheritable []string `json:"inheritable"`
		Ambient     []string `json:"ambient"`
	}
	ociRoot struct {
		Path     string `json:"path"`
		Readonly bool   `json:"readonly"`
	}
	ociMount struct {
		Destination string   `json:"destination"`
		Type        string   `json:"type"`
		Source      string   `json:"source"`
		Options     []string `json:"options,omitempty"`
	}
	ociLinux struct {
		Namespaces    []ociNamespace   `json:"namespaces"`
		Resources     ociResources     `json:"resources"`
		MaskedPaths   []string         `json:"maskedPaths"`
		ReadonlyPaths []string         `json:"readonlyPaths"`
		Seccomp       *profile.Profile `json:"seccomp,omitempty"`
	}
	ociNamespace struct {
		Type string `json:"type"`
	}
	ociResources struct {
		Memory  ociMemory   `json:"memory"`
		CPU     ociCPU      `json:"cpu"`
		Pids    ociPids     `json:"pids"`
		BlockIO *ociBlockIO `json:"blockIO,omitempty"`
	}
	ociMemory struct {
		Limit int64 `json:"limit"`
		Swap  int64 `json:"swap"` // memory plus swap, as cgroup v1's memsw
	}
	ociCPU struct {
		Shares uint64 `json:"shares"`
	}
	ociPids struct {
		Limit int64 `json:"limit"`
	}
	ociBlockIO struct {
		Weight uint16 `json:"weight"`
	}
)

// Docker's masked and read-only paths, the lists launch uses (internal/mount/layout.go
// keeps them unexported).
var (
	maskedPaths = []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats",
		"/sys/devices/virtual/powercap", "/sys/firmware"}
	readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// ociConfig returns the config.json that matches launch's defaults, running args with
// the capabilities caps and the seccomp profile sc.
func ociConfig(rootfs string, args []string, caps []string, sc *profile.Profile) *ociSpec {
	const mib = 1 << 20
	return &ociSpec{
		Version: "1.0.2",
		Process: ociProcess{
			Args: args,
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"},
			Cwd:  "/",
			// Inheritable and ambient empty, as launch and Docker since CVE-2022-29162.
			Capabilities:    ociCaps{Bounding: caps, Effective: caps, Permitted: caps, Inheritable: []string{}, Ambient: []string{}},
			NoNewPrivileges: true,
		},
		Root:     ociRoot{Path: rootfs},
		Hostname: "launch",
		// The mounts of runc's own spec template plus /tmp, which launch mounts too.
		Mounts: []ociMount{
			{"/proc", "proc", "proc", []string{"nosuid", "noexec", "nodev"}},
			{"/dev", "tmpfs", "tmpfs", []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{"/dev/pts", "devpts", "devpts", []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{"/dev/shm", "tmpfs", "shm", []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{"/dev/mqueue", "mqueue", "mqueue", []string{"nosuid", "noexec", "nodev"}},
			{"/sys", "sysfs", "sysfs", []string{"nosuid", "noexec", "nodev", "ro"}},
			{"/sys/fs/cgroup", "cgroup", "cgroup", []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
			{"/tmp", "tmpfs", "tmpfs", []string{"nosuid", "nodev"}},
		},
		Linux: ociLinux{
			Namespaces: []ociNamespace{{"pid"}, {"ipc"}, {"uts"}, {"mount"}, {"network"}, {"cgroup"}},
			// launch's defaults: 64 MiB with swap off (memsw = memory), 256 shares, 64
			// processes, block-I/O weight 50.
			Resources: ociResources{
				Memory:  ociMemory{Limit: 64 * mib, Swap: 64 * mib},
				CPU:     ociCPU{Shares: 256},
				Pids:    ociPids{Limit: 64},
				BlockIO: &ociBlockIO{Weight: 50},
			},
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
			Seccomp:       sc,
		},
	}
}

// writeBundle writes dir/config.json for spec.
func writeBundle(dir string, spec *ociSpec) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return fmt.Errorf("encode config.json: %w", err)
	}
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return nil
}

// seccompProfile turns syscalls.txt into an OCI seccomp profile for this GOARCH, as
// launch's compiled filter reads it (internal/policy, with x/sys's constants of each
// ABI): the calls allowed, the conditions as argument rules, EPERM for the rest and
// ENOSYS for clone3. The architectures are those the filter admits; a call is allowed
// if the filter allows it on one of them (a profile's rules are shared by its arches).
func seccompProfile(file string) (*profile.Profile, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	s, err := policy.ParseSyscalls(filepath.Base(file), data)
	if err != nil {
		return nil, err
	}
	arch, ok := policy.LookupArch(runtime.GOARCH)
	if !ok {
		return nil, fmt.Errorf("no filter is made for GOARCH %s", runtime.GOARCH)
	}
	goarches := append([]string{arch.GOARCH}, arch.Compat...)
	abis, err := xsys.LoadABIs(goarches...)
	if err != nil {
		return nil, err
	}
	enosys := uint(unix.ENOSYS)
	p := &profile.Profile{DefaultAction: "SCMP_ACT_ERRNO"}
	var plain []string
	conditional := map[string][]policy.Call{}
	for i, ga := range goarches {
		a, _ := policy.LookupArch(ga)
		p.Architectures = append(p.Architectures, a.SCMPName)
		calls, _, err := s.Calls(abis[ga], i > 0)
		if err != nil {
			return nil, err
		}
		for _, c := range calls {
			switch {
			case len(c.Checks) == 0:
				plain = append(plain, c.Name)
			case !slices.ContainsFunc(conditional[c.Name], func(o policy.Call) bool { return reflect.DeepEqual(o, c) }):
				conditional[c.Name] = append(conditional[c.Name], c)
			}
		}
	}
	slices.Sort(plain)
	plain = slices.Compact(plain)
	p.Syscalls = append(p.Syscalls, profile.Syscall{Names: plain, Action: "SCMP_ACT_ALLOW"})
	for _, name := range slices.Sorted(maps.Keys(conditional)) {
		if slices.Contains(plain, name) {
			continue // allowed unconditionally on another ABI
		}
		for _, c := range conditional[name] {
			rules, err := argRules(c)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			p.Syscalls = append(p.Syscalls, rules...)
		}
	}
	// clone3 passes its flags in memory, which a filter cannot read: ENOSYS makes libc
	// fall back to clone, whose flags the filter checks (moby#42680).
	p.Syscalls = append(p.Syscalls, profile.Syscall{Names: []string{"clone3"}, Action: "SCMP_ACT_ERRNO", ErrnoRet: &enosys})
	return p, nil
}

// argRules turns a call that launch's filter allows when its conditions hold (one
// Check, as syscalls.txt's rules give) into OCI rules, which are ORed. The args of one
// rule are ANDed, but runc turns several args on the same index into separate, ORed
// rules (libseccomp refuses two tests of one argument in a rule), so no rule here tests
// an argument twice.
//
// Every argument that an in or not-in test looks at can be one of the values tested or
// none of them; the rules are the combinations for which the conditions hold, an
// argument left out where its value makes no difference, and "none of them" written as
// below the smallest, above the largest, and each value in between. A mask test, on an
// argument nothing else tests, goes into every rule. launch's filter tests the
// arguments' low 32 bits; libseccomp tests all 64, which matters only to a caller that
// sets high bits the kernel then drops (Docker's profile has the same gap).
func argRules(c policy.Call) ([]profile.Syscall, error) {
	if len(c.Checks) != 1 || c.Checks[0].Action != policy.Allow {
		return nil, fmt.Errorf("%s: not a call allowed by its arguments", c.Name)
	}
	conds := c.Checks[0].Conds
	values := map[uint8][]uint64{} // by argument: the values in and not-in tests name
	var masks []profile.Arg
	var walk func(c policy.Cond, inWhen bool) error
	walk = func(cd policy.Cond, inWhen bool) error {
		switch {
		case cd.Op == policy.In || cd.Op == policy.NotIn:
			values[cd.Arg] = append(values[cd.Arg], cd.Values...)
		case cd.Op == policy.MaskedEQ && !inWhen && cd.When == nil:
			masks = append(masks, profile.Arg{Index: uint(cd.Arg), Value: cd.Values[0], ValueTwo: cd.Values[1], Op: "SCMP_CMP_MASKED_EQ"})
		default:
			return fmt.Errorf("%s: a condition the bench cannot write as OCI rules: %+v", c.Name, cd)
		}
		if cd.When != nil {
			return walk(*cd.When, true)
		}
		return nil
	}
	for _, cd := range conds {
		if err := walk(cd, false); err != nil {
			return nil, err
		}
	}
	for _, m := range masks {
		if _, ok := values[uint8(m.Index)]; ok {
			return nil, fmt.Errorf("%s: arg%d has a mask test and others", c.Name, m.Index)
		}
	}
	args := slices.Sorted(maps.Keys(values))
	for _, i := range args {
		slices.Sort(values[i])
		values[i] = slices.Compact(values[i])
	}

	// pick holds, per argument of args, the index of its value in values, or -1 for
	// none of them.
	pick := map[uint8]int{}
	var holds func(cd policy.Cond) bool
	holds = func(cd policy.Cond) bool {
		if cd.When != nil && !holds(*cd.When) {
			return true
		}
		if cd.Op == policy.MaskedEQ {
			return true // in every rule
		}
		k := pick[cd.Arg]
		in := k >= 0 && slices.Contains(cd.Values, values[cd.Arg][k])
		return in == (cd.Op == policy.In)
	}
	var rules func(n int) ([][]profile.Arg, error)
	rules = func(n int) ([][]profile.Arg, error) {
		if n == len(args) {
			for _, cd := range conds {
				if !holds(cd) {
					return nil, nil
				}
			}
			return [][]profile.Arg{nil}, nil
		}
		arg, vals := args[n], values[args[n]]
		var subs [][][]profile.Arg
		for k := -1; k < len(vals); k++ {
			pick[arg] = k
			sub, err := rules(n + 1)
			if err != nil {
				return nil, err
			}
			subs = append(subs, sub)
		}
		if !slices.ContainsFunc(subs[1:], func(s [][]profile.Arg) bool { return !reflect.DeepEqual(s, subs[0]) }) {
			return subs[0], nil // arg makes no difference here
		}
		var out [][]profile.Arg
		for k, sub := range subs {
			if len(sub) == 0 {
				continue
			}
			tests, err := oneOf(arg, vals, k-1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.Name, err)
			}
			for _, t := range tests {
				for _, rest := range sub {
					out = append(out, append([]profile.Arg{t}, rest...))
				}
			}
		}
		return out, nil
	}
	terms, err := rules(0)
	if err != nil {
		return nil, err
	}
	var out []profile.Syscall
	for _, t := range terms {
		out = append(out, profile.Syscall{Names: []string{c.Name}, Action: "SCMP_ACT_ALLOW", Args: append(t, masks...)})
	}
	return out, nil
}

// oneOf returns the tests of argument i, ORed, for its k-th value of vals, or for none
// of them (k = -1): below the smallest, above the largest, and each value in between.
func oneOf(i uint8, vals []uint64, k int) ([]profile.Arg, error) {
	arg := func(op string, v uint64) profile.Arg { return profile.Arg{Index: uint(i), Value: v, Op: op} }
	if k >= 0 {
		return []profile.Arg{arg("SCMP_CMP_EQ", vals[k])}, nil
	}
	out := []profile.Arg{arg("SCMP_CMP_GT", vals[len(vals)-1])}
	if vals[0] > 0 {
		out = append(out, arg("SCMP_CMP_LT", vals[0]))
	}
	for n := 0; n+1 < len(vals); n++ {
		if vals[n+1]-vals[n] > 256 {
			return nil, fmt.Errorf("arg%d: %#x and %#x are too far apart to list the values between them", i, vals[n], vals[n+1])
		}
		for v := vals[n] + 1; v < vals[n+1]; v++ {
			out = append(out, arg("SCMP_CMP_EQ", v))
		}
	}
	return out, nil
}
