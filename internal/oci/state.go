package oci

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/renameio/v2"
	"golang.org/x/sys/unix"

	"launch/internal/cgroup"
	"launch/internal/jsondec"
	"launch/internal/spec"
)

// ociVersion is the version of the runtime spec launch implements.
const ociVersion = "1.2.0"

// validID reports whether id is what runc takes as a container ID (letters, digits
// and _ + . -): it names a directory under --root.
func validID(id string) bool {
	for _, r := range id {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("_+.-", r)) {
			return false
		}
	}
	return id != "" && id != "." && id != ".." && len(id) <= 255 // a file name
}

func checkID(id string) error {
	if !validID(id) {
		return errors.New("invalid container ID " + strconv.Quote(id) + ": want letters, digits and _ + . -")
	}
	return nil
}

// A container is one container's saved state.
type container struct {
	dir       string // its directory under --root
	ID        string
	Pid       int
	Start     uint64 // the process's start time (/proc/PID/stat), which tells it from a later process of the same pid
	Bundle    string
	Rootfs    string
	Created   string
	Cgroups   []string
	CgroupIDs []uint64   // their inode numbers: delete removes a cgroup only while its path leads to it
	Config    *spec.Spec // the bundle's config.json as it was at create
	config    *jsondec.Value
}

// Files of a container's directory: the start FIFO, and the cgroups launch create
// made, written as soon as they exist for a delete after a killed create.
const (
	fifoName    = "start"
	cgroupsName = "cgroups"
)

// stateLimits bound a state.json: its config's, one level deeper and with the few
// values and bytes of the state around it (the ID, paths and cgroups). A config that
// create took always gives a state that the commands after it read.
var stateLimits = jsondec.Limits{Size: spec.MaxSize + 1<<20, Depth: jsondec.MaxDepth + 1, Values: jsondec.MaxValues + 1<<10}

// save writes c's state.json atomically, with the config launch exec and delete
// read (a bundle may change after create), whose annotations are the container's.
// Anything a config.json may hold, its state holds within stateLimits.
func (c *container) save() error {
	var o jsondec.Object
	o.String("id", c.ID)
	o.Int("pid", int64(c.Pid))
	o.Uint("start", c.Start)
	o.String("bundle", c.Bundle)
	o.String("rootfs", c.Rootfs)
	o.String("created", c.Created)
	o.Strings("cgroups", c.Cgroups)
	o.Uints("cgroupIDs", c.CgroupIDs)
	// The config as it was read, byte for byte: it parsed, so it is JSON.
	o.Raw("config", c.config.Raw())
	return writeAtomic(filepath.Join(c.dir, "state.json"), o.Bytes(), 0o600)
}

// badState is the error for a state.json that does not read: delete --force removes
// the container as it removes one a killed create left (deleteLeft).
type badState struct{ msg string }

func (e badState) Error() string { return e.msg }

// notExist is the error for an unknown container ID: engines match "does not exist".
type notExist struct{ id string }

func (e notExist) Error() string { return "container " + e.id + " does not exist" }

// load reads the state of container id.
func (cl *cli) load(id string) (*container, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(cl.root, id)
	f, err := os.Open(filepath.Join(dir, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, notExist{id}
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	v, err := jsondec.ParseWithin(f, stateLimits)
	if err != nil {
		return nil, badState{"state of " + id + ": " + err.Error()}
	}
	c := &container{dir: dir, ID: id}
	d := &jsondec.Decoder{}
	d.Object(v, "", "state.json", []string{"pid", "start", "bundle", "rootfs", "created", "cgroups", "cgroupIDs", "config"},
		func(key string, v *jsondec.Value, at string) {
			switch key {
			case "pid":
				c.Pid = int(d.Int64(v, at))
			case "start":
				c.Start = d.Uint64(v, at)
			case "bundle":
				c.Bundle = d.Str(v, at)
			case "rootfs":
				c.Rootfs = d.Str(v, at)
			case "created":
				c.Created = d.Str(v, at)
			case "cgroups":
				c.Cgroups = d.Strs(v, at)
			case "cgroupIDs":
				c.CgroupIDs = jsondec.List(d, v, at, d.Uint64)
			case "config":
				sp, err := spec.FromJSON(v)
				if err != nil {
					d.Failf("config: " + err.Error())
				}
				c.Config = sp
			}
		})
	if d.Err == nil && c.Config == nil {
		d.Failf("no config")
	}
	if d.Err == nil && len(c.CgroupIDs) != len(c.Cgroups) {
		d.Failf("cgroupIDs: not one for each cgroup")
	}
	if d.Err != nil {
		return nil, badState{"state of " + id + ": " + d.Err.Error()}
	}
	return c, nil
}

// Statuses, as the runtime spec names them.
const (
	created = "created"
	running = "running"
	stopped = "stopped"
)

// alive reports whether c's process still runs: its pid has the start time saved at
// create, and is not a zombie.
func (c *container) alive() bool { return c.Pid > 0 && cgroup.Running(c.Pid, c.Start) }

// status works out c's status from its process, never from a saved word: created
// while the process waits on the start FIFO, running once started, stopped once it
// has ended.
func (c *container) status() string {
	if !c.alive() {
		return stopped
	}
	if _, err := os.Lstat(filepath.Join(c.dir, fifoName)); err == nil {
		return created
	}
	return running
}

// signal sends sig to c's process, through a pidfd where the kernel has them, checked
// to be the process c started, so that a pid reused meanwhile is never signalled.
func (c *container) signal(sig unix.Signal) error {
	fd, err := unix.PidfdOpen(c.Pid, 0)
	if err != nil && !errors.Is(err, unix.ENOSYS) {
		return errors.New("container not running: " + err.Error())
	}
	if fd >= 0 && err == nil {
		defer unix.Close(fd)
	}
	if !c.alive() {
		return errors.New("container not running")
	}
	if err == nil {
		err = unix.PidfdSendSignal(fd, sig, nil, 0)
	} else {
		err = unix.Kill(c.Pid, sig)
	}
	if errors.Is(err, unix.ESRCH) {
		return errors.New("container not running: no such process")
	}
	return err
}

// lock takes an exclusive lock on c's directory for the command's life: commands on
// one container run one at a time.
func lockDir(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// stateJSON is the runtime spec's state of c, with the status st, or as it is if st
// is "".
func (c *container) stateJSON(st string) []byte {
	if st == "" {
		st = c.status()
	}
	pid := c.Pid
	if st == stopped {
		pid = 0
	}
	var o jsondec.Object
	o.String("ociVersion", ociVersion)
	o.String("id", c.ID)
	o.String("status", st)
	o.Int("pid", int64(pid))
	o.String("bundle", c.Bundle)
	o.String("rootfs", c.Rootfs)
	o.String("created", c.Created)
	o.String("owner", "")
	o.Map("annotations", c.Config.Annotations)
	return o.Bytes()
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// writeAtomic writes data to the file at path as renameio does (a temporary file,
// synced, renamed over it), the temporary file made in path's own directory: without
// WithTempDir, renameio first tries whether os.TempDir is on the same file system,
// with a file it makes and renames there, at every write.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	return renameio.WriteFile(path, data, perm, renameio.WithTempDir(filepath.Dir(path)))
}
