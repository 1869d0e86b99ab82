package main

import (
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/unix"
)

// A cpioWriter writes a cpio archive in the "newc" format, the one the kernel unpacks
// into its initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).
// Entries are written in the order given, so parents must come before their children.
// Every entry belongs to root, has mtime 0 and its own inode number: the same inputs
// give the same bytes.
type cpioWriter struct {
	w   io.Writer
	ino uint32
	n   int64 // bytes written, for the 4-byte alignment
	err error
}

func newCpioWriter(w io.Writer) *cpioWriter { return &cpioWriter{w: w} }

// Dir adds a directory.
func (c *cpioWriter) Dir(name string, perm uint32) { c.entry(name, unix.S_IFDIR|perm, 0, 0, nil) }

// File adds a regular file holding data.
func (c *cpioWriter) File(name string, perm uint32, data []byte) {
	c.entry(name, unix.S_IFREG|perm, 0, 0, data)
}

// Symlink adds a symbolic link to target; newc stores the target as the file's data.
func (c *cpioWriter) Symlink(name, target string) {
	c.entry(name, unix.S_IFLNK|0o777, 0, 0, []byte(target))
}

// CharDev adds a character device node.
func (c *cpioWriter) CharDev(name string, perm, major, minor uint32) {
	c.entry(name, unix.S_IFCHR|perm, major, minor, nil)
}

// Close writes the trailer and returns the first error of any write.
func (c *cpioWriter) Close() error {
	c.ino = 0 // the trailer has inode 0, as GNU cpio writes it
	c.header("TRAILER!!!", 0, 0, 0, 0)
	return c.err
}

func (c *cpioWriter) entry(name string, mode, major, minor uint32, data []byte) {
	name = strings.TrimPrefix(name, "/")
	c.ino++
	c.header(name, mode, major, minor, len(data))
	c.write(data)
	c.pad()
}

// header writes the 110-byte header, the name with its NUL, and the padding. The
// fields are 8 hex digits each: magic, ino, mode, uid, gid, nlink, mtime, filesize,
// devmajor, devminor, rdevmajor, rdevminor, namesize, check.
func (c *cpioWriter) header(name string, mode, rdevMajor, rdevMinor uint32, size int) {
	nlink := 1
	if mode&unix.S_IFMT == unix.S_IFDIR {
		nlink = 2
	}
	h := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.write([]byte(h + name + "\x00"))
	c.pad()
}

// pad aligns the archive to 4 bytes, as newc requires after each name and each file.
func (c *cpioWriter) pad() {
	if r := c.n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) write(b []byte) {
	if c.err != nil || len(b) == 0 {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}
