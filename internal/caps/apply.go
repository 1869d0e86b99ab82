package caps

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Plan is the capability state to give the child, prepared by the parent.
type Plan struct {
	keep    Set
	ambient Set
	last    int // highest capability number of the running kernel
	hdr     unix.CapUserHeader
	data    [2]unix.CapUserData // _LINUX_CAPABILITY_U32S_3: low and high 32 bits
}

// NewPlan prepares keep as the bounding set, and as the permitted and effective sets
// when COMMAND runs as root (root, false for a --user other than 0). last is the
// kernel's /proc/sys/kernel/cap_last_cap: capabilities newer than this build's table
// are dropped too.
func NewPlan(keep Set, last int, root bool) *Plan {
	p := &Plan{keep: keep, last: max(last, lastKnown), hdr: unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}}
	if root {
		p.data[0].Effective, p.data[0].Permitted = uint32(keep), uint32(keep)
		p.data[1].Effective, p.data[1].Permitted = uint32(keep>>32), uint32(keep>>32)
	}
	return p
}

// DropBounding removes every capability outside the kept set from the bounding set,
// which caps what any later execve can grant (capabilities(7): without this, a root
// COMMAND would get the full set back from exec), and clears the ambient set, so a
// non-root COMMAND inherits nothing (runc CVE-2022-29162). Needs CAP_SETPCAP, so it
// runs before the credentials change. Runs in the child.
//
//go:nosplit
//go:norace
func (p *Plan) DropBounding() unix.Errno {
	for c := 0; c <= p.last; c++ {
		if p.keep.Has(c) {
			continue
		}
		_, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0, 0)
		if e == unix.EINVAL && c > lastKnown {
			break // past the kernel's last capability
		}
		if e != 0 {
			return e
		}
	}
	// PR_CAP_AMBIENT is Linux 4.3; before that there is no ambient set to clear.
	_, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0)
	if e == unix.EINVAL {
		e = 0
	}
	return e
}

// Set sets the permitted and effective sets and empties the inheritable set. For a
// COMMAND run as root, exec then keeps exactly the bounding set; for another user,
// the kernel already emptied permitted and effective at setresuid, and exec leaves
// them empty. Runs in the child.
//
//go:nosplit
//go:norace
func (p *Plan) Set() unix.Errno {
	// SAFETY: hdr and data live in p, which the parent keeps alive.
	_, _, e := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&p.hdr)), uintptr(unsafe.Pointer(&p.data[0])), 0)
	return e
}

// NewSets prepares the five sets of a bundle's process (OCI runtime spec,
// process.capabilities): bounding is the bounding set; effective, permitted and
// inheritable are set by Set, ambient raised by RaiseAmbient. The kernel's rules hold:
// an ambient capability must be permitted and inheritable, or raising it fails.
func NewSets(bounding, effective, permitted, inheritable, ambient Set, last int) *Plan {
	p := &Plan{keep: bounding, ambient: ambient, last: max(last, lastKnown), hdr: unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}}
	p.data[0].Effective, p.data[1].Effective = uint32(effective), uint32(effective>>32)
	p.data[0].Permitted, p.data[1].Permitted = uint32(permitted), uint32(permitted>>32)
	p.data[0].Inheritable, p.data[1].Inheritable = uint32(inheritable), uint32(inheritable>>32)
	return p
}

// RaiseAmbient raises the plan's ambient capabilities, after Set. Runs in the child.
//
//go:nosplit
//go:norace
func (p *Plan) RaiseAmbient() unix.Errno {
	for c := 0; c < 64; c++ {
		if !p.ambient.Has(c) {
			continue
		}
		if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0, 0); e != 0 {
			return e
		}
	}
	return 0
}

// KeepCaps keeps the permitted set across the switch to a user other than root
// (PR_SET_KEEPCAPS), so that Set can give a bundle's non-root process its
// capabilities. The flag is cleared by the exec. Runs in the child.
//
//go:nosplit
//go:norace
func KeepCaps() unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0, 0, 0, 0)
	return e
}
