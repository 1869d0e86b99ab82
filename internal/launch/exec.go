package launch

import (
	"path"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"launch/internal/cgroup"
	"launch/internal/errs"
	"launch/internal/spec"
)

// An Exec is a process to start in a bundle's container (launch exec): it joins every
// namespace and cgroup of the container and gets the process's user, capabilities,
// rlimits, no_new_privs, environment and the container's seccomp filter.
type Exec struct {
	Spec    *spec.Spec // the container's config, as saved by launch create, with the process to start
	Pid     int        // the container's process
	Start   uint64     // its start time (/proc/PID/stat), which tells it from a later process of the same pid
	Rootfs  string
	Cgroups []string
	Console int // the engine's console socket, connected, for process.terminal; or -1
	// Preserve is --preserve-fds, as Bundle's.
	Preserve int
}

// execNamespaces are the namespaces joined, in order: the user namespace first, the
// mount namespace last, as from then on paths are the container's.
var execNamespaces = []struct{ kind, proc string }{
	{"user", "user"}, // first: the others are its, and joined with its capabilities
	{"ipc", "ipc"}, {"uts", "uts"}, {"network", "net"}, {"cgroup", "cgroup"}, {"pid", "pid"}, {"mount", "mnt"},
}

// StartExec starts e's process and returns its pid once it has exec'd.
func StartExec(e *Exec) (int, error) {
	if err := checkStdio(); err != nil {
		return 0, err
	}
	if err := checkPreserved(e.Preserve); err != nil {
		return 0, err
	}
	compiled := compileSeccomp(e.Spec)
	h, err := readHost()
	if err != nil {
		return 0, err
	}
	s := &bundleSetup{b: &Bundle{Spec: e.Spec, Fifo: -1, Console: e.Console, Preserve: e.Preserve}, h: h, pidJoin: -1, umask: 0o022,
		rootfs: e.Rootfs, exec: true, compiled: compiled}
	defer s.closeJoins()
	defer func() {
		for _, fd := range s.procs {
			unix.Close(fd)
		}
	}()
	for _, m := range e.Spec.Mounts {
		s.mounted = append(s.mounted, path.Clean(m.Destination))
	}
	if err := s.process(); err != nil {
		return 0, err
	}
	if err := s.seccomp(); err != nil {
		return 0, err
	}
	for _, dir := range e.Cgroups {
		p := filepath.Join(dir, "cgroup.procs")
		fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, &Error{Code: ExitFailure, Err: errs.Wrap("join cgroup", &StepError{What: "open", Path: p, Err: err})}
		}
		s.procs = append(s.procs, fd)
		s.procDirs = append(s.procDirs, dir)
	}
	inConfig := map[string]bool{}
	for _, n := range e.Spec.Linux.Namespaces {
		inConfig[n.Type] = true
	}
	base := "/proc/" + strconv.Itoa(e.Pid) + "/ns/"
	for _, n := range execNamespaces {
		if !inConfig[n.kind] {
			continue
		}
		fd, err := unix.Open(base+n.proc, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, &Error{Code: ExitFailure, Err: &StepError{What: "join namespace", Path: base + n.proc, Err: err}}
		}
		if n.kind == "pid" {
			s.pidJoin = fd
		} else {
			s.joins = append(s.joins, nsJoin{kind: n.kind, fd: fd, flag: int(nsFlags[n.kind])})
		}
	}
	// The namespaces are the container's process's only if it is still the process
	// launch create started: a pid can be reused.
	if t, err := cgroup.StartTime(e.Pid); err != nil || t != e.Start {
		return 0, fail(ExitFailure, "container not running")
	}
	return s.start()
}

// execSteps are the steps of launch exec's child.
func (s *bundleSetup) execSteps(lifeR, lifeW int) ([]step, error) {
	var st []step
	add := func(x step) { st = append(st, x) }
	add(step{op: opDumpable, what: "set not dumpable"})
	add(step{op: opDieWithParent, what: "set parent-death signal", fd: lifeR, fd2: lifeW})
	for i, fd := range s.procs {
		add(step{op: opJoinCgroup, what: "join cgroup", path: s.procDirs[i], fd: fd, str: &zero[0], n: len(zero)})
	}
	if len(s.procs) > 0 {
		add(step{op: opClose, what: "close", path: "cgroup descriptors", fds: s.procs})
	}
	for _, j := range s.joins {
		add(step{op: opSetns, what: "join namespace", path: j.kind, fd: j.fd, n: j.flag})
	}
	st = append(st, s.enterSteps()...)
	return s.processSteps(st, false)
}
