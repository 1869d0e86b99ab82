package caps

import (
	"errors"
	"math/bits"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A Set is a set of capabilities, bit n standing for capability n.
type Set uint64

// All is every capability the kernel can have: bits 0 to 63.
const All Set = ^Set(0)

// Has reports whether c is in s.
func (s Set) Has(c int) bool { return c >= 0 && c < 64 && s&(1<<c) != 0 }

// Parse returns the capability called name: CHOWN, CAP_CHOWN or chown, or ALL.
func Parse(name string) (Set, error) {
	n := strings.TrimPrefix(strings.ToUpper(name), "CAP_")
	if n == "ALL" {
		return All, nil
	}
	for i, known := range names {
		if known == n {
			return 1 << i, nil
		}
	}
	return 0, errors.New("unknown capability " + strconv.Quote(name))
}

// Names lists the capabilities in s by name, in number order; a capability newer than
// this build's table appears as its number.
func (s Set) Names() []string {
	var out []string
	for v := uint64(s); v != 0; v &= v - 1 {
		c := bits.TrailingZeros64(v)
		if c < len(names) {
			out = append(out, names[c])
		} else {
			out = append(out, strconv.Itoa(c))
		}
	}
	return out
}

// KernelLast returns the running kernel's highest capability number, from
// /proc/sys/kernel/cap_last_cap (Linux 3.2), or LastKnown if it cannot be read.
func KernelLast() int {
	fd, err := unix.Open("/proc/sys/kernel/cap_last_cap", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return lastKnown
	}
	defer unix.Close(fd)
	var b [16]byte
	n, err := unix.Read(fd, b[:])
	if err != nil || n <= 0 {
		return lastKnown
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || last < 0 || last > 63 {
		return lastKnown
	}
	return last
}

// LastKnown is the highest capability number this build has a name for. The kernel may
// know more (/proc/sys/kernel/cap_last_cap); the launcher drops those too.
func LastKnown() int { return lastKnown }
