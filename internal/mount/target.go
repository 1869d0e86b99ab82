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
func NewTarget(p string, resolve uint64, create uint32) (Target, error) {
	if !path.IsAbs(p) || path.Clean(p) != p {
		return Target{}, errors.New("mount target " + strconv.Quote(p) + ": not a clean absolute path")
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
	t := Target{
		Path:    p,
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

func cstr(s string) *byte {
	b, err := unix.BytePtrFromString(s)
	if err != nil {
		panic("mount: string with NUL byte: " + strconv.Quote(s))
	}
	return b
}

// CString returns s as a NUL-terminated string for the child, or an error if s holds a
// NUL byte.
func CString(s string) (*byte, error) { return unix.BytePtrFromString(s) }
