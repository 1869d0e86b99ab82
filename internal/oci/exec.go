package oci

import (
	"errors"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"launch/internal/launch"
	"launch/internal/spec"
)

var execFlags = []flagDef{{long: "process", short: "p", value: true}, {long: "detach", short: "d"},
	{long: "pid-file", value: true}, {long: "console-socket", value: true}, {long: "tty", short: "t"},
	{long: "preserve-fds", value: true}, {long: "cwd", value: true}, {long: "env", short: "e", value: true},
	{long: "user", short: "u", value: true}, {long: "additional-gids", short: "g", value: true},
	{long: "cap", short: "c", value: true}, {long: "no-new-privs"}, {long: "ignore-paused"},
	{long: "process-label", value: true}, {long: "apparmor", value: true}}

// exec starts a process in a running container: in the foreground its exit status is
// the process's.
func (c *cli) exec() error {
	f, err := parse("exec", c.args, execFlags, true)
	if err != nil {
		return err
	}
	id, err := f.id("exec")
	if err != nil {
		return err
	}
	preserve, err := preserveFDs(f)
	if err != nil {
		return err
	}
	if f.vals["process-label"] != "" || f.vals["apparmor"] != "" {
		return errors.New("--process-label, --apparmor: not supported (launch drives no LSM)")
	}
	sigs := catchSignals(forwarded...)
	ct, err := c.load(id)
	if err != nil {
		return err
	}
	if st := ct.status(); st == stopped {
		return errors.New("cannot exec in container " + id + ": stopped")
	}
	sp := *ct.Config
	if sp.Process, err = c.execProcess(f, sp.Process); err != nil {
		return err
	}
	console := -1
	if s := f.vals["console-socket"]; s != "" {
		if console, err = dialConsole(s); err != nil {
			return err
		}
		defer unix.Close(console)
	}
	if err := sigs.stop(); err != nil {
		return err
	}
	pid, err := launch.StartExec(&launch.Exec{Spec: &sp, Pid: ct.Pid, Start: ct.Start, Rootfs: ct.Rootfs,
		Cgroups: ct.Cgroups, Console: console, Preserve: preserve})
	if err != nil {
		var le *launch.Error
		if errors.As(err, &le) && le.Hint != "" {
			err = errors.New(err.Error() + " (" + le.Hint + ")")
		}
		return err
	}
	if p := f.vals["pid-file"]; p != "" {
		if err := writeAtomic(p, []byte(strconv.Itoa(pid)), 0o644); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			return err
		}
	}
	if f.bools["detach"] {
		return nil
	}
	return waitForward(pid, sigs)
}

// execProcess is the process launch exec starts: --process's, or the container's with
// the command line's arguments and options.
func (c *cli) execProcess(f *flagSet, base *spec.Process) (*spec.Process, error) {
	if pf := f.vals["process"]; pf != "" {
		file, err := os.Open(pf)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		p, err := spec.ReadProcess(file)
		if err != nil {
			return nil, errors.New(pf + ": " + err.Error())
		}
		return p, nil
	}
	p := *base
	if len(f.args) < 2 {
		return nil, &usageError{"exec: no command (give it after the container ID, or --process)"}
	}
	p.Args = f.args[1:]
	p.Terminal = f.bools["tty"]
	p.Env = append(append([]string{}, base.Env...), f.multi["env"]...)
	if cwd := f.vals["cwd"]; cwd != "" {
		p.Cwd = cwd
	}
	if u := f.vals["user"]; u != "" {
		uid, gid, hasGid := strings.Cut(u, ":")
		n, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return nil, &usageError{"exec: --user: want UID[:GID], numeric"}
		}
		p.User = spec.User{UID: uint32(n), Umask: base.User.Umask}
		if hasGid {
			g, err := strconv.ParseUint(gid, 10, 32)
			if err != nil {
				return nil, &usageError{"exec: --user: want UID[:GID], numeric"}
			}
			p.User.GID = uint32(g)
		}
	}
	for _, g := range f.multi["additional-gids"] {
		n, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return nil, &usageError{"exec: --additional-gids: want a number"}
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(n))
	}
	if caps := f.multi["cap"]; len(caps) > 0 {
		cp := spec.Capabilities{}
		if base.Capabilities != nil {
			cp = *base.Capabilities
		}
		cp.Bounding = append(append([]string{}, cp.Bounding...), caps...)
		cp.Effective = append(append([]string{}, cp.Effective...), caps...)
		cp.Permitted = append(append([]string{}, cp.Permitted...), caps...)
		p.Capabilities = &cp
	}
	if f.bools["no-new-privs"] {
		p.NoNewPrivileges = true
	}
	return &p, nil
}

// forwarded are the signals run and exec forward to the process.
var forwarded = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}

// stopping are the signals that end run or exec, with nothing made or started, when
// they come before the process runs, and create, with nothing left, before it is done.
var stopping = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP}

// caught are the signals a command catches, from its start to its end.
type caught struct {
	c       chan os.Signal
	ready   chan struct{} // closed once they are caught
	pending []os.Signal   // caught before the process ran, in order
}

// catchSignals starts catching sigs on a goroutine of its own. The
// runtime enables each signal with a round trip to a thread of its own (0.4 ms for
// the seven on the development VM): the goroutine overlaps them with the reading of
// the bundle or the state. Before it makes anything on the host, and again before the
// process runs, the command calls stop. No signal.Stop follows: it makes the round
// trips again and waits for the runtime's signal loop to go idle, and the command
// exits when it is done.
func catchSignals(sigs ...os.Signal) *caught {
	s := &caught{c: make(chan os.Signal, 16), ready: make(chan struct{})}
	go func() {
		signal.Notify(s.c, sigs...)
		close(s.ready)
	}()
	return s
}

// stop waits until the signals are caught, and keeps those that came so far for the
// process. If one of stopping is among them, it returns the status a command ended
// by that signal exits with: the caller then leaves nothing behind and exits with it.
// Until the signals are caught, one ends the command by its default action, before
// it has made anything. The process, its PID namespace's init, would drop a
// forwarded signal it has no handler for yet.
func (s *caught) stop() error {
	<-s.ready
	for len(s.c) > 0 {
		s.pending = append(s.pending, <-s.c)
	}
	for _, sig := range s.pending {
		if slices.Contains(stopping, sig) {
			return exitStatus(128 + int(sig.(unix.Signal)))
		}
	}
	return nil
}

// waitForward waits for the process pid, forwarding it the signals s kept and those
// that come, and returns its status as an exitStatus.
func waitForward(pid int, s *caught) error {
	for _, sig := range s.pending {
		unix.Kill(pid, sig.(unix.Signal))
	}
	s.pending = nil
	sigs := s.c
	done := make(chan unix.WaitStatus, 1)
	go func() {
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(pid, &ws, 0, nil); !errors.Is(err, unix.EINTR) {
				break
			}
		}
		done <- ws
	}()
	for {
		select {
		case s := <-sigs:
			unix.Kill(pid, s.(unix.Signal))
		case ws := <-done:
			switch {
			case ws.Exited():
				return exitStatus(ws.ExitStatus())
			case ws.Signaled():
				return exitStatus(128 + int(ws.Signal()))
			}
			return exitStatus(1)
		}
	}
}
