// Package testutil holds what the launcher's tests share: the rule for tests that need
// root or a kernel feature, and the helper-process pattern for irreversible steps.
package testutil

import (
	"os"
	"testing"
)

// MustRunEnv is the environment variable that turns skips into failures. CI sets it, so
// that a root-only test cannot pass there by not running.
const MustRunEnv = "LAUNCH_TEST_MUST_RUN"

// Skip skips t with a message saying what is missing and how to run the test, or fails
// it when LAUNCH_TEST_MUST_RUN=1.
func Skip(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(MustRunEnv) == "1" {
		t.Fatalf("cannot run: %s (and %s=1 forbids skipping)", why, MustRunEnv)
	}
	t.Skipf("skipping: %s", why)
}

// RequireRoot skips t unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root (run make test as root)")
	}
}

// HelperEnv marks a re-executed test binary as a helper process: the test named by
// -test.run does the irreversible step (seccomp load, capset, unshare) and exits,
// leaving the test binary that runs the other tests untouched.
const HelperEnv = "LAUNCH_TEST_HELPER"

// IsHelper reports whether this process is a helper for the test called name.
func IsHelper(name string) bool { return os.Getenv(HelperEnv) == name }
