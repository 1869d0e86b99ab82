package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"launch/internal/probe/report"
	"launch/internal/testutil"
)

// TestWideKernel: the 32-bit launcher (GOARCH 386) on this 64-bit kernel, as a 32-bit
// userland on a 64-bit kernel runs it (Raspberry Pi OS ships arm on arm64 so). It
// loaded the filter of its own GOARCH, i386's only, and the kernel killed every 64-bit
// COMMAND at its first system call (exit 159, SIGSYS, no message). It loads the
// kernel's filter: 64-bit and 32-bit programs of a root run, filtered alike.
func TestWideKernel(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		testutil.Skip(t, "the 32-bit launcher is tried on amd64 (386); this machine is "+runtime.GOARCH)
	}
	testutil.RequireBusybox(t)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	bin := testutil.BuildFor(t, "./init", "386")
	addProbe32(t, rootfs)
	l := launchIO{bin: bin}
	if r := w.runWith(l, rootfs, "/bin/busybox", "true"); r.code != 0 {
		t.Fatalf("the 386 launcher: a 64-bit busybox true exited %d (stderr %q), want 0", r.code, r.stderr)
	}
	for _, p := range []string{"/probe", "/probe32"} {
		r := w.runWith(l, rootfs, p, "report")
		var rep report.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != 0 || err != nil {
			t.Fatalf("the 386 launcher, %s report: exit %d, %v, stderr %q", p, r.code, err, r.stderr)
		}
		if rep.Status["Seccomp"] != "2" || rep.Status["NoNewPrivs"] != "1" {
			t.Errorf("the 386 launcher, %s: Seccomp %q NoNewPrivs %q, want 2 and 1", p, rep.Status["Seccomp"], rep.Status["NoNewPrivs"])
		}
		// The filter holds for both: mount(2) is refused.
		r = w.runWith(l, rootfs, p, "try", "mount", "/tmp")
		if got := strings.TrimSpace(r.stdout); r.code != 0 || got != "EPERM" {
			t.Errorf("the 386 launcher, %s try mount: exit %d, %q (stderr %q), want EPERM", p, r.code, got, r.stderr)
		}
	}
	w.check()
}
