package main

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"launch/internal/caps"
	"launch/internal/mountinfo"
	"launch/internal/probe/report"
)

// summary prints what a container sees, for people.
func summary(r report.Report) {
	fmt.Printf("pid %d, uid %d, gid %d, hostname %q, cwd %s\n", r.PID, r.UID, r.GID, r.Hostname, r.Cwd)
	ifs := []string{}
	for name, up := range r.Interfaces {
		state := "down"
		if up {
			state = "up"
		}
		ifs = append(ifs, name+" "+state)
	}
	sort.Strings(ifs)
	fmt.Printf("network: %s\n", strings.Join(ifs, ", "))
	eff, _ := strconv.ParseUint(r.Status["CapEff"], 16, 64)
	bnd, _ := strconv.ParseUint(r.Status["CapBnd"], 16, 64)
	fmt.Printf("capabilities (effective): %s\n", strings.Join(caps.Set(eff).Names(), " "))
	if bnd != eff {
		fmt.Printf("capabilities (bounding): %s\n", strings.Join(caps.Set(bnd).Names(), " "))
	}
	mode := map[string]string{"0": "off", "1": "strict", "2": "filter"}[r.Status["Seccomp"]]
	fmt.Printf("seccomp: %s, no_new_privs: %s\n", mode, r.Status["NoNewPrivs"])
	fmt.Println("mounts:")
	mounts, _ := mountinfo.Parse([]byte(strings.Join(r.Mounts, "\n")))
	for _, m := range mounts {
		fmt.Printf("  %-32s %-8s %s\n", m.Point, m.FSType, strings.Join(m.Options, ","))
	}
	fmt.Println("cgroup limits:")
	for _, k := range slices.Sorted(maps.Keys(r.Limits)) {
		fmt.Printf("  %-52s %s\n", k, r.Limits[k])
	}
	fmt.Printf("descriptors: %d (%s)\n", len(r.FDs), strings.Join(slices.Sorted(maps.Keys(r.FDs)), " "))
}
