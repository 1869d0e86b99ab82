// Package profile compiles seccomp profiles, as OCI bundles (linux.seccomp) and Docker
// and podman (--security-opt seccomp=FILE) write them, into a filter for the running
// kernel, when a container starts: the same compiler as the built-in filter's
// (internal/policy), over the system-call tables of the kernel's ABIs that gen writes
// from golang.org/x/sys (zabis_linux_<goarch>.go).
package profile

//go:generate go run ../../gen -abis -out .
