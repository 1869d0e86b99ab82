// Command gen compiles the project's policy files into Go tables: syscalls.txt into one
// seccomp BPF program per GOARCH, caps.txt into a capability mask. It is run by
// go generate (see internal/seccomp/doc.go and internal/caps/doc.go):
//
//	gen -syscalls FILE -out DIR   writes DIR/zfilter_linux_<goarch>.go for every target
//	gen -caps FILE -out DIR       writes DIR/zcaps.go
//	-v                            reports per-arch skips and filter sizes on stderr
//
// System-call numbers and constants come from golang.org/x/sys/unix, read for each
// GOARCH; BPF is assembled with github.com/elastic/go-seccomp-bpf. Neither is linked
// into the launcher: it loads the generated []unix.SockFilter as data.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/google/renameio/v2"
	"golang.org/x/net/bpf"
)

func main() {
	syscallsFile := flag.String("syscalls", "", "generate seccomp filters from this `file`")
	capsFile := flag.String("caps", "", "generate the capability table from this `file`")
	out := flag.String("out", ".", "write generated files into this `directory`")
	verbose := flag.Bool("v", false, "report per-arch skips and filter sizes")
	flag.Parse()
	if flag.NArg() > 0 || (*syscallsFile == "") == (*capsFile == "") {
		fmt.Fprintln(os.Stderr, "usage: gen (-syscalls FILE | -caps FILE) [-out DIR] [-v]")
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
	if *syscallsFile != "" {
		files, err = genSeccompFile(*syscallsFile, log)
	} else {
		files, err = genCapsFile(*capsFile)
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
	rules, err := parseSyscalls(filepath.Base(path), data)
	if err != nil {
		return nil, err
	}
	t, err := loadTables(allGoarches())
	if err != nil {
		return nil, err
	}
	return genSeccomp(filepath.Base(path), rules, t, log)
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

func allGoarches() []string {
	var out []string
	for _, tg := range targets {
		out = append(out, tg.goarch)
	}
	return out
}

// filterSet is the result of compiling syscalls.txt: each target's program and stats.
type filterSet struct {
	prog  map[string][]bpf.RawInstruction
	stats map[string][]abiStats
	lifts map[string]map[string][]int // target -> lift -> the program's tests it turns off
}

// compile builds and validates the filter of every target from rules.
func compile(file string, rules []rule, t *tables) (*filterSet, error) {
	// A name unknown on every ABI it applies to is a typo, not an arch difference.
	for _, r := range rules {
		found, anywhere := false, false
		for _, a := range t.abis {
			if _, ok := a.nr[r.name]; ok {
				anywhere = true
				found = found || r.appliesTo(a.goarch, false) || r.appliesTo(a.goarch, true)
			}
		}
		switch {
		case !anywhere:
			return nil, &parseError{file, r.line, fmt.Sprintf("unknown syscall %q", r.name)}
		case !found:
			return nil, &parseError{file, r.line, fmt.Sprintf("syscall %q exists on none of the arches its line selects", r.name)}
		}
	}
	fs := &filterSet{prog: make(map[string][]bpf.RawInstruction), stats: make(map[string][]abiStats),
		lifts: make(map[string]map[string][]int)}
	for _, tg := range targets {
		native := t.abis[tg.goarch]
		var compat []*abi
		for _, c := range tg.compat {
			compat = append(compat, t.abis[c])
		}
		trees := make(map[string][]bpf.Instruction)
		treeLifts := make(map[string]map[string][]int)
		var stats []abiStats
		for i, a := range append([]*abi{native}, compat...) {
			entries, skipped, err := resolve(file, rules, a, i > 0)
			if err != nil {
				return nil, err
			}
			segs := segments(a, entries)
			tr, lifts, err := tree(segs, a.bigEndian)
			if err != nil {
				return nil, fmt.Errorf("%s: assemble %s tree: %w", tg.goarch, a.goarch, err)
			}
			trees[a.goarch], treeLifts[a.goarch] = tr, lifts
			s := abiStats{a: a, allowed: len(entries), skipped: skipped, segments: len(segs)}
			for _, e := range entries {
				if len(e.conds) > 0 {
					s.cond++
				}
			}
			stats = append(stats, s)
		}
		insns, starts := program(native, compat, trees)
		lifts := make(map[string][]int)
		for goarch, l := range treeLifts {
			for name, pcs := range l {
				for _, pc := range pcs {
					lifts[name] = append(lifts[name], starts[goarch]+pc)
				}
			}
		}
		for _, pcs := range lifts {
			sort.Ints(pcs)
		}
		fs.lifts[tg.goarch] = lifts
		raw, err := bpf.Assemble(insns)
		if err != nil {
			return nil, fmt.Errorf("%s: assemble: %w", tg.goarch, err)
		}
		if err := validate(raw); err != nil {
			return nil, fmt.Errorf("%s: invalid program: %w", tg.goarch, err)
		}
		// The native ABI pays for the arch load and its jeq; a compat ABI also for the
		// failed native jeq, its own jeq and the ja to its block. Each block starts
		// with the load of the call's number, just before its tree.
		for i := range stats {
			cost := 2
			if i > 0 {
				cost = 4
			}
			stats[i].maxPath = cost + longestPath(raw, starts[stats[i].a.goarch]-1)
		}
		fs.prog[tg.goarch] = raw
		fs.stats[tg.goarch] = stats
	}
	return fs, nil
}

func genSeccomp(file string, rules []rule, t *tables, log io.Writer) (map[string][]byte, error) {
	fs, err := compile(file, rules, t)
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte)
	for _, tg := range targets {
		for _, s := range fs.stats[tg.goarch] {
			fmt.Fprintf(log, "gen: %-8s %-22s %3d allowed (%d by argument), %3d segments, worst case %2d instructions\n",
				tg.goarch, s.a.auditName, s.allowed, s.cond, s.segments, s.maxPath)
			if len(s.skipped) > 0 && s.a.goarch == tg.goarch {
				fmt.Fprintf(log, "gen: %-8s skipped, not in its table: %v\n", tg.goarch, s.skipped)
			}
		}
		src, err := emitFilter(t, tg, fs.prog[tg.goarch], fs.stats[tg.goarch], fs.lifts[tg.goarch])
		if err != nil {
			return nil, fmt.Errorf("%s: format: %w", tg.goarch, err)
		}
		files["zfilter_linux_"+tg.goarch+".go"] = src
	}
	src, err := emitUnsupported(t)
	if err != nil {
		return nil, err
	}
	files["zfilter_linux_other.go"] = src
	names := make(map[string]bool)
	for _, l := range fs.lifts {
		for name := range l {
			names[name] = true
		}
	}
	if src, err = emitLiftNames(t, names); err != nil {
		return nil, err
	}
	files["zlifts.go"] = src
	return files, nil
}

func genCaps(file string, data []byte, t *tables) (map[string][]byte, error) {
	consts := t.abis["amd64"].consts
	keep, err := parseCaps(file, data, consts)
	if err != nil {
		return nil, err
	}
	src, err := emitCaps(t, keep, allCaps(consts), consts["CAP_LAST_CAP"])
	if err != nil {
		return nil, err
	}
	return map[string][]byte{"zcaps.go": src}, nil
}
