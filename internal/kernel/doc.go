// Package kernel finds out what the running kernel offers that launch relies on,
// before anything is set up, so that a missing feature is named instead of showing
// up as an errno from some step: namespace types, seccomp filtering, openat2(2),
// clone3(2). Embedded kernels are often built without some of them.
//
// Decisions: a missing namespace type, or seccomp filtering when the filter is wanted,
// is an error (exit 125); a missing openat2 or clone3 is a degradation that -v notes.
// Missing cgroup controllers are package cgroup's business.
package kernel
