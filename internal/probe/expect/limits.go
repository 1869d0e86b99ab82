package expect

import (
	"fmt"
	"strings"

	"launch/internal/probe/report"
)

// A Limit is a cgroup file that shows one of a container's limits, and what it must
// hold. Whether the container has the file depends on the host: each controller is in
// a v1 hierarchy or in the v2 one (Cgroups.Dir), and some files only some kernels have.
type Limit struct {
	Version    int    // 1 or 2: the cgroup version the file belongs to
	Controller string // as v1 names it: memory, cpu, pids, blkio
	File       string // memory.max
	Want       string // its content
	// IfPresent marks a file only some kernels have (swap accounting, BFQ's weights):
	// checked where the container has it.
	IfPresent bool
	// Unless names a file that launch writes instead where it exists: the limit is not
	// checked where the container has that one (io.weight, where BFQ's io.bfq.weight
	// is what launch sets).
	Unless string
}

// DefaultLimits are the limits of a container started without limit options: 64 MiB
// of memory and no swap, 256 CPU shares (cpu.weight 35 by the formula of runc and
// crun), 64 processes, block-I/O weight 50 (io.weight 405).
var DefaultLimits = []Limit{
	{Version: 1, Controller: "memory", File: "memory.limit_in_bytes", Want: "67108864"},
	{Version: 1, Controller: "memory", File: "memory.memsw.limit_in_bytes", Want: "67108864", IfPresent: true},
	{Version: 1, Controller: "memory", File: "memory.swappiness", Want: "0"},
	{Version: 2, Controller: "memory", File: "memory.max", Want: "67108864"},
	{Version: 2, Controller: "memory", File: "memory.swap.max", Want: "0", IfPresent: true},
	{Version: 1, Controller: "cpu", File: "cpu.shares", Want: "256"},
	{Version: 2, Controller: "cpu", File: "cpu.weight", Want: "35"},
	{Version: 1, Controller: "pids", File: "pids.max", Want: "64"},
	{Version: 2, Controller: "pids", File: "pids.max", Want: "64"},
	{Version: 1, Controller: "blkio", File: "blkio.weight", Want: "50", IfPresent: true},
	{Version: 1, Controller: "blkio", File: "blkio.bfq.weight", Want: "50", IfPresent: true, Unless: "blkio.weight"},
	{Version: 2, Controller: "blkio", File: "io.bfq.weight", Want: "default 50", IfPresent: true},
	{Version: 2, Controller: "blkio", File: "io.weight", Want: "default 405", IfPresent: true, Unless: "io.bfq.weight"},
}

// checkLimits checks each limit of w whose controller is in its version's hierarchy
// on this host, as the container sees the file. At least one must be checked.
func checkLimits(r *report.Report, w *Want) (string, []string) {
	var p problems
	var seen []string
	for _, l := range w.Limits {
		dir, version, ok := w.Host.Cgroups.Dir(l.Controller)
		if !ok || version != l.Version {
			continue // the other version's file, or a controller the kernel lacks
		}
		got, present := r.Limits[dir+"/"+l.File]
		if _, instead := r.Limits[dir+"/"+l.Unless]; l.Unless != "" && instead {
			continue
		}
		switch {
		case !present && l.IfPresent:
			continue
		case !present:
			p.add("%s/%s is absent, want %q", dir, l.File, l.Want)
		case got != l.Want:
			p.add("%s/%s = %q, want %q", dir, l.File, got, l.Want)
		}
		seen = append(seen, l.File+" "+strings.ReplaceAll(got, "\n", ","))
	}
	if len(seen) == 0 {
		p.add("no limit of the container could be checked on this host (%s cgroups); it shows %v", w.Host.Cgroups.Kind(), r.Limits)
	}
	return fmt.Sprintf("%s: %s", w.Host.Cgroups.Kind(), strings.Join(seen, ", ")), p
}
