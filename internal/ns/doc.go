// Package ns holds the child's steps on its namespaces: the cgroup namespace made after
// the child has joined its cgroups, the UTS namespace's hostname, the network
// namespace's loopback. The namespaces themselves come with the clone (package fork).
package ns
