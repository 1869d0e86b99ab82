package main

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"launch/internal/testutil"
)

// Escapes through what the launcher holds while COMMAND is being found and started.
// Until its execve is done, the child is the launcher: /proc/self/fd/N are the
// launcher's descriptors and /proc/self/exe is the launcher's binary, and the kernel
// resolves COMMAND's #! interpreter and its ELF loader (PT_INTERP) with them in
// place. An image can name any of them. Every test here failed before the child
// closed what it held (README, "Security model": descriptors closed, not marked) and
// checked COMMAND's chain itself.

// fdRange are the descriptor numbers an image tries: past what a launcher holds
// (cgroup files, pipes, /dev/fuse connections, the caller's).
const fdRange = 24

// climb is a path from any directory of the host to its /.
var climb = strings.Repeat("../", 24)

// TestEscapeWorkdirThroughDescriptor: an image whose --workdir is a symlink to
// /proc/self/fd/N. With a host directory open as N when the child changes directory,
// COMMAND would start with its working directory on the host and read a file only the
// host has. The caller's own descriptors (a host directory as 3) are tried too.
func TestEscapeWorkdirThroughDescriptor(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	dir, marker := hostDir(t)
	hostFD, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer hostFD.Close()
	for n := 3; n < fdRange; n++ {
		if err := os.Symlink("/proc/self/fd/"+strconv.Itoa(n), filepath.Join(rootfs, "app"+strconv.Itoa(n))); err != nil {
			t.Fatal(err)
		}
	}
	for _, opts := range [][]string{nil, {"--init"}, {"--read-only"}, {"--proc-view", "off"}, {"--net", "host"}} {
		for n := 3; n < fdRange; n++ {
			wd := "/app" + strconv.Itoa(n)
			args := append(append([]string{}, opts...), "--workdir", wd, rootfs, "/probe", "try", "read", climb+strings.TrimPrefix(marker, "/"))
			r := w.runWith(launchIO{files: []*os.File{hostFD}}, args...)
			if strings.Contains(r.stdout, "ok") {
				t.Fatalf("%v: COMMAND read the host's %s from its working directory (stdout %q)", args, marker, r.stdout)
			}
			// A closed descriptor is not there (ENOENT); an open one is a magic link,
			// refused (ELOOP).
			refused := "launch: error: chdir: " + wd + ": too many levels of symbolic links\n"
			missing := "launch: error: chdir: " + wd + ": no such file or directory\n"
			if r.code != 125 || !(strings.HasPrefix(r.stderr, refused) || strings.HasPrefix(r.stderr, missing)) {
				t.Errorf("%v: exit %d, stderr %q; want 125 and %q (or, for a closed descriptor, %q)", opts, r.code, r.stderr, refused, missing)
			}
		}
	}
	w.check()
}

// TestEscapeInterpreter: an image whose COMMAND is a script with the interpreter
// /proc/self/fd/N/../../<host path>: with a host directory open as N, the kernel would
// run a program of the host's as PID 1, which could then overwrite it. And a script
// whose interpreter is /proc/self/exe, or a symlink to it, which would run the
// launcher's binary (CVE-2019-5736). launch refuses each (exit 126, ELOOP), and the
// host's program and the launcher's binary are never run.
func TestEscapeInterpreter(t *testing.T) {
	testutil.RequireBusybox(t)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	dir, _ := hostDir(t)
	// A program only the host has: if it ever runs, it leaves a file on the host.
	witness := filepath.Join(dir, "ran")
	hostProg := filepath.Join(dir, "prog")
	if err := os.WriteFile(hostProg, []byte("#!/bin/sh\ntouch "+witness+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hostFD, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer hostFD.Close()
	script := func(name, interp string) string {
		p := filepath.Join(rootfs, name)
		if err := os.WriteFile(p, []byte("#!"+interp+"\necho from the script\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return "/" + name
	}
	var cases [][2]string // COMMAND, what it is
	for n := 3; n < fdRange; n++ {
		cases = append(cases, [2]string{script("evil"+strconv.Itoa(n), "/proc/self/fd/"+strconv.Itoa(n)+"/"+climb+strings.TrimPrefix(hostProg, "/")),
			"interpreter through descriptor " + strconv.Itoa(n)})
	}
	cases = append(cases, [2]string{script("self", "/proc/self/exe --version"), "/proc/self/exe as interpreter"})
	if err := os.Symlink("/proc/self/exe", filepath.Join(rootfs, "bin/exe")); err != nil {
		t.Fatal(err)
	}
	cases = append(cases, [2]string{script("viasymlink", "/bin/exe --version"), "a symlink to /proc/self/exe as interpreter"})
	cases = append(cases, [2]string{script("nested", "/self"), "a script whose interpreter is such a script"})
	cases = append(cases, [2]string{"/bin/exe", "COMMAND a symlink to /proc/self/exe"})
	cases = append(cases, [2]string{"/proc/self/exe", "COMMAND /proc/self/exe"})
	for _, opts := range [][]string{nil, {"--init"}} {
		for _, c := range cases {
			args := append(append([]string{}, opts...), rootfs, c[0], "--version")
			r := w.runWith(launchIO{files: []*os.File{hostFD}}, args...)
			if _, err := os.Stat(witness); err == nil {
				t.Fatalf("%s (%v): the host's %s ran", c[1], opts, hostProg)
			}
			if strings.Contains(r.stdout, "launch ") || strings.Contains(r.stdout, "from the script") {
				t.Errorf("%s (%v): it ran: stdout %q", c[1], opts, r.stdout)
			}
			// Refused as a magic link (ELOOP), or not there, for a closed descriptor
			// (ENOENT: the script's interpreter is missing).
			refused := "launch: error: exec: " + c[0] + ": too many levels of symbolic links\n"
			missing := "launch: error: exec: " + c[0] + ": no such file or directory\n"
			// The launcher's own look for COMMAND, before anything is set up, resolves
			// the symlink in ROOTFS, where /proc is empty: not found.
			notFound := strings.HasPrefix(r.stderr, "launch: error: command not found in the container: "+c[0]+": no such file or directory\n")
			if c[0] == "/bin/exe" && r.code == 127 && notFound {
				continue
			}
			if r.code != 126 || !(strings.HasPrefix(r.stderr, refused) || strings.HasPrefix(r.stderr, missing) && strings.HasPrefix(c[1], "interpreter through")) {
				t.Errorf("%s (%v): exit %d, stderr %q; want 126 and %q", c[1], opts, r.code, r.stderr, refused)
			}
		}
	}
	w.check()
}

// TestEscapeDescriptorsAtExec: what is open while the kernel resolves COMMAND's ELF
// loader, the last path resolved with the launcher's descriptors in place. Each image
// program names /proc/self/fd/N/. as its PT_INTERP, a path the child does not check:
// the kernel's answer tells whether N was open (ENOENT: closed; ENOTDIR: open, not a
// directory; EACCES: a directory, which is a way out). At most one may be open, the
// child's error pipe to the launcher (a pipe: ENOTDIR), and none may be a directory;
// the same under every mode that changes the child's steps.
func TestEscapeDescriptorsAtExec(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	dir, _ := hostDir(t)
	hostFD, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer hostFD.Close()
	for n := 3; n < fdRange; n++ {
		prog := elfWithInterp(t, "/proc/self/fd/"+strconv.Itoa(n)+"/.")
		if err := os.WriteFile(filepath.Join(rootfs, "elf"+strconv.Itoa(n)), prog, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, opts := range [][]string{nil, {"--init"}, {"--read-only"}, {"--proc-view", "off"}, {"--proc-view", "on"}, {"--net", "host"}} {
		var open []string
		for n := 3; n < fdRange; n++ {
			cmd := "/elf" + strconv.Itoa(n)
			args := append(append([]string{}, opts...), rootfs, cmd)
			r := w.runWith(launchIO{files: []*os.File{hostFD}}, args...)
			if r.code != 126 {
				t.Fatalf("%v: exit %d, stderr %q; want 126 (the loader cannot be run)", args, r.code, r.stderr)
			}
			switch {
			case strings.Contains(r.stderr, "exec: "+cmd+": no such file or directory"):
			case strings.Contains(r.stderr, "exec: "+cmd+": not a directory"):
				open = append(open, strconv.Itoa(n))
			default:
				t.Errorf("%v: descriptor %d is open during exec and is a directory, or worse: %q", opts, n, r.stderr)
				open = append(open, strconv.Itoa(n)+"(directory)")
			}
		}
		if len(open) > 1 {
			t.Errorf("%v: descriptors %v are open while the kernel resolves COMMAND's loader; want the error pipe only", opts, open)
		}
	}
	w.check()
}

// elfWithInterp returns a minimal ELF executable for this machine that asks for the
// program loader interp: an ELF header, a PT_INTERP and a PT_LOAD. The kernel opens
// the loader before anything is mapped, so the program itself never runs.
func elfWithInterp(t *testing.T, interp string) []byte {
	t.Helper()
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "riscv64": elf.EM_RISCV,
		"ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "loong64": elf.EM_LOONGARCH}[runtime.GOARCH]
	if machine == 0 {
		testutil.Skip(t, "no ELF64 builder for "+runtime.GOARCH)
	}
	var order binary.ByteOrder = binary.LittleEndian
	data := byte(elf.ELFDATA2LSB)
	if runtime.GOARCH == "s390x" {
		order, data = binary.BigEndian, byte(elf.ELFDATA2MSB)
	}
	const ehsize, phsize, base = 64, 56, 0x400000
	path := append([]byte(interp), 0)
	interpOff := uint64(ehsize + 2*phsize)
	b := make([]byte, int(interpOff)+len(path))
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS], b[elf.EI_DATA], b[elf.EI_VERSION] = byte(elf.ELFCLASS64), data, byte(elf.EV_CURRENT)
	order.PutUint16(b[16:], uint16(elf.ET_EXEC))
	order.PutUint16(b[18:], uint16(machine))
	order.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	order.PutUint64(b[24:], base+interpOff) // entry
	order.PutUint64(b[32:], ehsize)         // phoff
	order.PutUint16(b[52:], ehsize)
	order.PutUint16(b[54:], phsize)
	order.PutUint16(b[56:], 2) // phnum
	ph := func(i int, typ elf.ProgType, flags elf.ProgFlag, off, size uint64) {
		p := b[ehsize+i*phsize:]
		order.PutUint32(p[0:], uint32(typ))
		order.PutUint32(p[4:], uint32(flags))
		order.PutUint64(p[8:], off)
		order.PutUint64(p[16:], base+off)
		order.PutUint64(p[24:], base+off)
		order.PutUint64(p[32:], size)
		order.PutUint64(p[40:], size)
		order.PutUint64(p[48:], 0x1000)
	}
	ph(0, elf.PT_INTERP, elf.PF_R, interpOff, uint64(len(path)))
	ph(1, elf.PT_LOAD, elf.PF_R|elf.PF_X, 0, uint64(len(b)))
	copy(b[interpOff:], path)
	return b
}
