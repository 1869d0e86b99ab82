package seccomp

import (
	"errors"
	"runtime"
	"slices"

	"golang.org/x/sys/unix"
)

// A lift is what an --allow-socket name turns off in the filter: the tests of the
// values that syscalls.txt refuses unless lifted (NAME@lift), each a jump whose true
// branch is then sent where its false branch goes, as if the value never matched.
type lift struct {
	name string
	pc   []uint16
}

// Program returns the filter for the running kernel as the sock_fprog that seccomp(2)
// takes, with the refusals that allow names lifted: the filter of the launcher's
// GOARCH, or, for a 32-bit launcher on a 64-bit kernel that runs its programs as its
// compat ABI, that kernel's filter (see Kernel). It fails on a GOARCH for which gen made
// no filter, so that such a build cannot quietly run containers unfiltered, and on a
// name that syscalls.txt does not have. A name that the filter lacks (a compat ABI it
// does not have) lifts nothing.
func Program(allow ...string) (*unix.SockFprog, error) {
	if len(filter) == 0 {
		return nil, errors.New("no seccomp filter was generated for GOARCH " + runtime.GOARCH)
	}
	base, ls := filter, lifts
	if WideKernel() {
		base, ls = wideFilter, wideLifts
	}
	prog := base
	if len(allow) > 0 {
		prog = slices.Clone(base)
		for _, name := range allow {
			if !slices.Contains(LiftNames, name) {
				return nil, errors.New("no refusal of the system-call filter is called " + name)
			}
			for _, l := range ls {
				if l.name != name {
					continue
				}
				for _, pc := range l.pc {
					prog[pc].Jt = prog[pc].Jf
				}
			}
		}
	}
	return &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}, nil
}

// WideKernel reports whether the launcher is 32-bit and runs on the 64-bit kernel that
// runs its programs as its compat ABI (x86_64 for a 386 launcher, aarch64 for arm,
// mips64 for mips): uname(2) names that kernel's machine. Its filter, which gen put
// beside the launcher's own, is then the one that fits.
func WideKernel() bool {
	return wideMachine != "" && machine() == wideMachine
}

// perLinux32 is PER_LINUX32 (linux/personality.h), which x/sys does not name: under it
// (linux32, setarch) uname(2) names the 32-bit machine a 64-bit kernel emulates.
const perLinux32 = 0x0008

// machine returns the kernel's machine as uname(2) names it under the default
// personality.
func machine() string {
	runtime.LockOSThread() // a personality is a thread's
	defer runtime.UnlockOSThread()
	// personality(0xffffffff) reads the personality without changing it.
	old, _, _ := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	if old&0xff == perLinux32 {
		unix.RawSyscall(unix.SYS_PERSONALITY, old&^0xff, 0, 0)
		defer unix.RawSyscall(unix.SYS_PERSONALITY, old, 0, 0)
	}
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Machine[:])
}
