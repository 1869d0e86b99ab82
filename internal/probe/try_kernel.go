package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"launch/internal/probe/report"
)

// Operations of probe try on the kernel's shared state: memory it allocates without
// charging the container, and the host's log and device events.
//
//	try packetring MIB       an AF_PACKET socket with an RX ring of MIB MiB
//	try audit TEXT           send TEXT to the audit subsystem (AUDIT_USER_AVC), which
//	                         writes it to the host's kernel log
//	try uevent SECONDS [DEVPATH]
//	                         listen for the kernel's device events; print the first (of
//	                         DEVPATH, if given)
//	try compatsocket FAMILY  socketcall(SYS_SOCKET, FAMILY, SOCK_STREAM) through the
//	                         32-bit ABI (int 0x80 on amd64), and socket(2) likewise
//	try xdpring LOG2         an AF_XDP socket with an RX ring of 2^LOG2 entries
//	try usersock MIB         queue MIB MiB of NETLINK_USERSOCK messages between two
//	                         of its own sockets: "queued N" (MiB) or the step refused
//	try tcpqueue MIB         queue up to MIB MiB in loopback TCP connections that
//	                         nobody reads: "queued N MiB in C connections"
func init() {
	moreOps["xdpring"] = tryXDPRing
	moreOps["usersock"] = tryUsersock
	moreOps["tcpqueue"] = tryTCPQueue
	moreOps["packetring"] = tryPacketRing
	moreOps["audit"] = tryAudit
	moreOps["uevent"] = tryUevent
	moreOps["compatsocket"] = tryCompatSocket
}

func tryPacketRing(a []string) string {
	mib, _ := strconv.Atoi(arg(a, 0))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return "socket " + report.ErrName(err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return "version " + report.ErrName(err)
	}
	const block = 1 << 20
	req := unix.TpacketReq3{Block_size: block, Block_nr: uint32(mib), Frame_size: 1 << 11, Frame_nr: uint32(mib) * (block >> 11)}
	return report.ErrName(unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req))
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func tryAudit(a []string) string {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT)
	if err != nil {
		return report.ErrName(err)
	}
	defer unix.Close(fd)
	text := strings.Join(a, " ")
	msg := make([]byte, unix.SizeofNlMsghdr+len(text)+1)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], unix.AUDIT_USER_AVC)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	copy(msg[unix.SizeofNlMsghdr:], text)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return "send " + report.ErrName(err)
	}
	return "ok"
}

func tryUevent(a []string) string {
	secs, _ := strconv.ParseFloat(arg(a, 0), 64)
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return report.ErrName(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		return "bind " + report.ErrName(err)
	}
	tv := unix.NsecToTimeval(int64(secs * float64(time.Second)))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	buf := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return "none " + report.ErrName(err)
		}
		ev := strings.ReplaceAll(string(buf[:n]), "\x00", " ")
		if devpath := arg(a, 1); devpath == "" || strings.Contains(ev, "@"+devpath+" ") {
			return "event " + ev
		}
	}
}

// socketcall's operation number for socket(2) (linux/net.h); x/sys has no SYS_SOCKET
// of socketcall's own.
const sockcallSocket = 1

func tryCompatSocket(a []string) (out string) {
	family, _ := strconv.Atoi(arg(a, 0))
	// A kernel without the 32-bit ABI (or with it turned off) answers int 0x80 with a
	// general protection fault: SIGSEGV, a panic here.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			out = "no32bit"
		}
	}()
	// The 32-bit ABI takes 32-bit pointers: the arguments must sit below 4 GiB.
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|map32bit)
	if err != nil {
		return "mmap " + report.ErrName(err)
	}
	defer unix.Munmap(mem)
	args := (*[3]uint32)(unsafe.Pointer(&mem[0]))
	args[0], args[1], args[2] = uint32(family), unix.SOCK_STREAM, 0
	out = "socketcall=" + compatResult(compatSyscall(compatSocketcall, sockcallSocket, uintptr(unsafe.Pointer(&mem[0])), 0))
	return out + " socket=" + compatResult(compatSyscall(compatSocket, uintptr(family), unix.SOCK_STREAM, 0))
}

// compatResult names a 32-bit system call's result: a descriptor is closed and "ok".
func compatResult(r int32) string {
	if r >= 0 {
		unix.Close(int(r))
		return "ok"
	}
	return report.ErrName(unix.Errno(-r))
}

// Per-user budgets of the kernel, which container root shares with host root.
//
//	try mqfill     create POSIX message queues until the kernel refuses one; print
//	               "held N ERRNO" and keep them for a minute
//	try sigfill    queue real-time signals to a stopped child until the kernel
//	               refuses one; print "held N ERRNO" and keep them for a minute
func init() {
	moreOps["mqfill"] = tryMqFill
	moreOps["sigfill"] = trySigFill
}

func tryMqFill([]string) string {
	// struct mq_attr: four longs (flags, maxmsg, msgsize, curmsgs); int is a long's
	// size on every Linux GOARCH.
	attr := [4]int{0, 10, 8192, 0}
	n := 0
	var err error
	for ; n < 100000; n++ {
		name, _ := unix.BytePtrFromString("launch-probe-fill-" + strconv.Itoa(n))
		fd, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(name)), unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600,
			uintptr(unsafe.Pointer(&attr)), 0, 0)
		if e != 0 {
			err = e
			break
		}
		_ = fd
	}
	fmt.Println("held", n, report.ErrName(err))
	time.Sleep(time.Minute)
	return "done"
}

func trySigFill([]string) string {
	child, err := os.StartProcess("/proc/self/exe", []string{"probe", "sleep", "60"}, &os.ProcAttr{})
	if err != nil {
		return "start " + report.ErrName(err)
	}
	defer child.Kill()
	unix.Kill(child.Pid, unix.SIGSTOP)
	// A stopped process takes every signal but SIGKILL and SIGCONT into its queue; a
	// running one would take them off it as fast as they come.
	for !stopped(child.Pid) {
		time.Sleep(time.Millisecond)
	}
	const sigrtmin1 = 35                             // SIGRTMIN+1, which x/sys does not name
	info := unix.Siginfo{Signo: sigrtmin1, Code: -1} // SI_QUEUE
	n := 0
	var e unix.Errno
	for ; n < 1000000; n++ {
		if _, _, e = unix.RawSyscall(unix.SYS_RT_SIGQUEUEINFO, uintptr(child.Pid), sigrtmin1, uintptr(unsafe.Pointer(&info))); e != 0 {
			break
		}
	}
	fmt.Println("held", n, report.ErrName(errOrNil(e)))
	time.Sleep(time.Minute)
	return "done"
}

// Pseudo-terminals, a pool of the kernel's (kernel.pty.max) shared by every container.
//
//	try ptyfill    open /dev/ptmx until the kernel refuses; print "held N ERRNO" and
//	               keep them for a minute
//	try ptmx       open /dev/ptmx once
func init() {
	moreOps["ptyfill"] = tryPtyFill
	moreOps["ptmx"] = func([]string) string {
		fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return report.ErrName(err)
	}
}

func tryPtyFill([]string) string {
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	lim.Cur = lim.Max
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	n := 0
	var err error
	for ; n < 100000; n++ {
		if _, err = unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err != nil {
			break
		}
	}
	fmt.Println("held", n, report.ErrName(err))
	time.Sleep(time.Minute)
	return "done"
}

// stopped reports whether the process pid is stopped (state T in /proc/PID/stat).
func stopped(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'T'
}

func tryXDPRing(a []string) string {
	log2, _ := strconv.Atoi(arg(a, 0))
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return "socket " + report.ErrName(err)
	}
	defer unix.Close(fd)
	return report.ErrName(unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_RX_RING, 1<<log2))
}

func tryUsersock(a []string) string {
	mib, _ := strconv.Atoi(arg(a, 0))
	const msg = 1 << 20
	buf := make([]byte, msg)
	queued := 0
	for queued < mib {
		rx, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_USERSOCK)
		if err != nil {
			return "socket " + report.ErrName(err)
		}
		if err := unix.Bind(rx, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return "bind " + report.ErrName(err)
		}
		sa, err := unix.Getsockname(rx)
		if err != nil {
			return "getsockname " + report.ErrName(err)
		}
		tx, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_USERSOCK)
		if err != nil {
			return "socket " + report.ErrName(err)
		}
		unix.SetsockoptInt(tx, unix.SOL_SOCKET, unix.SO_SNDBUF, 2*msg)
		binary.NativeEndian.PutUint32(buf, msg)
		if err := unix.Sendto(tx, buf, unix.MSG_DONTWAIT, sa); err != nil {
			return fmt.Sprintf("queued %d, then send %s", queued, report.ErrName(err))
		}
		unix.Close(tx)
		queued++
	}
	return fmt.Sprintf("queued %d", queued)
}

func tryTCPQueue(a []string) string {
	mib, _ := strconv.Atoi(arg(a, 0))
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return "socket " + report.ErrName(err)
	}
	lo := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if err := unix.Bind(ln, lo); err != nil {
		return "bind " + report.ErrName(err)
	}
	if err := unix.Listen(ln, 128); err != nil {
		return "listen " + report.ErrName(err)
	}
	sa, _ := unix.Getsockname(ln)
	chunk := make([]byte, 1<<16)
	var queued int64
	conns, starved := 0, 0
	for queued < int64(mib)<<20 && starved < 3 && conns < 4000 {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			break
		}
		unix.SetsockoptInt(c, unix.SOL_SOCKET, unix.SO_SNDBUF, 64<<20)
		if err := unix.Connect(c, sa); err != nil {
			break
		}
		p, _, err := unix.Accept4(ln, unix.SOCK_CLOEXEC)
		if err != nil {
			break
		}
		unix.SetsockoptInt(p, unix.SOL_SOCKET, unix.SO_RCVBUF, 64<<20)
		unix.SetNonblock(c, true)
		conns++
		var sent int64
		for {
			n, err := unix.Write(c, chunk)
			if err != nil || n <= 0 {
				break
			}
			sent += int64(n)
		}
		queued += sent
		if sent < 1<<16 {
			starved++
		} else {
			starved = 0
		}
	}
	return fmt.Sprintf("queued %d MiB in %d connections", queued>>20, conns)
}
