package mount

import (
	"errors"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/errs"
	"launch/internal/raw"
)

// An Entry is one mount of an OCI bundle's config.json, checked and converted by the
// caller (package launch): a bind of the host path Source, or a new file system.
type Entry struct {
	Dst       string  // clean and absolute in the container
	FSType    string  // a new file system's type; "" for a bind
	Source    string  // a bind's host path, absolute with symlinks resolved; else mount(2)'s source
	Data      string  // the file system's options, comma-separated
	Flags     uintptr // per-mount MS_* flags
	Recursive bool    // rbind
	Prop      uintptr // propagation (MS_SHARED, MS_SLAVE, MS_PRIVATE, MS_UNBINDABLE, with MS_REC), or 0
	Device    bool    // a bind that may be of a device node (not made nodev)
}

// A Device is a node a bundle asks for in its /dev.
type Device struct {
	Path     string
	Mode     uint32 // S_IFCHR, S_IFBLK or S_IFIFO and the permissions
	Dev      uint64 // as Dev encodes it
	UID, GID uint32
	// Denied: the bundle's device rules deny it. The node is made, and covered by a
	// bind of itself that is nodev: it is there, and cannot be opened.
	Denied bool
}

// BundleSpec says what the file system of a bundle's container holds besides its root.
type BundleSpec struct {
	Entries      []Entry
	Devices      []Device
	Masked       []MaskedPath
	ReadOnly     []string // paths made read-only by a bind onto themselves
	RootFlags    uintptr  // per-mount flags of the root's mount, kept
	ReadOnlyRoot bool
	DevReadOnly  bool     // /dev read-only once its nodes are made
	Cgroups      []Cgroup // hierarchies to show at an entry of type cgroup
	// Userns and HostSys are Spec's: in a user namespace, the nodes are the host's,
	// bound, and so are the v1 cgroups and, without a network namespace of the
	// container's, /sys.
	Userns, HostSys bool
}

// A MaskedPath is covered by /dev/null (a file) or an empty read-only tmpfs (Dir).
type MaskedPath struct {
	Path string
	Dir  bool
}

// defaultLinks are the symlinks the runtime spec gives every container's /dev, beside
// the nodes of launch's own layout (devices).
var defaultLinks = [][2]string{{"/dev/fd", "/proc/self/fd"}, {"/dev/stdin", "/proc/self/fd/0"},
	{"/dev/stdout", "/proc/self/fd/1"}, {"/dev/stderr", "/proc/self/fd/2"}, {"/dev/ptmx", "pts/ptmx"}}

// BundleLayout returns the file-system steps of a bundle's container, in the order of
// its mounts, then its devices, masked and read-only paths, and the root's flags.
// A mount on /proc, /dev or /sys keeps its descriptor, and targets below it are
// resolved from that mount, never again from the root (see the slots); every other
// target is resolved from the root, following the image's symlinks inside it.
//
// The second result is the number of steps before the masked and read-only paths:
// where the caller writes the container's sysctls, through its /proc while /proc/sys
// is still writable.
func BundleLayout(s BundleSpec) ([]Step, int, error) {
	var b builder
	kept := map[int]bool{SlotRoot: true}
	base := func(p string) int {
		if sl := baseOf(p); kept[sl] && sl != SlotCgroup {
			return sl
		}
		return SlotRoot
	}
	var devFlags uintptr // the per-mount flags of /dev's mount
	for i, e := range s.Entries {
		at := "mounts[" + strconv.Itoa(i) + "] " + e.Dst
		if e.Dst == "/" {
			b.fail(errors.New(at + ": a mount over the root is not supported"))
			continue
		}
		sl := base(parentOf(e.Dst))
		if e.FSType == "" {
			bundleBind(&b, sl, e, at)
			continue
		}
		if e.FSType == "cgroup" {
			// The container's own cgroups, read-only whatever the bundle says
			// (CVE-2022-0492: a writable hierarchy is the host's).
			if e.Dst != "/sys/fs/cgroup" || !kept[SlotSys] {
				b.fail(errors.New(at + ": a cgroup mount goes on /sys/fs/cgroup, after a mount of /sys"))
				continue
			}
			cgroupSteps(&b, s.Cgroups, e.Dst, e.Flags|unix.MS_RDONLY|cgroupFlags, s.Userns)
			continue
		}
		if e.FSType == "sysfs" && s.HostSys {
			if m := hostSys(&b, sl, e.Dst, InRoot, e.Flags); m != nil && e.Dst == "/sys" {
				m.keep, kept[SlotSys] = SlotSys, true
			}
			continue
		}
		o := MountOpts{Source: e.Source, FSType: e.FSType, Data: e.Data, Flags: e.Flags}
		for k := SlotProc; k <= SlotSys; k++ {
			if e.Dst == slotPath[k] && !kept[k] {
				o.Keep, kept[k] = k, true
			}
		}
		if e.Dst == "/dev" {
			devFlags = e.Flags
		}
		if m := b.mountFrom("mount "+e.FSType, sl, e.Dst, InRoot, CreateDir, o); m != nil {
			m.notRoot, m.prop = true, e.Prop
		}
	}
	dev := kept[SlotDev] // the bundle mounts /dev (once: launch refuses a second)
	if dev {
		for _, d := range devices {
			if s.Userns {
				hostDevice(&b, "/dev/"+d.name)
				continue
			}
			b.node(NewDevice("/dev/"+d.name, 0o666, Dev(d.major, d.minor)))
		}
		for _, l := range defaultLinks {
			b.node(NewSymlink(l[0], l[1]))
		}
	}
	for _, d := range s.Devices {
		if s.Userns {
			// The host's node of that path, if it is the one asked for.
			var st unix.Stat_t
			if err := unix.Stat(d.Path, &st); err != nil || st.Mode&unix.S_IFMT != d.Mode&unix.S_IFMT || uint64(st.Rdev) != d.Dev {
				b.fail(errors.New("linux.devices " + d.Path + ": in a user namespace the host's node is bound, and the host has no such node there"))
				continue
			}
			if m := hostDevice(&b, d.Path); m != nil && d.Denied {
				m.flags |= unix.MS_NODEV
			}
			continue
		}
		n, err := newNode(d.Path, kindDevice, d.Mode, d.Dev, "")
		if err == nil && n.Target.base != SlotRoot && !kept[n.Target.base] {
			n, err = nil, errors.New("linux.devices "+d.Path+": not below a mount of /dev")
		}
		if n != nil {
			n.uid, n.gid, n.chown = d.UID, d.GID, true
		}
		b.node(n, err)
		if err == nil && d.Denied {
			b.selfFrom("make unusable", n.Target.base, d.Path, unix.MS_NODEV|unix.MS_NOSUID|unix.MS_NOEXEC, false)
		}
	}
	split := len(b.steps)
	for _, p := range s.Masked {
		sl := base(parentOf(p.Path))
		if p.Dir {
			b.mountFrom("mask", sl, p.Path, NoSymlinks, MustExist,
				MountOpts{Source: "tmpfs", FSType: "tmpfs", Flags: unix.MS_RDONLY | procFlags, Data: "size=4k", Optional: true})
			continue
		}
		b.bindFrom("mask", sl, "/dev/null", p.Path, NoSymlinks, MustExist, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC, true)
	}
	for _, p := range s.ReadOnly {
		b.selfFrom("make read-only", base(parentOf(p)), p, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, true)
	}
	if dev && s.DevReadOnly {
		b.flags("make read-only", SlotDev, unix.MS_RDONLY|devFlags)
	}
	rootFlags := s.RootFlags
	if s.ReadOnlyRoot {
		rootFlags |= unix.MS_RDONLY
	}
	b.flags("remount root", SlotRoot, rootFlags)
	return b.steps, split, b.err
}

// bundleBind binds a host path of the bundle's mounts. The caller resolved the
// source's symlinks (the engine's paths are the host's); the child walks it again
// refusing any symlink, and checks it found the same file.
func bundleBind(b *builder, base int, e Entry, at string) {
	st, err := statNoSymlinks(e.Source)
	if err != nil {
		b.fail(errs.Wrap(at, err))
		return
	}
	// nodev unless the bundle says dev, or binds a device node itself (which gives
	// that one device, and no place to make others).
	create := uint32(CreateFile)
	flags := e.Flags
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		create = CreateDir
		if !e.Device {
			flags |= unix.MS_NODEV
		}
	case unix.S_IFCHR, unix.S_IFBLK:
	default:
		if !e.Device {
			flags |= unix.MS_NODEV
		}
	}
	keep, err := Flags(e.Source)
	if err != nil {
		b.fail(errs.Wrap(at, err))
		return
	}
	// The flags the host's mount has stay: a bind never gives the container more than
	// its source's mount allows.
	flags |= keep & (unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	var parents []string
	for dir := parentOf(e.Dst); dir != "/" && baseOf(dir) == SlotRoot; dir = parentOf(dir) {
		parents = append(parents, dir)
	}
	for i := len(parents) - 1; i >= 0; i-- {
		b.node(EnsureDir(parents[i], InRoot))
	}
	b.bindFrom("bind "+e.Source, base, e.Source, e.Dst, InRoot, create, flags, false)
	if len(b.steps) > 0 && b.err == nil {
		m := b.steps[len(b.steps)-1].Mount
		m.recursive, m.prop = e.Recursive, e.Prop
	}
}

// ProcTarget prepares p, a file below /proc, found from the container's /proc mount
// without following any symlink: a sysctl's file.
func ProcTarget(p string) (Target, error) { return newTarget(SlotProc, p, NoSymlinks, MustExist) }

// WriteFile writes data to the file t, opened for writing through its O_PATH
// descriptor: a sysctl of the container's. Runs in the child, before pivot_root (the
// host's /proc names the descriptor).
//
//go:nosplit
//go:norace
func WriteFile(s *State, t *Target, data *byte, n int) unix.Errno {
	fd, e := open(s, t)
	if e != 0 {
		return e
	}
	p := raw.FdPath(&s.path[0], fd)
	// SAFETY: p is NUL-terminated in s; data is prepared by the parent.
	w, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(raw.AtFDCWD), uintptr(unsafe.Pointer(p)), unix.O_WRONLY|unix.O_CLOEXEC, 0, 0, 0)
	raw.Close(fd)
	if e != 0 {
		return e
	}
	_, _, e = unix.RawSyscall(unix.SYS_WRITE, w, uintptr(unsafe.Pointer(data)), uintptr(n))
	raw.Close(int(w))
	return e
}

// hostSys binds the host's /sys on dst, found from the mount in slot base with
// resolve, with the mounts below it and read-only throughout (and flags): a user
// namespace without a network namespace of its own may not mount sysfs.
func hostSys(b *builder, base int, dst string, resolve uint64, flags uintptr) *Mount {
	m := b.bindFrom("bind", base, "/sys", dst, resolve, CreateDir, flags|unix.MS_RDONLY|sysFlags, false)
	if m != nil {
		m.recursive = true
	}
	return m
}

// hostDevice binds the host's node p over a file made at p in the container's /dev:
// in a user namespace, which may not make nodes.
func hostDevice(b *builder, p string) *Mount {
	keep, err := Flags(p)
	if err != nil {
		b.fail(err)
		return nil
	}
	return b.bindFrom("bind", baseOf(parentOf(p)), p, p, NoSymlinks, CreateFile, keep&^unix.MS_NODEV|unix.MS_NOSUID|unix.MS_NOEXEC, false)
}
