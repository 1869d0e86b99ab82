package rlimit_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"launch/internal/rlimit"
	"launch/internal/testutil"
)

// TestBeforeSyscall: the limit recorded is the one the process started with, not the
// one package syscall's init raised it to. The test binary starts itself again with
// a soft RLIMIT_NOFILE of 64, and the copy reports both.
func TestBeforeSyscall(t *testing.T) {
	var now unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &now); err != nil {
		t.Fatal(err)
	}
	if testutil.IsHelper(t.Name()) {
		start, ok := rlimit.AtStart(unix.RLIMIT_NOFILE)
		os.Stdout.WriteString(strconv.FormatBool(ok) + " " + strconv.FormatUint(start.Cur, 10) + " " +
			strconv.FormatUint(start.Max, 10) + " " + strconv.FormatUint(now.Cur, 10) + "\n")
		return
	}
	if now.Max < 256 {
		testutil.Skip(t, "needs a hard RLIMIT_NOFILE of 256 or more")
	}
	// A limit set with setrlimit is also one that os/exec passes on as it is.
	low := unix.Rlimit{Cur: 64, Max: now.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &now)
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$")
	cmd.Env = append(os.Environ(), testutil.HelperEnv+"="+t.Name())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	line, _, _ := strings.Cut(string(out), "\n") // then the test framework's PASS
	f := strings.Fields(line)
	want := []string{"true", "64", strconv.FormatUint(now.Max, 10)}
	if len(f) != 4 || f[0] != want[0] || f[1] != want[1] || f[2] != want[2] {
		t.Errorf("at start (ok, soft, hard): %q, want %q", f, want)
	}
	if len(f) == 4 && f[3] == "64" {
		t.Errorf("the soft limit was not raised at start: the test shows nothing")
	}
}

func TestAtStartOutOfRange(t *testing.T) {
	for _, r := range []int{-1, 32, 1 << 20} {
		if _, ok := rlimit.AtStart(r); ok {
			t.Errorf("AtStart(%d) ok", r)
		}
	}
	if _, ok := rlimit.AtStart(unix.RLIMIT_NOFILE); !ok {
		t.Errorf("AtStart(RLIMIT_NOFILE) not ok")
	}
}
