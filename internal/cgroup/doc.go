// Package cgroup gives each container cgroups of its own, with the seed's limits, on
// cgroup v1, v2 and the hybrid of both, and removes them when the container ends.
//
// The layout is read from /proc/self/mountinfo and /proc/self/cgroup, never assumed.
// A container's cgroups are made below the launcher's own cgroup in each hierarchy
// (on v2, below the nearest ancestor that can hand controllers down, the launcher's
// own cgroup being busy with the launcher), named launch-<pid>-<start time> after the
// launcher, so that concurrent launches cannot collide and a later launch can tell
// which were left by a launcher that no longer exists.
//
// The child joins them itself, before its cgroup namespace is made: on v2 by starting
// inside with clone3(CLONE_INTO_CGROUP), on v1 by writing 0 to each tasks file, which
// moves only the calling thread and so avoids the RCU grace period that a write to
// cgroup.procs waits for. The launcher never joins, so nothing of it is charged to
// the container.
package cgroup
