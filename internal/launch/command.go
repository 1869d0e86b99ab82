package launch

import (
	"errors"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"launch/internal/execve"
	"launch/internal/mount"
)

// defaultPath is the container's PATH unless --env sets one.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// A command is COMMAND prepared for execve in the child.
type command struct {
	paths []string // candidate paths in the container, tried in order
	cands []*byte
	argv  []*byte // NUL-terminated strings, then nil
	envv  []*byte
	// scratch is where the child reads #! lines (see execve.Exec).
	scratch *execve.ExecScratch
}

// environment returns COMMAND's environment: exactly PATH, HOME, TERM if the caller
// has it, and the --env variables, which replace those.
func environment(cfg *Config) []string {
	home := "/root"
	if cfg.User != nil && cfg.User.UID != 0 {
		home = "/"
	}
	env := []string{"PATH=" + defaultPath, "HOME=" + home}
	if term, ok := os.LookupEnv("TERM"); ok {
		env = append(env, "TERM="+term)
	}
	for _, kv := range cfg.Env {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range env {
			if strings.HasPrefix(old, k+"=") {
				env[i], replaced = kv, true
			}
		}
		if !replaced {
			env = append(env, kv)
		}
	}
	return env
}

// newCommand prepares COMMAND: a name with a slash is a path (relative to the working
// directory); any other name is looked up in the container's PATH, as execvp does.
func newCommand(cfg *Config) (*command, error) { return newCommandEnv(cfg.Command, environment(cfg)) }

// newCommandEnv prepares args with exactly the environment env.
func newCommandEnv(args, env []string) (*command, error) {
	name := args[0]
	c := &command{scratch: new(execve.ExecScratch)}
	if strings.Contains(name, "/") {
		c.paths = []string{name}
	} else {
		search := defaultPath
		for _, kv := range env {
			if p, ok := strings.CutPrefix(kv, "PATH="); ok {
				search = p
			}
		}
		for _, dir := range strings.Split(search, ":") {
			if dir == "" {
				dir = "."
			}
			c.paths = append(c.paths, path.Join(dir, name))
		}
	}
	var err error
	if c.cands, err = cstrings(c.paths); err != nil {
		return nil, err
	}
	if c.argv, err = cstrings(args); err != nil {
		return nil, err
	}
	if c.envv, err = cstrings(env); err != nil {
		return nil, err
	}
	c.argv = append(c.argv, nil)
	c.envv = append(c.envv, nil)
	return c, nil
}

func cstrings(ss []string) ([]*byte, error) {
	out := make([]*byte, 0, len(ss)+1)
	for _, s := range ss {
		b, err := mount.CString(s)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// precheck looks for COMMAND in ROOTFS before anything is set up, so that a command
// that is not there fails at once, with nothing done to the host or to ROOTFS. The
// child's execve decides in the end; a candidate below a mount the launcher makes
// (--bind, /proc, /dev, /sys, /tmp) cannot be checked here and is assumed to exist.
func (c *command) precheck(rootfs, workdir string, mounted []string) error {
	dir, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &StepError{What: "open ROOTFS", Path: rootfs, Err: err}
	}
	defer unix.Close(dir)
	var notExec error
	for _, p := range c.paths {
		if !path.IsAbs(p) {
			p = path.Join(workdir, p)
		}
		for _, m := range mounted {
			if p == m || strings.HasPrefix(p, m+"/") {
				return nil
			}
		}
		fd, err := openat2Retry(dir, strings.TrimPrefix(p, "/"), &unix.OpenHow{
			Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
		if errors.Is(err, unix.ENOSYS) {
			return nil // no openat2: leave it to exec
		}
		if errors.Is(err, unix.ELOOP) {
			notExec = &StepError{What: "exec", Path: p, Err: unix.ELOOP}
			continue
		}
		if err != nil {
			continue
		}
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		unix.Close(fd)
		switch {
		case err != nil:
			continue
		case st.Mode&unix.S_IFMT == unix.S_IFDIR:
			notExec = &StepError{What: "exec", Path: p, Err: unix.EISDIR}
		case st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o111 == 0:
			notExec = &StepError{What: "exec", Path: p, Err: unix.EACCES}
		default:
			return nil
		}
	}
	if notExec != nil {
		return &Error{Code: ExitCannotExec, Err: notExec}
	}
	return c.notFound()
}

func (c *command) notFound() error {
	return &Error{Code: ExitNotFound,
		Err:  &StepError{What: "command not found in the container", Path: strings.Join(c.paths, ":"), Err: unix.ENOENT},
		Hint: "COMMAND is looked up in the container's PATH; give a path such as /bin/sh to run another file"}
}

// execError explains the child's failed execve.
func (c *command) execError(r report) error {
	errno := unix.Errno(r.Errno)
	p := c.paths[min(int(r.Which), len(c.paths)-1)]
	switch {
	case r.Found != 0:
		return &Error{Code: ExitCannotExec, Err: &StepError{What: "exec", Path: p, Err: errno},
			Hint: "the file exists: its interpreter (#! line) or dynamic loader is missing from the container"}
	case errno == unix.ENOENT || errno == unix.ENOTDIR:
		return c.notFound()
	case errno == unix.ELOOP:
		return &Error{Code: ExitCannotExec, Err: &StepError{What: "exec", Path: p, Err: errno},
			Hint: "COMMAND, or an interpreter on its #! line, is reached through a /proc magic link (such as /proc/self/exe) or a symlink loop: launch runs only files of the container"}
	}
	return &Error{Code: ExitCannotExec, Err: &StepError{What: "exec", Path: p, Err: errno}}
}

// openat2Retry is unix.Openat2, tried again on the EAGAIN that a scoped resolution
// gets when something on the system was renamed meanwhile (see raw.Openat2).
func openat2Retry(dirfd int, path string, how *unix.OpenHow) (int, error) {
	for try := 0; ; try++ {
		fd, err := unix.Openat2(dirfd, path, how)
		if err != unix.EAGAIN || try == 255 {
			return fd, err
		}
	}
}
