package conformance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// A Row is one program's results with two runtimes: Base, the reference (runc), and
// Other. Either is nil when that runtime did not run the program.
type Row struct {
	Test        string
	Base, Other *Result
	// Tries counts the runs of the program with Other beyond the first (Recheck).
	Tries int
}

// Compare pairs the results of two runtimes by program, in the order of the names.
func Compare(base, other []*Result) []Row {
	byTest := map[string]*Row{}
	for _, r := range base {
		byTest[r.Test] = &Row{Test: r.Test, Base: r}
	}
	for _, r := range other {
		if byTest[r.Test] == nil {
			byTest[r.Test] = &Row{Test: r.Test}
		}
		byTest[r.Test].Other = r
	}
	var rows []Row
	for _, row := range byTest {
		rows = append(rows, *row)
	}
	slices.SortFunc(rows, func(a, b Row) int { return strings.Compare(a.Test, b.Test) })
	return rows
}

// Worse reports whether Other did worse than Base: it passed fewer tests, or the
// program, which ended well with Base, did not with Other (for the programs that
// print no test, such as the hooks ones and those named _fail, that is the only
// verdict), or Other did not run it.
//
// A program named _fail gives the runtime a config it must refuse, and fails (exit
// 1, util.Fatal) only if the runtime took it: whatever tests it printed were run in
// a container that should not have started, and its status alone is the verdict.
func (r Row) Worse() bool {
	if r.Base == nil {
		return false
	}
	if r.Other == nil {
		return true
	}
	if strings.HasSuffix(r.Test, "_fail") {
		return r.Base.OK() && !r.Other.OK()
	}
	return r.Other.Pass < r.Base.Pass || r.Base.OK() && !r.Other.OK()
}

// Recheck runs again, up to n times, each program with which Other did worse than
// Base, and keeps the first result that is not worse (or the last). Some programs
// fail now and then with runc: process_rlimits in about one run of fifteen ("error
// adding seccomp filter rule for syscall geteuid: cannot allocate memory": the test's
// RLIMIT_AS of 1 GiB against runc init's address space), and killsig under load (the
// signal can come before sh has set its trap).
func (s *Suite) Recheck(ctx context.Context, rows []Row, rt string, n int, timeout time.Duration) error {
	for i := range rows {
		for rows[i].Worse() && rows[i].Tries < n {
			r, err := s.Run(ctx, rows[i].Test, rt, timeout)
			if err != nil {
				return err
			}
			rows[i].Tries++
			rows[i].Other = r
		}
	}
	return nil
}

// Score is "passed/total", followed by the program's status when it is not ok:
// "6/7", "0/0 (exit 1)", "3/5 (timed out)".
func Score(r *Result) string {
	if r == nil {
		return "-"
	}
	s := fmt.Sprintf("%d/%d", r.Pass, r.Total)
	if !r.OK() {
		s += " (" + r.Status() + ")"
	}
	return s
}

// Table formats rows as aligned text, or as a Markdown table if markdown is set,
// with a column for each runtime, headed by its name, and a last row of totals:
// tests passed of tests run, and programs that ended well.
func Table(rows []Row, baseName, otherName string, markdown bool) string {
	var (
		lines           [][]string
		bp, bt, op, ot  int
		bok, ook, worse int
	)
	for _, row := range rows {
		mark := ""
		if row.Worse() {
			mark = "worse"
			worse++
		}
		other := Score(row.Other)
		if row.Tries > 0 {
			other += fmt.Sprintf(" (run %d times)", row.Tries+1)
		}
		lines = append(lines, []string{row.Test, Score(row.Base), other, mark})
		if r := row.Base; r != nil {
			bp, bt = bp+r.Pass, bt+r.Total
			if r.OK() {
				bok++
			}
		}
		if r := row.Other; r != nil {
			op, ot = op+r.Pass, ot+r.Total
			if r.OK() {
				ook++
			}
		}
	}
	lines = append(lines, []string{
		fmt.Sprintf("total (%d programs)", len(rows)),
		fmt.Sprintf("%d/%d, %d ok", bp, bt, bok),
		fmt.Sprintf("%d/%d, %d ok", op, ot, ook),
		fmt.Sprintf("%d worse", worse),
	})
	head := []string{"test", baseName, otherName, ""}

	var b strings.Builder
	if markdown {
		fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat(" --- |", len(head)))
		for i, l := range lines {
			if i < len(rows) {
				l[0] = "`" + l[0] + "`" // a program's name
			}
			fmt.Fprintf(&b, "| %s |\n", strings.Join(l, " | "))
		}
		return b.String()
	}
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	for _, l := range append([][]string{head}, lines...) {
		fmt.Fprintln(tw, strings.Join(l, "\t"))
	}
	tw.Flush()
	return b.String()
}
