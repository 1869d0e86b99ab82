package kernel

import (
	"errors"
	"strings"

	"golang.org/x/sys/unix"
)

// Features is what the kernel offers.
type Features struct {
	Namespaces map[string]bool // by the names of /proc/self/ns: cgroup ipc mnt net pid uts ...
	Seccomp    bool            // seccomp filters (CONFIG_SECCOMP_FILTER)
	Openat2    bool            // openat2(2), Linux 5.6
	Clone3     bool            // clone3(2), Linux 5.3
}

// Proc is what Read needs of /proc: the contents of a file and the names in a
// directory, by paths relative to /proc. rawfile.Dir("/proc") reads the running
// system's; tests pass recorded files.
type Proc interface {
	ReadFile(name string) ([]byte, error)
	ReadDirNames(name string) ([]string, error)
}

// Read reads the features from proc. The system calls are probed apart: see Probe.
func Read(proc Proc) Features {
	f := Features{Namespaces: make(map[string]bool)}
	if names, err := proc.ReadDirNames("self/ns"); err == nil {
		for _, n := range names {
			f.Namespaces[n] = true
		}
	}
	// actions_avail lists the filter actions (Linux 4.14); before that, a Seccomp line
	// in status says the kernel has seccomp, whose filter mode came with it since 3.5.
	if b, err := proc.ReadFile("sys/kernel/seccomp/actions_avail"); err == nil {
		f.Seccomp = strings.Contains(string(b), "errno")
	} else if b, err := proc.ReadFile("self/status"); err == nil {
		f.Seccomp = strings.Contains(string(b), "\nSeccomp:")
	}
	return f
}

// Probe fills in the system calls by calling them with arguments that cannot work: a
// kernel without the call says ENOSYS, one with it EFAULT or EINVAL.
func (f *Features) Probe() {
	_, _, e := unix.RawSyscall6(unix.SYS_OPENAT2, 0, 0, 0, 0, 0, 0)
	f.Openat2 = e != unix.ENOSYS
	_, _, e = unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0)
	f.Clone3 = e != unix.ENOSYS
}

// Need is what a container asks of the kernel.
type Need struct {
	Net     bool // a network namespace (not --net host)
	Seccomp bool // the filter (not --seccomp=unconfined)
}

// namespaces are the namespace types every container gets, with the kernel option
// that provides each.
var namespaces = []struct{ name, config string }{
	{"mnt", "CONFIG_NAMESPACES"}, {"uts", "CONFIG_UTS_NS"}, {"ipc", "CONFIG_IPC_NS"},
	{"pid", "CONFIG_PID_NS"}, {"cgroup", "CONFIG_CGROUPS"}, {"net", "CONFIG_NET_NS"},
}

// Check decides: an error naming every missing feature a container cannot do without,
// and notes on the ones it can.
func (f Features) Check(need Need) (notes []string, err error) {
	var missing []string
	for _, ns := range namespaces {
		if ns.name == "net" && !need.Net {
			continue
		}
		if !f.Namespaces[ns.name] {
			missing = append(missing, "the "+ns.name+" namespace ("+ns.config+")")
		}
	}
	if need.Seccomp && !f.Seccomp {
		missing = append(missing, "seccomp filtering (CONFIG_SECCOMP_FILTER; --seccomp=unconfined runs without it)")
	}
	if len(missing) > 0 {
		return nil, errors.New("the kernel lacks " + strings.Join(missing, ", "))
	}
	if !f.Openat2 {
		notes = append(notes, "no openat2 (Linux 5.6): mount targets are opened one component at a time, and a symlink on the way to one is refused")
	}
	if !f.Clone3 {
		notes = append(notes, "no clone3 (Linux 5.3): the container starts outside its cgroup v2 and joins it through cgroup.procs")
	}
	return notes, nil
}
