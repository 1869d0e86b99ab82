package launch

import (
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/caps"
	"launch/internal/cgroup"
	"launch/internal/execve"
	"launch/internal/initproc"
	"launch/internal/kernel"
	"launch/internal/mount"
	"launch/internal/procview"
	"launch/internal/rawfile"
	"launch/internal/rlimit"
)

// A host is what launch needs to know of the machine it runs on, read once at the
// start: every later step decides from this snapshot.
type host struct {
	cgroups   *cgroup.Layout  // the cgroup hierarchies and the launcher's place in them
	kernel    kernel.Features // namespaces, seccomp, the newer system calls
	capLast   int             // the highest capability the kernel knows
	initramfs bool            // / is the initramfs, where pivot_root(2) is refused
	fuse      bool            // the /proc view can be served
	landlock  int             // Landlock's ABI version, 0 without it
	nofile    *unix.Rlimit    // RLIMIT_NOFILE to give COMMAND back, or nil
	umask     int             // the caller's, for COMMAND
}

// readHost takes the snapshot. launch needs the host's /proc: to read the host's state,
// and to name descriptors (/proc/self/fd) in the child's mounts.
func readHost() (*host, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/fd", &st); err != nil {
		return nil, &Error{Code: ExitFailure, Err: &StepError{What: "find /proc on the host", Path: "/proc/self/fd", Err: err},
			Hint: "launch reads the host's state and resolves mount targets through /proc: mount proc on /proc"}
	}
	mountinfo, err := rawfile.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	procCgroup, err := rawfile.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	h := &host{capLast: caps.KernelLast(), initramfs: mount.RootIsInitramfs(mountinfo), fuse: procview.Available(),
		landlock: execve.LandlockABI(), nofile: callerNofile(), umask: callerUmask()}
	if h.cgroups, err = cgroup.Detect(mountinfo, procCgroup); err != nil {
		return nil, err
	}
	h.kernel = kernel.Read(rawfile.Dir("/proc"))
	h.kernel.Probe()
	return h, nil
}

// kernelNeed is what cfg asks of the kernel.
func kernelNeed(cfg *Config) kernel.Need {
	return kernel.Need{Net: !cfg.HostNet, Seccomp: cfg.Seccomp}
}

// callerNofile returns the RLIMIT_NOFILE the launcher was started with, if the Go
// runtime raised it (to the hard limit less one, go.dev/issue/46279), or nil. COMMAND
// gets the caller's limit, as os/exec would give it: programs that use select(2)
// need a soft limit of 1024. As os/exec does, a limit that someone else changed
// since (prlimit(1) on the launcher) is left as it is.
func callerNofile() *unix.Rlimit {
	start, ok := rlimit.AtStart(unix.RLIMIT_NOFILE)
	var now unix.Rlimit
	if !ok || unix.Getrlimit(unix.RLIMIT_NOFILE, &now) != nil {
		return nil
	}
	if start.Cur == now.Cur || now.Max != start.Max || now.Cur != start.Max-1 {
		return nil
	}
	return &unix.Rlimit{Cur: start.Cur, Max: start.Max}
}

// callerUmask returns the launcher's umask, which COMMAND gets as any program started
// by the caller would. umask(2) can only be read by setting it; the launcher creates no
// file meanwhile.
func callerUmask() int {
	m := unix.Umask(0o22)
	unix.Umask(m)
	return m
}

// launcherArgs returns the memory of the launcher's command line: os.Args point into
// the block the kernel laid out for it (the runtime does not copy them), one string
// after the other, each ended by a NUL.
func launcherArgs() *initproc.Args {
	if len(os.Args) == 0 {
		return nil
	}
	first := os.Args[0]
	last := os.Args[len(os.Args)-1]
	start := uintptr(unsafe.Pointer(unsafe.StringData(first)))
	end := uintptr(unsafe.Pointer(unsafe.StringData(last))) + uintptr(len(last)) + 1
	if first == "" || last == "" || end <= start || end-start > 1<<20 {
		return nil
	}
	// SAFETY: [start, end) is the argv block, which lives as long as the process.
	return &initproc.Args{Mem: unsafe.Slice(unsafe.StringData(first), int(end-start))}
}

// checkStdio refuses a directory as descriptor 0, 1 or 2, which COMMAND inherits: from
// a directory of the host, fchdir(2) and "..", or openat(2), lead out of the container's
// root (runc CVE-2024-21626 was such a descriptor, leaked).
func checkStdio() error {
	for fd, name := range []string{"stdin", "stdout", "stderr"} {
		if err := checkDescriptor(fd, name, false); err != nil {
			return err
		}
	}
	return nil
}

// checkDescriptor refuses descriptor fd, called what in messages, if it is a directory
// (see checkStdio); open says whether it must be open at all.
func checkDescriptor(fd int, what string, open bool) error {
	var st unix.Stat_t
	err := unix.Fstat(fd, &st)
	switch {
	case err != nil && open:
		return &Error{Code: ExitFailure, Err: &StepError{What: what, Path: "descriptor " + strconv.Itoa(fd), Err: err}}
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return &Error{Code: ExitFailure, Err: &StepError{What: what, Path: "descriptor " + strconv.Itoa(fd), Err: unix.EISDIR},
			Hint: "the container would reach the host's files through it: give it a file, a pipe or a terminal"}
	}
	return nil
}
