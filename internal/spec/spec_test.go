package spec

import (
	"strings"
	"testing"
)

const minimal = `{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"user":{"uid":0,"gid":0},"cwd":"/"}}`

func TestReadFields(t *testing.T) {
	s, err := Read(strings.NewReader(`{"ociVersion":"1.0.2","root":{"path":"rootfs","readonly":true},
		"process":{"terminal":true,"consoleSize":{"height":24,"width":80},"user":{"uid":1,"gid":2,"umask":18,"additionalGids":[3,4]},
			"args":["sh","-c","x"],"env":["A=1"],"cwd":"/tmp","capabilities":{"bounding":["CAP_KILL"],"ambient":[]},
			"rlimits":[{"type":"RLIMIT_NOFILE","hard":10,"soft":5}],"noNewPrivileges":true,"oomScoreAdj":-5,
			"apparmorProfile":"","selinuxLabel":""},
		"hostname":"h","mounts":[{"destination":"/proc","type":"proc","source":"proc","options":["nosuid"]}],
		"hooks":{"poststop":[{"path":"/bin/true","args":["true"],"timeout":3}]},
		"annotations":{"a":"b"},
		"linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/proc/1/ns/net"}],"cgroupsPath":"/x/y",
			"resources":{"memory":{"limit":1048576},"cpu":{"shares":2,"quota":50000,"period":100000},"pids":{"limit":9},
				"devices":[{"allow":false,"access":"rwm"}]},
			"seccomp":{"defaultAction":"SCMP_ACT_ALLOW"},"sysctl":{"net.ipv4.ip_forward":"1"},
			"maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"],
			"devices":[{"type":"c","path":"/dev/kmsg","major":1,"minor":11,"fileMode":420,"uid":0,"gid":0}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	p := s.Process
	switch {
	case !s.Root.Readonly || s.Root.Path != "rootfs":
		t.Errorf("root %+v", s.Root)
	case !p.Terminal || p.ConsoleSize.Height != 24 || p.User.UID != 1 || *p.User.Umask != 18 || len(p.User.AdditionalGids) != 2:
		t.Errorf("process %+v", p)
	case p.Capabilities.Bounding[0] != "CAP_KILL" || p.Rlimits[0].Soft != 5 || *p.OOMScoreAdj != -5 || !p.NoNewPrivileges:
		t.Errorf("process %+v", p)
	case s.Mounts[0].Options[0] != "nosuid" || *s.Hooks.Poststop[0].Timeout != 3 || s.Annotations["a"] != "b":
		t.Errorf("spec %+v", s)
	case s.Linux.Namespaces[1].Path != "/proc/1/ns/net" || *s.Linux.Resources.Memory.Limit != 1<<20 || s.Linux.Resources.Pids.Limit != 9:
		t.Errorf("linux %+v", s.Linux)
	case s.Linux.Seccomp == nil || s.Linux.Sysctl["net.ipv4.ip_forward"] != "1" || s.Linux.Devices[0].Minor != 11:
		t.Errorf("linux %+v", s.Linux)
	}
}

// TestReadRefuses: a field launch does not know is an error that names it, unless it
// is empty; a value of the wrong type names its path.
func TestReadRefuses(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{strings.Replace(minimal, `"cwd":"/"`, `"cwd":"/","selinuxLabel":"x"`, 1), "process.selinuxLabel: not supported"},
		{strings.Replace(minimal, `"ociVersion"`, `"vm":{"kernel":{}},"ociVersion"`, 1), "vm: not supported"},
		{strings.Replace(minimal, `"ociVersion"`, `"linux":{"intelRdt":{"closID":"a"}},"ociVersion"`, 1), "linux.intelRdt: not supported"},
		{strings.Replace(minimal, `"uid":0`, `"uid":-1`, 1), "process.user.uid"},
		{strings.Replace(minimal, `"uid":0`, `"uid":4294967296`, 1), "process.user.uid"},
		{strings.Replace(minimal, `["sh"]`, `"sh"`, 1), "process.args: want an array"},
		{strings.Replace(minimal, `"args":["sh"],`, ``, 1), "process.args: missing"},
		{strings.Replace(minimal, `{"path":"rootfs"}`, `{}`, 1), "root.path: missing"},
		{`[]`, "config.json: want an object"},
		{`{"root":`, "cannot parse"},
		{strings.Replace(minimal, `"ociVersion"`, `"mounts":[{"type":"tmpfs"}],"ociVersion"`, 1), "mounts[0].destination: missing"},
		{strings.Replace(minimal, `"ociVersion"`, `"hooks":{"poststart":[{"path":"/x","timeout":0}]},"ociVersion"`, 1), "seconds from 1 to 1048576"},
		{strings.Replace(minimal, `"ociVersion"`, `"hooks":{"poststart":[{"path":"/x","timeout":9223372036854775807}]},"ociVersion"`, 1), "seconds from 1 to 1048576"},
		// What encoding/json (runc) reads otherwise than a field read once: refused.
		{strings.Replace(minimal, `"uid":0`, `"uid":1000,"uid":null`, 1), "process.user.uid: given twice"},
		{strings.Replace(minimal, `"ociVersion"`, `"process":{"user":{"uid":1000}},"ociVersion"`, 1), "process: given twice"},
		{strings.Replace(minimal, `"cwd":"/"`, `"cwd":"/","CWD":"/tmp"`, 1), "process.cwd: given twice"},
		// A refused field in another spelling, as encoding/json would match it.
		{strings.Replace(minimal, `"cwd":"/"`, `"cwd":"/","SelinuxLabel":"x"`, 1), "process.SelinuxLabel: not supported"},
		{strings.Replace(strings.Replace(minimal, `"process"`, `"Process"`, 1), `"cwd":"/"`, `"cwd":"/","selinuxLabel":"x"`, 1), "process.selinuxLabel: not supported"},
		{strings.Replace(minimal, `"ociVersion"`, `"linux":{"Personality":{"domain":"LINUX"}},"ociVersion"`, 1), "linux.Personality: not supported"},
		{strings.Replace(minimal, `"ociVersion"`, `"mounts":[{"destination":"/x","UidMappings":[{"size":1}]}],"ociVersion"`, 1), "mounts[0].UidMappings: not supported"},
		// No path or argument holds a NUL.
		{strings.Replace(minimal, `"ociVersion"`, `"mounts":[{"destination":"/tmp\u0000/../../etc","type":"tmpfs"}],"ociVersion"`, 1), "mounts[0].destination: holds a NUL"},
		{strings.Replace(minimal, `["sh"]`, `["sh","a\u0000b"]`, 1), "process.args[1]: holds a NUL"},
	} {
		_, err := Read(strings.NewReader(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.json, err, c.want)
		}
	}
	// A property the runtime spec does not define is ignored, as the spec requires.
	if _, err := Read(strings.NewReader(strings.Replace(minimal, `"cwd":"/"`, `"cwd":"/","unknown":{"x":1}`, 1))); err != nil {
		t.Errorf("an unknown property: %v", err)
	}
	if _, err := Read(strings.NewReader(strings.Replace(minimal, `"ociVersion"`, `"mounts":[{"destination":"/x","type":"tmpfs","uidMappings":[{"size":1}]}],"ociVersion"`, 1))); err == nil || !strings.Contains(err.Error(), "mounts[0].uidMappings: not supported") {
		t.Errorf("mounts[0].uidMappings: %v", err)
	}
	// Empty values of unknown fields are what engines send for features they do not use.
	if _, err := Read(strings.NewReader(strings.Replace(minimal, `"cwd":"/"`, `"cwd":"/","apparmorProfile":"","ioPriority":null`, 1))); err != nil {
		t.Errorf("empty unknown fields: %v", err)
	}
}

func TestReadProcess(t *testing.T) {
	p, err := ReadProcess(strings.NewReader(`{"args":["ls"],"env":["A=1"],"cwd":"/","user":{"uid":5,"gid":6}}`))
	if err != nil || p.Args[0] != "ls" || p.User.GID != 6 {
		t.Errorf("ReadProcess: %+v, %v", p, err)
	}
	if _, err := ReadProcess(strings.NewReader(`{"env":[]}`)); err == nil {
		t.Error("ReadProcess without args: no error")
	}
}

// FuzzRead: any input gives a config or one error line, never a panic.
func FuzzRead(f *testing.F) {
	f.Add(minimal)
	f.Add(`{"linux":{"resources":{"memory":{"limit":null}}}}`)
	f.Fuzz(func(t *testing.T, s string) {
		_, err := Read(strings.NewReader(s))
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error of more than one line: %q", err)
		}
	})
}
