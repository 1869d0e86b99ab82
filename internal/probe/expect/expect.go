// Package expect is what a container must look like from inside, written once: a
// table of checks over what the probe reports (package report), for one host and the
// options the container was started with. The integration tests of init/ run it on
// the development machine, and make test-vm's vminit runs it in emulated machines
// (internal/vminit); the same table decides both.
//
// Each check takes the report and a Want, and returns what it found (a detail, for a
// log) and the problems: none when the container is as promised. The values are the
// promise of README's "What a container gets", written out, not recomputed from the
// launcher's own tables; what depends on the host (its namespaces, its cgroup layout,
// the files its kernel has, the caller's TERM) comes from a Host.
package expect

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"launch/internal/caps"
	"launch/internal/probe/report"
)

// Capability sets as /proc/self/status shows them: caps.txt's, as the generated
// table has them (internal/caps' tests check that table against Docker's 14 written
// out).
var (
	DefaultCaps   = caps.Default.Hex()
	InitramfsCaps = (caps.Default &^ (1 << unix.CAP_SYS_CHROOT)).Hex() // on an initramfs root
)

const NoCaps = "0000000000000000"

// DefaultPath is the container's PATH unless --env sets one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// A Want is what a container must look like from inside: Default's values, changed
// by each option the container was started with.
type Want struct {
	Host   Host
	Rootfs string // ROOTFS as launch was given it, absolute and without symlinks

	PID, PPID int      // COMMAND's pid and its parent's, as the container sees them
	Hostname  string   // --hostname
	NetHost   bool     // --net host: the host's network namespace
	ReadOnly  bool     // --read-only: the root mounted read-only
	Binds     []string // --bind destinations: mount points besides launch's own

	CapEff string // effective and permitted set
	CapBnd string // bounding set

	Env      []string // COMMAND's environment, in order
	Cwd      string
	UID, GID int
	Groups   []int   // supplementary groups
	Limits   []Limit // cgroup limit files

	// Userns: a user namespace of the container's own (--userns, or no root).
	// PtsGroup is then devpts's gid= option as mountinfo shows it (in the host's
	// IDs), or "" where the namespace has no group 5.
	Userns   bool
	PtsGroup string
}

// Default returns what a container started on rootfs without options must look like
// on host h.
func Default(h Host, rootfs string) Want {
	env := []string{"PATH=" + DefaultPath, "HOME=/root"}
	if h.HasTerm {
		env = append(env, "TERM="+h.Term)
	}
	return Want{
		Host: h, Rootfs: rootfs,
		PID: 1, PPID: 0, Hostname: "launch",
		CapEff: DefaultCaps, CapBnd: DefaultCaps,
		Env: env, Cwd: "/",
		Limits: DefaultLimits,
	}
}

// A Check is one line of the table: a name (vminit's CHECK lines carry it) and the
// function that looks at a report.
type Check struct {
	Name string
	Run  func(r *report.Report, w *Want) (detail string, problems []string)
}

// Checks is the table, in the order vminit reports it.
var Checks = []Check{
	{"pid1-namespaces", checkNamespaces},
	{"hostname", checkHostname},
	{"network", checkNetwork},
	{"mounts", checkMounts},
	{"dev", checkDev},
	{"masked-paths", checkMasked},
	{"capabilities", checkCapabilities},
	{"seccomp", checkSeccomp},
	{"descriptors", checkDescriptors},
	{"environment", checkEnvironment},
	{"identity", checkIdentity},
	{"session", checkSession},
	{"cgroup-limits", checkLimits},
	{"cgroup-namespace", checkCgroupNamespace},
}

// A Result is what one check found.
type Result struct {
	Name     string
	Detail   string   // what the container showed, for a log
	Problems []string // empty if the container is as promised
}

// Run runs the checks named (every check of the table if none is) on r against w. A
// name the table lacks is a problem of its own, so that a misspelt check fails.
func Run(r *report.Report, w *Want, names ...string) []Result {
	if len(names) == 0 {
		for _, c := range Checks {
			names = append(names, c.Name)
		}
	}
	var out []Result
	for _, n := range names {
		res := Result{Name: n, Problems: []string{"no such check in the expectation table"}}
		for _, c := range Checks {
			if c.Name == n {
				res.Detail, res.Problems = c.Run(r, w)
			}
		}
		out = append(out, res)
	}
	return out
}

// problems collects what a check finds wrong.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// String joins the problems for one line.
func (p problems) String() string { return strings.Join(p, "; ") }
