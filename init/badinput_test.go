package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"launch/internal/testutil"
)

// TestBadInput: each bad command line or ROOTFS gets one clear error line, the
// documented exit status, and leaves the host as it was.
func TestBadInput(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	base := t.TempDir()
	file := filepath.Join(base, "a-file")
	os.WriteFile(file, []byte("x"), 0o644)
	empty := filepath.Join(base, "empty")
	os.Mkdir(empty, 0o755)
	os.WriteFile(filepath.Join(rootfs, "noexec"), []byte("#!/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "script"), []byte("#!/no/such/interpreter\n"), 0o755)
	os.Mkdir(filepath.Join(rootfs, "adir"), 0o755)
	// A directory a container could write, where it planted out -> /.
	planted := filepath.Join(base, "out")
	os.Symlink("/", planted)

	for _, tt := range []struct {
		name string
		args []string
		code int
		want string // in the error line
	}{
		{"no arguments", nil, 125, "missing ROOTFS and COMMAND"},
		{"ROOTFS missing", []string{filepath.Join(base, "nope"), "/bin/true"}, 125, "ROOTFS: " + filepath.Join(base, "nope") + ": no such file or directory"},
		{"ROOTFS a file", []string{file, "/bin/true"}, 125, "not a directory"},
		{"ROOTFS empty string", []string{"", "/bin/true"}, 125, "ROOTFS is empty"},
		{"ROOTFS an empty directory", []string{empty, "/bin/true"}, 127, "command not found in the container: /bin/true"},
		{"COMMAND missing", []string{rootfs}, 125, "missing COMMAND"},
		{"COMMAND not found", []string{rootfs, "nosuchcommand"}, 127, "/usr/local/sbin/nosuchcommand:"},
		{"COMMAND a directory", []string{rootfs, "/adir"}, 126, "exec: /adir: is a directory"},
		{"COMMAND not executable", []string{rootfs, "/noexec"}, 126, "exec: /noexec: permission denied"},
		{"script without interpreter", []string{rootfs, "/script"}, 126, "exec: /script: no such file or directory"},
		{"unknown option", []string{"--frobnicate", rootfs, "/probe"}, 125, "unknown option: --frobnicate"},
		{"option without value", []string{"--hostname"}, 125, "option --hostname needs a value"},
		{"bad value", []string{"--memory", "lots", rootfs, "/probe"}, 125, "--memory lots: want a size"},
		{"flag with a value", []string{"--read-only=yes", rootfs, "/probe"}, 125, "takes no value"},
		{"workdir missing", []string{"--workdir", "/nope", rootfs, "/probe"}, 125, "chdir: /nope: no such file or directory"},
		{"bind source missing", []string{"--bind", "/nonexistent:/x", rootfs, "/probe"}, 125, "--bind /nonexistent"},
		{"bind source a symlink", []string{"--bind", planted + ":/out:ro", rootfs, "/probe"}, 125, "--bind " + planted + ": lstat " + planted + ": is a symlink: give the path it points to"},
		{"hostname with a newline", []string{"--hostname", "a\nb", rootfs, "/probe", "exit", "0"}, 125, `--hostname "a\nb": want 1 to 64 letters, digits, - and .`},
		{"hostname with an underscore", []string{"--hostname", "a_b", rootfs, "/probe", "exit", "0"}, 125, "--hostname a_b: want"},
		{"long option with one dash", []string{"-memory", "64M", rootfs, "/probe", "exit", "0"}, 125, "unknown option: -memory (long options take two dashes: --memory)"},
		{"long option with three dashes", []string{"---memory", "64M", rootfs, "/probe", "exit", "0"}, 125, "unknown option: ---memory"},
		{"--gc with arguments", []string{"--gc", "extra", "words"}, 125, "--gc takes no ROOTFS or COMMAND: extra"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t)
			emptyBefore, _ := os.ReadDir(empty)
			r := runLaunch(t, tt.args...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code != tt.code || !strings.HasPrefix(lines[0], "launch: error: ") || !strings.Contains(lines[0], tt.want) {
				t.Errorf("launch %q: exit %d, stderr %q; want %d and an error line containing %q", tt.args, r.code, r.stderr, tt.code, tt.want)
			}
			for _, l := range lines[1:] {
				if !strings.HasPrefix(l, "launch: hint: ") {
					t.Errorf("stderr has more than an error and a hint: %q", r.stderr)
				}
			}
			if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
				t.Errorf("a Go panic reached the user: %s", r.stderr)
			}
			before.unchanged(t)
			if after, _ := os.ReadDir(empty); len(after) != len(emptyBefore) {
				t.Errorf("launch created %d entries in the empty ROOTFS", len(after)-len(emptyBefore))
			}
		})
	}
}

// TestNoHostProc: on a host without /proc, which launch reads and mounts through, the
// error says so and how to mend it. The launcher runs in a mount namespace of its own
// with /proc unmounted; the host's is untouched.
func TestNoHostProc(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	bin := launcher(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		testutil.Skip(t, "needs unshare(1) (util-linux)")
	}
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", `umount -l /proc && exec "$0" "$@"`, bin, rootfs, "/probe", "exit", "0")
	cmd.Env = append(os.Environ(), "TMPDIR="+launchTmp)
	out, err := cmd.CombinedOutput()
	ee, _ := err.(*exec.ExitError)
	if ee == nil || ee.ExitCode() != 125 || !strings.Contains(string(out), "launch: error: find /proc on the host: /proc/self/fd: no such file or directory\n") ||
		!strings.Contains(string(out), "launch: hint: ") || !strings.Contains(string(out), "mount proc on /proc") {
		t.Errorf("launch without /proc: %v, output %q; want exit 125, the missing /proc and a hint", err, out)
	}
}

func TestRelativeRootfs(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(filepath.Dir(rootfs))
	if r := runLaunch(t, "./"+filepath.Base(rootfs), "/probe", "exit", "0"); r.code != 0 {
		t.Errorf("relative ROOTFS: exit %d: %s", r.code, r.stderr)
	}
}

// TestHostileMountPoints: a ROOTFS whose proc, sys, dev or tmp is a symlink to a host
// path (absolute, or climbing with ..), a loop, or not a directory, fails with an error
// naming the path, and nothing is mounted on, made in or changed on the host.
func TestHostileMountPoints(t *testing.T) {
	host, err := os.MkdirTemp("/var/tmp", "launch-test-host-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(host) })
	for _, name := range []string{"proc", "sys", "dev", "tmp"} {
		for _, tt := range []struct {
			kind  string
			setup func(p string) error
		}{
			{"absolute symlink to the host", func(p string) error { return os.Symlink(host, p) }},
			{"relative symlink climbing out", func(p string) error { return os.Symlink("../../../../../../.."+host, p) }},
			{"symlink loop", func(p string) error { return os.Symlink(filepath.Base(p), p) }},
			{"a file", func(p string) error { return os.WriteFile(p, nil, 0o644) }},
		} {
			t.Run(name+"/"+tt.kind, func(t *testing.T) {
				rootfs := testutil.Rootfs(t)
				p := filepath.Join(rootfs, name)
				os.RemoveAll(p)
				if err := tt.setup(p); err != nil {
					t.Fatal(err)
				}
				before := snapshot(t)
				r := runLaunch(t, rootfs, "/probe", "exit", "0")
				if r.code != 125 || !strings.Contains(r.stderr, "launch: error: ") || !strings.Contains(r.stderr, p) {
					t.Errorf("exit %d, stderr %q; want 125 naming %s", r.code, r.stderr, p)
				}
				before.unchanged(t)
				if ents, _ := os.ReadDir(host); len(ents) != 0 {
					t.Errorf("launch made %d entries in the host directory the symlink points to", len(ents))
				}
			})
		}
	}
}
