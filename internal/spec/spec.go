// Package spec reads a bundle's config.json, the OCI runtime spec's container
// configuration, into the fields launch honours. A field it cannot honour is an error
// that names it, never ignored: a field left out of the table below, if not empty,
// fails the read ("linux.intelRdt: not supported"), and package launch refuses the
// values of known fields it cannot carry out.
package spec

import (
	"errors"
	"io"

	"launch/internal/jsondec"
)

// MaxSize is the largest config.json read: engines' are a few KiB, with a seccomp
// profile some 30 KiB.
const MaxSize = 4 << 20

// Spec is a container's configuration.
type Spec struct {
	OCIVersion  string
	Root        Root
	Process     *Process
	Hostname    string
	Domainname  string
	Mounts      []Mount
	Hooks       Hooks
	Annotations map[string]string
	Linux       Linux
}

// Root is the container's root file system: Path relative to the bundle or absolute.
type Root struct {
	Path     string
	Readonly bool
}

// Process is the container's process.
type Process struct {
	Terminal        bool
	ConsoleSize     *ConsoleSize
	User            User
	Args            []string
	Env             []string
	Cwd             string
	Capabilities    *Capabilities
	Rlimits         []Rlimit
	NoNewPrivileges bool
	OOMScoreAdj     *int64
}

type ConsoleSize struct{ Height, Width uint32 }

type User struct {
	UID, GID       uint32
	Umask          *uint32
	AdditionalGids []uint32
}

// Capabilities are the process's five sets, as CAP_ names.
type Capabilities struct {
	Bounding, Effective, Inheritable, Permitted, Ambient []string
}

type Rlimit struct {
	Type       string
	Hard, Soft uint64
}

// A Mount is one entry of mounts, in order.
type Mount struct {
	Destination string
	Type        string
	Source      string
	Options     []string
}

// Hooks run in the runtime's namespaces at the points of the container's life they
// are named after.
type Hooks struct {
	Prestart, CreateRuntime, CreateContainer, StartContainer, Poststart, Poststop []Hook
}

type Hook struct {
	Path    string
	Args    []string
	Env     []string
	Timeout *int64 // seconds
}

// Linux is the linux object.
type Linux struct {
	Namespaces        []Namespace
	UIDMappings       []IDMapping
	GIDMappings       []IDMapping
	Devices           []Device
	CgroupsPath       string
	Resources         *Resources
	RootfsPropagation string
	Seccomp           *jsondec.Value // the profile, read by package profile; nil if none
	Sysctl            map[string]string
	MaskedPaths       []string
	ReadonlyPaths     []string
	MountLabel        string
}

type Namespace struct{ Type, Path string }

type IDMapping struct{ ContainerID, HostID, Size uint32 }

// A Device is a node to create in the container.
type Device struct {
	Type         string // c, b, u or p
	Path         string
	Major, Minor int64
	FileMode     *uint32
	UID, GID     *uint32
}

// Resources are linux.resources.
type Resources struct {
	Devices []DeviceRule
	Memory  *Memory
	CPU     *CPU
	Pids    *Pids
	BlockIO *BlockIO
}

type DeviceRule struct {
	Allow        bool
	Type         string
	Major, Minor *int64
	Access       string
}

type Memory struct {
	Limit, Reservation, Swap, Kernel, KernelTCP *int64
	Swappiness                                  *uint64
	DisableOOMKiller                            bool
}

type CPU struct {
	Shares     *uint64
	Quota      *int64
	Period     *uint64
	Cpus, Mems string
}

type Pids struct{ Limit int64 }

type BlockIO struct{ Weight *uint64 }

// Read reads a config.json of at most MaxSize bytes.
func Read(r io.Reader) (*Spec, error) {
	v, err := jsondec.Parse(r, MaxSize)
	if err != nil {
		return nil, err
	}
	return FromJSON(v)
}

// FromJSON reads a config from parsed JSON.
func FromJSON(v *jsondec.Value) (*Spec, error) {
	d := &decoder{jsondec.Decoder{Refused: refused, NoNUL: true}}
	s := d.spec(v)
	if d.Err != nil {
		return nil, d.Err
	}
	if s.Root.Path == "" {
		return nil, errors.New("root.path: missing")
	}
	if s.Process == nil {
		return nil, errors.New("process: missing")
	}
	if len(s.Process.Args) == 0 {
		return nil, errors.New("process.args: missing")
	}
	return s, nil
}

type decoder struct{ jsondec.Decoder }

// refused are the fields of the runtime spec (1.2) that launch does not read: each is
// an error unless it is empty. A field the spec does not define is ignored, as the
// spec requires.
var refused = map[string]bool{}

// refusedProcess are the same, for launch exec --process.
var refusedProcess = map[string]bool{}

func init() {
	for _, f := range []string{"solaris", "windows", "vm", "zos",
		"mounts.uidMappings", "mounts.gidMappings",
		"linux.intelRdt", "linux.personality", "linux.timeOffsets", "linux.memoryPolicy", "linux.netDevices",
		"linux.resources.hugepageLimits", "linux.resources.network", "linux.resources.rdma", "linux.resources.unified",
		"linux.resources.memory.useHierarchy",
		"linux.resources.memory.checkBeforeUpdate", "linux.resources.cpu.realtimeRuntime", "linux.resources.cpu.realtimePeriod",
		"linux.resources.cpu.idle", "linux.resources.cpu.burst", "linux.resources.blockIO.leafWeight",
		"linux.resources.blockIO.weightDevice", "linux.resources.blockIO.throttleReadBpsDevice",
		"linux.resources.blockIO.throttleWriteBpsDevice", "linux.resources.blockIO.throttleReadIOPSDevice",
		"linux.resources.blockIO.throttleWriteIOPSDevice"} {
		refused[f] = true
	}
	for _, f := range []string{"apparmorProfile", "selinuxLabel", "ioPriority", "scheduler", "execCPUAffinity",
		"commandLine", "user.username"} {
		refused["process."+f] = true
		refusedProcess[f] = true
	}
}

// ReadProcess reads a process object: launch exec --process.
func ReadProcess(r io.Reader) (*Process, error) {
	v, err := jsondec.Parse(r, MaxSize)
	if err != nil {
		return nil, err
	}
	d := &decoder{jsondec.Decoder{Refused: refusedProcess, NoNUL: true}}
	p := d.process(v, "")
	if d.Err != nil {
		return nil, d.Err
	}
	if len(p.Args) == 0 {
		return nil, errors.New("args: missing")
	}
	return p, nil
}

func (d *decoder) spec(v *jsondec.Value) *Spec {
	var s Spec
	d.Object(v, "", "config.json", []string{"ociVersion", "root", "process", "hostname", "domainname", "mounts", "hooks", "annotations", "linux"},
		func(key string, v *jsondec.Value, at string) {
			switch key {
			case "ociVersion":
				s.OCIVersion = d.Str(v, at)
			case "root":
				d.Object(v, at, "", []string{"path", "readonly"}, func(key string, v *jsondec.Value, at string) {
					if key == "path" {
						s.Root.Path = d.Str(v, at)
					} else {
						s.Root.Readonly = d.Bool(v, at)
					}
				})
			case "process":
				if v.Type() != jsondec.TypeNull {
					s.Process = d.process(v, at)
				}
			case "hostname":
				s.Hostname = d.Str(v, at)
			case "domainname":
				s.Domainname = d.Str(v, at)
			case "mounts":
				s.Mounts = jsondec.List(&d.Decoder, v, at, d.mount)
			case "hooks":
				s.Hooks = d.hooks(v, at)
			case "annotations":
				s.Annotations = d.Map(v, at)
			case "linux":
				s.Linux = d.linux(v, at)
			}
		})
	return &s
}

func (d *decoder) process(v *jsondec.Value, at string) *Process {
	p := &Process{}
	// apparmorProfile and selinuxLabel are refused when set: this kernel's LSMs are
	// not driven by launch (see the README).
	d.Object(v, at, "", []string{"terminal", "consoleSize", "user", "args", "env", "cwd", "capabilities", "rlimits",
		"noNewPrivileges", "oomScoreAdj"}, func(key string, v *jsondec.Value, at string) {
		switch key {
		case "terminal":
			p.Terminal = d.Bool(v, at)
		case "consoleSize":
			if v.Type() != jsondec.TypeNull {
				p.ConsoleSize = &ConsoleSize{}
				d.Object(v, at, "", []string{"height", "width"}, func(key string, v *jsondec.Value, at string) {
					if key == "height" {
						p.ConsoleSize.Height = d.Uint32(v, at)
					} else {
						p.ConsoleSize.Width = d.Uint32(v, at)
					}
				})
			}
		case "user":
			d.Object(v, at, "", []string{"uid", "gid", "umask", "additionalGids"}, func(key string, v *jsondec.Value, at string) {
				switch key {
				case "uid":
					p.User.UID = d.Uint32(v, at)
				case "gid":
					p.User.GID = d.Uint32(v, at)
				case "umask":
					if v.Type() != jsondec.TypeNull {
						m := d.Uint32(v, at)
						p.User.Umask = &m
					}
				case "additionalGids":
					p.User.AdditionalGids = jsondec.List(&d.Decoder, v, at, d.Uint32)
				}
			})
		case "args":
			p.Args = d.Strs(v, at)
		case "env":
			p.Env = d.Strs(v, at)
		case "cwd":
			p.Cwd = d.Str(v, at)
		case "capabilities":
			if v.Type() != jsondec.TypeNull {
				c := &Capabilities{}
				d.Object(v, at, "", []string{"bounding", "effective", "inheritable", "permitted", "ambient"}, func(key string, v *jsondec.Value, at string) {
					l := d.Strs(v, at)
					switch key {
					case "bounding":
						c.Bounding = l
					case "effective":
						c.Effective = l
					case "inheritable":
						c.Inheritable = l
					case "permitted":
						c.Permitted = l
					case "ambient":
						c.Ambient = l
					}
				})
				p.Capabilities = c
			}
		case "rlimits":
			p.Rlimits = jsondec.List(&d.Decoder, v, at, func(v *jsondec.Value, at string) (r Rlimit) {
				d.Object(v, at, "", []string{"type", "hard", "soft"}, func(key string, v *jsondec.Value, at string) {
					switch key {
					case "type":
						r.Type = d.Str(v, at)
					case "hard":
						r.Hard = d.Uint64(v, at)
					case "soft":
						r.Soft = d.Uint64(v, at)
					}
				})
				return r
			})
		case "noNewPrivileges":
			p.NoNewPrivileges = d.Bool(v, at)
		case "oomScoreAdj":
			if v.Type() != jsondec.TypeNull {
				n := d.Int64(v, at)
				p.OOMScoreAdj = &n
			}
		}
	})
	return p
}

func (d *decoder) mount(v *jsondec.Value, at string) (m Mount) {
	d.Object(v, at, "", []string{"destination", "type", "source", "options"}, func(key string, v *jsondec.Value, at string) {
		switch key {
		case "destination":
			m.Destination = d.Str(v, at)
		case "type":
			m.Type = d.Str(v, at)
		case "source":
			m.Source = d.Str(v, at)
		case "options":
			m.Options = d.Strs(v, at)
		}
	})
	if m.Destination == "" {
		d.Failf(at + ".destination: missing")
	}
	return m
}

func (d *decoder) hooks(v *jsondec.Value, at string) (h Hooks) {
	d.Object(v, at, "", []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		func(key string, v *jsondec.Value, at string) {
			l := jsondec.List(&d.Decoder, v, at, func(v *jsondec.Value, at string) (k Hook) {
				d.Object(v, at, "", []string{"path", "args", "env", "timeout"}, func(key string, v *jsondec.Value, at string) {
					switch key {
					case "path":
						k.Path = d.Str(v, at)
					case "args":
						k.Args = d.Strs(v, at)
					case "env":
						k.Env = d.Strs(v, at)
					case "timeout":
						if v.Type() != jsondec.TypeNull {
							n := d.Int64(v, at)
							if n <= 0 || n > 1<<20 {
								d.Failf(at + ": want a number of seconds from 1 to 1048576")
							}
							k.Timeout = &n
						}
					}
				})
				if k.Path == "" {
					d.Failf(at + ".path: missing")
				}
				return k
			})
			switch key {
			case "prestart":
				h.Prestart = l
			case "createRuntime":
				h.CreateRuntime = l
			case "createContainer":
				h.CreateContainer = l
			case "startContainer":
				h.StartContainer = l
			case "poststart":
				h.Poststart = l
			case "poststop":
				h.Poststop = l
			}
		})
	return h
}

func (d *decoder) linux(v *jsondec.Value, at string) (l Linux) {
	d.Object(v, at, "", []string{"namespaces", "uidMappings", "gidMappings", "devices", "cgroupsPath", "resources",
		"rootfsPropagation", "seccomp", "sysctl", "maskedPaths", "readonlyPaths", "mountLabel"},
		func(key string, v *jsondec.Value, at string) {
			switch key {
			case "namespaces":
				l.Namespaces = jsondec.List(&d.Decoder, v, at, func(v *jsondec.Value, at string) (n Namespace) {
					d.Object(v, at, "", []string{"type", "path"}, func(key string, v *jsondec.Value, at string) {
						if key == "type" {
							n.Type = d.Str(v, at)
						} else {
							n.Path = d.Str(v, at)
						}
					})
					return n
				})
			case "uidMappings", "gidMappings":
				m := jsondec.List(&d.Decoder, v, at, func(v *jsondec.Value, at string) (m IDMapping) {
					d.Object(v, at, "", []string{"containerID", "hostID", "size"}, func(key string, v *jsondec.Value, at string) {
						switch key {
						case "containerID":
							m.ContainerID = d.Uint32(v, at)
						case "hostID":
							m.HostID = d.Uint32(v, at)
						case "size":
							m.Size = d.Uint32(v, at)
						}
					})
					return m
				})
				if key == "uidMappings" {
					l.UIDMappings = m
				} else {
					l.GIDMappings = m
				}
			case "devices":
				l.Devices = jsondec.List(&d.Decoder, v, at, d.device)
			case "cgroupsPath":
				l.CgroupsPath = d.Str(v, at)
			case "resources":
				if v.Type() != jsondec.TypeNull {
					l.Resources = d.resources(v, at)
				}
			case "rootfsPropagation":
				l.RootfsPropagation = d.Str(v, at)
			case "seccomp":
				if v.Type() != jsondec.TypeNull {
					l.Seccomp = v
				}
			case "sysctl":
				l.Sysctl = d.Map(v, at)
			case "maskedPaths":
				l.MaskedPaths = d.Strs(v, at)
			case "readonlyPaths":
				l.ReadonlyPaths = d.Strs(v, at)
			case "mountLabel":
				l.MountLabel = d.Str(v, at)
			}
		})
	return l
}

func (d *decoder) device(v *jsondec.Value, at string) (dev Device) {
	d.Object(v, at, "", []string{"type", "path", "major", "minor", "fileMode", "uid", "gid"}, func(key string, v *jsondec.Value, at string) {
		switch key {
		case "type":
			dev.Type = d.Str(v, at)
		case "path":
			dev.Path = d.Str(v, at)
		case "major":
			dev.Major = d.Int64(v, at)
		case "minor":
			dev.Minor = d.Int64(v, at)
		case "fileMode":
			dev.FileMode = d.u32p(v, at)
		case "uid":
			dev.UID = d.u32p(v, at)
		case "gid":
			dev.GID = d.u32p(v, at)
		}
	})
	return dev
}

func (d *decoder) u32p(v *jsondec.Value, at string) *uint32 {
	if v.Type() == jsondec.TypeNull {
		return nil
	}
	n := d.Uint32(v, at)
	return &n
}

func (d *decoder) i64p(v *jsondec.Value, at string) *int64 {
	if v.Type() == jsondec.TypeNull {
		return nil
	}
	n := d.Int64(v, at)
	return &n
}

func (d *decoder) u64p(v *jsondec.Value, at string) *uint64 {
	if v.Type() == jsondec.TypeNull {
		return nil
	}
	n := d.Uint64(v, at)
	return &n
}

func (d *decoder) resources(v *jsondec.Value, at string) *Resources {
	r := &Resources{}
	d.Object(v, at, "", []string{"devices", "memory", "cpu", "pids", "blockIO"}, func(key string, v *jsondec.Value, at string) {
		if v.Type() == jsondec.TypeNull {
			return
		}
		switch key {
		case "devices":
			r.Devices = jsondec.List(&d.Decoder, v, at, func(v *jsondec.Value, at string) (rule DeviceRule) {
				d.Object(v, at, "", []string{"allow", "type", "major", "minor", "access"}, func(key string, v *jsondec.Value, at string) {
					switch key {
					case "allow":
						rule.Allow = d.Bool(v, at)
					case "type":
						rule.Type = d.Str(v, at)
					case "major":
						rule.Major = d.i64p(v, at)
					case "minor":
						rule.Minor = d.i64p(v, at)
					case "access":
						rule.Access = d.Str(v, at)
					}
				})
				return rule
			})
		case "memory":
			m := &Memory{}
			d.Object(v, at, "", []string{"limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness", "disableOOMKiller"}, func(key string, v *jsondec.Value, at string) {
				switch key {
				case "kernel":
					m.Kernel = d.i64p(v, at)
				case "kernelTCP":
					m.KernelTCP = d.i64p(v, at)
				case "limit":
					m.Limit = d.i64p(v, at)
				case "reservation":
					m.Reservation = d.i64p(v, at)
				case "swap":
					m.Swap = d.i64p(v, at)
				case "swappiness":
					m.Swappiness = d.u64p(v, at)
				case "disableOOMKiller":
					m.DisableOOMKiller = d.Bool(v, at)
				}
			})
			r.Memory = m
		case "cpu":
			c := &CPU{}
			d.Object(v, at, "", []string{"shares", "quota", "period", "cpus", "mems"}, func(key string, v *jsondec.Value, at string) {
				switch key {
				case "shares":
					c.Shares = d.u64p(v, at)
				case "quota":
					c.Quota = d.i64p(v, at)
				case "period":
					c.Period = d.u64p(v, at)
				case "cpus":
					c.Cpus = d.Str(v, at)
				case "mems":
					c.Mems = d.Str(v, at)
				}
			})
			r.CPU = c
		case "pids":
			p := &Pids{}
			d.Object(v, at, "", []string{"limit"}, func(key string, v *jsondec.Value, at string) { p.Limit = d.Int64(v, at) })
			r.Pids = p
		case "blockIO":
			b := &BlockIO{}
			d.Object(v, at, "", []string{"weight"}, func(key string, v *jsondec.Value, at string) { b.Weight = d.u64p(v, at) })
			r.BlockIO = b
		}
	})
	return r
}
