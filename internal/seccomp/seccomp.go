package seccomp

import (
	"errors"
	"runtime"

	"golang.org/x/sys/unix"
)

// Program returns the filter of the running GOARCH as the sock_fprog that seccomp(2)
// takes. It fails on a GOARCH for which gen made no filter, so that such a build cannot
// quietly run containers unfiltered.
func Program() (*unix.SockFprog, error) {
	if len(filter) == 0 {
		return nil, errors.New("no seccomp filter was generated for GOARCH " + runtime.GOARCH)
	}
	return &unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}, nil
}
