// Package proc holds the child's steps on its process attributes: its parent-death
// signal, dumpability, credentials and supplementary groups, resource limits, signal
// mask, and its standard descriptors; and the go-ahead it waits for from the launcher.
package proc
