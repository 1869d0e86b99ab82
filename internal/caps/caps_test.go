package caps

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDefault(t *testing.T) {
	// Docker's default set (README, "What a container gets"), written out.
	const want = 0x00000000a80425fb
	if Default != want {
		t.Errorf("Default = %#x, want %#x", uint64(Default), uint64(want))
	}
	if got := Default.Hex(); got != "00000000a80425fb" {
		t.Errorf("Default.Hex() = %q, want 00000000a80425fb", got)
	}
	if got := Set(1 << 63).Hex(); got != "8000000000000000" {
		t.Errorf("Set(1<<63).Hex() = %q", got)
	}
	wantNames := []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
		"NET_BIND_SERVICE", "NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE", "SETFCAP"}
	if got := Default.Names(); !slices.Equal(got, wantNames) {
		t.Errorf("Default.Names() = %v, want %v", got, wantNames)
	}
}

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Set
		ok   bool
	}{
		{"CHOWN", 1 << unix.CAP_CHOWN, true},
		{"cap_sys_admin", 1 << unix.CAP_SYS_ADMIN, true},
		{"CAP_NET_ADMIN", 1 << unix.CAP_NET_ADMIN, true},
		{"all", All, true},
		{"CAP_LAST_CAP", 0, false},
		{"FROB", 0, false},
		{"", 0, false},
	} {
		got, err := Parse(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Parse(%q) = %#x, %v; want %#x, ok=%v", tt.in, uint64(got), err, uint64(tt.want), tt.ok)
		}
	}
}

func TestNamesCoverX(t *testing.T) {
	if lastKnown != unix.CAP_LAST_CAP || len(names) != unix.CAP_LAST_CAP+1 {
		t.Errorf("lastKnown = %d, %d names; x/sys CAP_LAST_CAP = %d", lastKnown, len(names), unix.CAP_LAST_CAP)
	}
	for i, n := range names {
		if n == "" {
			t.Errorf("capability %d has no name", i)
		}
	}
	if got := Set(1 << 63).Names(); !slices.Equal(got, []string{"63"}) {
		t.Errorf("unknown capability named %v, want [63]", got)
	}
}
