package profile

import (
	"sort"

	"launch/internal/policy"
	"launch/internal/seccomp"
)

// An abi is the system-call table of one ABI, as gen writes it.
type abi struct {
	goarch    string
	audit     uint32 // AUDIT_ARCH_*
	scmp      string // SCMP_ARCH_*, as profiles name it
	bigEndian bool
	maxNr     uint32 // the highest number of the regular table
	// foreignFrom, when not 0, is where another ABI's numbers start under the same
	// audit arch: x32's on x86_64.
	foreignFrom uint32
	names       []string // sorted
	nrs         []uint32 // by names
}

// nr returns the number of the call name.
func (a *abi) nr(name string) (uint32, bool) {
	i := sort.SearchStrings(a.names, name)
	if i < len(a.names) && a.names[i] == name {
		return a.nrs[i], true
	}
	return 0, false
}

// policyABI returns a as the compiler takes it.
func (a *abi) policyABI() *policy.ABI {
	nr := make(map[string]uint32, len(a.names))
	for i, n := range a.names {
		nr[n] = a.nrs[i]
	}
	pa := &policy.ABI{Name: a.goarch, AuditArch: a.audit, BigEndian: a.bigEndian, Nr: nr, MaxNr: a.maxNr}
	// x32's calls come with x86_64's audit arch and the x32 bit set in their number.
	// No profile admits x32 here (no GOARCH has its table): they are a foreign ABI's,
	// never "newer" calls a profile's default could allow.
	pa.ForeignFrom = a.foreignFrom
	return pa
}

// kernelABIs returns the ABIs of the running kernel, its native one first: the
// launcher's own GOARCH's, or, for a 32-bit launcher on the 64-bit kernel that runs it
// as its compat ABI, that kernel's (as the built-in filter, see seccomp.WideKernel).
func kernelABIs() []*abi {
	if len(wideABIs) > 0 && seccomp.WideKernel() {
		return wideABIs
	}
	return abis
}
