package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
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
		Namespaces    []ociNamespace `json:"namespaces"`
		Resources     ociResources   `json:"resources"`
		MaskedPaths   []string       `json:"maskedPaths"`
		ReadonlyPaths []string       `json:"readonlyPaths"`
		Seccomp       *ociSeccomp    `json:"seccomp,omitempty"`
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
	ociSeccomp struct {
		DefaultAction string       `json:"defaultAction"`
		Architectures []string     `json:"architectures,omitempty"`
		Syscalls      []ociSyscall `json:"syscalls"`
	}
	ociSyscall struct {
		Names    []string `json:"names"`
		Action   string   `json:"action"`
		ErrnoRet *uint    `json:"errnoRet,omitempty"`
		Args     []ociArg `json:"args,omitempty"`
	}
	ociArg struct {
		Index    uint   `json:"index"`
		Value    uint64 `json:"value"`
		ValueTwo uint64 `json:"valueTwo"`
		Op       string `json:"op"`
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
func ociConfig(rootfs string, args []string, caps []string, sc *ociSeccomp) *ociSpec {
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

// seccompArches are the libseccomp names of the ABIs launch's filter admits on each
// GOARCH: the native one and the 32-bit one the kernel runs beside it (README,
// "Limitations": x32 and MIPS n32 are refused), with their GOARCH.
var seccompArches = map[string][][2]string{
	"amd64":    {{"SCMP_ARCH_X86_64", "amd64"}, {"SCMP_ARCH_X86", "386"}},
	"arm64":    {{"SCMP_ARCH_AARCH64", "arm64"}, {"SCMP_ARCH_ARM", "arm"}},
	"386":      {{"SCMP_ARCH_X86", "386"}},
	"arm":      {{"SCMP_ARCH_ARM", "arm"}},
	"riscv64":  {{"SCMP_ARCH_RISCV64", "riscv64"}},
	"ppc64le":  {{"SCMP_ARCH_PPC64LE", "ppc64le"}},
	"s390x":    {{"SCMP_ARCH_S390X", "s390x"}, {"SCMP_ARCH_S390", "s390x"}},
	"mips64le": {{"SCMP_ARCH_MIPSEL64", "mips64le"}, {"SCMP_ARCH_MIPSEL", "mipsle"}},
	"loong64":  {{"SCMP_ARCH_LOONGARCH64", "loong64"}},
}

// consts are the x/sys/unix constants syscalls.txt may use in a condition, with this
// GOARCH's values. A name missing here is an error, not a silent zero.
var consts = map[string]uint64{
	"CLONE_NEWNS": unix.CLONE_NEWNS, "CLONE_NEWUTS": unix.CLONE_NEWUTS, "CLONE_NEWIPC": unix.CLONE_NEWIPC,
	"CLONE_NEWUSER": unix.CLONE_NEWUSER, "CLONE_NEWPID": unix.CLONE_NEWPID, "CLONE_NEWNET": unix.CLONE_NEWNET,
	"CLONE_NEWCGROUP": unix.CLONE_NEWCGROUP, "CLONE_NEWTIME": unix.CLONE_NEWTIME,
	"AF_ALG": unix.AF_ALG, "AF_VSOCK": unix.AF_VSOCK,
	"TIOCSTI": unix.TIOCSTI, "TIOCLINUX": unix.TIOCLINUX,
}

// seccompProfile turns syscalls.txt into an OCI seccomp profile for this GOARCH: the
// names allowed, the conditions as argument rules, EPERM for the rest and ENOSYS for
// clone3, as launch's compiled filter does. The format of the file is described at its
// top; errors are reported as file:line: message.
func seccompProfile(file string) (*ociSeccomp, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	arches, ok := seccompArches[runtime.GOARCH]
	if !ok {
		return nil, fmt.Errorf("no libseccomp arch known for GOARCH %s", runtime.GOARCH)
	}
	enosys := uint(unix.ENOSYS)
	p := &ociSeccomp{DefaultAction: "SCMP_ACT_ERRNO"}
	var goarches []string
	for _, a := range arches {
		p.Architectures = append(p.Architectures, a[0])
		goarches = append(goarches, a[1])
	}
	var plain []string
	var cond []ociSyscall
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(text)
		if len(f) == 0 {
			continue
		}
		name := f[0]
		f = f[1:]
		// [ARCHES] or [!ARCHES]: keep the line if it applies to one of our ABIs.
		if len(f) > 0 && strings.HasPrefix(f[0], "[") {
			end := slices.IndexFunc(f, func(s string) bool { return strings.HasSuffix(s, "]") })
			if end < 0 {
				return nil, fmt.Errorf("%s:%d: arch list without closing ]", file, n)
			}
			list := strings.Fields(strings.Trim(strings.Join(f[:end+1], " "), "[]"))
			f = f[end+1:]
			if !archesApply(list, goarches) {
				continue
			}
		}
		if len(f) == 0 {
			plain = append(plain, name)
			continue
		}
		rules, err := argRules(name, f)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, n, err)
		}
		cond = append(cond, rules...)
	}
	slices.Sort(plain)
	p.Syscalls = append(p.Syscalls, ociSyscall{Names: plain, Action: "SCMP_ACT_ALLOW"})
	p.Syscalls = append(p.Syscalls, cond...)
	// clone3 passes its flags in memory, which a filter cannot read: ENOSYS makes libc
	// fall back to clone, whose flags the filter checks (moby#42680).
	p.Syscalls = append(p.Syscalls, ociSyscall{Names: []string{"clone3"}, Action: "SCMP_ACT_ERRNO", ErrnoRet: &enosys})
	return p, nil
}

// archesApply reports whether an arch list of syscalls.txt ([386 amd64] or [!s390x])
// includes one of goarches.
func archesApply(list, goarches []string) bool {
	for _, g := range goarches {
		in := false
		for _, a := range list {
			if strings.TrimPrefix(a, "!") == g {
				in = true
			}
		}
		if in != strings.HasPrefix(list[0], "!") {
			return true
		}
	}
	return false
}

// argRules turns a condition of syscalls.txt into OCI rules for name. The rules of a
// name are ORed. The args of one rule should be ANDed, but runc turns several args on
// the same index into separate, ORed rules (libseccomp refuses two tests of one
// argument in a rule), so no rule here tests an argument twice: "in" is a rule per
// value, and "not in" is its complement as one-test rules: below the smallest value,
// above the largest, and each value in between. launch's filter tests the argument's
// low 32 bits; libseccomp tests all 64, which matters only to a caller that sets high
// bits the kernel then drops (Docker's profile has the same gap).
func argRules(name string, f []string) ([]ociSyscall, error) {
	idx, err := strconv.ParseUint(strings.TrimPrefix(f[0], "arg"), 10, 8)
	if !strings.HasPrefix(f[0], "arg") || err != nil || idx > 5 {
		return nil, fmt.Errorf("%s: condition must start with arg0 ... arg5, not %q", name, f[0])
	}
	rest := f[1:]
	var op string
	switch {
	case len(rest) == 2 && rest[0] == "==":
		op, rest = "in", rest[1:]
	case len(rest) == 2 && rest[0] == "!=":
		op, rest = "not in", rest[1:]
	case len(rest) >= 2 && rest[0] == "in":
		op, rest = "in", rest[1:]
	case len(rest) >= 3 && rest[0] == "not" && rest[1] == "in":
		op, rest = "not in", rest[2:]
	case len(rest) == 4 && rest[0] == "&" && rest[2] == "==" && rest[3] == "0":
		op, rest = "mask", rest[1:2]
	default:
		return nil, fmt.Errorf("%s: bad condition %q", name, strings.Join(f, " "))
	}
	var vals []uint64
	for _, v := range rest {
		n, err := value(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		vals = append(vals, n)
	}
	i := uint(idx)
	allow := func(args ...ociArg) ociSyscall {
		return ociSyscall{Names: []string{name}, Action: "SCMP_ACT_ALLOW", Args: args}
	}
	switch op {
	case "in":
		var rules []ociSyscall
		for _, v := range vals {
			rules = append(rules, allow(ociArg{Index: i, Value: v, Op: "SCMP_CMP_EQ"}))
		}
		return rules, nil
	case "not in":
		slices.Sort(vals)
		vals = slices.Compact(vals)
		rules := []ociSyscall{allow(ociArg{Index: i, Value: vals[len(vals)-1], Op: "SCMP_CMP_GT"})}
		if vals[0] > 0 {
			rules = append(rules, allow(ociArg{Index: i, Value: vals[0], Op: "SCMP_CMP_LT"}))
		}
		for k := 0; k+1 < len(vals); k++ {
			if vals[k+1]-vals[k] > 256 {
				return nil, fmt.Errorf("%s: not in: %#x and %#x are too far apart to list the values between them", name, vals[k], vals[k+1])
			}
			for v := vals[k] + 1; v < vals[k+1]; v++ {
				rules = append(rules, allow(ociArg{Index: i, Value: v, Op: "SCMP_CMP_EQ"}))
			}
		}
		return rules, nil
	default: // mask: (arg & V) == 0, Docker's form of its clone rule
		return []ociSyscall{allow(ociArg{Index: i, Value: vals[0], ValueTwo: 0, Op: "SCMP_CMP_MASKED_EQ"})}, nil
	}
}

// value computes a value of syscalls.txt: numbers and constant names joined by "|".
func value(v string) (uint64, error) {
	var n uint64
	for _, term := range strings.Split(v, "|") {
		if term != "" && term[0] >= '0' && term[0] <= '9' {
			x, err := strconv.ParseUint(term, 0, 64)
			if err != nil {
				return 0, fmt.Errorf("bad number %q", term)
			}
			n |= x
			continue
		}
		x, ok := consts[term]
		if !ok {
			return 0, fmt.Errorf("constant %q unknown to the bench (add it to consts in oci.go)", term)
		}
		n |= x
	}
	return n, nil
}
