package launch

import (
	"errors"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"

	"launch/internal/caps"
	"launch/internal/cgroup"
	"launch/internal/mount"
	"launch/internal/procview"
	"launch/internal/seccomp"
)

// Config is what the command line asks for.
type Config struct {
	Rootfs   string
	Command  []string // COMMAND [ARG...]
	Hostname string
	HostNet  bool // --net host: keep the host's network namespace
	ReadOnly bool
	Binds    []Bind
	CapAdd   []string
	CapDrop  []string
	Seccomp  bool // false with --seccomp=unconfined
	// SeccompProfile is the file of --seccomp=FILE: a profile that replaces the
	// built-in filter.
	SeccompProfile string
	// AllowSocket are the refusals of the filter to lift (seccomp.LiftNames).
	AllowSocket []string
	Env         []string
	User        *User
	Groups      []uint32 // supplementary groups of COMMAND (--group-add)
	Workdir     string
	Init        bool
	Pty         bool // --pty: a terminal of the container's own, relayed
	Verbose     bool
	Limits      Limits
	GC          bool   // --gc: only remove cgroups left by killed launchers
	ProcView    string // --proc-view: "auto" (the default), "on" or "off"

	CgroupParent string // --cgroup-parent: the cgroup to make the container's below, "" for the launcher's own

	// Userns is --userns: a user namespace for the container, or nil for none (as
	// root; without root there is always one, see prepare).
	Userns *Userns

	Help, Version bool
}

// Limits are the cgroup limits asked for.
type Limits = cgroup.Limits

// A Bind is a --bind SRC:DST[:ro] mount.
type Bind = mount.Bind

// Userns is --userns auto or HOSTID:COUNT: container IDs 0 to COUNT-1 are host IDs
// HOSTID to HOSTID+COUNT-1, for users and groups alike.
type Userns struct {
	Auto          bool
	HostID, Count uint32
}

// A User is --user UID[:GID].
type User struct{ UID, GID int }

// Defaults (README, "Usage"): 64 MiB of memory, 256 CPU shares, 64 processes, block-I/O
// weight 50.
func defaults() *Config {
	return &Config{
		Hostname: "launch",
		Seccomp:  true,
		Workdir:  "/",
		ProcView: "auto",
		Limits: Limits{
			Memory:    64 << 20,
			CPUShares: 256,
			Pids:      64,
			IOWeight:  50,
			Explicit:  make(map[string]bool),
		},
	}
}

// An option is one entry of the option table.
type option struct {
	names []string // long names first, then short ones
	arg   string   // name of the value in --help; "" for a flag
	help  string
	set   func(c *Config, v string) error
}

var options = []option{
	{[]string{"hostname"}, "NAME", "hostname of the container: letters, digits, - and ., at most 64 (default launch)", func(c *Config, v string) error {
		if !validHostname(v) {
			return errors.New("want 1 to 64 letters, digits, - and ., in labels of at most 63 that neither start nor end with - (RFC 1123)")
		}
		c.Hostname = v
		return nil
	}},
	{[]string{"net", "network"}, "MODE", "none: a network namespace with loopback only (default); host: the host's network, its abstract unix sockets included", func(c *Config, v string) error {
		switch v {
		case "none":
			c.HostNet = false
		case "host":
			c.HostNet = true
		default:
			return errors.New("want none or host")
		}
		return nil
	}},
	{[]string{"read-only"}, "", "mount the container's root read-only", func(c *Config, _ string) error { c.ReadOnly = true; return nil }},
	{[]string{"bind"}, "SRC:DST[:OPTS]", "bind-mount host path SRC on DST in the container (repeatable); OPTS: ro, dev (SRC is a device node to use as one), joined by commas; SRC may hold no symlink", func(c *Config, v string) error {
		b, err := parseBind(v)
		c.Binds = append(c.Binds, b)
		return err
	}},
	{[]string{"cap-add"}, "CAP", "keep capability CAP as well, or ALL (repeatable)", func(c *Config, v string) error {
		_, err := caps.Parse(v)
		c.CapAdd = append(c.CapAdd, v)
		return err
	}},
	{[]string{"cap-drop"}, "CAP", "drop capability CAP, or ALL (repeatable)", func(c *Config, v string) error {
		_, err := caps.Parse(v)
		c.CapDrop = append(c.CapDrop, v)
		return err
	}},
	{[]string{"seccomp"}, "MODE", "default: the system-call filter; unconfined: none (not recommended); or the FILE of a seccomp profile (OCI or Docker JSON) to use instead", func(c *Config, v string) error {
		c.Seccomp, c.SeccompProfile = true, ""
		switch v {
		case "default":
		case "unconfined":
			c.Seccomp = false
		case "":
			return errors.New("want default, unconfined or a FILE")
		default:
			c.SeccompProfile = v
		}
		return nil
	}},
	{[]string{"allow-socket"}, "NAME", "lift a refusal of the system-call filter (repeatable): packet (AF_PACKET), xdp (AF_XDP), audit (NETLINK_AUDIT), uevent (NETLINK_KOBJECT_UEVENT), usersock (NETLINK_USERSOCK), socketcall (SYS_SOCKET through socketcall(2) in a 64-bit kernel's 32-bit ABI)", func(c *Config, v string) error {
		if !slices.Contains(seccomp.LiftNames, v) {
			return errors.New("want one of " + strings.Join(seccomp.LiftNames, ", "))
		}
		c.AllowSocket = append(c.AllowSocket, v)
		return nil
	}},
	{[]string{"env", "e"}, "K=V", "set environment variable K in the container (repeatable)", func(c *Config, v string) error {
		k, _, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return errors.New("want K=V")
		}
		c.Env = append(c.Env, v)
		return nil
	}},
	{[]string{"user", "u"}, "UID[:GID]", "run COMMAND as this numeric user and group (default 0:0)", func(c *Config, v string) error {
		u, err := parseUser(v)
		c.User = u
		return err
	}},
	{[]string{"group-add"}, "GID", "give COMMAND this numeric supplementary group (repeatable; default none)", func(c *Config, v string) error {
		g, err := strconv.ParseUint(v, 10, 32)
		if err != nil || g == math.MaxUint32 {
			return errors.New("want a numeric group ID")
		}
		if len(c.Groups) >= 64 {
			return errors.New("at most 64 groups")
		}
		c.Groups = append(c.Groups, uint32(g))
		return nil
	}},
	{[]string{"workdir", "w"}, "DIR", "working directory of COMMAND in the container (default /)", func(c *Config, v string) error {
		if !path.IsAbs(v) {
			return errors.New("want an absolute path")
		}
		c.Workdir = path.Clean(v)
		return nil
	}},
	{[]string{"init"}, "", "run a minimal init as PID 1 that forwards signals and reaps orphans", func(c *Config, _ string) error { c.Init = true; return nil }},
	{[]string{"pty", "t"}, "", "give COMMAND a terminal of its own, relayed to stdin and stdout (the caller's is never shared)", func(c *Config, _ string) error { c.Pty = true; return nil }},
	{[]string{"memory", "m"}, "SIZE", "memory limit, with K, M or G; 0 or max: none (default 64M)", func(c *Config, v string) error {
		n, err := parseSize(v)
		c.Limits.Memory = n
		return err
	}},
	{[]string{"cpu-shares"}, "N", "relative CPU weight, 2 to 262144; 0: none (default 256)", func(c *Config, v string) error {
		n, err := parseLimit(v, 2, 262144)
		c.Limits.CPUShares = uint64(n)
		return err
	}},
	{[]string{"cpus"}, "N", "CPU time limit in CPUs, e.g. 0.5 (default none)", func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1<<16 || math.IsNaN(f) || (f > 0 && f < 0.01) {
			return errors.New("want a number of CPUs, 0.01 or more, or 0 for none")
		}
		c.Limits.CPUs = f
		return nil
	}},
	{[]string{"pids", "pids-limit"}, "N", "most processes at once; 0 or max: none (default 64)", func(c *Config, v string) error {
		n, err := parseLimit(v, 1, math.MaxInt64)
		c.Limits.Pids = n
		return err
	}},
	{[]string{"io-weight", "blkio-weight"}, "N", "relative block-I/O weight, 10 to 1000; 0: none (default 50)", func(c *Config, v string) error {
		n, err := parseLimit(v, 10, 1000)
		c.Limits.IOWeight = uint64(n)
		return err
	}},
	{[]string{"cpuset-cpus"}, "LIST", "CPUs the container may run on, e.g. 0-1,3 (default all)", func(c *Config, v string) error {
		cpus, err := procview.ParseCPUList(v)
		if err != nil || len(cpus) == 0 {
			return errors.New("want a CPU list such as 0-2,4")
		}
		c.Limits.CPUSet = v
		return nil
	}},
	{[]string{"proc-view"}, "on|off", "/proc/meminfo, cpuinfo, stat, uptime show the container's limits (default: on when a memory or CPU limit applies)", func(c *Config, v string) error {
		if v != "on" && v != "off" {
			return errors.New("want on or off")
		}
		c.ProcView = v
		return nil
	}},
	{[]string{"cgroup-parent"}, "PATH", "make the container's cgroups below the existing cgroup PATH (as /proc/self/cgroup names cgroups) instead of launch's own", func(c *Config, v string) error {
		if !path.IsAbs(v) || (v != "/" && path.Clean(v) != strings.TrimSuffix(v, "/")) {
			return errors.New("want an absolute path without . or .. elements")
		}
		c.CgroupParent = path.Clean(v)
		return nil
	}},
	{[]string{"userns"}, "MODE", "host: no user namespace (the default as root); auto: container root is an unprivileged host ID, from a range of 65536 no other container of launch uses; HOSTID:COUNT: that range. Without root there is always one, mapping the caller to root (or to --user)", func(c *Config, v string) error {
		u, err := parseUserns(v)
		c.Userns = u
		return err
	}},
	{[]string{"gc"}, "", "remove the cgroups of launches that were killed (with --cgroup-parent: below PATH), say what stays, and exit", func(c *Config, _ string) error { c.GC = true; return nil }},
	{[]string{"verbose", "v"}, "", "print each setup step with its duration on stderr", func(c *Config, _ string) error { c.Verbose = true; return nil }},
	{[]string{"version"}, "", "print version information and exit", func(c *Config, _ string) error { c.Version = true; return nil }},
	{[]string{"help", "h"}, "", "print this help and exit", func(c *Config, _ string) error { c.Help = true; return nil }},
}

// limitOptions are the options whose value is a cgroup limit.
var limitOptions = []string{"memory", "cpu-shares", "cpus", "pids", "io-weight", "cpuset-cpus"}

// UsageError is a command line launch cannot use.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usage(msg string) error { return &UsageError{msg} }

// ParseArgs parses args (without the program name). Options come first; the first
// argument that is not an option is ROOTFS, the rest COMMAND and its arguments, which
// are never parsed as options. "--" ends the options.
func ParseArgs(args []string) (*Config, error) {
	// A real command line holds no NUL byte (execve(2) takes C strings), and no value
	// with one can reach the kernel, which takes the same: refuse them all at once.
	for _, a := range args {
		if strings.ContainsRune(a, 0) {
			return nil, usage("argument " + strconv.Quote(a) + " contains a NUL byte")
		}
	}
	c := defaults()
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		// --NAME for a long name, -N for a one-letter one: nothing else is an option.
		long := strings.HasPrefix(a, "--")
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		o := lookup(name)
		if o == nil || long != (len(name) > 1) {
			if o != nil && !long {
				return nil, usage("unknown option: " + quote(a) + " (long options take two dashes: --" + name + ")")
			}
			return nil, usage("unknown option: " + quote(a))
		}
		if o.arg == "" {
			if hasValue {
				return nil, usage("option --" + o.names[0] + " takes no value")
			}
		} else if !hasValue {
			if i+1 >= len(args) {
				return nil, usage("option --" + o.names[0] + " needs a value (" + o.arg + ")")
			}
			i++
			value = args[i]
		}
		if err := o.set(c, value); err != nil {
			return nil, usage("--" + o.names[0] + " " + quote(value) + ": " + err.Error())
		}
		if slices.Contains(limitOptions, o.names[0]) {
			c.Limits.Explicit[o.names[0]] = true
		}
	}
	rest := args[i:]
	if c.SeccompProfile != "" && len(c.AllowSocket) > 0 {
		return nil, usage("--allow-socket lifts a refusal of the built-in filter, not of --seccomp " + quote(c.SeccompProfile))
	}
	if c.GC && len(rest) > 0 {
		return nil, usage("--gc takes no ROOTFS or COMMAND: " + quote(rest[0]))
	}
	if c.Help || c.Version || c.GC {
		return c, nil
	}
	switch {
	case len(rest) == 0:
		return nil, usage("missing ROOTFS and COMMAND (see launch --help)")
	case rest[0] == "":
		return nil, usage("ROOTFS is empty")
	case len(rest) == 1:
		return nil, usage("missing COMMAND after ROOTFS " + quote(rest[0]))
	case rest[1] == "":
		return nil, usage("COMMAND is empty")
	}
	c.Rootfs, c.Command = rest[0], rest[1:]
	return c, nil
}

// quote returns s as it is if it is plain text, else Go-quoted: an error line shows no
// control characters.
func quote(s string) string {
	if q := strconv.Quote(s); q[1:len(q)-1] != s {
		return q
	}
	return s
}

// validHostname reports whether h is a hostname RFC 1123 allows and sethostname(2)
// takes: 1 to 64 bytes of letters, digits, '-' and '.', in labels of 1 to 63 bytes
// that neither start nor end with '-'.
func validHostname(h string) bool {
	if h == "" || len(h) > 64 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func lookup(name string) *option {
	for i := range options {
		if slices.Contains(options[i].names, name) {
			return &options[i]
		}
	}
	return nil
}

// parseSize parses a byte count with an optional K, M or G (powers of 1024) suffix;
// 0 and max mean no limit.
func parseSize(v string) (int64, error) {
	if v == "max" {
		return 0, nil
	}
	mult := int64(1)
	num := strings.TrimSuffix(strings.ToUpper(v), "B")
	switch {
	case strings.HasSuffix(num, "K"):
		mult, num = 1<<10, num[:len(num)-1]
	case strings.HasSuffix(num, "M"):
		mult, num = 1<<20, num[:len(num)-1]
	case strings.HasSuffix(num, "G"):
		mult, num = 1<<30, num[:len(num)-1]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, errors.New("want a size such as 64M, 512K, 1G or a byte count, or 0 or max for none")
	}
	n *= mult
	if n > 0 && n < 4<<20 {
		return 0, errors.New("below 4M no program starts; use at least 4M")
	}
	return n, nil
}

// parseLimit parses a count between lo and hi; 0 and max mean no limit.
func parseLimit(v string, lo, hi int64) (int64, error) {
	if v == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || (n != 0 && (n < lo || n > hi)) {
		return 0, errors.New("want " + strconv.FormatInt(lo, 10) + " to " + strconv.FormatInt(hi, 10) + ", or 0 or max for none")
	}
	return n, nil
}

func parseBind(v string) (Bind, error) {
	parts := strings.Split(v, ":")
	b := Bind{}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro":
				b.ReadOnly = true
			case "rw":
				b.ReadOnly = false
			case "dev":
				b.Device = true
			default:
				return b, errors.New("want SRC:DST or SRC:DST:OPTS, OPTS from ro, rw, dev joined by commas")
			}
		}
	} else if len(parts) != 2 {
		return b, errors.New("want SRC:DST or SRC:DST:OPTS, OPTS from ro, rw, dev joined by commas")
	}
	b.Src, b.Dst = parts[0], parts[1]
	if !path.IsAbs(b.Src) || !path.IsAbs(b.Dst) {
		return b, errors.New("SRC and DST must be absolute paths")
	}
	b.Src, b.Dst = path.Clean(b.Src), path.Clean(b.Dst)
	if b.Dst == "/" {
		return b, errors.New("DST cannot be the container's root")
	}
	return b, nil
}

func parseUserns(v string) (*Userns, error) {
	switch v {
	case "host":
		return nil, nil
	case "auto":
		return &Userns{Auto: true, Count: 65536}, nil
	}
	want := errors.New("want host, auto or HOSTID:COUNT")
	hs, cs, ok := strings.Cut(v, ":")
	host, err := strconv.ParseUint(hs, 10, 32)
	count, err2 := strconv.ParseUint(cs, 10, 32)
	switch {
	case !ok || err != nil || err2 != nil || count == 0:
		return nil, want
	case host == 0:
		return nil, errors.New("HOSTID 0 would make container root the host's root: give an unprivileged range")
	case host+count > math.MaxUint32:
		return nil, errors.New("the range ends past the last ID (4294967294)")
	}
	return &Userns{HostID: uint32(host), Count: uint32(count)}, nil
}

func parseUser(v string) (*User, error) {
	us, gs, hasGID := strings.Cut(v, ":")
	uid, err := strconv.ParseUint(us, 10, 32)
	if err != nil || uid == math.MaxUint32 {
		return nil, errors.New("want a numeric UID[:GID]")
	}
	u := &User{UID: int(uid), GID: int(uid)}
	if hasGID {
		gid, err := strconv.ParseUint(gs, 10, 32)
		if err != nil || gid == math.MaxUint32 {
			return nil, errors.New("want a numeric UID[:GID]")
		}
		u.GID = int(gid)
	}
	return u, nil
}

// pad returns s followed by spaces up to n bytes.
func pad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}

// Usage is the text of --help.
func Usage() string {
	var b strings.Builder
	b.WriteString(`Usage: launch [OPTIONS] ROOTFS COMMAND [ARG...]

Run COMMAND as PID 1 of a new container whose root is the directory ROOTFS: new
mount, UTS, IPC, PID, network and cgroup namespaces, a private /proc, /sys, /dev and
/tmp, pivot_root, Docker's default capabilities and system-call filter, and cgroup
limits. COMMAND is looked up in the container's PATH.

Options:
`)
	for _, o := range options {
		names := "--" + o.names[0]
		for _, n := range o.names[1:] {
			if len(n) == 1 {
				names = "-" + n + ", " + names
			} else {
				names += ", --" + n
			}
		}
		if o.arg != "" {
			names += " " + o.arg
		}
		b.WriteString("  " + pad(names, 34) + " " + o.help + "\n")
	}
	b.WriteString(`
Exit status:
  COMMAND's status, or 128+N if COMMAND was killed by signal N (137 when the memory
  limit killed it); 125 if launch itself failed or was misused; 126 if COMMAND exists
  but cannot be executed; 127 if COMMAND is not found in the container.
`)
	return b.String()
}
