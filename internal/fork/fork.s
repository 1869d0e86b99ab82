// This file is empty on purpose: a package that declares functions without a body,
// here the runtime's fork hooks reached with go:linkname, needs an assembly file.
