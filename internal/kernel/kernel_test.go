package kernel

import (
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/tools/txtar"
)

// TestDecisions reads the recorded /proc files of testdata/*.txtar (each file of an
// archive is a path below /proc) and checks the decisions against its "want" file:
// "error: ..." text the error must contain, or one "note: ..." line per note.
func TestDecisions(t *testing.T) {
	paths, _ := filepath.Glob("testdata/*.txtar")
	if len(paths) == 0 {
		t.Fatal("no fixtures")
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			ar, err := txtar.ParseFile(p)
			if err != nil {
				t.Fatal(err)
			}
			proc := fstest.MapFS{}
			var want string
			need := Need{Net: true, Seccomp: true}
			probed := Features{Openat2: true, Clone3: true}
			for _, f := range ar.Files {
				switch f.Name {
				case "want":
					want = string(f.Data)
				case "need":
					need.Net = !strings.Contains(string(f.Data), "--net host")
					need.Seccomp = !strings.Contains(string(f.Data), "--seccomp=unconfined")
				case "syscalls":
					probed.Openat2 = strings.Contains(string(f.Data), "openat2")
					probed.Clone3 = strings.Contains(string(f.Data), "clone3")
				default:
					proc[f.Name] = &fstest.MapFile{Data: f.Data}
				}
			}
			f := Read(proc)
			f.Openat2, f.Clone3 = probed.Openat2, probed.Clone3
			notes, err := f.Check(need)
			var got []string
			if err != nil {
				got = append(got, "error: "+err.Error())
			}
			for _, n := range notes {
				got = append(got, "note: "+n)
			}
			if g := strings.Join(got, "\n") + "\n"; g != want {
				t.Errorf("Check = \n%s\nwant\n%s", g, want)
			}
		})
	}
}

// TestProbe runs the real probes: this test machine's kernel (6.x) has both calls.
func TestProbe(t *testing.T) {
	var f Features
	f.Probe()
	if !f.Openat2 || !f.Clone3 {
		t.Errorf("Probe() on this kernel = openat2 %v, clone3 %v; want both", f.Openat2, f.Clone3)
	}
}
