//go:build !amd64

package main

import "golang.org/x/sys/unix"

const (
	compatSocketcall       = 0
	compatSocket           = 0
	compatSchedGetaffinity = 0
	compatSysinfo          = 0
	map32bit               = 0
)

// compatSyscall answers ENOSYS: the probe makes 32-bit calls on amd64 only.
func compatSyscall(nr, a1, a2, a3 uintptr) int32 { return -int32(unix.ENOSYS) }
