package conformance

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseTAP(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want TAP
	}{
		{"empty", "", TAP{}},
		{
			// default, shortened: skips pass.
			name: "skips",
			out: "TAP version 13\nok 1 - has expected hostname\n  ---\n  {\n    \"actual\": \"x\"\n  }\n  ...\n" +
				"ok 2 # SKIP linux.mountlabel not set\n1..2\n",
			want: TAP{Pass: 2, Skip: 1, Total: 2, Plans: 1, Diagnostics: 1},
		},
		{
			// start: a failure, its diagnostic, and a YAML line that looks like a test.
			name: "failure",
			out: "TAP version 13\nok 1 - start without id\nnot ok 2 - exit status 1\n  ---\n  ok 3 - not a test\n  ...\n" +
				"ok 3 - start twice\n1..3\n",
			want: TAP{Pass: 2, Fail: 1, Total: 3, Plans: 1, Diagnostics: 1, Failures: []string{"not ok 2 - exit status 1"}},
		},
		{
			// linux_cgroups_cpus prints two streams, each numbered from 1.
			name: "two streams",
			out:  "TAP version 13\n# expect: 1024, actual: 1024\nok 1 - a\nok 2 - b\n1..2\nTAP version 13\nok 1 - c\n1..1\n",
			want: TAP{Pass: 3, Total: 3, Plans: 2},
		},
		{
			// prestart: the error as a diagnostic, no test.
			name: "hooks error",
			out:  "TAP version 13\n  ---\n  {\n    \"error\": \"Pre-start hooks MUST be called after the `start` operation is called\"\n  }\n  ...\n1..0\n",
			want: TAP{Plans: 1, Diagnostics: 1},
		},
		{
			name: "missing tests",
			out:  "TAP version 13\n1..5\nok 1\nnot ok 2\n",
			want: TAP{Pass: 1, Fail: 1, Total: 5, Plans: 1, Failures: []string{"not ok 2"}},
		},
		{
			name: "bail out",
			out:  "TAP version 13\nok 1 - a\nBail out! no runtime\n",
			want: TAP{Pass: 1, Total: 1, Bailed: true, Failures: []string{"Bail out! no runtime"}},
		},
		{
			name: "not tests",
			out:  "okay\nnot okay\n# ok 1\n",
			want: TAP{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseTAP(tt.out); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseTAP(%q) = %+v, want %+v", tt.out, got, tt.want)
			}
		})
	}
}

func TestResultOK(t *testing.T) {
	tests := []struct {
		name   string
		r      Result
		ok     bool
		status string
	}{
		{"passed", Result{TAP: TAP{Pass: 3, Total: 3}}, true, "ok"},
		{"failed tests", Result{TAP: TAP{Pass: 2, Fail: 1, Total: 3}}, true, "ok"},
		{"no output", Result{}, true, "ok"}, // process_rlimits_fail with a runtime that refuses
		{"fatal", Result{Exit: 1}, false, "exit 1"},
		{"timed out", Result{Exit: -1, TimedOut: true}, false, "timed out"},
		{"hooks error", Result{TAP: TAP{Plans: 1, Diagnostics: 1}}, false, "error"},
		{"diagnostics of tests", Result{TAP: TAP{Pass: 1, Total: 1, Diagnostics: 1}}, true, "ok"},
		{"bailed", Result{TAP: TAP{Bailed: true}}, false, "bailed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ok, status := tt.r.OK(), tt.r.Status(); ok != tt.ok || status != tt.status {
				t.Errorf("%+v: OK, Status = %v, %q, want %v, %q", tt.r, ok, status, tt.ok, tt.status)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	res := func(test string, pass, total, exit int) *Result {
		return &Result{Test: test, TAP: TAP{Pass: pass, Fail: total - pass, Total: total}, Exit: exit}
	}
	base := []*Result{res("default", 307, 307, 0), res("delete", 3, 5, 0), res("kill", 5, 5, 0), res("process_capabilities", 0, 0, 1), res("state", 3, 3, 0)}
	other := []*Result{res("default", 307, 307, 0), res("delete", 4, 5, 0), res("kill", 4, 5, 0), res("process_capabilities", 0, 0, 1), res("extra", 1, 1, 0)}
	want := map[string]bool{"default": false, "delete": false, "extra": false, "kill": true, "process_capabilities": false, "state": true}

	rows := Compare(base, other)
	var names []string
	for _, row := range rows {
		names = append(names, row.Test)
		if got := row.Worse(); got != want[row.Test] {
			t.Errorf("%s: Worse() = %v, want %v", row.Test, got, want[row.Test])
		}
	}
	if got, want := strings.Join(names, " "), "default delete extra kill process_capabilities state"; got != want {
		t.Errorf("Compare rows = %s, want %s", got, want)
	}

	md := Table(rows, "runc", "launch", true)
	for _, line := range []string{
		"| test | runc | launch |  |",
		"| `kill` | 5/5 | 4/5 | worse |",
		"| `process_capabilities` | 0/0 (exit 1) | 0/0 (exit 1) |  |",
		"| `state` | 3/3 | - | worse |",
		"| total (6 programs) | 318/320, 4 ok | 316/318, 4 ok | 2 worse |",
	} {
		if !strings.Contains(md, line+"\n") {
			t.Errorf("Table(markdown) has no line %q:\n%s", line, md)
		}
	}
}
