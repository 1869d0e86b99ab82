package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/testutil"
)

// Attacks on what the kernel shares between the container and the host: memory it
// allocates without charging the container's cgroup, the host's kernel log, the
// host's device events, and the socket families the filter refuses, reached through
// the 32-bit ABI. Each refusal can be lifted with --allow-socket, which the tests use
// to show that the witness sees the attack when it gets through.

// TestAttackPacketRings: AF_PACKET rings are kernel memory outside the memory
// cgroup: 32 sockets with 64 × 4 MiB rings took 8.4 GB of the host from a container
// limited to 64M. The filter refuses AF_PACKET sockets; the host's available memory
// does not fall by more than the container's limit during the attempt.
func TestAttackPacketRings(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	before := memAvailable(t)
	if got := w.try(rootfs, []string{"--memory", "16M"}, "packetring", "64"); got != "socket EPERM" {
		t.Errorf("an AF_PACKET ring of 64 MiB under --memory 16M = %q, want socket EPERM", got)
	}
	if after := memAvailable(t); before-after > 64<<20 {
		t.Errorf("the host's MemAvailable fell by %d MiB during the attack", (before-after)>>20)
	}
	// Lifted, the socket and a small ring are there (the kernel's own limit is what
	// stops a large one then, not the container's).
	if got := w.try(rootfs, []string{"--allow-socket", "packet"}, "packetring", "1"); got != "ok" {
		t.Errorf("with --allow-socket packet, an AF_PACKET ring of 1 MiB = %q, want ok", got)
	}
	w.check()
}

// TestAttackXDPRings: AF_XDP rings are vmalloc'd kernel memory no memory cgroup
// charges, and CAP_NET_RAW is all an AF_XDP socket needs: 4 sockets took 2 GB of the
// host from a container limited to 64M. The filter refuses AF_XDP.
func TestAttackXDPRings(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	if got := w.try(rootfs, nil, "xdpring", "24"); got != "socket EPERM" {
		t.Errorf("an AF_XDP ring of 2^24 entries = %q, want socket EPERM", got)
	}
	switch got := w.try(rootfs, []string{"--allow-socket", "xdp"}, "xdpring", "10"); got {
	case "ok":
	case "socket EAFNOSUPPORT":
		t.Log("this kernel has no AF_XDP (CONFIG_XDP_SOCKETS): the lift is not shown")
	default:
		t.Errorf("with --allow-socket xdp, an AF_XDP ring of 1024 entries = %q, want ok", got)
	}
	w.check()
}

// TestAttackUsersock: NETLINK_USERSOCK is the netlink protocol where any process
// may send to another socket; a large message is vmalloc'd and queued at the receiver
// whatever its buffer, charged to no cgroup: 3.6 GB of the host went to a container
// limited to 64M. The filter refuses it.
func TestAttackUsersock(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	if got := w.try(rootfs, nil, "usersock", "256"); got != "socket EPERM" {
		t.Errorf("NETLINK_USERSOCK sockets = %q, want socket EPERM", got)
	}
	if got := w.try(rootfs, []string{"--allow-socket", "usersock"}, "usersock", "4"); got != "queued 4" {
		t.Errorf("with --allow-socket usersock, 4 MiB of messages = %q, want queued 4", got)
	}
	w.check()
}

// TestAttackTCPBuffers: data queued in TCP connections nobody reads is kernel
// memory. cgroup v1 charges it only to a limit of its own, memory.kmem.tcp, and only
// once that limit is set: without it a container limited to 64M queued 2.3 GB, past
// the host's tcp_mem, which every network namespace shares, and the host's own
// connections were reset. The container may queue no more than about its limit
// again (v1) or its limit (v2).
func TestAttackTCPBuffers(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	got := w.try(rootfs, []string{"--memory", "64M"}, "tcpqueue", "600")
	var mib, conns int
	if _, err := fmt.Sscanf(got, "queued %d MiB in %d connections", &mib, &conns); err != nil {
		t.Fatalf("tcpqueue said %q", got)
	}
	t.Logf("a container limited to 64M queued %d MiB in %d TCP connections", mib, conns)
	if mib > 2*64 {
		t.Errorf("a container limited to 64M queued %d MiB in TCP connections", mib)
	}
	w.check()
}

// memAvailable returns the host's MemAvailable in bytes.
func memAvailable(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(l, "MemAvailable: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	t.Fatal("no MemAvailable in /proc/meminfo")
	return 0
}

// A kmsg reads the records of the kernel's log (/dev/kmsg) written from the moment it
// was opened on.
type kmsg struct {
	f    *os.File
	read string // the records read so far
}

func openKmsg(t *testing.T) *kmsg {
	t.Helper()
	// Non-blocking, so that reads wait in Go's poller, which a deadline ends.
	f, err := os.OpenFile("/dev/kmsg", os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	return &kmsg{f: f}
}

// until reads records, one per read, until one holds marker or d has passed, and
// returns every record read so far.
func (k *kmsg) until(t *testing.T, marker string, d time.Duration) string {
	t.Helper()
	k.f.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 8192)
	for {
		n, err := k.f.Read(buf)
		if errors.Is(err, unix.EPIPE) {
			continue // records overwritten before they were read; the next one follows
		}
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read /dev/kmsg: %v", err)
			}
			return k.read
		}
		k.read += string(buf[:n])
		if strings.Contains(string(buf[:n]), marker) {
			return k.read
		}
	}
}

// TestAttackAuditLog: with CAP_AUDIT_WRITE (kept, as Docker keeps it), an
// AUDIT_USER_AVC message over NETLINK_AUDIT lands in the host's kernel log: a
// container could forge "Out of memory" or file-system errors there. The filter
// refuses the socket; lifted, the marker reaches the log (the witness works).
func TestAttackAuditLog(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	log := openKmsg(t)
	refused := fmt.Sprintf("launch-test-audit-%d-%d", os.Getpid(), time.Now().UnixNano())
	if got := w.try(rootfs, nil, "audit", refused); got != "EPERM" {
		t.Errorf("socket(AF_NETLINK, NETLINK_AUDIT) = %q, want EPERM", got)
	}
	lifted := refused + "-lifted"
	if got := w.try(rootfs, []string{"--allow-socket", "audit"}, "audit", lifted); got != "ok" {
		t.Errorf("with --allow-socket audit, sending to the audit subsystem = %q, want ok", got)
	}
	// The audit subsystem's thread logs the messages in the order they came: whatever
	// got through of the refused one is in the log before the lifted one.
	if !strings.Contains(log.until(t, lifted, 5*time.Second), lifted) {
		t.Fatalf("the lifted marker %s never reached the host's kernel log: the witness does not work", lifted)
	}
	if strings.Contains(log.read, refused+"'") || strings.Contains(log.read, refused+" ") {
		t.Errorf("the container's audit message reached the host's kernel log: %s", refused)
	}
	w.check()
}

// TestAttackUevents: a NETLINK_KOBJECT_UEVENT socket in a network namespace of the
// initial user namespace receives the host's device events (names, numbers, on a
// board USB vendor and product IDs). The filter refuses it; lifted, an event the host
// makes (a change of /dev/null) reaches the container (the witness works).
func TestAttackUevents(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	if got := w.try(rootfs, nil, "uevent", "1"); got != "EPERM" {
		t.Errorf("socket(AF_NETLINK, NETLINK_KOBJECT_UEVENT) = %q, want EPERM", got)
	}
	s := w.start("--allow-socket", "uevent", rootfs, "/bin/sh", "-c", "echo ready; exec /probe try uevent 5 /devices/virtual/mem/null")
	if l := s.line(t); l != "ready" {
		t.Fatalf("the container said %q; stderr %s", l, s.stderr)
	}
	// The probe binds after ready: send events until one arrives.
	got := make(chan string, 1)
	go func() { got <- s.line(t) }()
	for {
		if err := os.WriteFile("/sys/devices/virtual/mem/null/uevent", []byte("change\n"), 0); err != nil {
			t.Fatal(err)
		}
		select {
		case l := <-got:
			if !strings.HasPrefix(l, "event change@/devices/virtual/mem/null") {
				t.Errorf("with --allow-socket uevent, the container got %q, want the host's event", l)
			}
			s.cmd.Wait()
			w.check()
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestAttackCompatSocketcall: socketcall(2) passes the family in memory, out of the
// filter's reach, and any program can make it through a 64-bit kernel's 32-bit ABI
// (int 0x80 on amd64): socket(AF_VSOCK) through it got a descriptor under --net none.
// The compat ABI's SYS_SOCKET is refused; its socket(2) is checked like the native
// one. Where the kernel runs no 32-bit code at all, there is nothing to get through.
func TestAttackCompatSocketcall(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	const afVsock, afInet = "40", "2"
	got := w.try(rootfs, nil, "compatsocket", afVsock)
	switch got {
	case "no32bit":
		t.Logf("this kernel runs no 32-bit code (int 0x80 faults): the BPF VM tests of gen cover the compat ABI's rules")
	case "socketcall=EPERM socket=EPERM":
	default:
		t.Errorf("AF_VSOCK through the 32-bit ABI = %q, want socketcall=EPERM socket=EPERM", got)
	}
	if got == "no32bit" {
		w.check()
		return
	}
	if got := w.try(rootfs, nil, "compatsocket", afInet); got != "socketcall=EPERM socket=ok" {
		t.Errorf("AF_INET through the 32-bit ABI = %q, want socketcall=EPERM socket=ok", got)
	}
	if got := w.try(rootfs, []string{"--allow-socket", "socketcall"}, "compatsocket", afInet); got != "socketcall=ok socket=ok" {
		t.Errorf("with --allow-socket socketcall, AF_INET through the 32-bit ABI = %q, want both ok", got)
	}
	w.check()
}

// TestAttackSharedBudgets: without a user namespace, container root and host root
// are one user to the kernel, with one count of POSIX message-queue bytes and of
// queued signals. A container that takes all it can must leave the host its own:
// while it holds what it took, the host still opens a message queue and queues a
// signal.
func TestAttackSharedBudgets(t *testing.T) {
	testutil.RequireBusybox(t)
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)

	s := w.start(rootfs, "/probe", "try", "mqfill")
	if l := s.line(t); !strings.HasPrefix(l, "held ") {
		t.Fatalf("mqfill said %q; stderr %s", l, s.stderr)
	}
	name, _ := unix.BytePtrFromString(fmt.Sprintf("launch-test-mq-%d", os.Getpid()))
	attr := [4]int{0, 10, 8192, 0}
	fd, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(name)), unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600,
		uintptr(unsafe.Pointer(&attr)), 0, 0)
	if e != 0 {
		t.Errorf("while a container holds all the message queues it can, the host's mq_open: %v", e)
	} else {
		unix.Close(int(fd))
		unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(name)), 0, 0)
	}
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()

	s = w.start(rootfs, "/probe", "try", "sigfill")
	if l := s.line(t); !strings.HasPrefix(l, "held ") {
		t.Fatalf("sigfill said %q; stderr %s", l, s.stderr)
	}
	sleeper := exec.Command(testutil.Busybox(), "sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	unix.Kill(sleeper.Process.Pid, unix.SIGSTOP)
	info := unix.Siginfo{Signo: 35, Code: -1} // SIGRTMIN+1, SI_QUEUE
	if _, _, e := unix.RawSyscall(unix.SYS_RT_SIGQUEUEINFO, uintptr(sleeper.Process.Pid), 35, uintptr(unsafe.Pointer(&info))); e != 0 {
		t.Errorf("while a container holds all the queued signals it can, the host's sigqueue: %v", e)
	}
	sleeper.Process.Kill()
	sleeper.Wait()
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
	w.check()
}

// TestAttackPtyPool: one container that opens pseudo-terminals until the kernel
// refuses took all of them (3071, kernel.pty.max less the host's reserve), and every
// other container's /dev/ptmx failed with ENOSPC. Each container's devpts instance is
// bounded: while one holds all it may, another still gets a terminal.
func TestAttackPtyPool(t *testing.T) {
	w := newWatch(t)
	rootfs := testutil.Rootfs(t)
	s := w.start(rootfs, "/probe", "try", "ptyfill")
	l := s.line(t)
	var n int
	var why string
	if _, err := fmt.Sscanf(l, "held %d %s", &n, &why); err != nil {
		t.Fatalf("ptyfill said %q; stderr %s", l, s.stderr)
	}
	if n > 256 {
		t.Errorf("one container holds %d pseudo-terminals (%s), want at most 256", n, why)
	}
	if got := w.try(rootfs, nil, "ptmx"); got != "ok" {
		t.Errorf("while another container holds all the pseudo-terminals it may, /dev/ptmx = %q, want ok", got)
	}
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
	w.check()
}
