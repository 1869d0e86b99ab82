package testutil

import (
	"path/filepath"
	"testing"

	"golang.org/x/tools/txtar"
)

// A Fixture is one testdata/*.txtar archive of a package's tests.
type Fixture struct {
	Path string // testdata/NAME.txtar
	Name string // NAME.txtar
	*txtar.Archive
}

// File returns the data of the archive's file name, or nil.
func (f Fixture) File(name string) []byte {
	for _, file := range f.Files {
		if file.Name == name {
			return file.Data
		}
	}
	return nil
}

// Fixtures parses every testdata/*.txtar of the package under test, in name order.
// None at all fails tb: a test that reads no fixture checks nothing.
func Fixtures(tb testing.TB) []Fixture {
	tb.Helper()
	paths, err := filepath.Glob("testdata/*.txtar")
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no fixtures in testdata/*.txtar (%v)", err)
	}
	out := make([]Fixture, 0, len(paths))
	for _, p := range paths {
		ar, err := txtar.ParseFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, Fixture{Path: p, Name: filepath.Base(p), Archive: ar})
	}
	return out
}
