package ns

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Exec runs COMMAND: it tries each candidate path in turn as execvp(3) would, and
// returns only if none could be executed. It reports the error that best explains
// the failure: EACCES if any candidate was found but not executable, otherwise the
// last error, and the index of the candidate it concerns. found reports whether that
// file exists although exec said ENOENT: a script whose interpreter is missing.
// Runs in the child.
//
//go:nosplit
//go:norace
func Exec(cands []*byte, argv, envv []*byte) (e unix.Errno, which int, found bool) {
	for i, path := range cands {
		// SAFETY: path, argv and envv are NUL-terminated, nil-terminated arrays the
		// parent prepared.
		_, _, err := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(path)),
			uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])))
		if e != unix.EACCES || err == unix.EACCES {
			e, which = err, i
		}
		if err == unix.ENOENT {
			_, _, ae := unix.RawSyscall6(unix.SYS_FACCESSAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(path)), unix.F_OK, 0, 0, 0)
			if ae == 0 {
				return err, i, true
			}
		}
		if err != unix.ENOENT && err != unix.EACCES && err != unix.ENOTDIR {
			return e, which, false
		}
	}
	return e, which, false
}
