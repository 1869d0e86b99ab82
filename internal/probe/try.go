package main

import (
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/fork"
	"launch/internal/probe/report"
)

// moreOps are operations defined in other files of the probe, each registering itself
// from an init function, so that files can add operations without editing this one.
var moreOps = map[string]func(args []string) string{}

// try attempts one operation and returns "ok" or the errno's name. Each operation is
// one the container should or should not be able to do; the tests say which.
func try(a []string) string {
	if len(a) == 0 {
		return "usage: try OP [ARG...]"
	}
	if op, ok := moreOps[a[0]]; ok {
		return op(a[1:])
	}
	num := func(i int) uintptr {
		n, _ := strconv.ParseUint(arg(a, i), 0, 64)
		return uintptr(n)
	}
	raw := func(nr uintptr, args ...uintptr) string {
		var v [6]uintptr
		copy(v[:], args)
		_, _, e := unix.RawSyscall6(nr, v[0], v[1], v[2], v[3], v[4], v[5])
		return report.ErrName(errOrNil(e))
	}
	switch a[0] {
	case "mount": // mount a tmpfs on ARG
		os.MkdirAll(arg(a, 1), 0o755)
		return report.ErrName(unix.Mount("tmpfs", arg(a, 1), "tmpfs", 0, ""))
	case "umount":
		return report.ErrName(unix.Unmount(arg(a, 1), unix.MNT_DETACH))
	case "unshare": // unshare FLAGS
		return report.ErrName(unix.Unshare(int(num(1))))
	case "clone": // clone FLAGS (a child that exits at once)
		// fork.RawClone puts the flags where the arch's clone(2) takes them (second
		// on s390x): here they were once the stack there, and CLONE_NEWUSER was not asked.
		pid, e := fork.RawClone(num(1))
		if e == 0 && pid == 0 {
			unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
		}
		if e == 0 {
			var ws unix.WaitStatus
			unix.Wait4(int(pid), &ws, 0, nil)
		}
		return report.ErrName(errOrNil(e))
	case "clone3":
		return raw(unix.SYS_CLONE3, 0, 0)
	case "syscall": // syscall NR [ARGS...]
		return raw(num(1), num(2), num(3), num(4), num(5), num(6), num(7))
	case "personality":
		return raw(unix.SYS_PERSONALITY, num(1))
	case "socket":
		// socket(2) itself, whose family the filter checks: x/sys's Socket goes through
		// socketcall(2) on 386 and s390x, whose family no filter can see.
		fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, num(1), unix.SOCK_STREAM, 0)
		if e == 0 {
			unix.Close(int(fd))
		}
		return report.ErrName(errOrNil(e))
	case "socket-libc": // socket FAMILY as x/sys (and libc) make it: through socketcall(2) on 386 and s390x
		fd, err := unix.Socket(int(num(1)), unix.SOCK_STREAM, 0)
		if err == nil {
			unix.Close(fd)
		}
		return report.ErrName(err)
	case "tiocsti": // push a character into the terminal on descriptor ARG
		c := byte('\n')
		return raw(unix.SYS_IOCTL, num(1), unix.TIOCSTI, uintptr(unsafe.Pointer(&c)))
	case "write": // write PATH DATA
		f, err := os.OpenFile(arg(a, 1), os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return report.ErrName(err)
		}
		defer f.Close()
		_, err = f.WriteString(arg(a, 2))
		return report.ErrName(err)
	case "create": // create PATH
		f, err := os.OpenFile(arg(a, 1), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err == nil {
			f.Close()
		}
		return report.ErrName(err)
	case "read":
		_, err := os.ReadFile(arg(a, 1))
		return report.ErrName(err)
	case "mkdir":
		return report.ErrName(os.Mkdir(arg(a, 1), 0o755))
	}
	return "unknown operation " + a[0]
}

func errOrNil(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
