package conformance

import (
	"strconv"
	"strings"
)

// TAP is what one program printed, in the Test Anything Protocol (testanything.org,
// version 13, as github.com/mndrix/tap-go writes it).
type TAP struct {
	// Pass counts the "ok" lines, those with a SKIP directive included (a test the
	// runtime need not support is not failed: runc passes default 307/307 with two
	// skipped); Skip counts those alone. Fail counts the "not ok" lines.
	Pass, Fail, Skip int
	// Total is the sum, over the streams printed (a program may print several, each
	// starting again at 1), of the plan or, where a stream ran more tests or printed
	// no plan, of its tests.
	Total int
	// Plans counts the plan lines ("1..N").
	Plans int
	// Failures are the "not ok" lines and any "Bail out!".
	Failures []string
	// Diagnostics counts the YAML blocks ("  ---" to "  ..."), with which the
	// programs report errors and details.
	Diagnostics int
	// Bailed is set by a "Bail out!" line.
	Bailed bool
}

// ParseTAP reads a program's standard output. Lines it does not know are ignored, as
// TAP consumers must.
func ParseTAP(out string) TAP {
	var (
		t      TAP
		plan   = -1 // the current stream's plan, if any
		tests  int  // the current stream's tests
		inYAML bool
	)
	endStream := func() {
		t.Total += max(plan, tests)
		plan, tests = -1, 0
	}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if inYAML {
			inYAML = strings.TrimSpace(line) != "..."
			continue
		}
		switch {
		case strings.HasPrefix(line, "TAP version"):
			endStream()
		case strings.TrimSpace(line) == "---" && strings.HasPrefix(line, " "):
			inYAML = true
			t.Diagnostics++
		case strings.HasPrefix(line, "1.."):
			n, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(line[3:], "#", 2)[0]))
			if err == nil {
				plan = n
				t.Plans++
			}
		case strings.HasPrefix(line, "Bail out!"):
			t.Bailed = true
			t.Failures = append(t.Failures, line)
		case isTest(line, "not ok"):
			tests++
			t.Fail++
			t.Failures = append(t.Failures, line)
		case isTest(line, "ok"):
			tests++
			t.Pass++
			if i := strings.Index(line, "#"); i >= 0 {
				d := strings.ToUpper(strings.TrimSpace(line[i+1:]))
				if strings.HasPrefix(d, "SKIP") {
					t.Skip++
				}
			}
		}
	}
	endStream()
	return t
}

// isTest reports whether line is a test line of that status: "ok", "ok 3", "ok 3 -
// what", "ok # SKIP why".
func isTest(line, status string) bool {
	rest, ok := strings.CutPrefix(line, status)
	return ok && (rest == "" || rest[0] == ' ')
}
