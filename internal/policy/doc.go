// Package policy reads the project's policy files and compiles system-call policies
// into classic BPF seccomp programs.
//
// It has two front ends and one compiler:
//
//   - ParseSyscalls reads syscalls.txt (the format is described at the top of that
//     file) into Rules, and Syscalls.Table turns them into a Table for one ABI;
//   - ParseCaps reads caps.txt;
//   - Compile lays a Table per ABI out as one program: a check of the audit arch, then
//     per ABI a binary search over the system-call numbers, at whose leaves a call's
//     Checks test its arguments (any of In, NotIn, LT, LE, GE, GT and MaskedEQ, on the
//     low 32 bits of an argument or on all 64) and return its Action.
//
// A Table is plain data: an ABI (names and numbers of the calls, audit arch, byte order,
// constants) and what each call gets. gen fills ABIs from golang.org/x/sys/unix's tables
// for every GOARCH at build time; a front end for OCI seccomp profiles would fill a Table
// from JSON and call the same Compile at run time. Nothing here loads packages or
// depends on the machine it runs on.
//
// BPF is assembled with github.com/elastic/go-seccomp-bpf's label assembler, which
// resolves the forward jumps and inserts long jumps where a tree outgrows 255
// instructions.
package policy
