// Command vminit is PID 1 of the virtual machines that make test-vm boots (see
// internal/vmtest): a small static init that turns a bare kernel and its initramfs
// into an embedded-like host and checks the release binary there.
//
// The initramfs holds /init (this program), /launch (the release binary of the
// machine's arch), /launch32 (that of the 32-bit arch its kernel also runs: arm on
// arm64, 386 on amd64), /SHA256SUMS (the release's) and /rootfs, the container's root
// file system: a static busybox of the arch, the project's probe at /probe and the
// probe of the 32-bit arch at /probe32. vminit
// mounts /proc, /sys, devtmpfs on /dev and cgroup2 on /sys/fs/cgroup (pure cgroup v2:
// no v1 hierarchy is mounted), then:
//
//  1. with / still the initramfs, where pivot_root(2) fails with EINVAL, checks the
//     binary against SHA256SUMS and runs launch -v once: the container must start
//     (launch moves its root with MS_MOVE and chroot and says so) and must answer
//     every operation of the expectation table as any container must (mount, umount,
//     pivot_root, unshare, setns and user namespaces refused, clone3 ENOSYS, no
//     climbing out of a chroot); then runs every check of that table on a container
//     started there, with CAP_SYS_CHROOT dropped;
//  2. does what a board's init does once its root file system is ready (switch_root
//     onto a tmpfs copy of the files above) and runs, from inside containers, the same
//     checks: every one of the expectation table (internal/probe/expect), which the
//     integration tests in init/ run on the development machine (PID 1 and the
//     namespaces, hostname, network, mounts and their flags, /dev, masked and
//     read-only paths, capabilities, seccomp, descriptors, environment, identity,
//     session, the cgroup v2 limits and namespace), the table's operations, and the
//     memory-limit kill; after every run, that no launch-* cgroup is left; then
//     runs /launch32 as a 32-bit userland on this 64-bit kernel would: it must load
//     the kernel's filter, under which the root's 64-bit programs and /probe32 run,
//     filtered (wide-* checks);
//  3. starts the launcher as a service manager does, in a cgroup of its own with
//     memory.max 100M (alone, in the leaf launchers move into, and with another
//     process), and with --cgroup-parent: the container's cgroup is below that cgroup,
//     its 100M hold (a 200M allocation is killed), and no cgroup.subtree_control above
//     it changes; and reports what the launcher's move costs (delegate.go).
//
// Each check is one console line, "CHECK <name> PASS|FAIL <detail>", followed at the
// end by "RESULT PASS" or "RESULT FAIL <n>"; then the machine powers off. Every wait
// is bounded: each launch run by runTimeout, the whole by vminit.timeout=SECONDS on the
// kernel command line, after which vminit reports "RESULT FAIL" and powers off anyway.
package main
