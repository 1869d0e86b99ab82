//go:build linux && (mips || mipsle || mips64 || mips64le)

package proc

// MIPS has 128 signals: _NSIG / 8 = 16.
const SigsetSize = 16
