// Command gen compiles the project's policy files into Go tables: syscalls.txt into one
// seccomp BPF program per GOARCH, caps.txt into a capability mask, and writes the
// system-call numbers by name that seccomp profiles are compiled with at run time. It is
// run by go generate (see internal/seccomp/doc.go, internal/caps/doc.go and
// internal/profile/doc.go):
//
//	gen -syscalls FILE -out DIR   writes DIR/zfilter_linux_<goarch>.go for every target
//	gen -caps FILE -out DIR       writes DIR/zcaps.go
//	gen -abis -out DIR            writes DIR/zabis_linux_<goarch>.go for every target
//	-v                            reports per-arch skips and filter sizes on stderr
//
// System-call numbers and constants come from golang.org/x/sys/unix, read for each
// GOARCH by gen/xsys; internal/policy parses the two files and compiles the filters.
// gen only writes the results as Go: the launcher loads the generated
// []unix.SockFilter as data and links no compiler.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/google/renameio/v2"

	"launch/gen/xsys"
	"launch/internal/policy"
)

func main() {
	syscallsFile := flag.String("syscalls", "", "generate seccomp filters from this `file`")
	capsFile := flag.String("caps", "", "generate the capability table from this `file`")
	abis := flag.Bool("abis", false, "generate the system-call tables by name of every target")
	out := flag.String("out", ".", "write generated files into this `directory`")
	verbose := flag.Bool("v", false, "report per-arch skips and filter sizes")
	flag.Parse()
	modes := 0
	for _, on := range []bool{*syscallsFile != "", *capsFile != "", *abis} {
		if on {
			modes++
		}
	}
	if flag.NArg() > 0 || modes != 1 {
		fmt.Fprintln(os.Stderr, "usage: gen (-syscalls FILE | -caps FILE | -abis) [-out DIR] [-v]")
		os.Exit(2)
	}
	var log io.Writer = io.Discard
	if *verbose {
		log = os.Stderr
	}
	var (
		files map[string][]byte
		err   error
	)
	switch {
	case *syscallsFile != "":
		files, err = genSeccompFile(*syscallsFile, log)
	case *capsFile != "":
		files, err = genCapsFile(*capsFile)
	default:
		var t *tables
		if t, err = loadTables(allGoarches()); err == nil {
			files, err = genABIs(t)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := renameio.WriteFile(filepath.Join(*out, name), files[name], 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}

func genSeccompFile(path string, log io.Writer) (map[string][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := policy.ParseSyscalls(filepath.Base(path), data)
	if err != nil {
		return nil, err
	}
	t, err := loadTables(allGoarches())
	if err != nil {
		return nil, err
	}
	return genSeccomp(s, t, log)
}

func genCapsFile(path string) (map[string][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// Capability numbers are the same on every GOARCH; amd64's tables serve for all,
	// so the output does not depend on the machine running gen.
	t, err := loadTables([]string{"amd64"})
	if err != nil {
		return nil, err
	}
	return genCaps(filepath.Base(path), data, t)
}

// tables holds what x/sys says about each GOARCH, and the versions it came from.
type tables struct {
	abis     map[string]*policy.ABI
	versions map[string]string // module path -> version, for the generated header
}

func loadTables(goarches []string) (*tables, error) {
	abis, err := xsys.LoadABIs(goarches...)
	if err != nil {
		return nil, err
	}
	versions, err := xsys.ModuleVersions("golang.org/x/sys/unix", "github.com/elastic/go-seccomp-bpf")
	if err != nil {
		return nil, err
	}
	return &tables{abis: abis, versions: versions}, nil
}

func allGoarches() []string {
	var out []string
	for _, a := range policy.Arches {
		out = append(out, a.GOARCH)
	}
	return out
}

// wideKernels are, for each GOARCH that a 64-bit kernel also runs as its compat ABI,
// that kernel's GOARCH and the machine uname(2) names for it. A 32-bit launcher on such
// a kernel (a 32-bit userland on a 64-bit kernel, as Raspberry Pi OS ships) loads that
// kernel's filter, whose native and compat ABIs cover the 64-bit and the 32-bit
// programs of a root alike; its own would kill every 64-bit one.
var wideKernels = map[string]struct{ goarch, machine string }{
	"386":    {"amd64", "x86_64"},
	"arm":    {"arm64", "aarch64"},
	"mips":   {"mips64", "mips64"},
	"mipsle": {"mips64le", "mips64"},
}

// filter is one target's compiled filter and what the comment above it says.
type filter struct {
	arch  policy.Arch
	prog  *policy.Program
	stats []abiStats // the native ABI, then the compat ones
}

// abiStats describes one ABI of a filter.
type abiStats struct {
	abi      *policy.ABI
	allowed  int      // calls allowed, unconditionally or by argument
	cond     int      // calls allowed by argument
	skipped  []string // names of syscalls.txt that the ABI lacks
	segments int
	maxPath  int // instructions on the longest path, arch check included
}

// auditName is the name of the AUDIT_ARCH_* constant of a's GOARCH.
func (s *abiStats) auditName() string {
	arch, _ := policy.LookupArch(s.abi.Name)
	return arch.AuditName
}

// compile builds the filter of every target from s.
func compile(s *policy.Syscalls, t *tables) ([]filter, error) {
	if err := s.CheckNames(t.abis); err != nil {
		return nil, err
	}
	var out []filter
	for _, arch := range policy.Arches {
		f := filter{arch: arch}
		var tabs []policy.Table
		for i, ga := range append([]string{arch.GOARCH}, arch.Compat...) {
			tab, skipped, err := s.Table(t.abis[ga], i > 0)
			if err != nil {
				return nil, err
			}
			st := abiStats{abi: tab.ABI, skipped: skipped}
			for _, c := range tab.Calls {
				if c.Action == policy.Allow || len(c.Checks) > 0 {
					st.allowed++
				}
				if len(c.Checks) > 0 {
					st.cond++
				}
			}
			tabs, f.stats = append(tabs, tab), append(f.stats, st)
		}
		prog, err := policy.CompileWith(newLibraryLeaf, tabs, policy.KillProcess)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", arch.GOARCH, err)
		}
		for i, l := range prog.ABIs {
			f.stats[i].segments, f.stats[i].maxPath = l.Segments, l.MaxPath
		}
		f.prog = prog
		out = append(out, f)
	}
	return out, nil
}

func genSeccomp(s *policy.Syscalls, t *tables, log io.Writer) (map[string][]byte, error) {
	filters, err := compile(s, t)
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte)
	names := make(map[string]bool)
	byArch := make(map[string]*filter)
	for i := range filters {
		byArch[filters[i].arch.GOARCH] = &filters[i]
	}
	for _, f := range filters {
		for _, st := range f.stats {
			fmt.Fprintf(log, "gen: %-8s %-22s %3d allowed (%d by argument), %3d segments, worst case %2d instructions\n",
				f.arch.GOARCH, st.auditName(), st.allowed, st.cond, st.segments, st.maxPath)
			if len(st.skipped) > 0 && st.abi.Name == f.arch.GOARCH {
				fmt.Fprintf(log, "gen: %-8s skipped, not in its table: %v\n", f.arch.GOARCH, st.skipped)
			}
		}
		var wide *filter
		k, ok := wideKernels[f.arch.GOARCH]
		if ok {
			if wide = byArch[k.goarch]; wide == nil {
				return nil, fmt.Errorf("%s: no filter of its 64-bit kernel's GOARCH %s", f.arch.GOARCH, k.goarch)
			}
		}
		src, err := emitFilter(t, f, wide, k.machine)
		if err != nil {
			return nil, fmt.Errorf("%s: format: %w", f.arch.GOARCH, err)
		}
		files["zfilter_linux_"+f.arch.GOARCH+".go"] = src
		for name := range f.prog.Lifts {
			names[name] = true
		}
	}
	src, err := emitUnsupported(t)
	if err != nil {
		return nil, err
	}
	files["zfilter_linux_other.go"] = src
	if src, err = emitLiftNames(t, names); err != nil {
		return nil, err
	}
	files["zlifts.go"] = src
	return files, nil
}

func genCaps(file string, data []byte, t *tables) (map[string][]byte, error) {
	consts := t.abis["amd64"].Consts
	keep, err := policy.ParseCaps(file, data, consts)
	if err != nil {
		return nil, err
	}
	src, err := emitCaps(t, keep, policy.AllCaps(consts), consts["CAP_LAST_CAP"])
	if err != nil {
		return nil, err
	}
	return map[string][]byte{"zcaps.go": src}, nil
}

func genABIs(t *tables) (map[string][]byte, error) {
	files := make(map[string][]byte)
	for _, arch := range policy.Arches {
		src, err := emitABIs(t, arch, wideKernels[arch.GOARCH].goarch)
		if err != nil {
			return nil, fmt.Errorf("%s: format: %w", arch.GOARCH, err)
		}
		files["zabis_linux_"+arch.GOARCH+".go"] = src
	}
	src, err := emitNoABIs(t)
	if err != nil {
		return nil, err
	}
	files["zabis_linux_other.go"] = src
	return files, nil
}
