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
// almost nothing; bwrap with the closest flags it has; runc; crun. With a user
// namespace: launch --userns auto as root, and launch and bwrap (--unshare-user) run
// by an ordinary user, a uid and gid no account has, which the bench sets between fork
// and exec (unpriv.go); where that user cannot reach the launcher or the root file
// system, it runs copies in a temporary directory. Every measurement is
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
// Container engines (issue 15): podman and containerd run /bin/true (`podman run --rm`,
// `ctr run --rm`) from the root file system imported as an image, as the engines' tests
// import it, each with runc and with launch as its OCI runtime; the four are
// interleaved in rounds of their own, fewer than the peers' (at most 15, 3 with
// -quick), as an engine's run takes up to a second. The report sets each engine's
// median against the runtimes' own `run` of the startup table: the engine's overhead,
// and the runtime's share of the engine's time. podman's storage and containerd's root,
// state and socket are in a temporary directory; containerd is started by the bench and
// stopped by its PID, leftover containers are removed, and the directory and the
// containers' cgroups go at the end of the measurement, also when it is interrupted.
// Without podman or containerd installed, the report says so.
//
// The bench never fails on a timing: a target that is missed is reported as missed, a
// peer that cannot run is reported with its error. It exits non-zero only when it
// cannot run at all (not root, launch does not build, no busybox). It is not part of
// make test. Everything it creates is under OUT or in temporary directories it removes;
// it deletes every runc and crun container it created by its id, and checks that no
// cgroup of its runs is left.
package main
