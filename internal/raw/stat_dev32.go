//go:build linux && (mips64 || mips64le)

package raw

import "golang.org/x/sys/unix"

// setDev sets st's device, 32 bits wide here.
//
//go:nosplit
//go:norace
func setDev(st *unix.Stat_t, dev uint64) { st.Dev = uint32(dev) }
