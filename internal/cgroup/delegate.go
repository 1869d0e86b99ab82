package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"launch/internal/errs"
)

// Where a container's cgroup v2 goes, and how it gets controllers.
//
// It goes below the launcher's own cgroup (or --cgroup-parent's), never elsewhere: the
// caller's limits bound the container, and launch writes cgroup.subtree_control of that
// cgroup only, never of one above it, which belongs to whoever placed the caller there.
// A cgroup hands controllers down only if it holds no process itself, the root cgroup
// excepted (the "no internal processes" rule, cgroups(7)). The launcher's own cgroup
// holds at least the launcher. So, unless it is the root:
//   - if the launcher is alone in it, as under a systemd unit with Delegate=yes, the
//     launcher moves itself into <own>/launch-supervisor first, and enables the
//     controllers on its own cgroup: the container gets every limit;
//   - if other processes are there (the caller's shell, say), launch cannot give the
//     container controllers without moving them, which it does not do: the container's
//     cgroup is made there without them, bound by the caller's limits; a limit asked
//     for by option is then an error, a default one a warning, with a hint.
// The move is a write to cgroup.procs, which can wait for an RCU grace period when
// starts are spaced out (0.3 ms measured on a 6.18 kernel, 25 to 40 ms in emulated 6.1
// machines): only the cases that need it pay it, and a launcher started in the leaf
// (systemd's DelegateSubgroup=) does not. On v1, and on the hybrid layout, whose v2
// cgroup takes no controller, nothing moves.

// supervisorLeaf is the cgroup below the launcher's own that launchers move into. They
// share it, and none removes it: it stays, empty, in the caller's cgroup once the last
// has exited, as the controllers enabled there do.
const supervisorLeaf = "launch-supervisor"

// ErrNoDelegation is wrapped by the error of a limit asked for by option whose
// controller the cgroup v2 parent cannot hand down to the container's cgroup.
var ErrNoDelegation = errors.New("cannot hand controllers down to the container's cgroup")

// DelegationHint says what to do about ErrNoDelegation.
const DelegationHint = "run launch in a cgroup of its own (under systemd: Delegate=yes, or systemd-run --scope -p Delegate=yes), " +
	"or name one without processes with --cgroup-parent"

// A site is what decides how a container's v2 cgroup below dir gets controllers.
type site struct {
	dir         string
	own         bool     // dir is the launcher's own cgroup
	root        bool     // dir is the root cgroup, free of the no-internal-processes rule
	kernel      []string // the root cgroup's cgroup.controllers: what the hierarchy has
	controllers []string // cgroup.controllers: what dir may hand down
	subtree     []string // cgroup.subtree_control: what it hands down now
	self        bool     // the launcher is in dir
	others      bool     // processes other than the launcher are in dir (or may be: pids of other namespaces read as 0)
}

// A placement is what to do so that a container's cgroup below site.dir gets the
// controllers it needs.
type placement struct {
	move   bool              // move the launcher into dir/launch-supervisor first
	enable []string          // controllers to add to dir's cgroup.subtree_control
	avail  []string          // the controllers the container's cgroup gets
	why    map[string]string // why each needed controller not in avail cannot be had, but those the hierarchy lacks
}

// place decides, from s alone, how the container's cgroup gets the controllers in need.
func place(s site, need []string) placement {
	p := placement{why: map[string]string{}}
	var want []string
	for _, ctl := range need {
		switch {
		case !slices.Contains(s.kernel, ctl):
			// The kernel lacks it, or a v1 hierarchy holds it: checkMissing says so.
		case !slices.Contains(s.controllers, ctl):
			p.why[ctl] = s.dir + " does not have it: its parent cgroup does not hand it down"
		case slices.Contains(s.subtree, ctl):
			p.avail = append(p.avail, ctl)
		default:
			want = append(want, ctl)
		}
	}
	if len(want) == 0 {
		return p
	}
	var why string
	switch {
	case s.root || (!s.self && !s.others):
	case s.own && !s.others:
		p.move = true
	case s.own:
		why = s.dir + " holds processes other than launch, and only a cgroup without processes can hand controllers down"
	default:
		why = s.dir + " holds processes, and only a cgroup without processes can hand controllers down"
	}
	for _, ctl := range want {
		if why != "" {
			p.why[ctl] = why
			continue
		}
		p.enable = append(p.enable, ctl)
		p.avail = append(p.avail, ctl)
	}
	return p
}

// readSite reads the site dir of the hierarchy mounted at mount. own says whether it is
// the launcher's own cgroup, pid is the launcher's pid. cgroup.procs is read only where
// the rule applies: the root cgroup of a host without cgroup namespaces holds every
// process.
func readSite(mount, dir string, own bool, pid int) (site, error) {
	s := site{dir: dir, own: own, root: !exists(dir, "cgroup.type")}
	for _, f := range []struct {
		dir, name string
		into      *[]string
	}{{mount, "cgroup.controllers", &s.kernel}, {dir, "cgroup.controllers", &s.controllers}, {dir, "cgroup.subtree_control", &s.subtree}} {
		data, err := readFile(f.dir, f.name)
		if err != nil {
			return s, err
		}
		*f.into = strings.Fields(data)
	}
	if s.root {
		return s, nil
	}
	data, err := readFile(dir, "cgroup.procs")
	if err != nil {
		return s, err
	}
	self := strconv.Itoa(pid)
	for _, p := range strings.Fields(data) {
		if p == self {
			s.self = true
		} else {
			s.others = true
		}
	}
	return s, nil
}

// delegate does what p says for the site dir and returns what the container's cgroup
// gets, with the -v note of what it did and how long it took. A step that fails (on a
// cgroup file system mounted read-only, say) leaves the container's cgroup without the
// controllers it was for, and gives the reason.
func delegate(dir string, p placement) (placement, []string, error) {
	if len(p.enable) == 0 {
		return p, nil, nil
	}
	t := time.Now()
	what := "enabled " + strings.Join(p.enable, " ") + " for the cgroups below " + dir
	var err error
	if p.move {
		leaf := filepath.Join(dir, supervisorLeaf)
		if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return p, nil, errs.Wrap("create cgroup", err)
		}
		// "0" is the writer's own process, all its threads.
		err = writeFile(leaf, "cgroup.procs", "0")
		what = "moved launch into " + leaf + " and " + what
	}
	if err == nil {
		err = writeFile(dir, "cgroup.subtree_control", "+"+strings.Join(p.enable, " +"))
	}
	if err == nil {
		ms := strconv.FormatFloat(float64(time.Since(t).Microseconds())/1000, 'f', 3, 64)
		return p, []string{"cgroup v2: " + what + " (" + ms + " ms)"}, nil
	}
	avail := p.avail[:0]
	for _, ctl := range p.avail {
		if slices.Contains(p.enable, ctl) {
			p.why[ctl] = err.Error()
		} else {
			avail = append(avail, ctl)
		}
	}
	p.avail, p.enable = avail, nil
	return p, nil, nil
}
