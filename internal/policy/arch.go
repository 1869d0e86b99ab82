package policy

import "golang.org/x/sys/unix"

// An ABI is one system-call ABI a filter can be asked about: the native one of a GOARCH,
// or a compat one that the same kernel also runs (i386 programs on amd64, for instance).
// It is plain data, filled by whoever knows the arch's tables.
type ABI struct {
	Name      string            // GOARCH whose tables describe it, for messages
	AuditArch uint32            // AUDIT_ARCH_* that seccomp_data.arch holds for it
	BigEndian bool              // byte order of seccomp_data's 64-bit argument words
	Nr        map[string]uint32 // system-call name -> number
	MaxNr     uint32            // highest number of the regular table
	Consts    map[string]uint64 // constants that syscalls.txt may name (AF_*, CLONE_*, TIOC*, ...)
	// ForeignFrom, when not 0, is where the numbers of another ABI under the same audit
	// arch start (x32's on x86_64, __X32_SYSCALL_BIT): they get the table's Other,
	// whatever its Newer.
	ForeignFrom uint32
}

// An Arch is a Linux GOARCH as a target of a filter: the audit arch of its native ABI
// and the compat ABIs its kernel also runs.
type Arch struct {
	GOARCH    string
	AuditArch uint32   // AUDIT_ARCH_* of the native ABI
	AuditName string   // the name of that constant, for generated code
	SCMPName  string   // libseccomp's name of the ABI (SCMP_ARCH_*), as OCI profiles write it
	BigEndian bool     // byte order of the arch
	Compat    []string // GOARCHes of the compat ABIs the filter admits beside the native one
}

// Arches lists every Linux GOARCH of the Go toolchain (go tool dist list), each with the
// compat ABIs that Docker's profile also admits for it. The n32 ABI of mips64 has no
// table in x/sys, so its calls meet the foreign-arch rule. The audit arch values are
// the same on every GOARCH, so the building machine's x/sys serves.
var Arches = []Arch{
	{"386", unix.AUDIT_ARCH_I386, "AUDIT_ARCH_I386", "SCMP_ARCH_X86", false, nil},
	{"amd64", unix.AUDIT_ARCH_X86_64, "AUDIT_ARCH_X86_64", "SCMP_ARCH_X86_64", false, []string{"386"}},
	{"arm", unix.AUDIT_ARCH_ARM, "AUDIT_ARCH_ARM", "SCMP_ARCH_ARM", false, nil},
	{"arm64", unix.AUDIT_ARCH_AARCH64, "AUDIT_ARCH_AARCH64", "SCMP_ARCH_AARCH64", false, []string{"arm"}},
	{"loong64", unix.AUDIT_ARCH_LOONGARCH64, "AUDIT_ARCH_LOONGARCH64", "SCMP_ARCH_LOONGARCH64", false, nil},
	{"mips", unix.AUDIT_ARCH_MIPS, "AUDIT_ARCH_MIPS", "SCMP_ARCH_MIPS", true, nil},
	{"mips64", unix.AUDIT_ARCH_MIPS64, "AUDIT_ARCH_MIPS64", "SCMP_ARCH_MIPS64", true, []string{"mips"}},
	{"mips64le", unix.AUDIT_ARCH_MIPSEL64, "AUDIT_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64", false, []string{"mipsle"}},
	{"mipsle", unix.AUDIT_ARCH_MIPSEL, "AUDIT_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL", false, nil},
	{"ppc64", unix.AUDIT_ARCH_PPC64, "AUDIT_ARCH_PPC64", "SCMP_ARCH_PPC64", true, nil},
	{"ppc64le", unix.AUDIT_ARCH_PPC64LE, "AUDIT_ARCH_PPC64LE", "SCMP_ARCH_PPC64LE", false, nil},
	{"riscv64", unix.AUDIT_ARCH_RISCV64, "AUDIT_ARCH_RISCV64", "SCMP_ARCH_RISCV64", false, nil},
	{"s390x", unix.AUDIT_ARCH_S390X, "AUDIT_ARCH_S390X", "SCMP_ARCH_S390X", true, nil},
}

// LookupArch returns the entry of Arches for goarch.
func LookupArch(goarch string) (Arch, bool) {
	for _, a := range Arches {
		if a.GOARCH == goarch {
			return a, true
		}
	}
	return Arch{}, false
}

// errno returns the errno called name (ENOSYS) on a's arch, whose numbers may differ
// from those of the machine compiling the filter (MIPS's ENOSYS is 89, not 38): from
// a's constants, or fallback where a has none (tables made by hand in tests).
func (a *ABI) errno(name string, fallback unix.Errno) unix.Errno {
	if v, ok := a.Consts[name]; ok {
		return unix.Errno(v)
	}
	return fallback
}
