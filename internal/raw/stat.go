package raw

// The child's fstat(2) and fstatfs(2): the system call that fills unix.Stat_t and
// unix.Statfs_t as laid out on the running GOARCH. SYS_FSTAT fills the kernel's
// struct stat, which is unix.Stat_t only on the 64-bit arches that have it: the
// 32-bit ones lay out unix.Stat_t as struct stat64 (SYS_FSTAT64, and statfs64 for
// Statfs_t), and mips64 and loong64 have no struct stat that matches (x/sys converts,
// or uses statx(2)). A raw SYS_FSTAT there filled the wrong fields, and every mount the
// child checked by device and inode seemed to be another (ESTALE) on 386, arm and mips.
