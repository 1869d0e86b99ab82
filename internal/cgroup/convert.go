package cgroup

import "math"

// weightFromShares maps cgroup v1 cpu.shares (2..262144, default 1024) to v2 cpu.weight
// (1..10000, default 100) the way runc and crun do since 2024: a curve through
// (2, 1), (1024, 100) and (262144, 10000) that is linear in log space, so that the
// default maps to the default. 256 gives 35.
func weightFromShares(shares uint64) uint64 {
	switch {
	case shares == 0:
		return 0
	case shares <= 2:
		return 1
	case shares >= 262144:
		return 10000
	}
	l := math.Log2(float64(shares))
	exp := (l*l+125*l)/612.0 - 7.0/34.0
	return uint64(math.Ceil(math.Pow(10, exp)))
}

// ioWeightFromBlkio maps a v1 blkio weight (10..1000) to v2 io.weight (1..10000)
// linearly, as runc does. 50 gives 405.
func ioWeightFromBlkio(w uint64) uint64 {
	if w == 0 {
		return 0
	}
	return 1 + (w-10)*9999/990
}
