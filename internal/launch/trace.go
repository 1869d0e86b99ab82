package launch

import (
	"io"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A trace records how long each part of a start takes, for -v. Times are
// CLOCK_MONOTONIC, the clock the child stamps its steps with.
type trace struct {
	w      io.Writer
	on     bool
	last   int64
	phases map[string]int64
	order  []string
}

func newTrace(w io.Writer, on bool) *trace {
	return &trace{w: w, on: on, last: monotonic(), phases: make(map[string]int64)}
}

func monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// mark ends the current part of the start: it lasted from the last mark until now.
func (t *trace) mark(phase, what string) { t.markAt(monotonic(), phase, what) }

func (t *trace) markAt(now int64, phase, what string) {
	if !t.on {
		return
	}
	d := now - t.last
	t.last = now
	if _, ok := t.phases[phase]; !ok {
		t.order = append(t.order, phase)
	}
	t.phases[phase] += d
	io.WriteString(t.w, "launch: "+padLeft(ms(d), 8)+" ms  "+pad(phase, 12)+" "+what+"\n")
}

// childSteps reports the child's steps from the start times it recorded, the last one
// ending at end (when the parent saw exec succeed or fail).
func (t *trace) childSteps(times *[slots]int64, steps []step, end int64) {
	if !t.on || times == nil {
		return
	}
	t.markAt(times[0], "clone", "create the child with its namespaces")
	n := min(len(steps), len(times))
	for i := 0; i < n; i++ {
		stop := end
		if i+1 < n && times[i+1] != 0 {
			stop = times[i+1]
		}
		if times[i] == 0 || stop < times[i] {
			break // not reached
		}
		s := steps[i]
		t.markAt(stop, phase[s.op], strings.TrimSpace(s.what+" "+s.path))
	}
}

// ms formats nanoseconds as milliseconds with three decimals.
func ms(ns int64) string { return strconv.FormatFloat(float64(ns)/1e6, 'f', 3, 64) }

// padLeft returns s preceded by spaces up to n bytes.
func padLeft(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat(" ", n-len(s)) + s
}

// summary prints the total of each phase on one line.
func (t *trace) summary() {
	if !t.on {
		return
	}
	var b strings.Builder
	for _, p := range t.order {
		b.WriteString(" " + strings.ReplaceAll(p, " ", "_") + "=" + ms(t.phases[p]))
	}
	io.WriteString(t.w, "launch: phases (ms):"+b.String()+"\n")
}
