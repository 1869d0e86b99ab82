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

// Program returns the filter of the running GOARCH as the sock_fprog that seccomp(2)
// takes, with the refusals that allow names lifted. It fails on a GOARCH for which gen
// made no filter, so that such a build cannot quietly run containers unfiltered, and on
// a name that syscalls.txt does not have. A name that this GOARCH's filter lacks (a
// compat ABI it does not have) lifts nothing.
func Program(allow ...string) (*unix.SockFprog, error) {
	if len(filter) == 0 {
		return nil, errors.New("no seccomp filter was generated for GOARCH " + runtime.GOARCH)
	}
	prog := filter
	if len(allow) > 0 {
		prog = slices.Clone(filter)
		for _, name := range allow {
			if !slices.Contains(LiftNames, name) {
				return nil, errors.New("no refusal of the system-call filter is called " + name)
			}
			for _, l := range lifts {
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
