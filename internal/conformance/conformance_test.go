package conformance

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"launch/internal/testutil"
)

// TestRuntimeTools runs runtime-tools' validation suite with runc and with another
// runtime, $LAUNCH_RUNTIME or else build/launch (made with make build if absent), and
// fails where the other does worse than runc (Row.Worse). It is opt-in: set
// LAUNCH_CONFORMANCE=1. LAUNCH_CONFORMANCE_TABLE=FILE writes the table there as
// Markdown; LAUNCH_CONFORMANCE_PARALLEL=N runs N programs at once (default 4).
func TestRuntimeTools(t *testing.T) {
	if os.Getenv("LAUNCH_CONFORMANCE") == "" {
		t.Skip("skipping: runs only with LAUNCH_CONFORMANCE=1 (runtime-tools " + Version +
			" against runc and $LAUNCH_RUNTIME or build/launch, as root, about a minute each)")
	}
	testutil.RequireRoot(t)
	runc, err := exec.LookPath("runc")
	if err != nil {
		runc, err = exec.LookPath("/usr/sbin/runc")
	}
	if err != nil {
		testutil.Skip(t, "needs runc (apt-get install runc)")
	}
	other, otherName := os.Getenv("LAUNCH_RUNTIME"), os.Getenv("LAUNCH_RUNTIME")
	if other == "" {
		other, otherName = buildLaunch(t), "launch"
	}
	parallel := 4
	if v := os.Getenv("LAUNCH_CONFORMANCE_PARALLEL"); v != "" {
		if parallel, err = strconv.Atoi(v); err != nil || parallel < 1 {
			t.Fatalf("LAUNCH_CONFORMANCE_PARALLEL=%q: want a number of programs, 1 or more", v)
		}
	}

	start := time.Now()
	suite, err := Build(t.Context(), CacheDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("runtime-tools %s: %d programs in %s (built or found in %v)", Version, len(suite.Tests), suite.Dir, time.Since(start).Round(time.Millisecond))

	runcBefore := runcList(t, runc)
	base := runAll(t, suite, "runc", runc, parallel)
	others := runAll(t, suite, otherName, other, parallel)
	rows := Compare(base, others)
	if err := suite.Recheck(t.Context(), rows, other, 2, 0); err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if row.Tries > 0 {
			t.Logf("%s %s: ran %d times more, the last %s", otherName, row.Test, row.Tries, Score(row.Other))
			for _, what := range row.Other.Left {
				t.Errorf("%s %s: left %s behind", otherName, row.Test, what)
			}
		}
	}
	if after := runcList(t, runc); !slices.Equal(after, runcBefore) {
		t.Errorf("runc list: %q after the suite, %q before", after, runcBefore)
	}

	t.Logf("runtime-tools %s, tests passed of tests run by each program:\n%s", Version, Table(rows, "runc", otherName, false))
	if path := os.Getenv("LAUNCH_CONFORMANCE_TABLE"); path != "" {
		md := fmt.Sprintf("runtime-tools %s validation suite, tests passed of tests run by each program, "+
			"with runc (%s) and %s:\n\n%s", Version, version(runc), otherName, Table(rows, "runc", otherName, true))
		if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, row := range rows {
		if !row.Worse() {
			continue
		}
		if why, ok := refused[row.Test]; ok && filepath.Base(other) == "launch" {
			t.Logf("%s: launch %s, runc %s: %s", row.Test, Score(row.Other), Score(row.Base), why)
			continue
		}
		t.Errorf("%s: %s %s, runc %s%s", row.Test, otherName, Score(row.Other), Score(row.Base), details(row.Other))
	}
}

// refused are the programs launch does worse than runc in because it refuses what
// they ask, on purpose or until a later issue (README, "OCI runtime"): launch fails
// its test only if it does worse in any other program.
var refused = map[string]string{
	"config_updates_without_affect": "rootfsPropagation shared: the container's mounts would reach the host; refused",
	"linux_ns_itype":                "a container without a mount namespace of its own would mount in the host's; refused",
	"linux_ns_path":                 "joining a mount namespace by path: not supported yet",
}

// runAll runs the suite with one runtime, logs each program's result as it ends and
// fails t for anything the suite left that could not be removed.
func runAll(t *testing.T, s *Suite, name, rt string, parallel int) []*Result {
	t.Helper()
	start := time.Now()
	rs, err := s.RunAll(t.Context(), rt, Options{Parallel: parallel, Progress: func(r *Result) {
		t.Logf("%s %s: %s in %v", name, r.Test, Score(r), r.Elapsed.Round(10*time.Millisecond))
		if n := len(r.Removed); n > 0 {
			t.Logf("%s %s: left %s and %d more, removed", name, r.Test, r.Removed[0], n-1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: the suite ran in %v, %d programs at once", name, time.Since(start).Round(time.Millisecond), parallel)
	for _, r := range rs {
		for _, what := range r.Left {
			t.Errorf("%s %s: left %s behind", name, r.Test, what)
		}
	}
	return rs
}

// details quotes a result's first failures and the end of its standard error.
func details(r *Result) string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	for i, f := range r.Failures {
		if i == 5 {
			fmt.Fprintf(&b, "\n\t... %d more", len(r.Failures)-i)
			break
		}
		b.WriteString("\n\t" + f)
	}
	if s := strings.TrimSpace(r.Stderr); s != "" {
		b.WriteString("\n\tstderr: " + strings.ReplaceAll(tail(s, 500), "\n", "\n\t"))
	}
	return b.String()
}

// buildLaunch returns build/launch, made with make build if it is not there.
func buildLaunch(t *testing.T) string {
	t.Helper()
	root := testutil.RepoRoot()
	path := filepath.Join(root, "build", "launch")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	cmd := exec.Command("make", "build")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	return path
}

// runcList returns the IDs of the containers runc knows in its default state root,
// the one the suite uses.
func runcList(t *testing.T, runc string) []string {
	t.Helper()
	out, err := exec.Command(runc, "list", "-q").Output()
	if err != nil {
		t.Fatalf("runc list: %v", err)
	}
	ids := strings.Fields(string(out))
	slices.Sort(ids)
	return ids
}

// version returns the first line of rt --version.
func version(rt string) string {
	out, _ := exec.Command(rt, "--version").Output()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}
