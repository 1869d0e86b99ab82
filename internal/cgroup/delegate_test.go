package cgroup

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

// selfPid is the launcher's pid in the fixtures of testdata/place.
const selfPid = 100

// TestPlace reads each cgroup v2 tree of testdata/place/*.txtar (the files under tree/,
// written to a directory as plain files), the launcher's own cgroup (own), the
// --cgroup-parent if any (parent) and the controllers needed (need), and checks what
// launch decides to do there (want): whether it moves itself, what it enables, what
// the container gets, and why it lacks the rest.
func TestPlace(t *testing.T) {
	paths, _ := filepath.Glob("testdata/place/*.txtar")
	if len(paths) == 0 {
		t.Fatal("no fixtures in testdata/place")
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			ar, err := txtar.ParseFile(p)
			if err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			fields := map[string]string{}
			for _, f := range ar.Files {
				name, ok := strings.CutPrefix(f.Name, "tree/")
				if !ok {
					fields[f.Name] = strings.TrimSpace(string(f.Data))
					continue
				}
				file := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			own := filepath.Join(root, fields["own"])
			dir := own
			if fields["parent"] != "" {
				dir = filepath.Join(root, fields["parent"])
			}
			s, err := readSite(root, dir, dir == own, selfPid)
			if err != nil {
				t.Fatal(err)
			}
			got := renderPlacement(place(s, strings.Fields(fields["need"])))
			got = strings.ReplaceAll(got, root, "")
			if want := fields["want"] + "\n"; got != want {
				t.Errorf("place = \n%s\nwant\n%s", got, want)
			}
		})
	}
}

// renderPlacement prints a placement as the fixtures' want files do.
func renderPlacement(p placement) string {
	move := "no"
	if p.move {
		move = "yes"
	}
	lines := []string{"move " + move, strings.TrimSpace("enable " + strings.Join(p.enable, " ")),
		strings.TrimSpace("avail " + strings.Join(p.avail, " "))}
	for _, ctl := range slices.Sorted(func(yield func(string) bool) {
		for k := range p.why {
			if !yield(k) {
				return
			}
		}
	}) {
		lines = append(lines, "why "+ctl+": "+p.why[ctl])
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestPlaceNeedsNothing: on the hybrid layout the v2 cgroup takes no controller, and
// nothing is to be done wherever it goes.
func TestPlaceNeedsNothing(t *testing.T) {
	s := site{dir: "/x", own: true, self: true, others: true, kernel: []string{"memory"}, controllers: []string{"memory"}}
	p := place(s, nil)
	if p.move || len(p.enable) > 0 || len(p.avail) > 0 || len(p.why) > 0 {
		t.Errorf("place(%+v, nil) = %+v, want nothing to do", s, p)
	}
}
