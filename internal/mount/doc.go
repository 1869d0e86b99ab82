// Package mount builds the container's file-system view: it prepares, in the parent,
// each mount and device node as data, and carries them out in the child with raw
// system calls (see package ns for what the child may and may not do).
//
// ROOTFS is hostile. A mount target is never a joined path string: it is opened inside
// the root with openat2(2) and RESOLVE_IN_ROOT (symlinks resolve as if ROOTFS were /,
// so they cannot leave it) or, for the standard points /proc, /dev, /sys and /tmp,
// RESOLVE_NO_SYMLINKS (a symlink there is refused), always with RESOLVE_NO_MAGICLINKS.
// The mount then lands on the opened file through /proc/self/fd/N. On kernels without
// openat2 (before 5.6) the path is walked one component at a time with O_NOFOLLOW and
// any symlink is refused. See runc CVE-2019-19921, CVE-2021-30465 and CVE-2024-45310
// for what joining paths leads to.
package mount
