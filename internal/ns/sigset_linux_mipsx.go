//go:build linux && (mips || mipsle || mips64 || mips64le)

package ns

// MIPS has 128 signals: _NSIG / 8 = 16.
const sigsetSize = 16
