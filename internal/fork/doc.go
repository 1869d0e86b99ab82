// Package fork creates the container's first process.
//
// The launcher is a Go program and so multi-threaded from its first instruction, while
// namespaces, credentials, capabilities and seccomp are properties of a thread or need
// a single-threaded caller. The child is therefore made with a raw, fork-like
// clone(2) or clone3(2) carrying the namespace flags: it starts with one thread, a copy
// of the launcher's memory and the stack of the goroutine that forked. Until it execs,
// it may only run functions marked go:nosplit that make raw system calls on data the
// parent prepared: no allocation, no locks, no scheduler, no stack growth. The runtime
// hooks that bracket the fork are the ones package syscall uses for the same purpose.
//
// The packages that hold the child's steps (ns, mount, proc, tty, caps, seccomp,
// execve, initproc) follow the same rule: every function of theirs that runs in the
// child says so and is go:nosplit and go:norace.
package fork
