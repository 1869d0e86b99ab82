package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/rawfile"
	"launch/internal/testutil"
)

// The range the root tests give --userns: container IDs 0 to 65535 are host IDs
// 2000000 onward.
const (
	nsHost  = 2000000
	nsRange = "2000000:65536"
)

// chownTree gives every file below dir to uid:gid, as a user prepares a root file
// system for a range.
func chownTree(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// hostOwner is the owner of p as the host sees it.
func hostOwner(t *testing.T, p string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(int(st.Uid)) + ":" + strconv.Itoa(int(st.Gid))
}

// sh runs a shell command line in a container on rootfs with opts, as l says, and
// returns its output; the container must exit 0.
func sh(t *testing.T, l launchIO, rootfs string, opts []string, script string) string {
	t.Helper()
	args := append(append([]string{}, opts...), rootfs, "/bin/sh", "-c", script)
	r, err := execLaunch(t, l, recordStart, args...)
	if err != nil {
		t.Fatal(err)
	}
	if r.code != 0 {
		t.Fatalf("launch %q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

// TestUsernsRoot: as root with --userns, the container is the same as without (the
// expectation table, every check) but for a user namespace of its own whose root is
// host ID 2000000, and a ROOTFS owned by host root, shown idmapped, read-only.
func TestUsernsRoot(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	w := wantDefault(t, rootfs)
	w.Userns, w.PtsGroup, w.ReadOnly = true, "gid="+strconv.Itoa(nsHost+5), true
	before := snapshot(t)
	expectOK(t, probe(t, rootfs, "--userns", nsRange), w)
	before.unchanged(t)

	got := sh(t, launchIO{}, rootfs, []string{"--userns", nsRange},
		"cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; stat -c %u:%g /bin/busybox /etc")
	want := "0    2000000      65536\n         0    2000000      65536\nallow\n0\n0:0\n0:0"
	if strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(want), " ") {
		t.Errorf("maps, user and owners inside:\n%s\nwant\n%s", got, want)
	}
	// A file of host root's is the container root's through the idmapped mount, but
	// the mount is read-only: nothing container root makes can belong to host root.
	if got := try(t, rootfs, []string{"--userns", nsRange}, "create", "/new"); got != "EROFS" {
		t.Errorf("creating a file in a ROOTFS of host root's: %s, want EROFS", got)
	}
	if _, err := os.Lstat(filepath.Join(rootfs, "new")); err == nil {
		t.Errorf("a file made by container root is in ROOTFS")
	}
}

// TestUsernsRootfsOfTheRange: a ROOTFS that the range owns is bound as it is, writable,
// and what container root makes there belongs on the host to the range, not to root.
func TestUsernsRootfsOfTheRange(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	chownTree(t, rootfs, nsHost, nsHost)
	out := sh(t, launchIO{}, rootfs, []string{"--userns", nsRange},
		"echo x > /made && chown 7:8 /made && mkdir /dir && stat -c %u:%g /made /dir && grep ' / ' /proc/self/mounts")
	lines := strings.Split(out, "\n")
	if len(lines) != 3 || lines[0] != "7:8" || lines[1] != "0:0" || strings.Contains(lines[2], "idmapped") || !strings.Contains(lines[2], "rw,") {
		t.Errorf("inside: %q, want 7:8, 0:0 and a plain writable root", out)
	}
	if got := hostOwner(t, filepath.Join(rootfs, "made")); got != strconv.Itoa(nsHost+7)+":"+strconv.Itoa(nsHost+8) {
		t.Errorf("/made is %s on the host, want the range's IDs 7 and 8", got)
	}
	if got := hostOwner(t, filepath.Join(rootfs, "dir")); got != strconv.Itoa(nsHost)+":"+strconv.Itoa(nsHost) {
		t.Errorf("/dir is %s on the host, want the range's root", got)
	}
	// Container root gives a file to host root: there is no such ID inside.
	if got := try(t, rootfs, []string{"--userns", nsRange}, "chown", "/made", "4294967294", "0"); got != "EINVAL" {
		t.Errorf("chown to an ID outside the range: %s, want EINVAL", got)
	}
}

// TestUsernsAttacks: what container root tries with the capabilities its user
// namespace gives it, each refused.
func TestUsernsAttacks(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	// A host directory of root's, bound writable: its files stay root's.
	// (Reachable by the range: with --userns, container root resolves bind sources,
	// and the tests' temporary directories are root's alone.)
	share := t.TempDir()
	for _, d := range []string{share, filepath.Dir(share)} {
		os.Chmod(d, 0o755)
	}
	if err := os.WriteFile(filepath.Join(share, "secret"), []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The mount point: the ROOTFS of host root's is read-only inside.
	if err := os.Mkdir(filepath.Join(rootfs, "share"), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := []string{"--userns", nsRange, "--bind", share + ":/share", "--cap-add", "ALL"}
	for _, c := range []struct {
		op   []string
		want string
	}{
		{[]string{"write", "/share/secret", "owned"}, "EACCES"},
		{[]string{"create", "/share/new"}, "EACCES"},
		{[]string{"chown", "/share/secret", "0", "0"}, "EPERM"},
		{[]string{"unshare", "0x10000000"}, "EPERM"}, // CLONE_NEWUSER
		{[]string{"clone", "0x10000000"}, "EPERM"},
		{[]string{"mount", "/tmp/m"}, "EPERM"},
		{[]string{"write", "/proc/self/setgroups", "deny"}, "EPERM"},
		{[]string{"write", "/proc/self/uid_map", "0 0 1"}, "EPERM"},
		{[]string{"setresuid", "65536"}, "EINVAL"}, // no such ID in the namespace
		{[]string{"node", "b", "/tmp/disk", "8", "0"}, "mknod EPERM"},
		{[]string{"node", "c", "/tmp/kmsg", "1", "11", "launch-userns-attack"}, "mknod EPERM"},
	} {
		got := try(t, rootfs, opts, c.op...)
		if got != c.want {
			t.Errorf("%v with --cap-add ALL: %s, want %s", c.op, got, c.want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(share, "secret")); string(b) != "host\n" {
		t.Errorf("the host's file changed: %q", b)
	}
	if _, err := os.Lstat(filepath.Join(share, "new")); err == nil {
		t.Errorf("a file appeared in the host's directory")
	}
	if got := hostOwner(t, filepath.Join(share, "secret")); got != "0:0" {
		t.Errorf("the host's file is now %s", got)
	}
}

// TestUsernsSame: --init, exit statuses, signals, the /proc view and the cleanup
// behave with --userns as without.
func TestUsernsSame(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	before := snapshot(t)
	for _, opts := range [][]string{{"--userns", nsRange}, {"--userns", nsRange, "--init"}} {
		for _, c := range []struct {
			script string
			want   int
		}{{"exit 3", 3}, {"sleep 30 & kill -KILL $!; wait $!", 137}, {"exec /nonexistent", 127}} {
			args := append(append([]string{}, opts...), rootfs, "/bin/sh", "-c", c.script)
			if r := runLaunch(t, args...); r.code != c.want {
				t.Errorf("%q: exit %d, want %d\nstderr: %s", args, r.code, c.want, r.stderr)
			}
		}
	}
	if got := sh(t, launchIO{}, rootfs, []string{"--userns", nsRange, "--memory", "100M", "--init"},
		"grep MemTotal /proc/meminfo; ps -o pid,comm | grep -c init"); !strings.HasPrefix(got, "MemTotal:         102400 kB") {
		t.Errorf("/proc/meminfo with --memory 100M: %q, want 102400 kB", got)
	}
	// A signal to the launcher reaches COMMAND (under --init: as PID 1, a shell would
	// ignore it).
	ws := signalLaunch(t, []string{"--userns", nsRange, "--init"}, rootfs, unix.SIGTERM)
	if ws != 128+int(unix.SIGTERM) {
		t.Errorf("SIGTERM to the launcher: exit %d, want %d", ws, 128+int(unix.SIGTERM))
	}
	before.unchanged(t)
}

// signalLaunch starts a container that sleeps, sends sig to the launcher once COMMAND
// runs, and returns the launcher's exit status.
func signalLaunch(t *testing.T, opts []string, rootfs string, sig unix.Signal) int {
	t.Helper()
	args := append(append([]string{}, opts...), rootfs, "/bin/sh", "-c", "echo up; sleep 30")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan result, 1)
	go func() {
		res, _ := execLaunch(t, launchIO{stdout: w}, func(pid int) {
			go func() {
				buf := make([]byte, 3)
				if n, _ := r.Read(buf); n > 0 {
					unix.Kill(pid, sig)
				}
			}()
		}, args...)
		done <- res
	}()
	select {
	case res := <-done:
		w.Close()
		return res.code
	case <-time.After(time.Minute):
		t.Fatal("the container did not end")
	}
	return 0
}

// holdFirst starts a container with --userns auto, as l says, that prints its
// uid_map and holds its range until release is called; it returns the map's fields.
// prefix comes before the launcher's options (a wrapper's own arguments and the
// launcher, when l.bin is a wrapper).
func holdFirst(t *testing.T, l launchIO, rootfs string, prefix ...string) (uidMap []string, release func()) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "first")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	l.stdin, l.stdout = pr, f
	first := make(chan result, 1)
	go func() {
		r, _ := execLaunch(t, l, recordStart, append(prefix, "--userns", "auto", rootfs, "/bin/sh", "-c", "cat /proc/self/uid_map; read x")...)
		first <- r
	}()
	for i := 0; i < 500 && len(uidMap) < 3; i++ {
		time.Sleep(10 * time.Millisecond)
		b, _ := os.ReadFile(out)
		uidMap = strings.Fields(string(b))
	}
	return uidMap, func() {
		pw.Close()
		<-first
		pr.Close()
		f.Close()
	}
}

// TestUsernsAuto: --userns auto gives two running containers two ranges, neither
// with host root in it, and frees a range with its container.
func TestUsernsAuto(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	// The first container holds its range while the second starts.
	f1, release := holdFirst(t, launchIO{}, rootfs)
	f2 := strings.Fields(sh(t, launchIO{}, rootfs, []string{"--userns", "auto"}, "cat /proc/self/uid_map"))
	release()
	if len(f1) != 3 || len(f2) != 3 || f1[0] != "0" || f1[2] != "65536" || f2[2] != "65536" {
		t.Fatalf("maps %q and %q, want 0 HOSTID 65536 each", f1, f2)
	}
	if f1[1] == f2[1] || f1[1] == "0" || f2[1] == "0" {
		t.Errorf("two running containers got ranges from %s and %s", f1[1], f2[1])
	}
	// Free again: the next container may take the first's range.
	third := strings.Fields(sh(t, launchIO{}, rootfs, []string{"--userns", "auto"}, "cat /proc/self/uid_map"))
	if len(third) != 3 || third[1] != f1[1] {
		t.Errorf("after the first container ended, auto chose %v, want its range %s again", third, f1[1])
	}
}

// TestUsernsBadInput: a range launch cannot use is refused before anything is made.
func TestUsernsBadInput(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	before := snapshot(t)
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--userns", "0:65536"}, "HOSTID 0 would make container root the host's root"},
		{[]string{"--userns", "4294967295:1"}, "the range ends past the last ID"},
		{[]string{"--userns", "-1:1"}, "want host, auto or HOSTID:COUNT"},
		{[]string{"--userns", "4294967000:1000"}, "the range ends past the last ID"},
		{[]string{"--userns", "100000:0"}, "want host, auto or HOSTID:COUNT"},
		{[]string{"--userns", "100000"}, "want host, auto or HOSTID:COUNT"},
		{[]string{"--userns", "100000:1000", "--user", "1000"}, "ID 1000 of --user or --group-add is outside the range"},
		{[]string{"--userns", "100000:1000", "--group-add", "5000"}, "outside the range"},
	} {
		args := append(append([]string{}, c.args...), rootfs, "/probe", "exit", "0")
		r := runLaunch(t, args...)
		if r.code != 125 || !strings.Contains(r.stderr, c.msg) || strings.Count(r.stderr, "launch: error:") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want 125 and %q", args, r.code, r.stderr, c.msg)
		}
	}
	before.unchanged(t)
}

// unprivUID is the ordinary user the unprivileged tests run the launcher as: an ID no
// account of the machine has.
const unprivUID = 61234

// unprivileged returns what runs the launcher as that user: a copy of the launcher it
// can execute, and its credentials; and gives it rootfs (and the directories on the
// way, which the tests' temporary directories keep to root).
func unprivileged(t *testing.T, rootfs string) launchIO {
	t.Helper()
	if passwd, _ := os.ReadFile("/etc/passwd"); strings.Contains(string(passwd), ":"+strconv.Itoa(unprivUID)+":") {
		t.Fatalf("user %d exists on this machine", unprivUID)
	}
	bin := filepath.Join(t.TempDir(), "launch")
	if err := rawfile.CopyFile(launcher(t), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(bin), filepath.Dir(filepath.Dir(bin)), filepath.Dir(rootfs), filepath.Dir(filepath.Dir(rootfs))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	chownTree(t, rootfs, unprivUID, unprivUID)
	return launchIO{bin: bin, cred: &syscall.Credential{Uid: unprivUID, Gid: unprivUID, Groups: []uint32{}}}
}

// TestUnprivileged: an ordinary user gets the container a root user gets (the
// expectation table), but for cgroups, which it has none of here: container root is
// the user, in a user namespace that maps it alone; capabilities, the filter, the
// mounts and the masks are the same.
func TestUnprivileged(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	l := unprivileged(t, rootfs)
	// A cgroup a killed root launcher left: not the ordinary user's to remove, and no
	// reason for a second warning (each start printed one).
	left := filepath.Join("/sys/fs/cgroup/pids", "launch-999999-1-4026531836")
	if err := os.Mkdir(left, 0o755); err == nil {
		defer os.Remove(left)
	}
	before := snapshot(t)
	args := []string{rootfs, "/probe", "report"}
	r, err := execLaunch(t, l, recordStart, args...)
	if err != nil {
		t.Fatal(err)
	}
	if r.code != 0 {
		t.Fatalf("launch %q as user %d: exit %d\nstderr: %s", args, unprivUID, r.code, r.stderr)
	}
	if strings.Count(r.stderr, "launch: warning: ") != 1 || !strings.Contains(r.stderr, "no cgroup limits apply") {
		t.Errorf("stderr %q, want one warning that no cgroup limits apply", r.stderr)
	}
	rep := parseReport(t, r.stdout)
	w := wantDefault(t, rootfs)
	w.Userns, w.PtsGroup = true, ""
	expectOK(t, rep, w, "pid1-namespaces", "hostname", "network", "dev", "masked-paths", "capabilities", "seccomp",
		"descriptors", "environment", "identity", "session")
	before.unchanged(t)

	got := sh(t, l, rootfs, nil, "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u; echo x > /made; stat -c %u:%g /made")
	want := "0 61234 1 0 61234 1 deny 0 0:0"
	if strings.Join(strings.Fields(got), " ") != want {
		t.Errorf("inside: %q, want %q", got, want)
	}
	if got := hostOwner(t, filepath.Join(rootfs, "made")); got != "61234:61234" {
		t.Errorf("a file container root made is %s on the host, want the user's", got)
	}
	// --user maps the caller to that user instead.
	if got := sh(t, l, rootfs, []string{"--user", "1000:1001"}, "cat /proc/self/uid_map; id -u; id -g; grep CapEff /proc/self/status"); strings.Join(strings.Fields(got), " ") !=
		"1000 61234 1 1000 1001 CapEff: 0000000000000000" {
		t.Errorf("--user 1000:1001: %q", got)
	}
}

// TestUnprivilegedRefusals: what needs root is refused with a reason, and leaves
// nothing; the attacks of TestUsernsAttacks fail the same way.
func TestUnprivilegedRefusals(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	l := unprivileged(t, rootfs)
	before := snapshot(t)
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--memory", "100M"}, "launch: hint: without root, limits need a cgroup v2 subtree delegated to you"},
		{[]string{"--userns", "auto"}, "--userns auto: /etc/subuid or /etc/subgid gives you no IDs"},
		{[]string{"--userns", nsRange}, "a range of IDs needs root"},
		{[]string{"--group-add", "5"}, "--group-add: without root the container has no group but yours"},
	} {
		args := append(append([]string{}, c.args...), rootfs, "/probe", "exit", "0")
		r, err := execLaunch(t, l, recordStart, args...)
		if err != nil {
			t.Fatal(err)
		}
		if r.code != 125 || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%q: exit %d, stderr %q; want 125 and %q", args, r.code, r.stderr, c.msg)
		}
	}
	share := t.TempDir()
	for _, d := range []string{share, filepath.Dir(share)} {
		os.Chmod(d, 0o755)
	}
	os.WriteFile(filepath.Join(share, "secret"), []byte("host\n"), 0o644)
	opts := []string{"--bind", share + ":/share", "--cap-add", "ALL"}
	for _, c := range []struct {
		op   []string
		want string
	}{
		{[]string{"write", "/share/secret", "owned"}, "EACCES"},
		{[]string{"unshare", "0x10000000"}, "EPERM"},
		{[]string{"mount", "/tmp/m"}, "EPERM"},
		{[]string{"write", "/proc/self/setgroups", "allow"}, "EPERM"},
		{[]string{"setgroups", "0"}, "EPERM"},
		{[]string{"setresuid", "1"}, "EINVAL"},
		{[]string{"node", "c", "/tmp/kmsg", "1", "11", "launch-userns-attack"}, "mknod EPERM"},
	} {
		args := tryArgs(rootfs, opts, c.op)
		r, err := execLaunch(t, l, recordStart, args...)
		if err != nil {
			t.Fatal(err)
		}
		if got := tryOutput(t, args, r); got != c.want {
			t.Errorf("%v as user %d with --cap-add ALL: %s, want %s", c.op, unprivUID, got, c.want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(share, "secret")); string(b) != "host\n" {
		t.Errorf("the host's file changed: %q", b)
	}
	before.unchanged(t)
}

// TestOCIUserns: a bundle with a user namespace of its own and linux.uidMappings and
// gidMappings, as podman --userns and Kubernetes' hostUsers: false give: the maps
// inside, every process of the container (exec'd ones too) in the namespace, and the
// attacks of TestUsernsAttacks.
func TestOCIUserns(t *testing.T) {
	b := newBundle(t)
	// The engine gives the container a root file system of the range's.
	chownTree(t, filepath.Join(b.dir, "rootfs"), nsHost, nsHost)
	for _, d := range []string{b.dir, filepath.Dir(b.dir)} {
		os.Chmod(d, 0o755)
	}
	b.linux()["namespaces"] = append(b.linux()["namespaces"].([]any), map[string]any{"type": "user"})
	maps := []any{map[string]any{"containerID": 0, "hostID": nsHost, "size": 65536}}
	b.linux()["uidMappings"], b.linux()["gidMappings"] = maps, maps
	b.config["root"].(map[string]any)["readonly"] = false
	b.process()["args"] = []any{"/bin/sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /made; stat -c %u /made; grep CapEff /proc/self/status"}
	b.write()
	r := b.runOut("userns")
	if got := strings.Join(strings.Fields(r.stdout), " "); r.code != 0 || got != "0 2000000 65536 0 2000000 65536 0 0 CapEff: 00000000a80425fb" {
		t.Errorf("inside: exit %d, %q\nstderr: %s", r.code, got, r.stderr)
	}
	if got := hostOwner(t, filepath.Join(b.dir, "rootfs", "made")); got != strconv.Itoa(nsHost)+":"+strconv.Itoa(nsHost) {
		t.Errorf("/made is %s on the host, want the range's root", got)
	}

	// launch exec joins the user namespace first.
	b.process()["args"] = []any{"/probe", "sleep", "60"}
	b.write()
	if r := b.oci("run", "-d", "--bundle", b.dir, "box"); r.code != 0 {
		t.Fatalf("run -d: exit %d: %s", r.code, r.stderr)
	}
	pid := int(b.state("box")["pid"].(float64))
	proc := filepath.Join(b.dir, "exec.json")
	os.WriteFile(proc, []byte(`{"args":["/bin/sh","-c","cat /proc/self/uid_map; readlink /proc/self/ns/user"],"cwd":"/","user":{"uid":0,"gid":0}}`), 0o644)
	r = b.oci("exec", "--process", proc, "box")
	want, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/user")
	if got := strings.Join(strings.Fields(r.stdout), " "); r.code != 0 || got != "0 2000000 65536 "+want {
		t.Errorf("exec: exit %d, %q, want the container's map and namespace %s\nstderr: %s", r.code, got, want, r.stderr)
	}
	b.oci("delete", "--force", "box")

	// Refused: maps without the namespace, the namespace without maps, no root in the
	// map, a user namespace joined by path.
	for _, c := range []struct {
		change func()
		msg    string
	}{
		{func() {
			b.linux()["uidMappings"] = []any{map[string]any{"containerID": 1, "hostID": nsHost, "size": 10}}
		}, "map container ID 0"},
		{func() { delete(b.linux(), "gidMappings") }, "linux.gidMappings: a user namespace of the container's needs one"},
		{func() {
			b.linux()["uidMappings"] = []any{map[string]any{"containerID": 0, "hostID": nsHost, "size": 0}}
		}, "empty"},
		{func() {
			b.linux()["namespaces"] = append(b.linux()["namespaces"].([]any)[:len(b.linux()["namespaces"].([]any))-1],
				map[string]any{"type": "user", "path": "/proc/1/ns/user"})
		}, "joined by path: not supported yet"},
	} {
		saved, _ := json.Marshal(b.config)
		c.change()
		b.write()
		if r := b.oci("run", "--bundle", b.dir, "bad"); r.code == 0 || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("exit %d, stderr %q; want %q", r.code, r.stderr, c.msg)
		}
		b.config = nil
		json.Unmarshal(saved, &b.config)
	}
}

// TestUnprivilegedSubordinate: an ordinary user's --userns auto maps the IDs that
// /etc/subuid and /etc/subgid give it, through the set-user-ID newuidmap and
// newgidmap, as container IDs 1 onward, itself as 0. The user, its name and its
// ranges are the test's own: files bound over /etc/passwd, /etc/subuid and
// /etc/subgid in a mount namespace of the run's.
func TestUnprivilegedSubordinate(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	for _, h := range []string{"/usr/bin/newuidmap", "/usr/bin/newgidmap"} {
		if _, err := os.Stat(h); err != nil {
			testutil.Skip(t, "needs "+h+" (apt-get install uidmap)")
		}
	}
	l := unprivileged(t, rootfs)
	etc := t.TempDir()
	os.Chmod(etc, 0o755)
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	passwd = append(passwd, []byte("launchtest:x:61234:61234::/:/bin/sh\n")...)
	run := func(subuid, subgid, script string) result {
		t.Helper()
		for name, data := range map[string]string{"passwd": string(passwd), "subuid": subuid, "subgid": subgid} {
			if err := os.WriteFile(filepath.Join(etc, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		wrapper := "mount --bind " + etc + "/passwd /etc/passwd && mount --bind " + etc + "/subuid /etc/subuid && mount --bind " +
			etc + "/subgid /etc/subgid && exec setpriv --reuid=61234 --regid=61234 --clear-groups " + l.bin +
			" --userns auto " + rootfs + " /bin/sh -c \"$0\""
		r, err := execLaunch(t, launchIO{bin: "/usr/bin/unshare"}, recordStart, "-m", "--propagation", "private", "/bin/sh", "-c", wrapper, script)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := run("launchtest:3000000:65536\n", "61234:3100000:65536\n",
		"cat /proc/self/uid_map /proc/self/gid_map; id -u; echo x > /made && chown 5:6 /made && stat -c %u:%g /made")
	if got := strings.Join(strings.Fields(r.stdout), " "); r.code != 0 ||
		got != "0 61234 1 1 3000000 65536 0 61234 1 1 3100000 65536 0 5:6" {
		t.Errorf("inside: exit %d, %q\nstderr: %s", r.code, got, r.stderr)
	}
	if got := hostOwner(t, filepath.Join(rootfs, "made")); got != "3000004:3100005" {
		t.Errorf("a file given to container IDs 5:6 is %s on the host, want the subordinate IDs 3000004:3100005 (container ID 1 is the first)", got)
	}
	// No range for the user: refused, with how to get one.
	r = run("someoneelse:3000000:65536\n", "someoneelse:3100000:65536\n", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "--userns auto: /etc/subuid or /etc/subgid gives you no IDs") ||
		!strings.Contains(r.stderr, "launch: hint: ") {
		t.Errorf("without a range: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestUsernsReadOnlyRootHolds: the idmapped ROOTFS of host root's stays read-only:
// container root with every capability cannot clear the flag through the default
// filter, and launch refuses to start it with CAP_SYS_ADMIN where no filter of its own
// would stop mount_setattr(2) (found by attack: a set-user-ID file of host root).
func TestUsernsReadOnlyRootHolds(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	opts := []string{"--userns", nsRange, "--cap-add", "ALL"}
	if got := try(t, rootfs, opts, "setattr-rw", "/"); got != "EPERM" {
		t.Errorf("mount_setattr clearing MOUNT_ATTR_RDONLY on / with --cap-add ALL: %s, want EPERM", got)
	}
	if got := try(t, rootfs, opts, "create", "/x"); got != "EROFS" {
		t.Errorf("creating a file in the root: %s, want EROFS", got)
	}
	before := snapshot(t)
	for _, o := range [][]string{{"--cap-add", "SYS_ADMIN", "--seccomp", "unconfined"}, {"--cap-add", "ALL", "--seccomp", "unconfined"}} {
		args := append(append([]string{"--userns", nsRange}, o...), rootfs, "/probe", "try", "setattr-rw", "/")
		r := runLaunch(t, args...)
		if r.code != 125 || !strings.Contains(r.stderr, "CAP_SYS_ADMIN could undo") {
			t.Errorf("%q: exit %d, stderr %q; want 125 and a refusal", args, r.code, r.stderr)
		}
	}
	before.unchanged(t)
	// With CAP_SYS_ADMIN but no filter of launch's, a ROOTFS of the range's starts:
	// nothing made there can be host root's.
	chownTree(t, rootfs, nsHost, nsHost)
	if got := try(t, rootfs, []string{"--userns", nsRange, "--cap-add", "SYS_ADMIN", "--seccomp", "unconfined"}, "create", "/x"); got != "ok" {
		t.Errorf("a ROOTFS of the range's with CAP_SYS_ADMIN and no filter: %s", got)
	}
}

// TestUsernsClaims: auto's claims are lock files in a directory of root's alone, the
// same whatever network namespace a launcher runs in (abstract sockets, an earlier
// claim, were per network namespace, and any host user could bind them all); a range
// given by hand that overlaps one auto gave a running container is refused.
func TestUsernsClaims(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	// The first in a network namespace of its own.
	firstMap, release := holdFirst(t, launchIO{bin: "/usr/bin/unshare"}, rootfs, "-n", launcher(t))
	second := strings.Fields(sh(t, launchIO{}, rootfs, []string{"--userns", "auto"}, "cat /proc/self/uid_map"))
	var overlap result
	if len(firstMap) == 3 {
		overlap = runLaunch(t, "--userns", firstMap[1]+":10", rootfs, "/bin/true")
	}
	var st unix.Stat_t
	statErr := unix.Stat("/run/launch/userns", &st)
	release()
	if len(firstMap) != 3 || len(second) != 3 || firstMap[1] == second[1] {
		t.Fatalf("a launcher in a network namespace of its own got %v, another %v: want two ranges", firstMap, second)
	}
	if overlap.code != 125 || !strings.Contains(overlap.stderr, "overlaps the range --userns auto gave a running container") {
		t.Errorf("--userns %s:10 while auto gave it: exit %d, %q", firstMap[1], overlap.code, overlap.stderr)
	}
	if statErr != nil || st.Uid != 0 || st.Mode&0o077 != 0 {
		t.Errorf("/run/launch/userns: %v, owner %d, mode %o: want root's alone", statErr, st.Uid, st.Mode&0o777)
	}
}

// TestUsernsHostNetCgroups: with --net host, /sys is the host's, bound; the cgroups
// under it are still the container's own, not the host's trees (found by attack).
func TestUsernsHostNetCgroups(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	got := sh(t, launchIO{}, rootfs, []string{"--userns", nsRange, "--net", "host", "--pids", "77"},
		"cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; ls /sys/fs/cgroup/pids /sys/fs/cgroup/unified 2>/dev/null | grep -c launch- || true")
	if lines := strings.Fields(got); len(lines) != 2 || lines[0] != "77" || lines[1] != "0" {
		t.Errorf("with --net host: %q, want the container's pids.max 77 and no launch-* cgroup of the host's", got)
	}
}

// TestRaceRootfsSwap: a neighbour who can write ROOTFS's parent swaps ROOTFS with a
// symlink to the host's / while containers start: none runs on the host's / (found by
// attack, with and without --userns: the path was looked up three times).
func TestRaceRootfsSwap(t *testing.T) {
	w := newWatch(t)
	parent := t.TempDir()
	rootfs := filepath.Join(parent, "rootfs")
	if err := os.Rename(testutil.Rootfs(t), rootfs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "marker"), []byte("rootfs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/", filepath.Join(parent, "host")); err != nil {
		t.Fatal(err)
	}
	// A symlink to / put there before the start: refused, not followed to the host's root.
	if r := w.run(filepath.Join(parent, "host"), "/probe", "exit", "0"); r.code != 125 || !strings.Contains(r.stderr, "is the host's root") {
		t.Errorf("ROOTFS a symlink to /: exit %d, %q; want 125, refused", r.code, r.stderr)
	}
	starts := testutil.Count(t, "starts while ROOTFS and a symlink to / are swapped", 40, 400)
	for _, opts := range [][]string{nil, {"--userns", nsRange}} {
		sw := swapper(rootfs, filepath.Join(parent, "host"))
		ran, refused := 0, 0
		for i := 0; i < starts; i++ {
			r := w.run(append(append([]string{}, opts...), rootfs, "/probe", "try", "read", "/marker")...)
			switch {
			case r.code == 0 && strings.TrimSpace(r.stdout) == "ok":
				ran++
			case r.code == 0:
				t.Errorf("%v: the container ran on another root: /marker %s", opts, strings.TrimSpace(r.stdout))
			default:
				refused++
			}
		}
		swaps := sw.stop()
		if fi, err := os.Lstat(rootfs); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			unix.Renameat2(unix.AT_FDCWD, rootfs, unix.AT_FDCWD, filepath.Join(parent, "host"), unix.RENAME_EXCHANGE)
		}
		t.Logf("%v: %d starts while %d swaps: %d ran on ROOTFS, %d refused", opts, starts, swaps, ran, refused)
	}
	w.check()
}

// TestUnprivilegedKilledLauncher: a launcher without root traces its PID 1 as root's
// does (it seizes the child while the child may still be traced by its user): a PID 1
// that clears its parent-death signal still dies with a launcher killed by SIGKILL
// (found by attack: the seize raced the child's becoming not dumpable).
func TestUnprivilegedKilledLauncher(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	l := unprivileged(t, rootfs)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	n := testutil.Count(t, "unprivileged launchers killed", 10, 50)
	for i := 0; i < n; i++ {
		s := startWith(t, l, "-v", rootfs, "/probe", "try", "orphan", "pdeath")
		if got := s.line(t); got != "ready 0" {
			t.Fatalf("the container said %q, want %q; stderr %s", got, "ready 0", s.stderr)
		}
		s.cmd.Process.Kill()
		s.cmd.Wait()
		if strings.Contains(s.stderr.String(), "PID 1 that cleared its parent-death signal outlives it") {
			t.Errorf("start %d: the launcher could not trace its PID 1: %s", i, s.stderr)
		}
		for _, pid := range children(os.Getpid()) {
			if !reaped(pid) {
				t.Errorf("start %d: process %d survived its unprivileged launcher", i, pid)
				unix.Kill(pid, unix.SIGKILL)
				reaped(pid)
			}
		}
	}
}

// TestUnprivilegedSame: exit statuses, --init, signals and the cleanup behave without
// root as with it.
func TestUnprivilegedSame(t *testing.T) {
	rootfs := testutil.Rootfs(t)
	testutil.RequireBusybox(t)
	l := unprivileged(t, rootfs)
	before := snapshot(t)
	for _, opts := range [][]string{nil, {"--init"}} {
		for _, c := range []struct {
			script string
			want   int
		}{{"exit 3", 3}, {"sleep 30 & kill -KILL $!; wait $!", 137}, {"exec /nonexistent", 127}} {
			args := append(append([]string{}, opts...), rootfs, "/bin/sh", "-c", c.script)
			r, err := execLaunch(t, l, recordStart, args...)
			if err != nil {
				t.Fatal(err)
			}
			if r.code != c.want {
				t.Errorf("%q as user %d: exit %d, want %d\nstderr: %s", args, unprivUID, r.code, c.want, r.stderr)
			}
		}
	}
	s := startWith(t, l, "--init", rootfs, "/probe", "signals")
	if got := s.line(t); got != "ready" {
		t.Fatalf("probe signals said %q", got)
	}
	s.cmd.Process.Signal(unix.SIGUSR1)
	if got := s.line(t); got != "SIGUSR1" {
		t.Errorf("SIGUSR1 to the unprivileged launcher: the container said %q", got)
	}
	s.cmd.Process.Signal(unix.SIGTERM)
	s.cmd.Wait()
	before.unchanged(t)
}
