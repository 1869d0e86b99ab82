// Package conformance runs the validation suite of the OCI runtime-tools, release
// v0.9.0 (github.com/opencontainers/runtime-tools/validation), against an OCI runtime
// binary and compares two runtimes program by program.
//
// The suite is about sixty programs, one per directory of validation/, each a
// package main that drives the runtime named by $RUNTIME through runc's command line
// (create --bundle B ID, start, state, kill, delete) and prints TAP. Build compiles
// them once into a cache directory outside the repository, in a throwaway module
// whose go.mod pins what runtime-tools v0.9.0 needs: the release has no go.mod of its
// own (its Godeps pins commits the module proxy does not serve), and the newest
// runtime-spec and selinux no longer compile with it. The programs expect, in their
// working directory:
//
//   - rootfs-GOARCH.tar.gz, which util.PrepareBundle untars into each bundle (the
//     bundle is the root: root.path is "."). Build makes it from the host's static
//     busybox (Debian's busybox-static): /bin/busybox and every applet as a symlink in
//     /bin, since the programs run sh, true, ls, sleep, touch and cat in the
//     container and run the bundle's /bin/sh and /bin/false as hooks on the host;
//     plus /etc/passwd, /etc/group and the empty /proc, /sys, /dev, /root and /tmp.
//     (The module ships a rootfs-amd64.tar.gz and a rootfs-386.tar.gz of 2018 for its
//     own CI; Build makes its own, from the busybox of the machine it runs on.)
//   - runtimetest (cmd/runtimetest), which util copies into each bundle and runs as
//     the container's process (/runtimetest --path=/) to check the config from
//     inside; it must be static, so everything is built with CGO_ENABLED=0.
//
// Run runs one program the way runtime-tools' Makefile (localvalidation) does, as
// root with RUNTIME set, and adds what keeps the machine clean: a time limit (the
// whole process group is killed), a mount namespace of its own (a test that gives
// the container no mount namespace has the runtime mount in the caller's), TMPDIR in
// a directory of its own (the bundles of failed tests stay behind), a log of every
// container the program creates (a wrapper script in front of the runtime) and,
// afterwards, the removal of the containers the runtime still knows and of the
// cgroups the suite's fixed paths left (runc removes testdir/cgrouptest/container
// but not its parents). RunAll runs every program, several at once except those
// that use the fixed cgroup paths; Compare, Recheck and Table set two runtimes side
// by side. TestRuntimeTools does all that with runc and launch.
package conformance
