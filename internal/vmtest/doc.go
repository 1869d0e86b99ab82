// Command vmtest is make test-vm: it proves the release binary on machines that are not
// the development VM. Run it from the repository root, as root:
//
//	go run ./internal/vmtest [-arch arm64,amd64,...] [-timeout 8m] [-append KERNEL-PARAMS]
//
// It boots every arch Debian 12 ships a kernel for (machines, in qemu.go): arm64,
// amd64, i386, armhf, ppc64el, s390x, mips64el and mipsel, by Debian's names. With
// nothing but Debian packages, which it installs or downloads itself (qemu-system-arm,
// -x86, -ppc, -misc and -mips, busybox-static of each arch, and the current Debian
// kernel of each arch, fetched with apt-get download and unpacked with dpkg-deb into
// build/vm, where they stay for the next run; the foreign arches stay added to dpkg's
// architectures), it:
//
//  1. builds the release (make release: every arch, SHA256SUMS) and reports the size
//     of each binary, including those of arches it cannot boot;
//  2. builds internal/vminit and internal/probe for each machine's GOARCH (and the
//     probe of the 32-bit GOARCH a 64-bit machine's kernel also runs), static and
//     CGO-free, and writes a gzipped cpio initramfs: /init (vminit), /launch (the
//     release binary), /launch32 (the 32-bit one, on amd64 and arm64), /SHA256SUMS,
//     and /rootfs, the container's root file system (busybox, its applets, /probe,
//     /probe32);
//  3. boots every machine at once, each with its Debian kernel, without network,
//     console on the serial port (or the hypervisor's: hvc0 on pseries, sclp on
//     s390x), and echoes each console line prefixed by the arch: amd64 under KVM when
//     /dev/kvm makes a virtual machine, everything else under TCG. A KVM boot that
//     ends, or says nothing for 90 s, before the guest's init speaks (qemu aborting
//     with "failed to set MSR" on some hosts) is done again with TCG, and the log and
//     the summary say so;
//  4. fails on any "CHECK ... FAIL" line, on "RESULT FAIL", on a machine that ends
//     without a RESULT line, and on a machine still running after -timeout (qemu is
//     killed).
//
// What the machines check is described in internal/vminit. The kernel of each machine
// (Debian package, version and uname) is part of the output.
package main
