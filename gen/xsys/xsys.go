// Package xsys reads golang.org/x/sys/unix's tables for any Linux GOARCH with
// go/packages, whatever the machine: the system-call numbers and the integer constants
// that internal/policy's ABIs hold. gen compiles the filters from them; the bench
// resolves syscalls.txt's constants with them. It needs the go command and the module's
// sources, so nothing linked into the launcher imports it.
package xsys

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
	"golang.org/x/tools/go/packages"

	"launch/internal/policy"
)

// ARMPrivateBase is where ARM's private system calls (__ARM_NR_BASE) start, far above
// the regular table. x/sys has no numbers for them; go-seccomp-bpf's ARM table does.
const ARMPrivateBase = 0x0f0000

// LoadABIs reads the SYS_* numbers and the integer constants of golang.org/x/sys/unix
// for every GOARCH in goarches, which policy.Arches must list. go/packages picks the
// files that the build constraints select for each GOARCH; only the zsysnum and zerrors
// files among them are parsed (type checking all of x/sys thirteen times would take most
// of a minute).
func LoadABIs(goarches ...string) (map[string]*policy.ABI, error) {
	abis := make(map[string]*policy.ABI)
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
			abis[ga] = a
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return abis, nil
}

// ModuleVersions returns the version of the module of each package path, as the build
// list has it.
func ModuleVersions(pkgs ...string) (map[string]string, error) {
	mods, err := packages.Load(&packages.Config{Mode: packages.NeedModule | packages.NeedName}, pkgs...)
	if err != nil {
		return nil, fmt.Errorf("load module versions: %w", err)
	}
	versions := make(map[string]string)
	for _, p := range mods {
		if p.Module == nil {
			return nil, fmt.Errorf("load module versions: %s: not in a module", p.PkgPath)
		}
		versions[p.Module.Path] = p.Module.Version
	}
	return versions, nil
}

func loadABI(goarch string) (*policy.ABI, error) {
	target, ok := policy.LookupArch(goarch)
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
	a := &policy.ABI{
		Name:      goarch,
		AuditArch: target.AuditArch,
		BigEndian: target.BigEndian,
		Nr:        make(map[string]uint32),
		Consts:    make(map[string]uint64),
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
				a.Nr[strings.ToLower(sys)] = uint32(v)
				a.MaxNr = max(a.MaxNr, uint32(v))
				continue
			}
			a.Consts[name] = v
		}
	}
	if len(a.Nr) == 0 {
		return nil, fmt.Errorf("golang.org/x/sys/unix for %s: no zsysnum_linux_%s.go", goarch, goarch)
	}
	if goarch == "arm" {
		// ARM's private calls sit far above the regular table; take their numbers
		// from go-seccomp-bpf, the one table that has them.
		for name, n := range arch.ARM.SyscallNames {
			if n >= ARMPrivateBase {
				a.Nr[name] = uint32(n)
			}
		}
	}
	return a, nil
}

// intConsts returns the untyped integer constants of f that are written as literals,
// which is how x/sys's generated z-files spell them, and the errnos, which they write
// as syscall.Errno(literal): their numbers differ between arches (MIPS's ENOSYS is 89,
// not 38).
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
				val := vs.Values[i]
				if call, ok := val.(*ast.CallExpr); ok && len(call.Args) == 1 && isErrnoType(call.Fun) {
					val = call.Args[0]
				}
				lit, ok := val.(*ast.BasicLit)
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

// isErrnoType reports whether e is syscall.Errno.
func isErrnoType(e ast.Expr) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Errno" {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == "syscall"
}
