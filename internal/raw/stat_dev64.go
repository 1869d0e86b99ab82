//go:build linux && loong64

package raw

import "golang.org/x/sys/unix"

// setDev sets st's device.
//
//go:nosplit
//go:norace
func setDev(st *unix.Stat_t, dev uint64) { st.Dev = dev }
