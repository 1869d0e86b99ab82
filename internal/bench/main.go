package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"
)

// config is what the command line asks for.
type config struct {
	out     string        // output directory
	launch  string        // a launcher to measure instead of building one
	runs    int           // measured runs per peer and measurement
	warmup  int           // runs before those, not counted
	spaced  time.Duration // time between starts in the spaced measurement; 0 skips it
	quick   bool          // a short run for development
	install bool          // apt-get install missing peers
	loops   int           // system calls per seccomp loop
}

func main() {
	// A re-executed copy of the bench runs commands in a mount namespace of its own.
	if setup, ok := os.LookupEnv(runnerEnv); ok {
		os.Exit(runnerMain(setup))
	}
	var cfg config
	flag.StringVar(&cfg.out, "out", "build/bench", "output `directory`: results.md, startup.svg, rootfs")
	flag.StringVar(&cfg.launch, "launch", "", "measure this launcher `binary` instead of running make build")
	flag.IntVar(&cfg.runs, "runs", 30, "measured runs per peer and measurement")
	flag.IntVar(&cfg.warmup, "warmup", 5, "warm-up runs per peer, not counted")
	flag.DurationVar(&cfg.spaced, "spaced", 500*time.Millisecond, "time between starts for the spaced measurement; 0 skips it")
	flag.BoolVar(&cfg.quick, "quick", false, "short run: 5 runs, 2 warm-up, no spaced starts")
	flag.BoolVar(&cfg.install, "install", true, "install missing peers with apt-get")
	flag.IntVar(&cfg.loops, "loops", 200000, "system calls per seccomp loop")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: bench [-out DIR] [-launch PATH] [-runs N] [-spaced D] [-quick]")
		os.Exit(2)
	}
	if cfg.quick {
		cfg.runs, cfg.warmup, cfg.spaced = 5, 2, 0
	}
	// Interrupted, the bench stops measuring but still removes what it created.
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	defer stop()
	if err := run(ctx, &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}
