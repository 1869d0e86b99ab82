package main

import "golang.org/x/sys/unix"

// The i386 numbers of socketcall(2) and socket(2) (arch/x86/entry/syscalls/syscall_32.tbl),
// which the amd64 build of x/sys does not carry.
const (
	compatSocketcall       = 102
	compatSocket           = 359
	compatSchedGetaffinity = 242
	compatSysinfo          = 116
	map32bit               = unix.MAP_32BIT
)

// int80 makes a system call through the 32-bit ABI (int $0x80), in compat_amd64.s.
func int80(nr, a1, a2, a3 uintptr) int32

func compatSyscall(nr, a1, a2, a3 uintptr) int32 { return int80(nr, a1, a2, a3) }
