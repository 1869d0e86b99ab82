package caps

import (
	"errors"
	"math/bits"
	"strconv"
	"strings"

	"launch/internal/rawfile"
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

// Hex writes s as /proc/PID/status shows a capability set (CapEff, CapBnd, ...): 16
// hexadecimal digits.
func (s Set) Hex() string {
	h := strconv.FormatUint(uint64(s), 16)
	return strings.Repeat("0", 16-len(h)) + h
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
// /proc/sys/kernel/cap_last_cap (Linux 3.2), or the highest this build has a name for
// if it cannot be read.
func KernelLast() int {
	b, err := rawfile.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return lastKnown
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || last < 0 || last > 63 {
		return lastKnown
	}
	return last
}
