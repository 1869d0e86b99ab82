//go:build linux && (386 || arm)

package proc

import "golang.org/x/sys/unix"

// On 386 and arm the original calls take 16-bit IDs; the *32 calls take full ones.
const (
	sysSetgroups = unix.SYS_SETGROUPS32
	sysSetresuid = unix.SYS_SETRESUID32
	sysSetresgid = unix.SYS_SETRESGID32
)
