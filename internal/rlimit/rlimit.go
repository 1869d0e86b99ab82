package rlimit

import _ "unsafe" // go:linkname

// A Limit is a soft and a hard limit, the kernel's struct rlimit64 and syscall.Rlimit
// on every Linux arch.
type Limit struct{ Cur, Max uint64 }

// prlimit is syscall.prlimit: prlimit64(2) on pid, without changing anything when
// newlimit is nil. Its type is syscall's with Limit for syscall.Rlimit, which has the
// same layout; package syscall is not imported, so that this package's init runs
// before syscall's (see the package documentation).
//
//go:linkname prlimit syscall.prlimit
func prlimit(pid int, resource int, newlimit *Limit, old *Limit) error

// atStart are the limits at start, by resource number, up to the first the kernel
// does not know; n is how many.
var (
	atStart [32]Limit
	n       int
)

func init() {
	for n = 0; n < len(atStart); n++ {
		if prlimit(0, n, nil, &atStart[n]) != nil {
			break
		}
	}
}

// AtStart returns the limit of resource (unix.RLIMIT_*) as it was when the launcher
// started, before the Go runtime changed any.
func AtStart(resource int) (Limit, bool) {
	if resource < 0 || resource >= n {
		return Limit{}, false
	}
	return atStart[resource], true
}
