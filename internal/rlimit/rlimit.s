// This file is empty on purpose: a package that declares a function without a body,
// here syscall.prlimit reached with go:linkname, needs an assembly file.
