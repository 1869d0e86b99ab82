// Package seccomp holds the launcher's system-call filter: one classic BPF program per
// GOARCH, compiled by gen from syscalls.txt at build time and loaded as data at run
// time. Nothing here assembles BPF: the built-in filter costs a start no compiling
// (internal/profile compiles the profiles of --seccomp=FILE at run time).
//
// The filter allows the calls syscalls.txt lists (some only with certain arguments),
// answers clone3 and numbers newer than the arch's table with ENOSYS, everything else
// with EPERM, and kills a process that calls in with a foreign audit arch.
package seccomp

//go:generate go run ../../gen -syscalls ../../syscalls.txt -out .
