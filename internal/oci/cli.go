package oci

import (
	"errors"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"launch/internal/jsondec"
)

// Commands are the first arguments that make launch speak runc's command line.
var Commands = []string{"create", "start", "state", "kill", "delete", "run", "exec", "ps", "features", "spec", "list"}

// globals are runc's global options, those with a value first.
var (
	globalValues = []string{"--root", "--log", "--log-format", "--criu", "--rootless"}
	globalFlags  = []string{"--debug", "--systemd-cgroup"}
)

// Is reports whether args (without the program's name) are runc's command line: they
// start with one of runc's commands or global options.
func Is(args []string) bool {
	if len(args) == 0 {
		return false
	}
	a, _, _ := strings.Cut(args[0], "=")
	return slices.Contains(Commands, a) || slices.Contains(globalValues, a) || slices.Contains(globalFlags, a)
}

// A cli is one run of the runtime: the global options and where errors go.
type cli struct {
	root    string
	log     string
	logJSON bool
	systemd bool
	stdout  io.Writer
	stderr  io.Writer
	stdin   *os.File
	version string
	cmd     string
	args    []string // the command's own arguments
}

// errUsage marks an error in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// Main runs runc's command line args and returns the exit status.
func Main(args []string, stdin *os.File, stdout, stderr io.Writer, version string) int {
	c := &cli{root: "/run/launch", stdin: stdin, stdout: stdout, stderr: stderr, version: version}
	err := c.globals(args)
	if err == nil {
		err = c.run()
	}
	if err != nil {
		c.report(err)
		if s, ok := err.(exitStatus); ok {
			return int(s)
		}
		return 1
	}
	return 0
}

// exitStatus is a status to exit with and nothing to report (run's process's).
type exitStatus int

func (e exitStatus) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// report writes err as one line to stderr and, with --log, to the log: a JSON line
// with --log-format json, which the shim reads the last error from.
func (c *cli) report(err error) {
	if _, ok := err.(exitStatus); ok {
		return
	}
	// The same line in both, so that an engine that passes the log's on names launch.
	msg := "launch: error: " + strings.ReplaceAll(err.Error(), "\n", "; ")
	io.WriteString(c.stderr, msg+"\n")
	if c.log == "" {
		return
	}
	f, ferr := os.OpenFile(c.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if ferr != nil {
		return
	}
	defer f.Close()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if !c.logJSON {
		io.WriteString(f, "time=\""+now+"\" level=error msg="+strconv.Quote(msg)+"\n")
		return
	}
	var o jsondec.Object
	o.String("level", "error")
	o.String("msg", msg)
	o.String("time", now)
	f.Write(append(o.Bytes(), '\n'))
}

// globals reads the global options up to the command.
func (c *cli) globals(args []string) error {
	for len(args) > 0 {
		a := args[0]
		name, val, hasVal := strings.Cut(a, "=")
		switch {
		case slices.Contains(globalValues, name):
			if !hasVal {
				if len(args) < 2 {
					return &usageError{name + " needs a value"}
				}
				val, args = args[1], args[1:]
			}
			switch name {
			case "--root":
				c.root = val
			case "--log":
				c.log = val
			case "--log-format":
				if val != "text" && val != "json" {
					return &usageError{"--log-format: want text or json, got " + strconv.Quote(val)}
				}
				c.logJSON = val == "json"
			case "--rootless":
				if val != "false" && val != "auto" {
					return errors.New("--rootless " + val + ": not supported yet")
				}
			case "--criu":
			}
		case name == "--debug":
		case name == "--systemd-cgroup":
			c.systemd = true
		case a == "--version" || a == "-v":
			io.WriteString(c.stdout, "launch version "+c.version+"\nspec: "+ociVersion+"\n")
			c.cmd = "version"
			return nil
		case slices.Contains(Commands, a):
			c.cmd, c.args = a, args[1:]
			return nil
		default:
			return &usageError{"unknown global option or command " + strconv.Quote(a)}
		}
		args = args[1:]
	}
	return &usageError{"no command: want one of " + strings.Join(Commands, ", ")}
}

// A flagSet reads a command's options: name (with --), short form, whether it takes a
// value.
type flagSet struct {
	vals  map[string]string
	multi map[string][]string // every value of an option given more than once (exec --env)
	bools map[string]bool
	args  []string
}

type flagDef struct {
	long, short string
	value       bool
}

// parse reads args against defs: --x v, --x=v, -x v, and flags; options may come
// before and among the positional arguments until "--" (which ends them), as runc's
// parser takes them; every argument after the first positional one that the command
// passes on (exec's and run's) is its own.
func parse(cmd string, args []string, defs []flagDef, stopAtFirst bool) (*flagSet, error) {
	f := &flagSet{vals: map[string]string{}, bools: map[string]bool{}, multi: map[string][]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			f.args = append(f.args, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			f.args = append(f.args, a)
			if stopAtFirst {
				f.args = append(f.args, args[i+1:]...)
				break
			}
			continue
		}
		name, val, hasVal := strings.Cut(a, "=")
		var d *flagDef
		for j := range defs {
			if "--"+defs[j].long == name || (defs[j].short != "" && "-"+defs[j].short == name) || "-"+defs[j].long == name {
				d = &defs[j]
			}
		}
		if d == nil {
			return nil, &usageError{cmd + ": unknown option " + strconv.Quote(name)}
		}
		if !d.value {
			if hasVal {
				b, err := strconv.ParseBool(val)
				if err != nil {
					return nil, &usageError{cmd + ": " + name + ": want true or false"}
				}
				f.bools[d.long] = b
			} else {
				f.bools[d.long] = true
			}
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, &usageError{cmd + ": " + name + " needs a value"}
			}
			i++
			val = args[i]
		}
		f.vals[d.long] = val
		f.multi[d.long] = append(f.multi[d.long], val)
	}
	return f, nil
}

// id returns the one container ID of a command's arguments.
func (f *flagSet) id(cmd string) (string, error) {
	if len(f.args) < 1 {
		return "", &usageError{cmd + ": no container ID"}
	}
	return f.args[0], nil
}

func (c *cli) run() error {
	switch c.cmd {
	case "version":
		return nil
	case "create":
		return c.create()
	case "run":
		return c.runCmd()
	case "start":
		return c.start()
	case "state":
		return c.state()
	case "kill":
		return c.kill()
	case "delete":
		return c.delete()
	case "ps":
		return c.ps()
	case "list":
		return c.list()
	case "features":
		return c.features()
	case "spec":
		return c.spec()
	case "exec":
		return c.exec()
	}
	return &usageError{"unknown command " + strconv.Quote(c.cmd)}
}
