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
	// InRoot follows symlinks, resolving them as if the root were /.
	InRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS
	// NoSymlinks refuses any symlink on the way.
	NoSymlinks = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_SYMLINKS
)

// A Target is a path inside the container root, prepared for the child.
type Target struct {
	Path    string // cleaned, absolute in the container: for messages
	rel     *byte  // relative to the root: "dev/pts", or "." for the root
	parent  *byte  // relative path of the parent directory, "." at the top
	name    *byte  // last component
	comps   []*byte
	resolve uint64
	create  uint32
}

// NewTarget prepares p, an absolute path in the container, resolved with resolve
// (InRoot or NoSymlinks) and created as create says when missing. p may not contain
// "..": callers clean user input first, which removes every ".." from an absolute path.
// Nor may it hold a NUL byte, which no path can.
func NewTarget(p string, resolve uint64, create uint32) (Target, error) {
	if !path.IsAbs(p) || path.Clean(p) != p {
		return Target{}, errors.New("mount target " + strconv.Quote(p) + ": not a clean absolute path")
	}
	if strings.IndexByte(p, 0) >= 0 {
		return Target{}, errors.New("mount target " + strconv.Quote(p) + ": holds a NUL byte")
	}
	rel := strings.TrimPrefix(p, "/")
	if rel == "" {
		rel = "."
	}
	parent, name := path.Split(rel)
	parent = strings.TrimSuffix(parent, "/")
	if parent == "" {
		parent = "."
	}
	// No error is possible below: p holds no NUL byte.
	t := Target{Path: p, resolve: resolve, create: create}
	t.rel, _ = CString(rel)
	t.parent, _ = CString(parent)
	t.name, _ = CString(name)
	if rel != "." {
		for _, c := range strings.Split(rel, "/") {
			b, _ := CString(c)
			t.comps = append(t.comps, b)
		}
	}
	return t, nil
}

// CString returns s as a NUL-terminated string for the child, or an error if s holds a
// NUL byte.
func CString(s string) (*byte, error) { return unix.BytePtrFromString(s) }
