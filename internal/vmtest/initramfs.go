package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"os"
)

// applets are the busybox commands linked in the container's /bin.
var applets = []string{"sh", "cat", "echo", "env", "false", "grep", "hostname", "id", "ls", "mkdir",
	"mount", "ps", "sleep", "true"}

// guestFiles are the files of one machine's initramfs, as host paths.
type guestFiles struct {
	init    string // vminit
	launch  string // build/release/launch-linux-<arch>
	sums    string // build/release/SHA256SUMS
	probe   string
	busybox string
	// The compat GOARCH's release binary and probe, or "": the 32-bit launcher on the
	// 64-bit kernel, with the 64-bit root and a 32-bit program in it.
	launch32, probe32 string
}

// writeInitramfs writes the gzipped newc cpio archive the kernel unpacks as its
// initial root file system:
//
//	/init                      vminit, run by the kernel as PID 1
//	/launch, /SHA256SUMS       the release binary and the release's checksums
//	/launch32                  the compat GOARCH's release binary, if any
//	/dev/console               the kernel opens it for init's stdin, stdout and stderr
//	/proc /sys /tmp            mount points
//	/rootfs                    the container: bin/busybox and applets, probe (and
//	                           probe32, the compat GOARCH's), etc/passwd and the mount
//	                           points proc, sys, dev, tmp
//
// No kernel module is needed: Debian's kernels have the serial consoles, devtmpfs,
// namespaces, cgroups and seccomp built in.
func writeInitramfs(path string, g guestFiles) error {
	data := map[string][]byte{}
	for _, p := range []string{g.init, g.launch, g.sums, g.probe, g.busybox, g.launch32, g.probe32} {
		if p == "" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("initramfs %s: %w", path, err)
		}
		data[p] = b
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	// The gzip header carries no name and no time: the same inputs give the same file.
	zw := gzip.NewWriter(bw)
	c := newCpioWriter(zw)
	c.File("init", 0o755, data[g.init])
	c.File("launch", 0o755, data[g.launch])
	c.File("SHA256SUMS", 0o644, data[g.sums])
	if g.launch32 != "" {
		c.File("launch32", 0o755, data[g.launch32])
	}
	c.Dir("dev", 0o755)
	c.CharDev("dev/console", 0o600, 5, 1)
	c.Dir("proc", 0o555)
	c.Dir("sys", 0o555)
	c.Dir("tmp", 0o1777)
	c.Dir("rootfs", 0o755)
	c.Dir("rootfs/bin", 0o755)
	c.File("rootfs/bin/busybox", 0o755, data[g.busybox])
	for _, a := range applets {
		c.Symlink("rootfs/bin/"+a, "busybox")
	}
	c.File("rootfs/probe", 0o755, data[g.probe])
	if g.probe32 != "" {
		c.File("rootfs/probe32", 0o755, data[g.probe32])
	}
	c.Dir("rootfs/etc", 0o755)
	c.File("rootfs/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	for _, d := range []string{"proc", "sys", "dev"} {
		c.Dir("rootfs/"+d, 0o755)
	}
	c.Dir("rootfs/tmp", 0o1777)
	for _, step := range []func() error{c.Close, zw.Close, bw.Flush, f.Close} {
		if err := step(); err != nil {
			return fmt.Errorf("initramfs %s: %w", path, err)
		}
	}
	return nil
}
