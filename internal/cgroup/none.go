package cgroup

// None is the container's cgroups when it has none of its own: an unprivileged
// caller's container on a host that delegates no cgroup to it. It limits nothing
// and removes nothing.
func None(l *Layout) *Cgroups {
	return &Cgroups{Layout: l, v2Dir: -1, v2Procs: -1}
}
