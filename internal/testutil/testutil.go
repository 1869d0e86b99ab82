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

// LongEnv is the environment variable that runs the long tests at their full counts,
// as make test-long does (and CI after make test): a thousand starts in a row, the
// SIGKILL storms, minutes of stress, hundreds of racing starts. Without it each of them
// runs a part of its count, so that make test keeps its budget of a few minutes.
const LongEnv = "LAUNCH_TEST_LONG"

// Long reports whether LAUNCH_TEST_LONG=1.
func Long() bool { return os.Getenv(LongEnv) == "1" }

// Count returns how many times a long test repeats what (in its log): n, or long under
// LAUNCH_TEST_LONG=1.
func Count(t testing.TB, what string, n, long int) int {
	t.Helper()
	if Long() {
		t.Logf("%s: %d (%s=1)", what, long, LongEnv)
		return long
	}
	t.Logf("%s: %d (%d with %s=1: make test-long)", what, n, long, LongEnv)
	return n
}

// HelperEnv marks a re-executed test binary as a helper process: the test named by
// -test.run does the irreversible step (seccomp load, capset, unshare) and exits,
// leaving the test binary that runs the other tests untouched.
const HelperEnv = "LAUNCH_TEST_HELPER"

// IsHelper reports whether this process is a helper for the test called name.
func IsHelper(name string) bool { return os.Getenv(HelperEnv) == name }
