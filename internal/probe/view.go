package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/probe/report"
)

// Operations of probe try for the tests of the /proc view (init/procview_test.go):
// they read the view's files in every way programs do, and attack the server that
// answers them, the launcher.
//
//	try viewstress SECONDS all|pagecache FILE...
//	                        read each FILE for SECONDS in many ways at once: busybox
//	                        cat (sendfile), splice(2) and mmap(2), which read through the
//	                        page cache, and with all also busybox head -c1 and dd,
//	                        read(2), pread from 0 on an open file, byte by byte; a line
//	                        per way and file, then "ok" if every read was answered
//	                        within 20 s and every content was whole
//	try killstorm ROUNDS    ROUNDS times: start a process per file of the view reading
//	                        it in a loop, SIGKILL them all after up to 5 ms; then read
//	                        each file within a second: "ok", or what did not answer
//	try openloop FILE       read FILE in a loop, for ever (killstorm's processes)
//	try pagecache FILE      read FILE with splice(2), then mmap(2), from one open file:
//	                        "ok" if both give the same whole content
//	try viewload N WORKERS [pause]
//	                        read /proc/meminfo N times: opens, re-reads from 0, slow
//	                        readers, WORKERS readers at once, and files left open until
//	                        the view refuses more; with pause, print "1000" after the
//	                        1000th read and "N" after the last, and wait for a line on
//	                        stdin after each
func init() {
	moreOps["viewstress"] = tryViewStress
	moreOps["killstorm"] = tryKillStorm
	moreOps["openloop"] = tryOpenLoop
	moreOps["viewload"] = tryViewLoad
	moreOps["pagecache"] = tryPageCache
}

// tryPageCache reads a file of the view through the page cache, from one open file
// and with nothing else reading it: splice(2), then mmap(2). Both must give the same
// whole content, as long as read(2) says.
func tryPageCache(a []string) string {
	path := arg(a, 0)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "open " + report.ErrName(err)
	}
	spliced, err := spliceFrom(fd)
	if err != nil {
		unix.Close(fd)
		return "splice: " + report.ErrName(err)
	}
	mapped, err := mapFrom(fd)
	unix.Close(fd)
	if err != nil {
		return "mmap: " + report.ErrName(err)
	}
	ref, err := os.ReadFile(path)
	if err != nil {
		return "read " + report.ErrName(err)
	}
	if err := whole(spliced, bytes.Count(ref, []byte("\n"))); err != nil {
		return "splice: " + err.Error()
	}
	if !bytes.Equal(mapped, spliced) {
		return fmt.Sprintf("mmap: %q, splice %q", mapped, spliced)
	}
	return "ok"
}

// viewFiles are the files of the /proc view.
var viewFiles = []string{"/proc/meminfo", "/proc/cpuinfo", "/proc/stat", "/proc/uptime", "/sys/devices/system/cpu/online"}

// hangAfter is how long a read may take before it counts as never answered.
const hangAfter = 20 * time.Second

// whole checks that b is a whole copy of a file of lines lines: not empty, no NUL
// byte, ending in a newline, with that many lines.
func whole(b []byte, lines int) error {
	switch {
	case len(b) == 0:
		return errors.New("empty")
	case bytes.IndexByte(b, 0) >= 0:
		return fmt.Errorf("a NUL byte at %d of %d", bytes.IndexByte(b, 0), len(b))
	case b[len(b)-1] != '\n':
		return fmt.Errorf("no final newline (%d bytes)", len(b))
	case bytes.Count(b, []byte("\n")) != lines:
		return fmt.Errorf("%d lines, want %d", bytes.Count(b, []byte("\n")), lines)
	}
	return nil
}

// A reader is one way of reading one file, run in a loop.
type reader struct {
	way, file string
	read      func() ([]byte, error) // one read; the content, or nil if not checked

	mu       sync.Mutex
	n, bad   int
	hung     int
	refused  int // EINVAL from splice, SIGBUS from a mapping: the view does not fill the page cache then
	firstBad string
	since    time.Time // when the read under way started; zero between reads
}

// errRefused is a read the view refused as it may: splice(2) or a mapping of a content
// it does not let into the page cache.
var errRefused = errors.New("refused")

func (r *reader) String() string {
	s := fmt.Sprintf("%s %s: %d reads, %d refused, %d bad, %d unanswered", r.way, r.file, r.n, r.refused, r.bad, r.hung)
	if r.firstBad != "" {
		s += ", first: " + r.firstBad
	}
	return s
}

// loop reads until the deadline.
func (r *reader) loop(deadline time.Time, lines int) {
	for time.Now().Before(deadline) {
		r.mu.Lock()
		r.since = time.Now()
		r.mu.Unlock()
		b, err := r.read()
		if err == nil && b != nil {
			err = whole(b, lines)
		}
		r.mu.Lock()
		r.since = time.Time{}
		r.n++
		if err != nil {
			switch {
			case errors.Is(err, errRefused):
				r.refused++
				r.mu.Unlock()
				continue
			case errors.Is(err, context.DeadlineExceeded):
				r.hung++
			default:
				r.bad++
			}
			if r.firstBad == "" {
				r.firstBad = err.Error()
			}
		}
		r.mu.Unlock()
	}
}

// busy says how long the read under way has taken, 0 if none is.
func (r *reader) busy() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.since.IsZero() {
		return 0
	}
	return time.Since(r.since)
}

// busybox runs busybox with args and returns what it wrote; a run longer than
// hangAfter is killed and counts as unanswered.
func busybox(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), hangAfter)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/bin/busybox", args...).Output()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("busybox %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// spliceRead reads path through a pipe with splice(2), the way sendfile(2) does.
func spliceRead(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return spliceFrom(fd)
}

// spliceFrom reads the open file fd from its position to its end with splice(2).
func spliceFrom(fd int) ([]byte, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, err
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Splice(fd, nil, p[1], nil, 64<<10, 0)
		if err == unix.EINVAL && len(out) == 0 {
			return nil, errRefused
		}
		if err != nil {
			return nil, fmt.Errorf("splice: %w", err)
		}
		if n == 0 {
			return out, nil
		}
		for left := int(n); left > 0; { // n is an int64 or an int, by GOARCH
			m, err := unix.Read(p[0], buf[:min(left, len(buf))])
			if err != nil {
				return nil, err
			}
			out, left = append(out, buf[:m]...), left-m
		}
	}
}

// mmapRead maps path as long as fstat says and copies what it maps. A fault is an
// answer too: the view refused to fill the page cache.
func mmapRead(path string) (b []byte, err error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return mapFrom(fd)
}

// mapFrom maps the open file fd as long as fstat says and copies what it maps.
func mapFrom(fd int) (b []byte, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Size == 0 {
		return nil, err
	}
	mem, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	defer unix.Munmap(mem)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			b, err = nil, errRefused
		}
	}()
	return append([]byte(nil), mem...), nil
}

// preadAgain reads an open file again and again from offset 0, as top does.
func preadAgain(path string) func() ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	return func() ([]byte, error) {
		if err != nil {
			return nil, err
		}
		buf := make([]byte, 256<<10)
		n := 0
		for {
			m, err := unix.Pread(fd, buf[n:], int64(n))
			if err != nil {
				return nil, err
			}
			if m == 0 {
				return buf[:n], nil
			}
			n += m
		}
	}
}

// byteByByte reads a new open of path one byte per read(2) for its first 256 bytes,
// then 4 KiB at a time.
func byteByByte(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var out []byte
	buf := make([]byte, 4096)
	for {
		size := 1
		if len(out) >= 256 {
			size = len(buf)
		}
		n, err := unix.Read(fd, buf[:size])
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
	}
}

func tryViewStress(a []string) string {
	secs, err := strconv.Atoi(arg(a, 0))
	if err != nil || len(a) < 3 {
		return "usage: try viewstress SECONDS all|pagecache FILE..."
	}
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	all := a[1] == "all"
	var readers []*reader
	lines := map[*reader]int{}
	for _, f := range a[2:] {
		ref, err := os.ReadFile(f)
		if err != nil || len(ref) == 0 {
			return fmt.Sprintf("%s: %v (%d bytes)", f, err, len(ref))
		}
		first := ref[0]
		add := func(way string, read func() ([]byte, error)) {
			r := &reader{way: way, file: f, read: read}
			readers = append(readers, r)
			lines[r] = bytes.Count(ref, []byte("\n"))
		}
		// The readers through the page cache: busybox cat uses sendfile(2), and falls
		// back to read(2) when it fails.
		for range 2 {
			add("cat", func() ([]byte, error) { return busybox("cat", f) })
			add("splice", func() ([]byte, error) { return spliceRead(f) })
			add("mmap", func() ([]byte, error) { return mmapRead(f) })
		}
		if !all {
			continue
		}
		for range 2 {
			add("head-c1", func() ([]byte, error) {
				b, err := busybox("head", "-c1", f)
				if err == nil && (len(b) != 1 || b[0] == 0 || (f != "/proc/uptime" && f != "/proc/loadavg" && b[0] != first)) {
					err = fmt.Errorf("head -c1 printed %q, want %q", b, first)
				}
				return nil, err
			})
		}
		add("dd-bs100", func() ([]byte, error) { return busybox("dd", "if="+f, "bs=100") })
		add("read", func() ([]byte, error) { return os.ReadFile(f) })
		add("pread-from-0", preadAgain(f))
		add("byte-by-byte", func() ([]byte, error) { return byteByByte(f) })
	}
	var wg sync.WaitGroup
	for _, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.loop(deadline, lines[r])
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// A read of the probe's own that takes longer than hangAfter cannot be killed:
	// the watch notes it and goes on.
	stuck := map[*reader]bool{}
	for watching := true; watching; {
		select {
		case <-done:
			watching = false
		case <-time.After(time.Second):
			for _, r := range readers {
				if r.busy() > hangAfter {
					stuck[r] = true
				}
			}
			if time.Now().After(deadline.Add(2 * hangAfter)) {
				watching = false
			}
		}
	}
	var out []string
	failed := false
	for _, r := range readers {
		out = append(out, r.String())
		if stuck[r] {
			out = append(out, r.way+" "+r.file+": a read took more than "+hangAfter.String())
		}
		failed = failed || stuck[r] || r.bad > 0 || r.hung > 0 || r.n == 0
	}
	if failed {
		return strings.Join(out, "\n") + "\nFAIL"
	}
	return strings.Join(out, "\n") + "\nok"
}

func tryOpenLoop(a []string) string {
	for {
		os.ReadFile(arg(a, 0))
	}
}

func tryKillStorm(a []string) string {
	rounds, err := strconv.Atoi(arg(a, 0))
	if err != nil {
		return "usage: try killstorm ROUNDS"
	}
	for range rounds {
		var cmds []*exec.Cmd
		for _, f := range viewFiles {
			cmd := exec.Command("/proc/self/exe", "try", "openloop", f)
			if err := cmd.Start(); err != nil {
				return "start: " + err.Error()
			}
			cmds = append(cmds, cmd)
		}
		time.Sleep(time.Duration(rand.Intn(5000)) * time.Microsecond)
		for _, cmd := range cmds {
			cmd.Process.Kill()
		}
		for _, cmd := range cmds {
			cmd.Wait()
		}
	}
	// Every file answers within a second.
	type answer struct {
		file string
		err  error
	}
	answers := make(chan answer, len(viewFiles))
	for _, f := range viewFiles {
		go func() {
			b, err := os.ReadFile(f)
			if err == nil && len(b) == 0 {
				err = errors.New("empty")
			}
			answers <- answer{f, err}
		}()
	}
	var bad []string
	timeout := time.After(time.Second)
	answered := map[string]bool{}
wait:
	for range viewFiles {
		select {
		case a := <-answers:
			answered[a.file] = true
			if a.err != nil {
				bad = append(bad, a.file+": "+a.err.Error())
			}
		case <-timeout:
			for _, f := range viewFiles {
				if !answered[f] {
					bad = append(bad, f+": no answer within a second")
				}
			}
			break wait
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return strings.Join(bad, "; ")
	}
	return "ok"
}

// readFile reads path into buf with plain system calls, and returns the byte count.
func readFile(path string, buf []byte) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	n := 0
	for {
		m, err := unix.Read(fd, buf[n:])
		if err != nil || m == 0 {
			return n, err
		}
		n += m
	}
}

func tryViewLoad(a []string) string {
	total, err1 := strconv.Atoi(arg(a, 0))
	workers, err2 := strconv.Atoi(arg(a, 1))
	pause := arg(a, 2) == "pause"
	if err1 != nil || err2 != nil || total < 1000 || workers < 1 {
		return "usage: try viewload N WORKERS [pause]"
	}
	const path = "/proc/meminfo"
	stdin := bufio.NewReader(os.Stdin)
	milestone := func(n int) {
		if pause {
			fmt.Println(n)
			stdin.ReadString('\n')
		}
	}
	buf := make([]byte, 64<<10)
	for range 1000 {
		if _, err := readFile(path, buf); err != nil {
			return "read " + report.ErrName(err)
		}
	}
	milestone(1000)

	var (
		mu    sync.Mutex
		reads = 1000
		errs  = map[string]int{}
	)
	count := func(err error) bool {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs[report.ErrName(err)]++
		}
		if reads >= total {
			return false
		}
		reads++
		return true
	}
	var wg sync.WaitGroup
	run := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	// Opens, each read to the end, by WORKERS readers at once.
	for range workers {
		run(func() {
			buf := make([]byte, 64<<10)
			for {
				_, err := readFile(path, buf)
				if !count(err) {
					return
				}
			}
		})
	}
	// A file kept open and read again from 0, as top does.
	run(func() {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			count(err)
			return
		}
		defer unix.Close(fd)
		buf := make([]byte, 64<<10)
		for {
			_, err := unix.Pread(fd, buf, 0)
			if !count(err) {
				return
			}
		}
	})
	// A slow reader: a byte per read.
	run(func() {
		for {
			_, err := byteByByte(path)
			if !count(err) {
				return
			}
		}
	})
	// Files left open, as many as the view lets one open, every so often: the view
	// refuses further opens, then the files are closed.
	held := make(chan string, 1)
	run(func() {
		var last string
		for range 5 {
			var fds []int
			for len(fds) < 4096 {
				fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					last = fmt.Sprintf("%s after %d opens", report.ErrName(err), len(fds))
					break
				}
				fds = append(fds, fd)
			}
			for _, fd := range fds {
				unix.Close(fd)
			}
			time.Sleep(50 * time.Millisecond)
		}
		held <- last
	})
	wg.Wait()
	refused := <-held
	milestone(total)
	var e []string
	for k, v := range errs {
		e = append(e, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(e)
	return fmt.Sprintf("%d reads; errors: %s; files left open: %s", reads, strings.Join(e, ", "), refused)
}
