package kernel

import (
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"

	"launch/internal/testutil"
)

// recorded is a Proc of recorded files, by their paths below /proc.
type recorded map[string][]byte

func (r recorded) ReadFile(name string) ([]byte, error) {
	if b, ok := r[name]; ok {
		return b, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (r recorded) ReadDirNames(name string) ([]string, error) {
	var out []string
	for p := range r {
		if path.Dir(p) == name {
			out = append(out, path.Base(p))
		}
	}
	if out == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	slices.Sort(out)
	return out, nil
}

// TestDecisions reads the recorded /proc files of testdata/*.txtar (each file of an
// archive is a path below /proc) and checks the decisions against its "want" file:
// "error: ..." text the error must contain, or one "note: ..." line per note.
func TestDecisions(t *testing.T) {
	for _, fx := range testutil.Fixtures(t) {
		t.Run(fx.Name, func(t *testing.T) {
			proc := recorded{}
			var want string
			need := Need{Net: true, Seccomp: true}
			probed := Features{Openat2: true, Clone3: true}
			for _, f := range fx.Files {
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
					proc[f.Name] = f.Data
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
