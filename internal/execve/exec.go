package execve

import (
	"unsafe"

	"launch/internal/raw"

	"golang.org/x/sys/unix"
)

// BinprmBuf is how much of a file the kernel reads to find its #! line
// (BINPRM_BUF_SIZE, include/uapi/linux/binfmts.h).
const BinprmBuf = 256

// maxInterp is how deep #! lines may nest: the kernel gives up past four interpreters
// (fs/exec.c, search_binary_handler).
const maxInterp = 5

// ExecScratch is the memory Exec works in. The parent allocates it; the child writes
// to its own copy.
type ExecScratch struct {
	buf  [BinprmBuf]byte
	path [32]byte
	st   unix.Stat_t
}

// Exec runs COMMAND: it tries each candidate path in turn as execvp(3) would, and
// returns only if none could be executed. Before each execve it follows the
// candidate's #! lines itself (see checkChain) and refuses, with ELOOP, a program or
// interpreter that is reached through a /proc magic link. It reports the error that
// best explains the failure: EACCES if any candidate was found but not executable,
// otherwise the last error, and the index of the candidate it concerns. found reports
// whether that file exists although exec said ENOENT or ENOTDIR: a script whose
// interpreter, or a program whose loader, is missing. Runs in the child.
//
//go:nosplit
//go:norace
func Exec(cands []*byte, argv, envv []*byte, sc *ExecScratch) (e unix.Errno, which int, found bool) {
	for i, path := range cands {
		err := checkChain(path, sc)
		if err == 0 {
			// SAFETY: path, argv and envv are NUL-terminated, nil-terminated arrays the
			// parent prepared.
			_, _, err = unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(path)),
				uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])))
		}
		if e != unix.EACCES || err == unix.EACCES {
			e, which = err, i
		}
		if err == unix.ENOENT || err == unix.ENOTDIR {
			_, _, ae := unix.RawSyscall6(unix.SYS_FACCESSAT, uintptr(raw.AtFDCWD), uintptr(unsafe.Pointer(path)), unix.F_OK, 0, 0, 0)
			if ae == 0 {
				return err, i, true
			}
		}
		if err != unix.ENOENT && err != unix.EACCES && err != unix.ENOTDIR {
			return err, i, false
		}
	}
	return e, which, false
}

// checkChain opens path, inside the root, as execve(2) would but refusing /proc magic
// links (RESOLVE_NO_MAGICLINKS), and, if it starts with #!, does the same with its
// interpreter, and so on. Until COMMAND's image replaces the child's, /proc/self/exe
// and /proc/self/fd/N are the launcher's: they must not be how COMMAND is found. What
// it cannot read (a file only executable, by a --user) or cannot see (a kernel without
// openat2) it leaves to execve, and to the Landlock rule of ExecBeneathRoot. It returns
// 0, ELOOP for a magic link or too deep a chain, or what opening a missing file gave.
// A bundle's seccomp profile that refuses openat2 (EPERM) is as a kernel without it.
//
//go:nosplit
//go:norace
func checkChain(path *byte, sc *ExecScratch) unix.Errno {
	p := path
	for depth := 0; depth < maxInterp; depth++ {
		how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_MAGICLINKS}
		// SAFETY: p is NUL-terminated: prepared by the parent, or in sc.buf; how is on
		// this stack.
		fd, e := raw.Openat2(raw.AtFDCWD, p, &how)
		switch {
		case e == unix.ENOSYS || e == unix.EPERM:
			// No openat2, or a bundle's seccomp profile refuses it (openat2 never
			// answers EPERM itself).
			return 0
		case e != 0:
			return e
		}
		n, e := readHead(fd, sc)
		raw.Close(fd)
		if e != 0 || n < 2 || sc.buf[0] != '#' || sc.buf[1] != '!' {
			return 0 // not a script, or not for launch to read: execve decides
		}
		// The kernel's reading of the line (fs/binfmt_script.c): blanks, then the
		// interpreter up to a blank or the end of the line.
		i := 2
		for i < n && (sc.buf[i] == ' ' || sc.buf[i] == '\t') {
			i++
		}
		start := i
		for i < n && sc.buf[i] != ' ' && sc.buf[i] != '\t' && sc.buf[i] != '\n' && sc.buf[i] != 0 {
			i++
		}
		if i == start || i >= n {
			return 0 // no interpreter, or a line longer than the kernel reads: ENOEXEC
		}
		sc.buf[i] = 0
		p = &sc.buf[start]
	}
	return unix.ELOOP
}

// readHead reads the first BinprmBuf bytes of the regular file fd (O_PATH) names into
// sc.buf, through /proc/self/fd/FD: the same file, reopened for reading. Anything but
// a regular file, or one the child may not read, gives an error.
//
//go:nosplit
//go:norace
func readHead(fd int, sc *ExecScratch) (int, unix.Errno) {
	// SAFETY: sc is the child's own scratch memory.
	if e := raw.Fstat(fd, &sc.st); e != 0 {
		return 0, e
	}
	if sc.st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, unix.EACCES
	}
	p := raw.FdPath(&sc.path, fd)
	r, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(raw.AtFDCWD), uintptr(unsafe.Pointer(p)),
		unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, r, uintptr(unsafe.Pointer(&sc.buf[0])), BinprmBuf)
	unix.RawSyscall(unix.SYS_CLOSE, r, 0, 0)
	return int(n), e
}

// Chdir changes to dir, a path in the container, refusing /proc magic links on the way
// (see checkChain: /proc/self/fd/N of the launcher must not become COMMAND's working
// directory). Runs in the child.
//
//go:nosplit
//go:norace
func Chdir(dir *byte) unix.Errno {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_MAGICLINKS}
	// SAFETY: dir is prepared by the parent; how is on this stack.
	fd, e := raw.Openat2(raw.AtFDCWD, dir, &how)
	if e == unix.ENOSYS {
		_, _, e = unix.RawSyscall(unix.SYS_CHDIR, uintptr(unsafe.Pointer(dir)), 0, 0)
		return e
	}
	if e != 0 {
		return e
	}
	_, _, e = unix.RawSyscall(unix.SYS_FCHDIR, uintptr(fd), 0, 0)
	raw.Close(fd)
	return e
}
