package profile

import (
	"testing"

	"launch/internal/policy"
)

// TestNotifier evaluates the notifying filter for every ABI the kernel runs: sysinfo
// goes to the listener, the calls around it and past the table are allowed, and so is
// a foreign ABI's call (the container's own filter decides those).
func TestNotifier(t *testing.T) {
	prog, err := Notifier("sysinfo")
	if err != nil {
		t.Fatal(err)
	}
	if len(prog.ABIs) != len(kernelABIs()) {
		t.Fatalf("ABIs %v, want the kernel's %d", prog.ABIs, len(kernelABIs()))
	}
	for _, a := range kernelABIs() {
		nr, ok := a.nr("sysinfo")
		if !ok {
			t.Fatalf("%s: no sysinfo", a.goarch)
		}
		for _, c := range []struct {
			nr   uint32
			want policy.Action
		}{{nr, policy.Notify}, {nr - 1, policy.Allow}, {nr + 1, policy.Allow}, {a.maxNr + 100, policy.Allow}, {0, policy.Allow}} {
			act, ok := policy.Eval(prog.insns, policy.VMData(a.bigEndian, a.audit, c.nr))
			if !ok || act != c.want {
				t.Errorf("%s: call %d: %v (ok %v), want %v", a.goarch, c.nr, act, ok, c.want)
			}
		}
		if got := prog.Notified(a.audit, nr); got != "sysinfo" {
			t.Errorf("%s: Notified(%#x, %d) = %q, want sysinfo", a.goarch, a.audit, nr, got)
		}
		if got := prog.Notified(a.audit, nr+1); got != "" {
			t.Errorf("%s: Notified(%#x, %d) = %q, want none", a.goarch, a.audit, nr+1, got)
		}
		// Another audit arch: the container's own filter decides.
		if act, ok := policy.Eval(prog.insns, policy.VMData(a.bigEndian, a.audit^1, nr)); !ok || act != policy.Allow {
			t.Errorf("%s: a foreign arch's call: %v, want allow", a.goarch, act)
		}
	}
}
