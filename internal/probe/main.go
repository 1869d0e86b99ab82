// Command probe runs inside a container and reports what it sees, for the launcher's
// tests and for make run. It is static and needs nothing from the root file system.
//
//	probe summary          the same for people: what make run prints
//	probe report           JSON: ids, hostname, capabilities, seccomp, mounts, cgroups,
//	                       descriptors, namespaces, network interfaces, limits
//	probe try OP [ARG...]  attempt one operation; print "ok" or the errno's name
//	probe signals          print the name of each signal received; exit 0 on SIGTERM
//	probe sleep SECONDS    sleep; probe exit N: exit with status N
//	probe alloc MIB        allocate and touch memory, then print "done"
//	probe spawn N          start N sleeping children; print how many started
//	probe loop CALL N      make N raw getppid or personality calls; print ns per call
//
// A Go program keeps its cgroup's CPU limit files open to size GOMAXPROCS; the two
// settings below turn that off, so that the descriptors it reports are the ones the
// launcher passed.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/probe/report"
)

// fds are the descriptors open when the probe started, before the Go runtime opened
// its own: the ones the launcher passed.
var fds = report.OpenFDs()

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe report | try OP [ARG...] | signals | sleep S | exit N | alloc MIB | spawn N | loop CALL N")
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "summary":
		summary(report.Collect(fds))
	case "report":
		out, _ := json.MarshalIndent(report.Collect(fds), "", "  ")
		fmt.Println(string(out))
	case "try":
		fmt.Println(try(args))
	case "signals":
		signals()
	case "sleep":
		s, _ := strconv.ParseFloat(arg(args, 0), 64)
		time.Sleep(time.Duration(s * float64(time.Second)))
	case "exit":
		n, _ := strconv.Atoi(arg(args, 0))
		os.Exit(n)
	case "alloc":
		alloc(arg(args, 0))
	case "spawn":
		spawn(arg(args, 0))
	case "loop":
		loop(args)
	default:
		fmt.Fprintln(os.Stderr, "probe: unknown command", os.Args[1])
		os.Exit(2)
	}
}

func arg(a []string, i int) string {
	if i < len(a) {
		return a[i]
	}
	return ""
}

func signals() {
	c := make(chan os.Signal, 16)
	for s := unix.Signal(1); s < 32; s++ {
		if s != unix.SIGKILL && s != unix.SIGSTOP && s != unix.SIGCHLD && s != unix.SIGURG && s != unix.SIGPIPE {
			signal.Notify(c, s)
		}
	}
	fmt.Println("ready")
	for s := range c {
		fmt.Println(unix.SignalName(s.(unix.Signal)))
		if s == unix.SIGTERM {
			return
		}
	}
}

func alloc(mib string) {
	n, _ := strconv.Atoi(mib)
	mem := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(j)
		}
		mem = append(mem, b)
	}
	fmt.Println("done", len(mem))
}

func spawn(ns string) {
	n, _ := strconv.Atoi(ns)
	started := 0
	var last error
	for i := 0; i < n; i++ {
		cmd := exec.Command("/proc/self/exe", "sleep", "30")
		if err := cmd.Start(); err != nil {
			last = err
			break
		}
		started++
	}
	fmt.Println("started", started, report.ErrName(last))
}
