package oci

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/cgroup"
	"launch/internal/jsondec"
	"launch/internal/launch"
	"launch/internal/spec"
)

var createFlags = []flagDef{{long: "bundle", short: "b", value: true}, {long: "pid-file", value: true},
	{long: "console-socket", value: true}, {long: "no-pivot"}, {long: "no-new-keyring"},
	{long: "preserve-fds", value: true}, {long: "detach", short: "d"}, {long: "keep"}, {long: "no-subreaper"}}

func (c *cli) create() error {
	f, err := parse("create", c.args, createFlags, false)
	if err != nil {
		return err
	}
	id, err := f.id("create")
	if err != nil {
		return err
	}
	// SIGINT, SIGTERM or SIGHUP during create ends it with nothing left, as a failure
	// would; after it, the container stays, created.
	sigs := catchSignals(stopping...)
	ct, err := c.createContainer(id, f, sigs.stop)
	if err != nil {
		return err
	}
	if err := sigs.stop(); err != nil {
		c.deleteContainer(ct, true)
		return err
	}
	return nil
}

// createContainer creates container id from the bundle f names, and writes its state
// and pid file. If stop is not nil, it calls it before it makes anything, and returns
// its error (see catchSignals).
func (c *cli) createContainer(id string, f *flagSet, stop func() error) (*container, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	if c.systemd {
		return nil, errors.New("--systemd-cgroup: not supported yet (launch manages cgroups itself)")
	}
	preserve, err := preserveFDs(f)
	if err != nil {
		return nil, err
	}
	bundle, err := filepath.Abs(or(f.vals["bundle"], "."))
	if err != nil {
		return nil, err
	}
	config, err := readConfig(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, err
	}
	sp, err := spec.FromJSON(config)
	if err != nil {
		return nil, errors.New(filepath.Join(bundle, "config.json") + ": " + err.Error())
	}
	if stop != nil {
		if err := stop(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(c.root, 0o700); err != nil {
		return nil, err
	}
	dir := filepath.Join(c.root, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, errors.New("container with id " + id + " already exists")
		}
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	lk, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer unix.Close(lk)
	fifo := filepath.Join(dir, fifoName)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return nil, &os.PathError{Op: "mkfifo", Path: fifo, Err: err}
	}
	ffd, err := unix.Open(fifo, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: fifo, Err: err}
	}
	defer unix.Close(ffd)
	console := -1
	if s := f.vals["console-socket"]; s != "" {
		if console, err = dialConsole(s); err != nil {
			return nil, err
		}
		defer unix.Close(console)
	}
	ct := &container{dir: dir, ID: id, Bundle: bundle, Created: now(), Config: sp, config: config}
	made, err := launch.Create(&launch.Bundle{ID: id, Dir: bundle, Spec: sp, Fifo: ffd, Console: console, Preserve: preserve,
		Stdio: launch.Stdio{In: c.stdin, Out: os.Stdout, Err: os.Stderr},
		Made: func(cgroups []string, ids []uint64) error {
			var rec strings.Builder
			for i, d := range cgroups {
				rec.WriteString(strconv.FormatUint(ids[i], 10) + " " + d + "\n")
			}
			return os.WriteFile(filepath.Join(dir, cgroupsName), []byte(rec.String()), 0o600)
		},
		Hooks: func(pid int, rootfs string) ([]byte, error) {
			ct.Pid, ct.Rootfs = pid, rootfs
			state := ct.stateJSON("creating")
			for _, h := range append(append([]spec.Hook{}, sp.Hooks.Prestart...), sp.Hooks.CreateRuntime...) {
				if err := runHook(h, state); err != nil {
					return nil, errors.New("hook " + h.Path + ": " + err.Error())
				}
			}
			return state, nil
		},
		StartState: func(pid int, rootfs string) []byte {
			ct.Pid, ct.Rootfs = pid, rootfs
			return ct.stateJSON("created")
		}})
	if err != nil {
		var le *launch.Error
		if errors.As(err, &le) && le.Hint != "" {
			err = errors.New(err.Error() + " (" + le.Hint + ")")
		}
		return nil, err
	}
	start, _ := cgroup.StartTime(made.Pid)
	ct.Pid, ct.Start, ct.Rootfs, ct.Cgroups, ct.CgroupIDs = made.Pid, start, made.Rootfs, made.Cgroups, made.CgroupIDs
	undo := func(err error) (*container, error) {
		unix.Kill(made.Pid, unix.SIGKILL)
		cgroup.RemoveDirs(made.Cgroups, made.CgroupIDs)
		return nil, err
	}
	if err := ct.save(); err != nil {
		return undo(err)
	}
	if p := f.vals["pid-file"]; p != "" {
		if err := writeAtomic(p, []byte(strconv.Itoa(made.Pid)), 0o644); err != nil {
			return undo(err)
		}
	}
	ok = true
	return ct, nil
}

// readConfig reads and parses a config.json of at most spec.MaxSize bytes.
func readConfig(p string) (*jsondec.Value, error) {
	// O_NONBLOCK: a FIFO or a device is refused below rather than waited on.
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, errors.New(p + ": not a regular file")
	}
	v, err := jsondec.Parse(f, spec.MaxSize)
	if err != nil {
		return nil, errors.New(p + ": " + err.Error())
	}
	return v, nil
}

// preserveFDs reads --preserve-fds: how many descriptors from 3 up the process gets.
func preserveFDs(f *flagSet) (int, error) {
	v := f.vals["preserve-fds"]
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 1024 {
		return 0, &usageError{"--preserve-fds: want a number from 0 to 1024"}
	}
	return n, nil
}

// dialConsole connects to the engine's console socket.
func dialConsole(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, &os.PathError{Op: "connect console socket", Path: path, Err: err}
	}
	return fd, nil
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// open loads container id and locks it for the command's life.
func (c *cli) open(id string) (*container, func(), error) {
	ct, err := c.load(id)
	if err != nil {
		return nil, nil, err
	}
	lk, err := lockDir(ct.dir)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil, notExist{id} // deleted meanwhile
	}
	if err != nil {
		return nil, nil, errors.New("lock container " + id + ": " + err.Error())
	}
	// A delete that held the lock while this one waited has removed the container.
	if _, err := os.Stat(filepath.Join(ct.dir, "state.json")); err != nil {
		unix.Close(lk)
		return nil, nil, notExist{id}
	}
	return ct, func() { unix.Close(lk) }, nil
}

func (c *cli) start() error {
	f, err := parse("start", c.args, nil, false)
	if err != nil {
		return err
	}
	id, err := f.id("start")
	if err != nil {
		return err
	}
	ct, unlock, err := c.open(id)
	if err != nil {
		return err
	}
	defer unlock()
	return c.startContainer(ct)
}

// startContainer lets a created container's process exec process.args.
func (c *cli) startContainer(ct *container) error {
	switch st := ct.status(); st {
	case running:
		return errors.New("cannot start container " + ct.ID + ": already running")
	case stopped:
		return errors.New("cannot start container " + ct.ID + ": stopped")
	}
	fifo := filepath.Join(ct.dir, fifoName)
	fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return errors.New("cannot start container " + ct.ID + ": container not running: " + err.Error())
	}
	_, err = unix.Write(fd, []byte{0})
	unix.Close(fd)
	if err != nil {
		return errors.New("cannot start container " + ct.ID + ": " + err.Error())
	}
	os.Remove(fifo)
	c.runHooks("poststart", ct.Config.Hooks.Poststart, ct)
	return nil
}

func (c *cli) state() error {
	f, err := parse("state", c.args, nil, false)
	if err != nil {
		return err
	}
	id, err := f.id("state")
	if err != nil {
		return err
	}
	ct, err := c.load(id)
	if err != nil {
		return err
	}
	_, err = c.stdout.Write(append(ct.stateJSON(""), '\n'))
	return err
}

// parseSignal reads a signal as kill takes it: 15, TERM or SIGTERM.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, errors.New("invalid signal " + strconv.Quote(s))
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, errors.New("invalid signal " + strconv.Quote(s))
}

func (c *cli) kill() error {
	f, err := parse("kill", c.args, []flagDef{{long: "all", short: "a"}}, false)
	if err != nil {
		return err
	}
	id, err := f.id("kill")
	if err != nil {
		return err
	}
	sig := unix.SIGTERM
	if len(f.args) > 1 {
		if sig, err = parseSignal(f.args[1]); err != nil {
			return err
		}
	}
	if len(f.args) > 2 {
		return &usageError{"kill: too many arguments"}
	}
	ct, unlock, err := c.open(id)
	if err != nil {
		return err
	}
	defer unlock()
	if ct.status() == stopped {
		return errors.New("container " + id + " not running: no such process")
	}
	if f.bools["all"] {
		for _, p := range cgroup.Procs(ct.Cgroups) {
			if pid, err := strconv.Atoi(p); err == nil && pid > 0 {
				unix.Kill(pid, sig)
			}
		}
		return nil
	}
	return ct.signal(sig)
}

func (c *cli) delete() error {
	f, err := parse("delete", c.args, []flagDef{{long: "force", short: "f"}}, false)
	if err != nil {
		return err
	}
	id, err := f.id("delete")
	if err != nil {
		return err
	}
	ct, unlock, err := c.open(id)
	if err != nil {
		if f.bools["force"] && (errors.As(err, new(notExist)) || errors.As(err, new(badState))) {
			return c.deleteLeft(id)
		}
		return err
	}
	defer unlock()
	return c.deleteContainer(ct, f.bools["force"])
}

// deleteLeft removes what a launch create killed before it wrote the state left, or
// a container whose state does not read: the cgroups create recorded (and what runs
// in them), and the directory.
func (c *cli) deleteLeft(id string) error {
	dir := filepath.Join(c.root, id)
	if data, err := os.ReadFile(filepath.Join(dir, cgroupsName)); err == nil {
		var dirs []string
		var ids []uint64
		for _, line := range strings.Split(string(data), "\n") {
			id, d, ok := strings.Cut(line, " ")
			n, err := strconv.ParseUint(id, 10, 64)
			if ok && err == nil {
				dirs, ids = append(dirs, d), append(ids, n)
			}
		}
		if err := cgroup.RemoveDirs(dirs, ids); err != nil {
			return err
		}
	}
	return os.RemoveAll(dir)
}

// deleteContainer kills what is left of ct (only a created one, unless force), removes
// its cgroups, runs its poststop hooks and removes its state.
func (c *cli) deleteContainer(ct *container, force bool) error {
	if st := ct.status(); st == running && !force {
		return errors.New("cannot delete container " + ct.ID + " that is not stopped: " + st)
	}
	if ct.alive() {
		ct.signal(unix.SIGKILL)
		for i := 0; i < 500 && ct.alive(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := cgroup.RemoveDirs(ct.Cgroups, ct.CgroupIDs); err != nil {
		return err
	}
	c.runHooks("poststop", ct.Config.Hooks.Poststop, ct)
	return os.RemoveAll(ct.dir)
}

func (c *cli) ps() error {
	f, err := parse("ps", c.args, []flagDef{{long: "format", short: "f", value: true}}, true)
	if err != nil {
		return err
	}
	id, err := f.id("ps")
	if err != nil {
		return err
	}
	ct, err := c.load(id)
	if err != nil {
		return err
	}
	procs := cgroup.Procs(ct.Cgroups)
	switch or(f.vals["format"], "table") {
	case "json":
		_, err = io.WriteString(c.stdout, "["+strings.Join(procs, ",")+"]\n")
	case "table":
		_, err = io.WriteString(c.stdout, "PID\n"+strings.Join(append(procs, ""), "\n"))
	default:
		return &usageError{"ps: --format: want table or json"}
	}
	return err
}

func (c *cli) list() error {
	f, err := parse("list", c.args, []flagDef{{long: "format", short: "f", value: true}, {long: "quiet", short: "q"}}, false)
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(c.root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	arr := []byte{'['}
	out := "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n"
	if f.bools["quiet"] {
		out = ""
	}
	n := 0
	for _, e := range entries {
		ct, err := c.load(e.Name())
		if err != nil {
			continue
		}
		if n > 0 {
			arr = append(arr, ',')
		}
		arr = append(arr, ct.stateJSON("")...)
		n++
		if f.bools["quiet"] {
			out += ct.ID + "\n"
			continue
		}
		pid := ct.Pid
		st := ct.status()
		if st == stopped {
			pid = 0
		}
		out += ct.ID + "\t" + strconv.Itoa(pid) + "\t" + st + "\t" + ct.Bundle + "\t" + ct.Created + "\troot\n"
	}
	if f.vals["format"] == "json" {
		out = string(arr) + "]\n"
	}
	_, err = io.WriteString(c.stdout, out)
	return err
}

// runHooks runs hooks with the container's state on their stdin, each within its
// timeout; a failure is a warning, as the runtime spec has it for poststart and
// poststop.
func (c *cli) runHooks(what string, hooks []spec.Hook, ct *container) {
	state := ct.stateJSON("")
	for _, h := range hooks {
		if err := runHook(h, state); err != nil {
			io.WriteString(c.stderr, "launch: warning: "+what+" hook "+h.Path+": "+err.Error()+"\n")
		}
	}
}

// runHook runs h with state on its stdin, its stdout and stderr launch's stderr.
func runHook(h spec.Hook, state []byte) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	pid, err := syscall.ForkExec(h.Path, args, &syscall.ProcAttr{Env: h.Env, Files: []uintptr{r.Fd(), 2, 2}})
	r.Close()
	if err != nil {
		w.Close()
		return err
	}
	go func() { w.Write(state); w.Close() }()
	done := make(chan unix.WaitStatus, 1)
	go func() {
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
				break
			}
		}
		done <- ws
	}()
	var timeout <-chan time.Time
	if h.Timeout != nil {
		timeout = time.After(time.Duration(*h.Timeout) * time.Second)
	}
	select {
	case ws := <-done:
		switch {
		case ws.Signaled():
			return errors.New("failed: killed by " + unix.SignalName(ws.Signal()))
		case ws.ExitStatus() != 0:
			return errors.New("failed: exit status " + strconv.Itoa(ws.ExitStatus()))
		}
		return nil
	case <-timeout:
		unix.Kill(pid, unix.SIGKILL)
		<-done
		return errors.New("timed out after " + strconv.FormatInt(*h.Timeout, 10) + " s")
	}
}
