package main

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/sys/unix"
	"golang.org/x/tools/go/packages"
)

// An abi is one system-call ABI a filter can be asked about: the native one of a GOARCH,
// or a compat one that the same kernel also runs (i386 programs on amd64, for instance).
type abi struct {
	goarch    string            // GOARCH whose x/sys tables describe this ABI
	auditArch uint32            // AUDIT_ARCH_* that seccomp_data.arch holds for it
	auditName string            // the constant's name, for generated code
	bigEndian bool              // byte order of seccomp_data's 64-bit argument words
	nr        map[string]uint32 // syscall name -> number
	maxNr     uint32            // highest number of the regular table
	consts    map[string]uint64 // x/sys constants of this GOARCH (AF_*, CLONE_*, TIOC*, ...)
}

// target is one GOARCH for which a filter file is generated.
type target struct {
	goarch string
	compat []string // GOARCHes of the compat ABIs the kernel also accepts
}

// targets lists every Linux GOARCH of the Go toolchain (go tool dist list), each with
// the compat ABIs that Docker's profile also admits for it. The n32 ABI of mips64 has no
// table in x/sys, so its calls hit the foreign-arch rule and kill the process.
var targets = []target{
	{goarch: "386"},
	{goarch: "amd64", compat: []string{"386"}},
	{goarch: "arm"},
	{goarch: "arm64", compat: []string{"arm"}},
	{goarch: "loong64"},
	{goarch: "mips"},
	{goarch: "mips64", compat: []string{"mips"}},
	{goarch: "mips64le", compat: []string{"mipsle"}},
	{goarch: "mipsle"},
	{goarch: "ppc64"},
	{goarch: "ppc64le"},
	{goarch: "riscv64"},
	{goarch: "s390x"},
}

// auditArches names the AUDIT_ARCH_* constant of each GOARCH. The values come from
// x/sys (they are the same on every GOARCH, so the host's copy serves).
var auditArches = map[string]struct {
	name  string
	value uint32
	big   bool
}{
	"386":      {"AUDIT_ARCH_I386", unix.AUDIT_ARCH_I386, false},
	"amd64":    {"AUDIT_ARCH_X86_64", unix.AUDIT_ARCH_X86_64, false},
	"arm":      {"AUDIT_ARCH_ARM", unix.AUDIT_ARCH_ARM, false},
	"arm64":    {"AUDIT_ARCH_AARCH64", unix.AUDIT_ARCH_AARCH64, false},
	"loong64":  {"AUDIT_ARCH_LOONGARCH64", unix.AUDIT_ARCH_LOONGARCH64, false},
	"mips":     {"AUDIT_ARCH_MIPS", unix.AUDIT_ARCH_MIPS, true},
	"mips64":   {"AUDIT_ARCH_MIPS64", unix.AUDIT_ARCH_MIPS64, true},
	"mips64le": {"AUDIT_ARCH_MIPSEL64", unix.AUDIT_ARCH_MIPSEL64, false},
	"mipsle":   {"AUDIT_ARCH_MIPSEL", unix.AUDIT_ARCH_MIPSEL, false},
	"ppc64":    {"AUDIT_ARCH_PPC64", unix.AUDIT_ARCH_PPC64, true},
	"ppc64le":  {"AUDIT_ARCH_PPC64LE", unix.AUDIT_ARCH_PPC64LE, false},
	"riscv64":  {"AUDIT_ARCH_RISCV64", unix.AUDIT_ARCH_RISCV64, false},
	"s390x":    {"AUDIT_ARCH_S390X", unix.AUDIT_ARCH_S390X, true},
}

// armPrivateBase is where ARM's private system calls (__ARM_NR_BASE) start. x/sys has
// no numbers for them; go-seccomp-bpf's ARM table does.
const armPrivateBase = 0x0f0000

// tables holds what x/sys says about each GOARCH, and the versions it came from.
type tables struct {
	abis     map[string]*abi
	versions map[string]string // module path -> version, for the generated header
}

// loadTables reads the SYS_* numbers and the integer constants of golang.org/x/sys/unix
// for every GOARCH in goarches. go/packages picks the files that the build constraints
// select for each GOARCH; only the zsysnum and zerrors files among them are parsed (type
// checking all of x/sys thirteen times would take most of a minute).
func loadTables(goarches []string) (*tables, error) {
	t := &tables{abis: make(map[string]*abi), versions: make(map[string]string)}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	for _, ga := range goarches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := loadABI(ga)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			t.abis[ga] = a
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	mods, err := packages.Load(&packages.Config{Mode: packages.NeedModule | packages.NeedName},
		"golang.org/x/sys/unix", "github.com/elastic/go-seccomp-bpf")
	if err != nil {
		return nil, fmt.Errorf("load module versions: %w", err)
	}
	for _, p := range mods {
		if p.Module == nil {
			return nil, fmt.Errorf("load module versions: %s: not in a module", p.PkgPath)
		}
		t.versions[p.Module.Path] = p.Module.Version
	}
	return t, nil
}

func loadABI(goarch string) (*abi, error) {
	aa, ok := auditArches[goarch]
	if !ok {
		return nil, fmt.Errorf("GOARCH %s: no audit arch known", goarch)
	}
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedFiles,
		Env:  append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0"),
	}
	pkgs, err := packages.Load(cfg, "golang.org/x/sys/unix")
	if err != nil {
		return nil, fmt.Errorf("load golang.org/x/sys/unix for %s: %w", goarch, err)
	}
	if len(pkgs) != 1 || len(pkgs[0].Errors) > 0 {
		return nil, fmt.Errorf("load golang.org/x/sys/unix for %s: %v", goarch, pkgs[0].Errors)
	}
	a := &abi{
		goarch:    goarch,
		auditArch: aa.value,
		auditName: aa.name,
		bigEndian: aa.big,
		nr:        make(map[string]uint32),
		consts:    make(map[string]uint64),
	}
	fset := token.NewFileSet()
	for _, path := range pkgs[0].GoFiles {
		base := filepath.Base(path)
		switch base {
		case "zsysnum_linux_" + goarch + ".go", "zerrors_linux_" + goarch + ".go", "zerrors_linux.go":
		default:
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for name, v := range intConsts(f) {
			if sys, ok := strings.CutPrefix(name, "SYS_"); ok && strings.HasPrefix(base, "zsysnum") {
				a.nr[strings.ToLower(sys)] = uint32(v)
				a.maxNr = max(a.maxNr, uint32(v))
				continue
			}
			a.consts[name] = v
		}
	}
	if len(a.nr) == 0 {
		return nil, fmt.Errorf("golang.org/x/sys/unix for %s: no zsysnum_linux_%s.go", goarch, goarch)
	}
	if goarch == "arm" {
		// ARM's private calls sit far above the regular table; take their numbers
		// from go-seccomp-bpf, the one table that has them.
		for name, n := range arch.ARM.SyscallNames {
			if n >= armPrivateBase {
				a.nr[name] = uint32(n)
			}
		}
	}
	return a, nil
}

// intConsts returns the untyped integer constants of f that are written as literals,
// which is how x/sys's generated z-files spell them.
func intConsts(f *ast.File) map[string]uint64 {
	out := make(map[string]uint64)
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if vs.Type != nil || len(vs.Values) != len(vs.Names) {
				continue
			}
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.INT {
					continue
				}
				v, ok := constant.Uint64Val(constant.MakeFromLiteral(lit.Value, lit.Kind, 0))
				if ok {
					out[name.Name] = v
				}
			}
		}
	}
	return out
}
