//go:build linux && !(mips || mipsle || mips64 || mips64le)

package proc

// SigsetSize is the kernel's sizeof(sigset_t) (_NSIG / 8), which rt_sigprocmask and
// rt_sigtimedwait insist on; unix.Sigset_t is libc's, far larger. The kernel reads
// only the first SigsetSize bytes, which have the same layout in both.
const SigsetSize = 8
