package main

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
)

// report renders the results as markdown: the machine and the peers, one table per
// measurement, the targets of issue 6 and what did not work.
func (b *bench) report() string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }
	p("# launch benchmark")
	p("")
	p("`go run ./internal/bench` (as root), %d measured runs after %d warm-up runs per peer, interleaved "+
		"(every round starts each peer once, in an order that rotates). Took %v. "+
		"Wall: start to exit as seen by the bench; CPU: user+sys of the whole process tree (wait4).",
		b.cfg.runs, b.cfg.warmup, b.elapsed.Round(time.Second))
	p("")
	p("## Machine")
	p("")
	p("| | |")
	p("|---|---|")
	for _, kv := range b.machine {
		p("| %s | %s |", kv[0], cell(kv[1]))
	}
	p("| Load average (1, 5, 15 min) | %s at the start, %s at the end |", b.load[0], b.load[1])
	p("")
	if busy(b.load[0], b.ncpu) || busy(b.load[1], b.ncpu) {
		p("The machine was busy with other work during the run: every figure is noisier, and all peers are slowed alike only on average.")
		p("")
	}

	p("## Peers")
	p("")
	p("| peer | version | program | how it is run | status |")
	p("|---|---|---|---|---|")
	for _, pr := range b.peers {
		status := "ok"
		if pr.err != nil {
			status = "**not measured**: " + cell(pr.err.Error())
		}
		p("| %s | %s | `%s` | %s | %s |", pr.name, cell(pr.version), pr.bin, cell(pr.note), status)
	}
	p("")

	p("![Median start to exit per peer](startup.svg)")
	p("")
	for _, st := range b.res.startup {
		if st == nil {
			continue
		}
		for _, pl := range []payload{payloadTrue, payloadTiny} {
			b.startupTable(&w, st, pl)
		}
		b.phaseTable(&w, st)
	}
	b.usernsTable(&w)

	b.rssTable(&w)
	b.binaryTable(&w)
	b.seccompTable(&w)
	b.sysinfoTable(&w)
	b.maxPathTable(&w)
	b.profileTable(&w)
	b.mountTable(&w)
	b.concurrentTable(&w)
	b.engineTable(&w)
	b.targets(&w)

	p("## How long each part took")
	p("")
	p("| part | time |")
	p("|---|---:|")
	for _, t := range b.took {
		p("| %s | %s |", t[0], t[1])
	}
	p("| **total** | %s |", b.elapsed.Round(time.Second))
	p("")

	p("## What did not work")
	p("")
	if len(b.notes) == 0 {
		p("Nothing: every peer ran and every measurement was made.")
	}
	for _, n := range b.notes {
		p("- %s", cell(n))
	}
	p("")
	p("Files: `%s`, `%s`; the OCI bundles runc and crun ran are in `%s`.",
		rel(b, "results.md"), rel(b, "startup.svg"), rel(b, "bundles"))
	return w.String()
}

// rel is the path of a file of OUT, relative to the repository if it is inside it.
func rel(b *bench, name string) string { return relRepo(b, filepath.Join(b.out, name)) }

func relRepo(b *bench, p string) string {
	if r, err := filepath.Rel(b.repo, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// busy reports whether a load average exceeds half the CPUs.
func busy(load string, cpus int) bool {
	var one float64
	fmt.Sscan(load, &one)
	return cpus > 0 && one > float64(cpus)/2
}

// cell makes s safe in a table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func mode(st *startup) string {
	if st.spaced == 0 {
		return "back to back"
	}
	return fmt.Sprintf("starts %v apart", st.spaced)
}

func (b *bench) startupTable(w *strings.Builder, st *startup, pl payload) {
	floor := st.find("floor", pl)
	var rows []*entry
	for _, e := range st.entries {
		if e.pay.name == pl.name {
			rows = append(rows, e)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "## Start to exit of `%s`, %s (ms)\n\n", strings.Join(pl.args, " "), mode(st))
	fmt.Fprintf(w, "| peer | wall median | min | max | CPU median | min | max | wall / floor | CPU / floor | runs |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fw, _ := medianMs(floor, false)
	fc, _ := medianMs(floor, true)
	for _, e := range rows {
		if len(e.samples) == 0 {
			fmt.Fprintf(w, "| %s | %s |||||||||\n", e.label, cell(failure(e)))
			continue
		}
		sw, sc := summarize(walls(e.samples)), summarize(cpus(e.samples))
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %s | %s | %s |\n", e.label,
			sw.median, sw.min, sw.max, sc.median, sc.min, sc.max, ratio(sw.median, fw), ratio(sc.median, fc), runs(e))
	}
	fmt.Fprintln(w)
}

// failure says why an entry has no samples.
func failure(e *entry) string {
	switch {
	case e.peer.err != nil:
		return "not measured: " + e.peer.err.Error()
	case e.err != nil:
		return "failed: " + e.err.Error()
	}
	return "not measured (interrupted)"
}

// runs is the count of kept runs, and of failed ones if any.
func runs(e *entry) string {
	if e.failed > 0 {
		return fmt.Sprintf("%d (+%d failed: %s)", len(e.samples), e.failed, cell(e.err.Error()))
	}
	return fmt.Sprint(len(e.samples))
}

func ratio(x, base float64) string {
	if base == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", x/base)
}

func (b *bench) phaseTable(w *strings.Builder, st *startup) {
	var cols []*entry
	for _, v := range st.verbose {
		if len(v.samples) > 0 {
			cols = append(cols, v)
		}
	}
	if len(cols) == 0 {
		return
	}
	var names []string
	means := make([]map[string]float64, len(cols))
	for i, v := range cols {
		n, m := phases(v)
		means[i] = m
		for _, x := range n {
			if !slices.Contains(names, x) {
				names = append(names, x)
			}
		}
	}
	fmt.Fprintf(w, "## Where launch's time goes, %s (ms, mean of `launch -v`'s phases)\n\n", mode(st))
	fmt.Fprintf(w, "`launch -v` ran in the same rounds; its own wall time is in the last row. "+
		"`run` is from exec to the container's exit: the payload itself.\n\n")
	fmt.Fprintf(w, "| phase |")
	for _, v := range cols {
		fmt.Fprintf(w, " `%s` |", strings.Join(v.pay.args, " "))
	}
	fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---:|", len(cols)))
	for _, n := range names {
		fmt.Fprintf(w, "| %s |", n)
		for i := range cols {
			fmt.Fprintf(w, " %.3f |", means[i][n])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "| **sum of phases** |")
	for i := range cols {
		var s float64
		for _, n := range names {
			s += means[i][n]
		}
		fmt.Fprintf(w, " %.3f |", s)
	}
	fmt.Fprintf(w, "\n| launch -v wall, mean |")
	for _, v := range cols {
		fmt.Fprintf(w, " %.3f |", summarize(walls(v.samples)).mean)
	}
	fmt.Fprintf(w, "\n\n")
}

// usernsTable says what a user namespace costs at start, from the medians of the
// startup tables: launch with --userns less launch with its defaults, both as root,
// and launch against bwrap when an ordinary user runs them.
func (b *bench) usernsTable(w *strings.Builder) {
	var rows []string
	for _, st := range b.res.startup {
		if st == nil {
			continue
		}
		m := mode(st)
		rows = append(rows,
			fmt.Sprintf("| launch --userns − launch (as root) | %s | %s | %s |", m,
				difference(st, "launch --userns", "launch", false), difference(st, "launch --userns", "launch", true)),
			fmt.Sprintf("| bwrap (unprivileged) − bwrap (as root, also in a user namespace) | %s | %s | %s |", m,
				difference(st, "bwrap (unprivileged)", "bwrap", false), difference(st, "bwrap (unprivileged)", "bwrap", true)),
			fmt.Sprintf("| launch (unprivileged) vs bwrap (unprivileged) | %s | %s | %s |", m,
				versus(st, "launch (unprivileged)", "bwrap (unprivileged)", false), versus(st, "launch (unprivileged)", "bwrap (unprivileged)", true)))
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "## What a user namespace costs at start (`/bin/true`, ms)\n\n")
	fmt.Fprintf(w, "Medians of the startup tables above, from the same rounds. `launch --userns auto` adds a user namespace "+
		"to the defaults (its root an unprivileged host ID, ROOTFS mounted idmapped and read-only); the unprivileged peers "+
		"are run by an ordinary user (a uid and gid no account has, set between fork and exec), for whom launch maps "+
		"that user to root in a user namespace and sets no cgroups, and bwrap gets `--unshare-user`. bwrap as root makes a user "+
		"namespace too (`--unshare-all` holds `--unshare-user-try`, which maps root to itself), so its row sets an ordinary "+
		"user against root, both with one.\n\n")
	if line := usernsLine(b.res.startup[0]); line != "" {
		fmt.Fprintf(w, "%s\n\n", line)
	}
	fmt.Fprintf(w, "| comparison | mode | wall | CPU |\n|---|---|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintln(w, r)
	}
	fmt.Fprintln(w)
}

// usernsLine sums up the table for st in one sentence, or is empty if launch and
// launch --userns were not both measured.
func usernsLine(st *startup) string {
	if st == nil {
		return ""
	}
	lw, lok := medianMs(st.find("launch", payloadTrue), false)
	lc, _ := medianMs(st.find("launch", payloadTrue), true)
	uw, uok := medianMs(st.find("launch --userns", payloadTrue), false)
	uc, _ := medianMs(st.find("launch --userns", payloadTrue), true)
	if !lok || !uok {
		return ""
	}
	line := fmt.Sprintf("A user namespace costs launch %+.2f ms wall and %+.2f ms CPU at start (%s, medians: "+
		"%.2f and %.2f ms with `--userns auto`, %.2f and %.2f ms without)", uw-lw, uc-lc, mode(st), uw, uc, lw, lc)
	pw, pok := medianMs(st.find("launch (unprivileged)", payloadTrue), false)
	pc, _ := medianMs(st.find("launch (unprivileged)", payloadTrue), true)
	bw, bok := medianMs(st.find("bwrap (unprivileged)", payloadTrue), false)
	bc, _ := medianMs(st.find("bwrap (unprivileged)", payloadTrue), true)
	if pok && bok {
		line += fmt.Sprintf("; run by an ordinary user, launch takes %.2f ms wall and %.2f ms CPU, bwrap %.2f and %.2f ms: %s and %s bwrap's",
			pw, pc, bw, bc, ratio(pw, bw), ratio(pc, bc))
	}
	return line + "."
}

// difference is the median of peer a less that of peer b, with both: "+1.20 (13.62 −
// 12.42)", or why not.
func difference(st *startup, a, b string, cpu bool) string {
	x, xok := medianMs(st.find(a, payloadTrue), cpu)
	y, yok := medianMs(st.find(b, payloadTrue), cpu)
	if !xok || !yok {
		return a + " or " + b + " not measured"
	}
	return fmt.Sprintf("%+.2f (%.2f − %.2f)", x-y, x, y)
}

// versus sets the median of peer a against that of peer b: "10.20 vs 6.10: 1.67×", or
// says why not.
func versus(st *startup, a, b string, cpu bool) string {
	x, xok := medianMs(st.find(a, payloadTrue), cpu)
	y, yok := medianMs(st.find(b, payloadTrue), cpu)
	if !xok || !yok {
		return a + " or " + b + " not measured"
	}
	return fmt.Sprintf("%.2f vs %.2f: %s", x, y, ratio(x, y))
}

func (b *bench) rssTable(w *strings.Builder) {
	if len(b.res.rss) == 0 {
		return
	}
	fmt.Fprintf(w, "## Peak RSS of the launcher process\n\n")
	fmt.Fprintf(w, "Each peer runs `%s`; every 20 ms the bench reads VmHWM from `/proc/PID/status` of the process "+
		"it started (not of its children) and keeps the largest. 3 runs after 1 warm-up.\n\n", strings.Join(payloadSleep.args, " "))
	fmt.Fprintf(w, "| peer | peak VmHWM (KiB) | MiB | runs |\n|---|---:|---:|---:|\n")
	for _, e := range b.res.rss {
		if len(e.samples) == 0 {
			fmt.Fprintf(w, "| %s | %s |||\n", e.label, cell(failure(e)))
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %.2f | %s |\n", e.label, peakRSS(e), float64(peakRSS(e))/1024, runs(e))
	}
	fmt.Fprintln(w)
	if e := b.res.viewRSS; e != nil {
		fmt.Fprintf(w, "The launcher serves the /proc view of its container: with `launch --memory 64M ROOTFS "+
			"/bin/probe try viewload %d 4`, the container reads /proc/meminfo %d times (opens, reads again from 0, "+
			"byte by byte, four readers at once, files left open until the view refuses more), and the peak VmHWM "+
			"of the launcher is:\n\n", viewReads, viewReads)
		if len(e.samples) == 0 {
			fmt.Fprintf(w, "%s\n\n", failure(e))
		} else {
			fmt.Fprintf(w, "%d KiB (%.2f MiB), %s; what the container saw: %s\n\n", peakRSS(e), float64(peakRSS(e))/1024,
				runs(e), strings.TrimSpace(e.samples[len(e.samples)-1].Stdout))
		}
	}
}

func peakRSS(e *entry) int64 {
	var m int64
	for _, s := range e.samples {
		m = max(m, s.HWM)
	}
	return m
}

func (b *bench) binaryTable(w *strings.Builder) {
	fmt.Fprintf(w, "## Binary size and dynamic dependencies\n\n")
	fmt.Fprintf(w, "NEEDED: the shared libraries the binary names (`readelf -d`); ldd: all it loads, the loader included.\n\n")
	fmt.Fprintf(w, "| binary | path | bytes | size | linking | stripped | NEEDED | ldd |\n|---|---|---:|---:|---|---|---:|---:|\n")
	for _, x := range b.res.binaries {
		if x.err != nil {
			fmt.Fprintf(w, "| %s | `%s` | %s |||||||\n", x.name, x.path, cell(x.err.Error()))
			continue
		}
		link := "static"
		if !x.info.static {
			link = "dynamic"
		}
		fmt.Fprintf(w, "| %s | `%s` | %d | %s | %s | %s | %d | %d |\n", x.name, x.path, x.info.size, size(x.info.size),
			link, yes(x.info.stripped), len(x.info.needed), x.ldd)
	}
	fmt.Fprintln(w)
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (b *bench) seccompTable(w *strings.Builder) {
	if len(b.res.seccomp) == 0 {
		return
	}
	fmt.Fprintf(w, "## Cost of the seccomp filter per system call\n\n")
	fmt.Fprintf(w, "`probe loop CALL %d` inside launch: that many raw calls on one locked thread, timed by the thread's CPU clock "+
		"(preemption left out); ns per call, median and min over the runs. "+
		"`personality(0xffffffff)` is allowed only after the filter tests its argument.\n\n", b.cfg.loops)
	fmt.Fprintf(w, "| call | with the filter: median | min | `--seccomp=unconfined`: median | min | ratio of medians | overhead | ratio of mins |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for i := 0; i+1 < len(b.res.seccomp); i += 2 {
		on, off := b.res.seccomp[i], b.res.seccomp[i+1]
		call := strings.Fields(on.label)[0]
		a, o := nsPerCall(on), nsPerCall(off)
		if a.n == 0 || o.n == 0 {
			fmt.Fprintf(w, "| %s | %s || %s |||||\n", call, cell(nsOr(on, a)), cell(nsOr(off, o)))
			continue
		}
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.1f | %.3f | %+.1f %% | %.3f |\n", call, a.median, a.min, o.median, o.min,
			a.median/o.median, (a.median/o.median-1)*100, a.min/o.min)
	}
	fmt.Fprintln(w)
}

// sysinfoTable: what a sysinfo(2) call costs the container when launch answers it.
func (b *bench) sysinfoTable(w *strings.Builder) {
	on, off := b.res.sysinfo[0], b.res.sysinfo[1]
	if on == nil {
		return
	}
	fmt.Fprintf(w, "## Cost of sysinfo(2) answered by launch\n\n")
	fmt.Fprintf(w, "`probe loop sysinfo %d` inside launch: with the /proc view (the default), the launcher answers each call "+
		"from the container's cgroups (seccomp user notification: the caller waits for it); with `--proc-view=off`, the kernel "+
		"answers with the host's figures. µs per call, medians over the runs: the caller's thread CPU time, and wall time "+
		"(which includes the launcher's work and both context switches).\n\n", max(b.cfg.loops/100, 100))
	fmt.Fprintf(w, "| answered by | CPU µs/call | wall µs/call |\n|---|---:|---:|\n")
	for _, e := range []*entry{on, off} {
		who := "launch (view on)"
		if e == off {
			who = "the kernel (`--proc-view=off`)"
		}
		cpu, wall := nsPerCall(e), wallPerCall(e)
		if cpu.n == 0 || wall.n == 0 {
			fmt.Fprintf(w, "| %s | %s ||\n", who, cell(failure(e)))
			continue
		}
		fmt.Fprintf(w, "| %s | %.2f | %.2f |\n", who, cpu.median/1000, wall.median/1000)
	}
	fmt.Fprintln(w)
}

func nsOr(e *entry, x summary) string {
	if x.n == 0 {
		return failure(e)
	}
	return fmt.Sprintf("%.1f", x.median)
}

func (b *bench) maxPathTable(w *strings.Builder) {
	if len(b.res.maxPath) == 0 {
		return
	}
	fmt.Fprintf(w, "## Worst-case BPF instructions per system call\n\n")
	fmt.Fprintf(w, "`const maxPath` of each generated `internal/seccomp/zfilter_linux_<goarch>.go`: the most instructions any system call runs through.\n\n")
	fmt.Fprintf(w, "| GOARCH | instructions |\n|---|---:|\n")
	for _, kv := range b.res.maxPath {
		mark := ""
		if kv[0] == runtime.GOARCH {
			mark = " (this machine)"
		}
		fmt.Fprintf(w, "| %s%s | %s |\n", kv[0], mark, kv[1])
	}
	fmt.Fprintln(w)
}

func (b *bench) mountTable(w *strings.Builder) {
	if len(b.res.mounts) == 0 {
		return
	}
	fmt.Fprintf(w, "## Scaling with the host's mounts: launch `/bin/true`, back to back (ms)\n\n")
	fmt.Fprintf(w, "launch runs in a private mount namespace of the bench holding N extra tmpfs mounts; the host's own are not touched.\n\n")
	fmt.Fprintf(w, "| extra mounts | mount table | wall median | min | max | CPU median | wall / +0 | runs |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var base float64
	for i, e := range b.res.mounts {
		if len(e.samples) == 0 {
			fmt.Fprintf(w, "| %s | %s |||||||\n", e.label, cell(failure(e)))
			continue
		}
		sw, sc := summarize(walls(e.samples)), summarize(cpus(e.samples))
		if i == 0 {
			base = sw.median
		}
		fmt.Fprintf(w, "| %s | %d | %.2f | %.2f | %.2f | %.2f | %s | %s |\n", e.label, b.res.mountCount[e],
			sw.median, sw.min, sw.max, sc.median, ratio(sw.median, base), runs(e))
	}
	fmt.Fprintln(w)
}

func (b *bench) concurrentTable(w *strings.Builder) {
	c := b.res.concurrent
	if c == nil {
		return
	}
	fmt.Fprintf(w, "## %d concurrent launches of `/bin/true`\n\n", c.n)
	fmt.Fprintf(w, "%d launches started at the same instant, %d times after one warm-up batch; "+
		"throughput is launches over the time until the last one exited.\n\n", c.n, c.repeats)
	if len(c.walls) == 0 {
		msg := "not measured"
		if c.err != nil {
			msg += ": " + c.err.Error()
		}
		fmt.Fprintf(w, "%s\n\n", msg)
		return
	}
	sw, st := summarize(c.walls), summarize(c.throughputs)
	fmt.Fprintf(w, "| throughput median (launches/s) | min | max | wall p50 (ms) | wall p99 (ms) | max | launches | failed |\n")
	fmt.Fprintf(w, "|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(w, "| %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %d | %d |\n\n", st.median, st.min, st.max, sw.p50, sw.p99, sw.max, len(c.walls), c.failed)
	if c.err != nil {
		fmt.Fprintf(w, "Last failure: %s\n\n", cell(c.err.Error()))
	}
}

// targets states each goal of issue 6 with the measured value and whether it is met.
func (b *bench) targets(w *strings.Builder) {
	type row struct{ goal, measured, met string }
	var rows []row
	add := func(goal string, ok bool, measured string) {
		rows = append(rows, row{goal, measured, map[bool]string{true: "yes", false: "**no**"}[ok]})
	}
	na := func(goal, why string) { rows = append(rows, row{goal, why, "n/a"}) }
	for _, st := range b.res.startup {
		if st == nil {
			continue
		}
		m := mode(st)
		lw, lok := medianMs(st.find("launch", payloadTrue), false)
		lc, _ := medianMs(st.find("launch", payloadTrue), true)
		cmp := func(goal, peer string, factor float64, cpu bool) {
			x, ok := medianMs(st.find(peer, payloadTrue), cpu)
			l := lw
			if cpu {
				l = lc
			}
			if !lok || !ok {
				na(goal, peer+" or launch not measured")
				return
			}
			limit := x * factor
			add(goal, l <= limit, fmt.Sprintf("launch %.2f ms, %s %.2f ms: %.2f× %s", l, peer, x, l/x, peer))
		}
		cmp("launch median wall ≤ floor's, "+m, "floor", 1, false)
		cmp("launch median wall ≤ bwrap's, "+m, "bwrap", 1, false)
		cmp("launch median wall ≤ 1/5 of runc's, "+m, "runc", 0.2, false)
		cmp("launch median CPU ≤ 1.3× floor's, "+m, "floor", 1.3, true)
		cmp("launch median wall ≤ 1.5× the limit's, "+m, "limit", 1.5, false)
		cmp("launch median CPU ≤ 1.5× the limit's, "+m, "limit", 1.5, true)
	}
	for _, e := range b.res.rss {
		if e.peer.name == "launch" {
			if len(e.samples) == 0 {
				na("launcher peak RSS ≤ 2.5 MiB", failure(e))
			} else {
				k := peakRSS(e)
				add("launcher peak RSS ≤ 2.5 MiB", k <= 2560, fmt.Sprintf("%d KiB = %.2f MiB", k, float64(k)/1024))
			}
		}
	}
	for _, x := range b.res.binaries {
		if x.path == b.launch && x.err == nil {
			s := x.info.size
			note := ""
			if !x.info.stripped {
				note = " (not stripped)"
			}
			add("stripped static binary ≤ 2 MiB", s <= 2<<20 && x.info.stripped && x.info.static,
				fmt.Sprintf("%s: %d bytes = %.2f MiB%s", relRepo(b, b.launch), s, float64(s)/(1<<20), note))
		}
	}
	if len(b.res.seccomp) >= 2 {
		a, o := nsPerCall(b.res.seccomp[0]).median, nsPerCall(b.res.seccomp[1]).median
		if a > 0 && o > 0 {
			add("seccomp overhead ≤ 5 % on getppid", a/o <= 1.05, fmt.Sprintf("%.1f ns vs %.1f ns unconfined (medians): %+.1f %%", a, o, (a/o-1)*100))
		} else {
			na("seccomp overhead ≤ 5 % on getppid", "loop failed")
		}
	} else {
		na("seccomp overhead ≤ 5 % on getppid", "probe not built")
	}

	fmt.Fprintf(w, "## Targets (issue 6)\n\n")
	fmt.Fprintf(w, "Startup targets are for `/bin/true` from busybox; medians of the same run.\n\n")
	fmt.Fprintf(w, "| target | measured | met |\n|---|---|---|\n")
	missed := false
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s |\n", r.goal, cell(r.measured), r.met)
		missed = missed || r.met != "yes"
	}
	fmt.Fprintln(w)
	if missed {
		b.whereTimeGoes(w)
	}
}

// whereTimeGoes names launch's largest phases, for the targets that are missed.
func (b *bench) whereTimeGoes(w *strings.Builder) {
	st := b.res.startup[0]
	if st == nil || len(st.verbose) == 0 || len(st.verbose[0].samples) == 0 {
		return
	}
	names, mean := phases(st.verbose[0])
	var setup float64
	for _, n := range names {
		if n != "run" {
			setup += mean[n]
		}
	}
	sort.SliceStable(names, func(i, j int) bool { return mean[names[i]] > mean[names[j]] })
	var parts []string
	for _, n := range names {
		if n == "run" || len(parts) == 4 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.2f ms", n, mean[n]))
	}
	fmt.Fprintf(w, "Where launch's own time goes (back to back, `/bin/true`, `launch -v`): %.2f ms of setup and cleanup "+
		"besides the payload's run, most of it in %s; the phase tables above have the rest.\n\n", setup, strings.Join(parts, ", "))
	if b.res.perf != "" {
		fmt.Fprintf(w, "`perf stat -r 10` of `launch ROOTFS /bin/true` (%s):\n\n```\n%s\n```\n\n", rel(b, "perf-stat-launch.txt"), b.res.perf)
	}
	if b.res.strace != "" {
		fmt.Fprintf(w, "`strace -f -c` of one `launch ROOTFS /bin/true`, top system calls by time (%s; "+
			"ptrace inflates every call, and the Go runtime's threads' futex and nanosleep calls are mostly waiting, not work):\n\n```\n%s\n```\n\n",
			rel(b, "strace-launch.txt"), b.res.strace)
	}
}

func (b *bench) profileTable(w *strings.Builder) {
	if len(b.res.profiles) == 0 {
		return
	}
	fmt.Fprintf(w, "## Seccomp profiles compiled at a start (`--seccomp=FILE`)\n\n")
	fmt.Fprintf(w, "Read and compiled in the bench's process, the collector off as in the launcher, for this kernel's ABIs and caps.txt's capabilities.\n\n")
	fmt.Fprintf(w, "| profile | runs | median | min | instructions | worst path | ABIs |\n|---|---:|---:|---:|---:|---:|---|\n")
	for _, p := range b.res.profiles {
		if p.err != nil {
			fmt.Fprintf(w, "| %s | %s | | | | | |\n", p.name, p.err)
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %.2f ms | %.2f ms | %d | %d | %s |\n", p.name, p.runs,
			float64(p.median.Microseconds())/1000, float64(p.min.Microseconds())/1000, p.insns, p.maxPath, strings.Join(p.abis, ", "))
	}
	fmt.Fprintln(w)
}

// engineTable shows what podman and containerd take to run /bin/true with runc and
// with launch, and how much of it is the runtime's own run (issue 15).
func (b *bench) engineTable(w *strings.Builder) {
	if len(b.res.engines) == 0 {
		return
	}
	warm, rounds := b.engineRounds()
	fmt.Fprintf(w, "## Container engines: `run --rm` of `/bin/true` with runc and with launch (ms)\n\n")
	fmt.Fprintf(w, "Each engine runs the bench's root file system as an image (`podman import` of its tar; for containerd, "+
		"`podman save --format docker-archive` then `ctr images import`, unpacked for the default snapshotter, overlayfs), "+
		"with runc and with launch as its OCI runtime: `podman --runtime` (vfs storage, cgroupfs, `--network none`) and "+
		"`ctr run --runc-binary` (containerd's runc shim). Storage, state, containerd and its socket are in a temporary "+
		"directory, removed at the end. The four configurations are interleaved: %d rounds after %d warm-up rounds, "+
		"each starting every configuration once in a rotating order (the bench's %d runs, capped at 15 and at 3 with -quick: "+
		"an engine's run takes 0.3 to 1 s). Wall time only: conmon and the shims are daemons, outside the process tree "+
		"whose CPU time the bench can count.\n\n", rounds, warm, b.cfg.runs)
	runcRun, runcOK := medianMs(b.res.startup[0].find("runc", payloadTrue), false)
	launchRun, launchOK := medianMs(b.res.startup[0].find("launch (OCI)", payloadTrue), false)
	fmt.Fprintf(w, "The runtime's own `run` is the median of the runc and launch (OCI) rows of the back-to-back `/bin/true` table "+
		"above, from this bench run: %s for runc, %s for launch. Those run the bench's bundle, not the engine's spec "+
		"(podman's seccomp profile and mounts, containerd's defaults), so the engine's overhead, the engine's median "+
		"less that figure, is an estimate. A share is the runtime's own run over the engine's median with it.\n\n",
		msUnit(runcRun, runcOK), msUnit(launchRun, launchOK))
	fmt.Fprintf(w, "| engine | with runc | with launch | launch − runc | overhead with runc | overhead with launch | runc's share | launch's share |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, en := range b.res.engines {
		if en.err != nil {
			fmt.Fprintf(w, "| %s | %s |||||||\n", en.name, cell("not measured: "+en.err.Error()))
			continue
		}
		er, rOK := medianMs(en.runs[0], false)
		el, lOK := medianMs(en.runs[1], false)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", en.name, msOr(er, rOK), msOr(el, lOK),
			signed(el-er, rOK && lOK), signed(er-runcRun, rOK && runcOK), signed(el-launchRun, lOK && launchOK),
			share(runcRun, er, rOK && runcOK), share(launchRun, el, lOK && launchOK))
	}
	fmt.Fprintf(w, "\n| configuration | version | wall median | min | max | runs |\n|---|---|---:|---:|---:|---:|\n")
	for _, en := range b.res.engines {
		for _, e := range en.runs {
			if len(e.samples) == 0 {
				fmt.Fprintf(w, "| %s | %s | %s |||||\n", e.label, cell(en.version), cell(failure(e)))
				continue
			}
			sw := summarize(walls(e.samples))
			fmt.Fprintf(w, "| %s | %s | %.1f | %.1f | %.1f | %s |\n", e.label, cell(en.version), sw.median, sw.min, sw.max, runs(e))
		}
	}
	fmt.Fprintln(w)
	for _, en := range b.res.engines {
		if en.how != "" {
			fmt.Fprintf(w, "- %s: `%s`\n", en.name, en.how)
		}
	}
	fmt.Fprintln(w)
}

// msOr is a median in ms, or a dash if there is none.
func msOr(x float64, ok bool) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.1f", x)
}

// msUnit is a median with its unit, or says there is none.
func msUnit(x float64, ok bool) string {
	if !ok {
		return "not measured"
	}
	return fmt.Sprintf("%.1f ms", x)
}

// signed is a difference in ms with its sign, or a dash.
func signed(x float64, ok bool) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%+.1f", x)
}

// share is part over whole as a percentage, or a dash.
func share(part, whole float64, ok bool) string {
	if !ok || whole == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", part/whole*100)
}
