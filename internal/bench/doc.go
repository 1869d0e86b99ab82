// Command bench measures launch against its peers on this machine, in one run, and
// writes build/bench/results.md and build/bench/startup.svg (issue 6). Run it as root
// from the repository:
//
//	go run ./internal/bench -out build/bench          # about 5 minutes
//	go run ./internal/bench -quick                     # 5 runs, no spaced starts
//
// It builds build/launch (make build), a busybox root file system with the probe and a
// tiny static payload under OUT/rootfs, installs the peers it lacks with apt-get
// (bubblewrap, crun, runc, busybox-static), and generates the OCI bundles runc and crun
// run, Docker-like: the 14 capabilities of caps.txt, a seccomp profile made from
// syscalls.txt, the same namespaces, masked paths and cgroup limits as launch.
//
// The peers: launch with its defaults; the floor, unshare(1) and chroot(1), which set up
// almost nothing; bwrap with the closest flags it has; runc; crun. Every measurement is
// interleaved: each round starts every peer once, in an order that rotates from round to
// round, so that a change in the machine's state (another process, the page cache, a
// CPU frequency) falls on all of them alike. Wall time is start to exit as the bench
// sees it; CPU time is user+sys of the whole process tree, from wait4's rusage.
//
// Two measurements need a mount namespace of their own: host mounts for the scaling
// test, and crun, which refuses the hybrid cgroup layout while the empty cgroup2 is
// mounted. For them the bench re-executes itself in a new, private mount namespace
// (selected by the LAUNCH_BENCH_RUNNER environment variable) and sends it the commands
// to run; the host's mount table is never touched, and the namespace disappears with
// the runner.
//
// The bench never fails on a timing: a target that is missed is reported as missed, a
// peer that cannot run is reported with its error. It exits non-zero only when it
// cannot run at all (not root, launch does not build, no busybox). It is not part of
// make test. Everything it creates is under OUT or in temporary directories it removes;
// it deletes every runc and crun container it created by its id, and checks that no
// cgroup of its runs is left.
package main
