package launch

import (
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/caps"
	"launch/internal/execve"
	"launch/internal/fdpass"
	"launch/internal/fork"
	"launch/internal/initproc"
	"launch/internal/mount"
	"launch/internal/ns"
	"launch/internal/proc"
	"launch/internal/raw"
	"launch/internal/seccomp"
	"launch/internal/tty"
)

// slots is how many step start times -v records in its shared page.
const slots = 4096 / 8

// A plan is a prepared container start: the steps and what the child needs besides.
type plan struct {
	steps []step
	clone *fork.Clone
	errW  int           // write end of the error pipe (close-on-exec)
	times *[slots]int64 // start time of each step, in memory shared with the parent; nil without -v
	mnt   *mount.State  // the child's mount steps' state
	late  *lateExec     // a bundle's: what a failed exec after launch start says, or nil
}

// lateExec is what a bundle's process says when its exec fails after launch start:
// a line on its stderr for the errors exec gives most, prepared by the parent.
type lateExec struct {
	errnos [8]unix.Errno
	lines  [8][]byte
	other  []byte
}

// newLateExec prepares the lines for the process that execs path.
func newLateExec(path string) *lateExec { return newLateLines("launch: error: exec " + path + ": ") }

// newLateLines prepares the lines that start with prefix.
func newLateLines(prefix string) *lateExec {
	l := &lateExec{other: []byte(prefix + "failed\n")}
	for i, e := range []unix.Errno{unix.ENOENT, unix.ENOTDIR, unix.EACCES, unix.ELOOP, unix.ENOEXEC, unix.EPERM, unix.ETXTBSY, unix.E2BIG} {
		l.errnos[i] = e
		l.lines[i] = []byte(prefix + e.Error() + "\n")
	}
	return l
}

// say writes the line for e to descriptor 2 and returns the exit status: 127 when the
// file is not there, else 126, as for launch ROOTFS COMMAND. Runs in the child.
//
//go:nosplit
//go:norace
func (l *lateExec) say(e unix.Errno) int {
	line := l.other
	for i := range l.errnos {
		if l.errnos[i] == e {
			line = l.lines[i]
		}
	}
	ns.Write(2, &line[0], len(line))
	if e == unix.ENOENT || e == unix.ENOTDIR {
		return ExitNotFound
	}
	return ExitCannotExec
}

// A startHook is a bundle's startContainer hook, which the process runs after launch
// start, in the container: launch create is gone, and a failure is a line on the
// process's stderr and its exit status, ExitFailure.
type startHook struct {
	path     *byte // absolute, resolved in the container
	state    int   // a sealed memfd holding the state
	cmd      *command
	timeout  int // ms, or 0
	late     *lateExec
	status   []byte // the prefix of the line for a failure, with room for its number
	prefix   int    // how long the prefix is
	timedOut []byte
	tooLarge []byte
}

func newStartHook(path string, cmd *command, timeout int) (*startHook, error) {
	p, err := mount.CString(path)
	if err != nil {
		return nil, err
	}
	prefix := "launch: error: startContainer hook " + path + ": "
	h := &startHook{path: p, state: -1, cmd: cmd, timeout: timeout, late: newLateLines(prefix)}
	h.status = make([]byte, len(prefix)+len("killed by signal ")+12)
	h.prefix = copy(h.status, prefix)
	h.timedOut = []byte(prefix + "timed out after " + strconv.Itoa(timeout/1000) + " s\n")
	h.tooLarge = []byte(prefix + "the state does not fit a pipe\n")
	return h, nil
}

// hookStat is the state memfd's stat: the child's own copy of the variable.
var hookStat unix.Stat_t

// run runs the hook and returns, or exits the process if the hook failed. Runs in the
// child. The hook's stdin is a pipe of its own holding the state, spliced from the
// memfd at offset 0: nothing a hook or what it leaves running does to its stdin
// reaches the next hook's. It runs in a Landlock domain nested in the process's,
// with no_new_privs (execve.Run).
//
//go:nosplit
//go:norace
func (h *startHook) run() {
	fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(raw.AtFDCWD), uintptr(unsafe.Pointer(h.path)),
		unix.O_PATH|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		h.late.say(e)
		fork.Exit(ExitFailure)
	}
	in, e := h.stdin()
	if e != 0 {
		if e == unix.EFBIG {
			ns.Write(2, &h.tooLarge[0], len(h.tooLarge))
		} else {
			h.late.say(e)
		}
		fork.Exit(ExitFailure)
	}
	ws, e := execve.Run(int(fd), in, h.cmd.argv, h.cmd.envv, h.timeout, true)
	unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	switch {
	case e == unix.ETIMEDOUT:
		ns.Write(2, &h.timedOut[0], len(h.timedOut))
	case e != 0:
		h.late.say(e)
	case ws == 0:
		return
	case ws&0x7f == 0:
		h.fail("exit status ", uint32(ws>>8)&0xff)
	default:
		h.fail("killed by signal ", uint32(ws)&0x7f)
	}
	fork.Exit(ExitFailure)
}

// stdin returns the read end of a new pipe that holds the whole state; EFBIG if the
// pipe cannot be made large enough.
//
//go:nosplit
//go:norace
func (h *startHook) stdin() (int, unix.Errno) {
	// SAFETY: hookStat is the child's own memory.
	if _, _, e := unix.RawSyscall(unix.SYS_FSTAT, uintptr(h.state), uintptr(unsafe.Pointer(&hookStat)), 0); e != 0 {
		return -1, e
	}
	size := int(hookStat.Size)
	var p [2]int32
	// SAFETY: p is on this stack.
	if _, _, e := unix.RawSyscall(unix.SYS_PIPE2, uintptr(unsafe.Pointer(&p[0])), unix.O_CLOEXEC, 0); e != 0 {
		return -1, e
	}
	r, w := uintptr(p[0]), uintptr(p[1])
	e := unix.Errno(0)
	if size > 65536 {
		if n, _, err := unix.RawSyscall(unix.SYS_FCNTL, w, unix.F_SETPIPE_SZ, uintptr(size)); err != 0 || int(n) < size {
			e = unix.EFBIG
		}
	}
	var off int64
	for done := 0; e == 0 && done < size; {
		// SAFETY: off is on this stack.
		n, _, err := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(h.state), uintptr(unsafe.Pointer(&off)), w, 0,
			uintptr(size-done), unix.SPLICE_F_NONBLOCK)
		switch {
		case err == unix.EINTR:
		case err != 0 || n == 0:
			e = unix.EIO
		default:
			done += int(n)
		}
	}
	unix.RawSyscall(unix.SYS_CLOSE, w, 0, 0)
	if e != 0 {
		unix.RawSyscall(unix.SYS_CLOSE, r, 0, 0)
		return -1, e
	}
	return int(r), 0
}

// fail writes the line for a hook that ended with how and n.
//
//go:nosplit
//go:norace
func (h *startHook) fail(how string, n uint32) {
	b := h.status
	i := h.prefix + copy(b[h.prefix:], how)
	var digits [10]byte
	d := len(digits)
	for {
		d--
		digits[d] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	i += copy(b[i:], digits[d:])
	b[i] = '\n'
	ns.Write(2, &b[0], i+1)
}

// start forks the child, which runs the steps and execs COMMAND. In the parent it
// returns the child's pid. The child never returns from here: it execs or exits 125
// after writing a report of the failed step to the error pipe.
//
// From fork.BeforeFork on, this function calls only go:nosplit functions and does not
// allocate: see package ns. Its own frame was set up before the fork, so the loop and
// its locals are safe; its callees' frames fit in the nosplit stack budget, which the
// linker checks.
//
//go:norace
//go:noinline
func (p *plan) start() (pid int, errno unix.Errno) {
	fork.BeforeFork()
	pid, inCgroup, e := p.clone.Fork()
	if e != 0 || pid != 0 {
		fork.AfterFork()
		return pid, e
	}

	// In the child.
	var rep report
	for i := range p.steps {
		s := &p.steps[i]
		if p.times != nil && i < len(p.times) {
			p.times[i] = fork.Now()
		}
		switch s.op {
		case opDumpable:
			e = proc.SetDumpable()
		case opStdio:
			e = proc.Dup(s.fd, s.fd2)
		case opDieWithParent:
			unix.RawSyscall(unix.SYS_CLOSE, uintptr(s.fd2), 0, 0)
			e = proc.DieWithParent(s.fd)
		case opJoinCgroup:
			e = ns.Write(s.fd, s.str, s.n)
		case opJoinCgroupV2:
			if !inCgroup {
				e = ns.Write(s.fd, s.str, s.n)
			}
		case opClose:
			for _, fd := range s.fds {
				unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
			}
		case opUnshare:
			e = ns.Unshare(uintptr(s.n))
		case opHostname:
			e = ns.Sethostname(s.str, s.n)
		case opLoopback:
			e = ns.LoopbackUp(s.ifr)
		case opUmask:
			mount.Umask(s.n)
		case opPrivate:
			e = mount.MakePrivate()
		case opRoot:
			e = mount.OpenRoot(p.mnt, s.str)
		case opFuse:
			e = fdpass.SendNew(s.send, &fusePath[0], unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, s.fd)
		case opRootTree:
			var tree int
			if tree, e = fdpass.Take(s.inbox); e == 0 {
				e = mount.AttachRoot(p.mnt, s.str, tree)
			}
		case opMount:
			e = s.mount.Do(p.mnt)
		case opNode:
			e = s.node.Make(p.mnt)
		case opPivot:
			e = mount.PivotRoot(p.mnt)
		case opMoveRoot:
			e = mount.MoveRoot(p.mnt)
		case opCloseAll:
			e = execve.CloseAll(3+s.preserve, s.fds[0], s.fds[1], s.fds[2], s.fds[3])
		case opLandlock:
			e = execve.ExecBeneathRoot()
		case opRlimit:
			e = proc.SetRlimit(s.n, s.rlim)
		case opNofile:
			e = proc.SetRlimit(unix.RLIMIT_NOFILE, s.rlim)
		case opSetsid:
			e = tty.Setsid()
		case opPty:
			e = tty.MakePty(s.pty)
		case opForeground:
			e = tty.Foreground(s.fd)
		case opSignals:
			fork.AfterForkInChild()
		case opDropBounding:
			e = s.caps.DropBounding()
		case opUser:
			e = proc.SetUser(s.uid, s.gid, s.groups, s.n != 0)
		case opSetCaps:
			e = s.caps.Set()
		case opNoNewPrivs:
			e = seccomp.NoNewPrivs()
		case opSeccomp:
			e = seccomp.Load(s.prog, uintptr(s.n))
		case opNotifier:
			e = seccomp.LoadNotifier(s.prog, uintptr(s.n), s.send)
		case opRunHook:
			var ws unix.WaitStatus
			if ws, e = execve.Run(s.fd, s.fd2, s.cmd.argv, s.cmd.envv, 0, false); e == 0 && ws != 0 {
				// The hook failed: its wait status goes with the report.
				rep.Which, e = int32(ws), unix.ECHILD
			}
		case opChdir:
			e = execve.Chdir(s.str)
		case opInit:
			e = initproc.ForkInit(s.block, s.wait, s.none, s.fd, s.fd2, s.args)
		case opWaitGo:
			e = proc.WaitGo(s.fd)
		case opSetns:
			e = ns.Setns(s.fd, s.n)
		case opDomainname:
			e = ns.Setdomainname(s.str, s.n)
		case opSysctl:
			e = mount.WriteFile(p.mnt, s.target, s.str, s.n)
		case opKeepCaps:
			e = caps.KeepCaps()
		case opAmbient:
			e = s.caps.RaiseAmbient()
		case opReady:
			e = proc.Ready(s.fd)
		case opWaitStart:
			e = proc.WaitStart(s.fd)
		case opStartHook:
			s.hook.run()
		case opOrphan:
			e = proc.NoParentDeath()
		case opHooks:
			// Tell the parent, which runs the hooks meanwhile, and wait for it.
			rep.Step = hooksPoint
			// SAFETY: rep is on this stack; its bytes are read by the parent.
			ns.Write(p.errW, (*byte)(unsafe.Pointer(&rep)), sizeofReport)
			rep.Step = 0
			e = proc.WaitGo(s.fd)
		case opExec:
			var which int
			var found bool
			e, which, found = execve.Exec(s.cmd.cands, s.cmd.argv, s.cmd.envv, s.cmd.scratch)
			rep.Which = int32(which)
			if found {
				rep.Found = 1
			}
		}
		if e != 0 {
			rep.Step, rep.Errno = int32(i), int32(e)
			// SAFETY: rep is on this stack; its bytes are read by the parent.
			ns.Write(p.errW, (*byte)(unsafe.Pointer(&rep)), sizeofReport)
			if s.op == opExec && p.late != nil {
				// A bundle's process, started: launch create is gone, and only the
				// process's stderr and exit status can tell.
				fork.Exit(p.late.say(e))
			}
			fork.Exit(ExitFailure)
		}
	}
	fork.Exit(ExitFailure) // not reached: the last step execs or fails
	return 0, 0
}
