package oci

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"launch/internal/spec"
)

func TestIs(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"create", "x"}, true}, {[]string{"--root", "/r", "state", "x"}, true}, {[]string{"--root=/r", "list"}, true},
		{[]string{"--log-format", "json"}, true}, {[]string{"--systemd-cgroup", "create"}, true},
		{[]string{"./create", "sh"}, false}, {[]string{"/srv/rootfs", "sh"}, false}, {[]string{"--memory", "1g", "r", "sh"}, false},
		{nil, false}, {[]string{"--help"}, false},
	} {
		if got := Is(c.args); got != c.want {
			t.Errorf("Is(%q) = %v", c.args, got)
		}
	}
}

func TestGlobals(t *testing.T) {
	c := &cli{}
	if err := c.globals([]string{"--root=/r", "--log", "/l", "--log-format", "json", "--debug", "kill", "-a", "x", "9"}); err != nil {
		t.Fatal(err)
	}
	if c.root != "/r" || c.log != "/l" || !c.logJSON || c.cmd != "kill" || strings.Join(c.args, " ") != "-a x 9" {
		t.Errorf("globals: %+v", c)
	}
	for _, bad := range [][]string{{"--root"}, {"--log-format", "xml", "list"}, {"--bogus", "list"}, {}} {
		if err := (&cli{}).globals(bad); err == nil {
			t.Errorf("globals(%q): no error", bad)
		}
	}
}

func TestParseFlags(t *testing.T) {
	f, err := parse("create", []string{"-b", "/b", "--pid-file=/p", "--console-socket", "/s", "id1", "--no-pivot"}, createFlags, false)
	if err != nil {
		t.Fatal(err)
	}
	if f.vals["bundle"] != "/b" || f.vals["pid-file"] != "/p" || f.vals["console-socket"] != "/s" || !f.bools["no-pivot"] || strings.Join(f.args, " ") != "id1" {
		t.Errorf("create flags: %+v", f)
	}
	// exec: what follows the ID is the command's, options included.
	f, err = parse("exec", []string{"-e", "A=1", "--env=B=2", "-t", "id", "sh", "-c", "--x"}, execFlags, true)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.multi["env"], " ") != "A=1 B=2" || !f.bools["tty"] || strings.Join(f.args, " ") != "id sh -c --x" {
		t.Errorf("exec flags: %+v", f)
	}
	for _, bad := range [][]string{{"--bundle"}, {"--nope", "x"}, {"--no-pivot=maybe", "x"}} {
		if _, err := parse("create", bad, createFlags, false); err == nil {
			t.Errorf("parse(%q): no error", bad)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]unix.Signal{"9": unix.SIGKILL, "KILL": unix.SIGKILL, "SIGTERM": unix.SIGTERM, "term": unix.SIGTERM, "USR1": unix.SIGUSR1} {
		if got, err := parseSignal(in); err != nil || got != want {
			t.Errorf("parseSignal(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"0", "65", "-1", "NOPE", ""} {
		if _, err := parseSignal(bad); err == nil {
			t.Errorf("parseSignal(%q): no error", bad)
		}
	}
}

func TestCheckID(t *testing.T) {
	for _, ok := range []string{"a", "abc-DEF_1.2+3", strings.Repeat("f", 64)} {
		if err := checkID(ok); err != nil {
			t.Errorf("checkID(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "../x", "a b", "é", strings.Repeat("a", 256), "a\x00"} {
		if err := checkID(bad); err == nil {
			t.Errorf("checkID(%q): no error", bad)
		}
	}
}

// TestErrorLog: an error is one line on stderr and one JSON line in --log.
func TestErrorLog(t *testing.T) {
	log := t.TempDir() + "/log.json"
	var out, errb bytes.Buffer
	code := Main([]string{"--root", t.TempDir(), "--log", log, "--log-format", "json", "state", "nope"}, os.Stdin, &out, &errb, "test")
	if code != 1 || errb.String() != "launch: error: container nope does not exist\n" {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte(`{"level":"error","msg":"launch: error: container nope does not exist","time":"`)) || bytes.Count(data, []byte("\n")) != 1 {
		t.Errorf("log %q", data)
	}
}

func TestFeatures(t *testing.T) {
	var out bytes.Buffer
	if code := Main([]string{"features"}, os.Stdin, &out, &out, "test"); code != 0 {
		t.Fatalf("features: exit %d", code)
	}
	for _, want := range []string{`"ociVersionMin":"1.0.0"`, `"ociVersionMax":"` + ociVersion + `"`, `"seccomp":{"enabled":true`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("features lacks %s: %s", want, out.String())
		}
	}
}

// TestDefaultSpec: what launch spec writes is valid JSON and a config launch reads.
func TestDefaultSpec(t *testing.T) {
	if !json.Valid([]byte(defaultConfig())) || !json.Valid([]byte(featuresJSON())) {
		t.Fatal("launch spec or launch features writes invalid JSON")
	}
	if _, err := spec.Read(strings.NewReader(defaultConfig())); err != nil {
		t.Errorf("launch spec's config: %v", err)
	}
}
