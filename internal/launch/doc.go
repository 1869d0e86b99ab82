// Package launch runs a container: it parses the command line into a Config, prepares
// every step of the container's setup as data, starts the child that carries the steps
// out with raw system calls and execs COMMAND, then supervises it: it forwards
// signals, keeps the terminal's job control working, waits, and cleans up.
//
// setup.go holds the steps in order; docs/ARCHITECTURE.md explains the order.
package launch
