package tty

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The functions in this file run in the child, between fork and exec (see package fork).

// Setsid starts a new session without a controlling terminal, so that COMMAND cannot
// push input into the caller's terminal with TIOCSTI (bubblewrap CVE-2017-5226).
//
//go:nosplit
//go:norace
func Setsid() unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_SETSID, 0, 0, 0)
	return e
}

// Foreground puts the child in a process group of its own and makes it the
// terminal's foreground group, as a shell does for a job: keystrokes such as Ctrl-C
// and Ctrl-Z then signal the container and not the launcher. It must run while
// signals are still blocked (before AfterForkInChild): a background process that
// sets the foreground group is sent SIGTTOU unless that signal is blocked.
//
//go:nosplit
//go:norace
func Foreground(tty int) unix.Errno {
	if _, _, e := unix.RawSyscall(unix.SYS_SETPGID, 0, 0, 0); e != 0 {
		return e
	}
	pid, _, _ := unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
	pgrp := int32(pid)
	// SAFETY: pgrp is on this stack for the duration of the call.
	_, _, e := unix.RawSyscall(unix.SYS_IOCTL, uintptr(tty), unix.TIOCSPGRP, uintptr(unsafe.Pointer(&pgrp)))
	return e
}
