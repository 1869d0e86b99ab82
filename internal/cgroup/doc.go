// Package cgroup gives each container cgroups of its own, with the seed's limits, on
// cgroup v1, v2 and the hybrid of both, and removes them when the container ends.
//
// The layout is read from /proc/self/mountinfo and /proc/self/cgroup, never assumed.
// A container's cgroups are made below the launcher's own cgroup in each hierarchy, or
// below the cgroup --cgroup-parent names, and never elsewhere: the caller's limits
// bound the container. They are named launch-<pid>-<start time>-<PID namespace> after
// the launcher, so that concurrent launches cannot collide, in one PID namespace or
// several.
//
// On cgroup v2 a cgroup with processes cannot hand controllers down, the root
// excepted, and the launcher's own cgroup holds the launcher. Where the launcher is
// alone in it, it moves into <own>/launch-supervisor and enables the controllers on
// its own cgroup; a launcher started in that leaf has nothing to move. Where other
// processes share its cgroup, launch moves none of them: the container's cgroup goes
// there without controllers, bound by the caller's limits (delegate.go). launch writes
// cgroup.subtree_control of that one cgroup only, never of one above it.
//
// The child joins its cgroups itself, before its cgroup namespace is made: on v2 by
// starting inside with clone3(CLONE_INTO_CGROUP), on v1 by writing 0 to each tasks
// file, which moves only the calling thread and so avoids the RCU grace period that a
// write to cgroup.procs waits for. Nothing of the launcher is charged to the container.
//
// The launcher holds a lock on each cgroup it made until it has removed it, and the
// GC removes only cgroups that no launcher holds and no process is in, never killing
// anything (lock.go, gc.go): true in every PID namespace, as neither pids nor /proc
// come into it.
package cgroup
