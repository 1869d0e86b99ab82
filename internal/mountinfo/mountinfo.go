// Package mountinfo reads /proc/PID/mountinfo (proc_pid_mountinfo(5)): one line per
// mount,
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// its ID, its parent's ID, the device, the root of the mount within its file system, the
// mount point, the per-mount options, optional fields up to "-", then the file-system
// type, the source and the super-block options. The kernel escapes a space, tab,
// newline or backslash in the root, the mount point and the source as \040, \011, \012
// and \134 (fs/proc_namespace.c, show_mountinfo), so that the fields are separated by
// single spaces.
package mountinfo

import (
	"errors"
	"slices"
	"strconv"
	"strings"
)

// A Mount is one line of a mountinfo file, its paths unescaped.
type Mount struct {
	ID, Parent   int
	Major, Minor uint32
	Root         string   // the directory of its file system mounted here
	Point        string   // the mount point, relative to the reader's root
	Options      []string // per-mount options: rw, nosuid, relatime, ...
	Optional     []string // shared:N, master:N, propagate_from:N, unbindable
	FSType       string   // type, or type.subtype
	Source       string   // the file system's source, or "none"
	SuperOptions []string // super-block options
}

// Parse reads the lines of a mountinfo file. It returns the mounts of every well-formed
// line, in order, and an error naming the first malformed one, if any: a caller that
// only looks for something may use what was read.
func Parse(data []byte) ([]Mount, error) {
	var (
		out   []Mount
		first error
	)
	for n, line := range strings.Split(string(data), "\n") {
		if line == "" {
			continue
		}
		m, err := ParseLine(line)
		if err != nil {
			if first == nil {
				first = errors.New("mountinfo line " + strconv.Itoa(n+1) + ": " + err.Error())
			}
			continue
		}
		out = append(out, m)
	}
	return out, first
}

// ParseLine reads one line of a mountinfo file, without its newline.
func ParseLine(line string) (Mount, error) {
	f := strings.Split(line, " ")
	// Six fixed fields, the optional ones, "-", and three more. An optional field is
	// tag:value, never "-".
	sep := -1
	if len(f) >= 10 {
		sep = slices.Index(f[6:], "-") + 6
	}
	if sep < 6 || len(f) != sep+4 {
		return Mount{}, errors.New("want ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPEROPTIONS, got " + strconv.Quote(line))
	}
	var (
		m    Mount
		errs [4]error
	)
	m.ID, errs[0] = strconv.Atoi(f[0])
	m.Parent, errs[1] = strconv.Atoi(f[1])
	major, minor, ok := strings.Cut(f[2], ":")
	var maj, min uint64
	maj, errs[2] = strconv.ParseUint(major, 10, 32)
	min, errs[3] = strconv.ParseUint(minor, 10, 32)
	if err := errors.Join(errs[:]...); err != nil || !ok || m.ID < 0 || m.Parent < 0 {
		return Mount{}, errors.New("bad ID, parent ID or MAJ:MIN in " + strconv.Quote(line))
	}
	m.Major, m.Minor = uint32(maj), uint32(min)
	m.Root, m.Point = Unescape(f[3]), Unescape(f[4])
	// The kernel leaves out a mount the reader's root does not reach, and writes every
	// other mount point from that root: a point that is not absolute is no mount's.
	if !strings.HasPrefix(m.Point, "/") {
		return Mount{}, errors.New("mount point is not an absolute path in " + strconv.Quote(line))
	}
	m.Options = strings.Split(f[5], ",")
	if sep > 6 {
		m.Optional = f[6:sep]
	}
	m.FSType, m.Source = f[sep+1], Unescape(f[sep+2])
	m.SuperOptions = strings.Split(f[sep+3], ",")
	return m, nil
}

// Unescape undoes mountinfo's octal escapes: a backslash and three octal digits up to
// \377 stand for one byte. Anything else stays as it is.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Has reports whether every option in opts is among m's per-mount or super-block
// options.
func (m Mount) Has(opts ...string) bool {
	for _, o := range opts {
		if !slices.Contains(m.Options, o) && !slices.Contains(m.SuperOptions, o) {
			return false
		}
	}
	return true
}

// Top returns the mount on top at point: the last one listed there, which was mounted
// last.
func Top(ms []Mount, point string) (Mount, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Point == point {
			return ms[i], true
		}
	}
	return Mount{}, false
}
