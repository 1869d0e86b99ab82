// Package procview shows a container its own limits in /proc: /proc/meminfo,
// /proc/cpuinfo, /proc/stat, /proc/uptime, /proc/loadavg, /proc/swaps,
// /proc/diskstats and /sys/devices/system/cpu/online are computed from the
// container's cgroups, so that free, top, htop, uptime, iostat and nproc inside it
// see its memory, CPUs, load and disk I/O instead of the host's.
//
// The files are served over FUSE by the launcher itself, which waits for its container
// anyway: no daemon, nothing to install, and nothing that outlives the container,
// whose mount namespace holds the only mounts. Each file is a FUSE file system of its
// own, one connection, whose root is a regular file that the child mounts straight
// over the file it covers; no name is ever looked up. One goroutine serves the
// connections, with non-blocking descriptors and poll(2), once the child has exec'd.
//
// Each open reads a snapshot of the file taken at most a millisecond before, so a
// reader never sees a torn or empty file; a read from offset 0 after the first takes a
// new look. What a container can make the server hold is bounded (open files per
// file, snapshots kept), and once its buffers have grown the server allocates nothing
// per request. Nothing is done while nobody reads, but for the load average, which is
// sampled every 5 s as the kernel samples the host's (load.go). See docs/PROCVIEW.md
// for the design, how the page cache (sendfile, splice, mmap) is served, and the
// limits.
//
// x/sys has no FUSE types: the structures of linux/fuse.h used here are written out in
// fuse.go, and a test checks their sizes and offsets against the kernel's.
package procview
