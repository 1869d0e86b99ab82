// Command launch runs a Linux container: launch [OPTIONS] ROOTFS COMMAND [ARG...].
// See launch --help, README.md and docs/ARCHITECTURE.md.
//
// Go 1.25 sizes GOMAXPROCS from the cgroup's CPU limit and keeps the limit files open
// to follow it: the launcher would hold host cgroup descriptors (runc CVE-2024-21626
// started from one) and read them at every start for nothing. It runs one goroutine at
// a time anyway.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"launch/internal/launch"
	"launch/internal/oci"
)

// version is set at build time (-ldflags -X main.version=...).
var version = "dev"

func main() {
	// The launcher allocates well under a megabyte before its container runs: a
	// garbage collection would only cost time at start, so the collector is off until
	// the child has exec'd (launch.Run turns it on then). Three Ps, whatever the
	// number of CPUs: the launcher's goroutines (waiting for the container, serving
	// the /proc view, forwarding signals) spend their time blocked in system calls,
	// and each keeps its P meanwhile; with fewer, a request of the /proc view could
	// wait for the runtime to take a P back (up to 10 ms on a one-CPU board).
	debug.SetGCPercent(-1)
	runtime.GOMAXPROCS(3)
	os.Exit(run())
}

func run() int {
	stdio := launch.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	// runc's command line: launch as an OCI runtime (README, "OCI runtime").
	if oci.Is(os.Args[1:]) {
		return oci.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, version)
	}
	cfg, err := launch.ParseArgs(os.Args[1:])
	if err != nil {
		return launch.Report(stdio.Err, err)
	}
	switch {
	case cfg.Help:
		io.WriteString(stdio.Out, launch.Usage())
		return 0
	case cfg.Version:
		io.WriteString(stdio.Out, "launch "+version+" "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+"\n")
		return 0
	}
	// Run catches the signals it forwards from its start; before, their default
	// action ends the launcher, which has done nothing yet.
	status, err := launch.Run(cfg, stdio)
	if err != nil {
		return launch.Report(stdio.Err, err)
	}
	return status
}
