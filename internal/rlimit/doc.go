// Package rlimit records the resource limits the launcher was started with, before
// the Go runtime changes them.
//
// Package syscall's init raises the soft RLIMIT_NOFILE to the hard limit
// (go.dev/issue/46279) and keeps the original to itself, for the children os/exec
// starts; the launcher starts its child with a raw clone and must restore it itself.
// This package's init reads every limit first: the Go specification initialises the
// packages of a program in the order of their import paths, each after those it
// imports, and this one imports nothing (but unsafe, for go:linkname), so "launch/..."
// comes before "syscall". It reads through syscall.prlimit, which package syscall
// keeps reachable by go:linkname for golang.org/x/sys, without importing syscall.
// TestBeforeSyscall fails if the order ever changes.
package rlimit
