package mount

import (
	"errors"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// What a Target creates when it is missing.
const (
	MustExist  = 0
	CreateDir  = unix.S_IFDIR
	CreateFile = unix.S_IFREG
)

// How a Target resolves symlinks on its way.
const (
	// InRoot follows symlinks, resolving them as if the base were /.
	InRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS
	// NoSymlinks refuses any symlink on the way.
	NoSymlinks = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_SYMLINKS
)

// Slots hold the descriptors of mounts that later steps resolve their targets from
// or change. A target below /proc, /dev or /sys is resolved from that file system's
// own mount, which nothing but launch can change while it works, and never again from
// the root by name: a neighbour that renames entries of ROOTFS meanwhile can move
// where a whole file system lands, but not what lands on its masked, read-only or
// device paths.
const (
	SlotRoot   = iota // the container's root
	SlotProc          // its /proc
	SlotDev           // its /dev tmpfs
	SlotSys           // its /sys
	SlotCgroup        // the tmpfs under /sys/fs/cgroup on cgroup v1
	numSlots
)

// slotPath is where each slot's file system is in the container, for messages.
var slotPath = [numSlots]string{"/", "/proc", "/dev", "/sys", "/sys/fs/cgroup"}

// A Target is a path inside the container, prepared for the child: relative to the
// mount in one of the slots.
type Target struct {
	Path    string // cleaned, absolute in the container: for messages
	base    int    // the slot it is resolved from
	rel     *byte  // relative to the base: "pts", or "." for the base itself
	parent  *byte  // relative path of the parent directory, "." at the top
	name    *byte  // last component
	comps   []*byte
	resolve uint64
	create  uint32
}

// NewTarget prepares p, an absolute path in the container, resolved from the root
// with resolve (InRoot or NoSymlinks) and created as create says when missing. p may
// not contain "..": callers clean user input first, which removes every ".." from an
// absolute path.
func NewTarget(p string, resolve uint64, create uint32) (Target, error) {
	return newTarget(SlotRoot, p, resolve, create)
}

// newTarget prepares p below the mount in slot base, whose own path p must start with.
func newTarget(base int, p string, resolve uint64, create uint32) (Target, error) {
	if !path.IsAbs(p) || path.Clean(p) != p {
		return Target{}, errors.New("mount target " + strconv.Quote(p) + ": not a clean absolute path")
	}
	if strings.IndexByte(p, 0) >= 0 {
		return Target{}, errors.New("mount target " + strconv.Quote(p) + ": holds a NUL byte")
	}
	rel := strings.TrimPrefix(p, "/")
	if base != SlotRoot {
		r, ok := strings.CutPrefix(p, slotPath[base])
		if !ok || (r != "" && r[0] != '/') {
			return Target{}, errors.New("mount target " + strconv.Quote(p) + ": not below " + slotPath[base])
		}
		rel = strings.TrimPrefix(r, "/")
	}
	if rel == "" {
		rel = "."
	}
	parent, name := path.Split(rel)
	parent = strings.TrimSuffix(parent, "/")
	if parent == "" {
		parent = "."
	}
	t := Target{
		Path:    p,
		base:    base,
		rel:     cstr(rel),
		parent:  cstr(parent),
		name:    cstr(name),
		resolve: resolve,
		create:  create,
	}
	if rel != "." {
		for _, c := range strings.Split(rel, "/") {
			t.comps = append(t.comps, cstr(c))
		}
	}
	return t, nil
}

// cstr returns s NUL-terminated. Callers have checked s for NUL bytes.
func cstr(s string) *byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return &b[0]
}

// CString returns s as a NUL-terminated string for the child, or an error if s holds a
// NUL byte.
func CString(s string) (*byte, error) { return unix.BytePtrFromString(s) }
