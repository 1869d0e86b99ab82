package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A job is one command for the bench to start and time.
type job struct {
	Argv    []string
	RSS     bool          // poll the command's peak RSS while it runs
	Timeout time.Duration // kill it after this long
	// Cred, if set, is the user the command runs as: the child sets its groups, gid
	// and uid between fork and exec, so that no wrapper's own exec is timed.
	Cred *syscall.Credential `json:",omitempty"`
}

// A sample is what one run of a job measured.
type sample struct {
	Wall   time.Duration // from just before the fork to the return of wait4
	CPU    time.Duration // user+sys of the command and every descendant it waited for
	Status int           // exit status; 128+N when killed by signal N
	Stdout string
	Stderr string
	HWM    int64  // the largest VmHWM seen, in KiB (with RSS)
	Killed bool   // it ran into the timeout
	Hung   string // then: where each process of its tree was waiting
}

// An executor runs jobs: the bench itself (a scratch) or a runner in a mount namespace
// of its own (a remote).
type executor interface {
	run(j job) (sample, error)
}

// A scratch runs jobs from the bench's process. It owns the files the commands write
// their output to: files rather than pipes, so that no goroutine copies output while
// a command is being timed.
type scratch struct {
	null, out, err *os.File
}

func newScratch() (*scratch, error) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	s := &scratch{null: null}
	for _, f := range []**os.File{&s.out, &s.err} {
		// Unlinked at once: nothing is left behind whatever happens to the bench.
		if *f, err = os.CreateTemp("", "launch-bench-out-"); err != nil {
			s.close()
			return nil, fmt.Errorf("create output file: %w", err)
		}
		os.Remove((*f).Name())
	}
	return s, nil
}

func (s *scratch) close() {
	for _, f := range []*os.File{s.null, s.out, s.err} {
		if f != nil {
			f.Close()
		}
	}
}

// run starts j.Argv and waits for it. The error is the bench's own failure (the
// program could not be started); how the command ended is in the sample.
func (s *scratch) run(j job) (sample, error) {
	var smp sample
	for _, f := range []*os.File{s.out, s.err} {
		if err := f.Truncate(0); err != nil {
			return smp, fmt.Errorf("truncate %s: %w", f.Name(), err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return smp, fmt.Errorf("seek %s: %w", f.Name(), err)
		}
	}
	attr := &os.ProcAttr{
		Files: []*os.File{s.null, s.out, s.err},
		// A process group of its own, so that a timeout can kill the whole tree; the
		// parent-death signal, so that an interrupted bench leaves nothing running. The
		// runtime sets that signal after the credential, whose change would clear it
		// (prctl(2), PR_SET_PDEATHSIG).
		Sys: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: j.Cred},
	}
	start := time.Now()
	p, err := os.StartProcess(j.Argv[0], j.Argv, attr)
	if err != nil {
		return smp, err
	}
	defer p.Release()
	pid := p.Pid
	var hung atomic.Pointer[string]
	if j.Timeout > 0 {
		// Stored before the kill, so it is seen once wait4 returns for the killed process.
		timer := time.AfterFunc(j.Timeout, func() {
			where := waiting(pid)
			hung.Store(&where)
			unix.Kill(-pid, unix.SIGKILL)
		})
		defer timer.Stop()
	}
	ws, ru, hwm, err := wait(pid, j.RSS)
	smp.Wall = time.Since(start)
	if h := hung.Load(); h != nil {
		smp.Killed, smp.Hung = true, *h
	}
	if err != nil {
		return smp, err
	}
	smp.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	smp.HWM = hwm
	switch {
	case ws.Exited():
		smp.Status = ws.ExitStatus()
	case ws.Signaled():
		smp.Status = 128 + int(ws.Signal())
	}
	smp.Stdout = tail(s.out)
	smp.Stderr = tail(s.err)
	return smp, nil
}

// wait waits for pid with wait4, which also returns the rusage of pid and of every
// descendant it reaped. With rss it polls instead, every 20 ms, and keeps the largest
// VmHWM of /proc/PID/status: the peak resident size of the process the bench started
// (its children are not counted), read as late before its exit as the polling allows.
func wait(pid int, rss bool) (unix.WaitStatus, unix.Rusage, int64, error) {
	var (
		ws  unix.WaitStatus
		ru  unix.Rusage
		hwm int64
	)
	opt := 0
	if rss {
		opt = unix.WNOHANG
	}
	for {
		got, err := unix.Wait4(pid, &ws, opt, &ru)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return ws, ru, hwm, os.NewSyscallError("wait4", err)
		}
		if got == pid {
			return ws, ru, hwm, nil
		}
		hwm = max(hwm, vmHWM(pid))
		time.Sleep(20 * time.Millisecond)
	}
}

// waiting describes where pid and its descendants wait, for a report on a command
// that hung: "launch(123) S pipe_read; true(124) S do_wait".
func waiting(pid int) string {
	var parts []string
	var walk func(pid, depth int)
	walk = func(pid, depth int) {
		p := "/proc/" + strconv.Itoa(pid)
		comm, _ := os.ReadFile(p + "/comm")
		wchan, _ := os.ReadFile(p + "/wchan")
		state := "?"
		if st, err := os.ReadFile(p + "/stat"); err == nil {
			// The state follows the command name, which is in parentheses and may hold
			// spaces.
			if i := strings.LastIndexByte(string(st), ')'); i > 0 && i+2 < len(st) {
				state = string(st[i+2])
			}
		}
		parts = append(parts, fmt.Sprintf("%s(%d) %s %s", strings.TrimSpace(string(comm)), pid, state, wchan))
		if depth > 5 {
			return
		}
		tasks, _ := os.ReadDir(p + "/task")
		for _, t := range tasks {
			kids, _ := os.ReadFile(p + "/task/" + t.Name() + "/children")
			for _, k := range strings.Fields(string(kids)) {
				if n, err := strconv.Atoi(k); err == nil {
					walk(n, depth+1)
				}
			}
		}
	}
	walk(pid, 0)
	return strings.Join(parts, "; ")
}

// vmHWM reads the peak resident set size of pid in KiB, or 0 if it has none (a zombie).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// tail returns the last 16 KiB a command wrote to f.
func tail(f *os.File) string {
	const most = 16 << 10
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return ""
	}
	off := max(0, fi.Size()-most)
	b := make([]byte, fi.Size()-off)
	n, _ := f.ReadAt(b, off)
	return string(b[:n])
}

// lastLine is the last non-empty line of s, for error messages.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
