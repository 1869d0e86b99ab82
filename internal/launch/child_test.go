package launch

import (
	"go/ast"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/ssa"
	"golang.org/x/tools/go/ssa/ssautil"
)

// outside are the functions of other modules that the child may call: raw system
// calls, and the runtime's fork hooks (reached through package fork, which declares
// them without a body). Each is nosplit and allocates nothing.
var outside = []string{
	"golang.org/x/sys/unix.RawSyscall", "golang.org/x/sys/unix.RawSyscall6",
	"syscall.RawSyscall", "syscall.RawSyscall6",
	"launch/internal/fork.beforeFork", "launch/internal/fork.afterFork", "launch/internal/fork.afterForkInChild",
}

// childPackages are the packages whose functions the child runs.
var childPackages = []string{"launch/internal/launch", "launch/internal/fork", "launch/internal/ns", "launch/internal/proc",
	"launch/internal/tty", "launch/internal/mount", "launch/internal/caps", "launch/internal/seccomp",
	"launch/internal/execve", "launch/internal/initproc", "launch/internal/raw", "launch/internal/fdpass"}

// TestChildRule checks the rule every function the child runs must keep (package
// fork's documentation): from (*plan).start, whose frame is set up before the fork,
// every function it may call is marked go:nosplit, or is one the compiler inlines at
// that call (a splittable function called for real would find the stack guard the
// fork hooks poisoned, and crash), and nothing in them allocates: the compiler's own
// escape analysis (-gcflags=-m) reports nothing moved or escaping to the heap there.
// A step added without the marks, or one that allocates, fails here with the
// offending call, before it can corrupt a child at run time.
func TestChildRule(t *testing.T) {
	// Bodies for the child's packages only; the rest from export data.
	cfg := &packages.Config{Mode: packages.LoadSyntax, Tests: false}
	pkgs, err := packages.Load(cfg, childPackages...)
	if err != nil {
		t.Fatal(err)
	}
	if packages.PrintErrors(pkgs) > 0 {
		t.Fatal("the packages do not load")
	}
	prog, _ := ssautil.Packages(pkgs, ssa.InstantiateGenerics)
	prog.Build()
	diag := compilerDiagnostics(t)

	var start *ssa.Function
	for fn := range ssautil.AllFunctions(prog) {
		if fn.Name() == "start" && fn.Pkg != nil && fn.Pkg.Pkg.Path() == "launch/internal/launch" &&
			fn.Signature.Recv() != nil && strings.HasSuffix(fn.Signature.Recv().Type().String(), "*launch/internal/launch.plan") {
			start = fn
		}
	}
	if start == nil {
		t.Fatal("no (*plan).start in package launch")
	}
	checkAllocations(t, prog.Fset, diag, start, "(*plan).start")
	seen := map[*ssa.Function]bool{start: true}
	queue := []*ssa.Function{start}
	for len(queue) > 0 {
		fn := queue[0]
		queue = queue[1:]
		for _, b := range fn.Blocks {
			for _, in := range b.Instrs {
				call, ok := in.(ssa.CallInstruction)
				if !ok {
					continue
				}
				common := call.Common()
				if _, builtin := common.Value.(*ssa.Builtin); builtin {
					continue
				}
				callee := common.StaticCallee()
				if callee == nil {
					t.Errorf("%s calls %s indirectly: the child makes static calls only", fn, common.Value)
					continue
				}
				name := calleeName(callee)
				if slices.Contains(outside, name) {
					continue
				}
				if !nosplit(callee) {
					pos := prog.Fset.Position(call.Pos())
					if !slices.ContainsFunc(diag[lineOf(pos)], func(d string) bool {
						return strings.HasPrefix(d, "inlining call to ") && strings.HasSuffix(d, "."+callee.Name())
					}) {
						t.Errorf("%s calls %s at %s, which is neither go:nosplit nor inlined there", fn, name, pos)
						continue
					}
					continue // inlined: its body is the caller's, checked there
				}
				if seen[callee] {
					continue
				}
				seen[callee] = true
				if callee.Pkg == nil || !strings.HasPrefix(callee.Pkg.Pkg.Path(), "launch/") {
					t.Errorf("%s calls %s, outside the project and not one of the allowed raw calls", fn, name)
					continue
				}
				checkAllocations(t, prog.Fset, diag, callee, name)
				queue = append(queue, callee)
			}
		}
	}
	if len(seen) < 20 {
		t.Errorf("only %d functions reachable from (*plan).start: the walk missed the steps", len(seen))
	}
	t.Logf("%d functions checked", len(seen))
}

// compilerDiagnostics compiles the child's packages with -m and returns what the
// compiler says, by file:line.
func compilerDiagnostics(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"build", "-o", os.DevNull, "-gcflags=-m"}, childPackages...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	diag := make(map[string][]string)
	for _, l := range strings.Split(string(out), "\n") {
		// file.go:12:34: message
		f := strings.SplitN(l, ":", 4)
		if len(f) != 4 {
			continue
		}
		abs := locate(f[0])
		key := abs + ":" + f[1]
		diag[key] = append(diag[key], strings.TrimSpace(f[3]))
	}
	if len(diag) == 0 {
		t.Fatalf("go build -gcflags=-m said nothing:\n%s", out)
	}
	return diag
}

func lineOf(p token.Position) string { return p.Filename + ":" + strconv.Itoa(p.Line) }

// locate finds the file the go command named: it shortens names relative to the
// working directory (this package's) or to the module's root.
func locate(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	for dir, _ := os.Getwd(); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return filepath.Join(dir, name)
		}
		if dir == filepath.Dir(dir) {
			return name
		}
	}
}

func calleeName(fn *ssa.Function) string {
	if fn.Pkg != nil && fn.Signature.Recv() == nil {
		return fn.Pkg.Pkg.Path() + "." + fn.Name()
	}
	return fn.String()
}

// nosplit reports whether fn's declaration carries //go:nosplit.
func nosplit(fn *ssa.Function) bool {
	decl, ok := fn.Syntax().(*ast.FuncDecl)
	if !ok || decl.Doc == nil {
		return false
	}
	for _, c := range decl.Doc.List {
		if c.Text == "//go:nosplit" {
			return true
		}
	}
	return false
}

// checkAllocations reports what the compiler moves or lets escape to the heap in fn's
// lines.
func checkAllocations(t *testing.T, fset *token.FileSet, diag map[string][]string, fn *ssa.Function, name string) {
	t.Helper()
	syn := fn.Syntax()
	if syn == nil {
		return
	}
	from, to := fset.Position(syn.Pos()), fset.Position(syn.End())
	for line := from.Line; line <= to.Line; line++ {
		for _, d := range diag[from.Filename+":"+strconv.Itoa(line)] {
			if strings.Contains(d, "moved to heap") || (strings.Contains(d, "escapes to heap") && !strings.Contains(d, "does not escape")) {
				t.Errorf("%s allocates at %s:%d: %s", name, from.Filename, line, d)
			}
		}
	}
}
