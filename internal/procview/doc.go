// Package procview shows a container its own limits in /proc: /proc/meminfo,
// /proc/cpuinfo, /proc/stat, /proc/uptime and /sys/devices/system/cpu/online are
// computed from the container's cgroups, so that free, top, htop and nproc inside it
// see its memory and CPUs instead of the host's.
//
// The files are served by a small FUSE file system whose server is the launcher
// itself, which waits for its container anyway: no daemon, nothing to install, and
// nothing that outlives the container, whose mount namespace holds the only mounts.
// The child mounts the file system read-only on a scratch directory of its /dev,
// bind-mounts each file over the real one, and detaches the scratch mount. Every
// open computes the file anew (at most once per millisecond), and reads are served
// from that snapshot, so a reader never sees a torn or empty file. Nothing is done
// while nobody reads. See docs/PROCVIEW.md for the design and its limits.
//
// x/sys has no FUSE types: the few structures of linux/fuse.h used here are written
// out in fuse.go, with their sizes checked by a test.
package procview
