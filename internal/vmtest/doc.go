// Command vmtest is make test-vm: it proves the release binary on machines that are not
// the development VM. Run it from the repository root, as root:
//
//	go run ./internal/vmtest [-arch arm64,amd64] [-timeout 8m] [-append KERNEL-PARAMS]
//
// With nothing but Debian packages, which it installs or downloads itself
// (qemu-system-arm, qemu-system-x86, busybox-static of each arch, and the current
// Debian kernel of each arch, fetched with apt-get download and unpacked with dpkg-deb
// into build/vm, where they stay for the next run; arm64 stays added to dpkg's
// architectures), it:
//
//  1. builds the release (make release: every arch, SHA256SUMS) and reports the size
//     of each binary, including those of arches it cannot boot;
//  2. builds internal/vminit and internal/probe for each machine's arch, static and
//     CGO-free, and writes a gzipped cpio initramfs: /init (vminit), /launch (the
//     release binary), /SHA256SUMS, and /rootfs, the container's root file system
//     (busybox, its applets, /probe);
//  3. boots qemu-system-aarch64 (virt, Cortex-A57, TCG) and qemu-system-x86_64 (KVM when
//     /dev/kvm makes a virtual machine, TCG otherwise), without network, console on
//     the serial port, both at once, and echoes each console line prefixed by the
//     arch. A KVM boot that ends, or says nothing for 90 s, before the guest's init
//     speaks (qemu aborting with "failed to set MSR" on some hosts) is done again with
//     TCG, and the log and the summary say so;
//  4. fails on any "CHECK ... FAIL" line, on "RESULT FAIL", on a machine that ends
//     without a RESULT line, and on a machine still running after -timeout (qemu is
//     killed).
//
// What the machines check is described in internal/vminit. The kernel of each machine
// (Debian package, version and uname) is part of the output.
package main
