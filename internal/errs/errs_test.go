package errs

import (
	"errors"
	"io/fs"
	"testing"
)

func TestWrap(t *testing.T) {
	err := Wrap("create cgroup", Wrap("mkdir /x", fs.ErrExist))
	if got, want := err.Error(), "create cgroup: mkdir /x: file already exists"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("errors.Is(%v, fs.ErrExist) = false", err)
	}
}
