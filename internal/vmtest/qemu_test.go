package main

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// How qemu ends on a host whose KVM refuses an MSR that qemu sets (the form of the
// report from CI machines; the numbers vary).
const msrAbort = `qemu-system-x86_64: error: failed to set MSR 0x10a to 0x200000c0
qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3225: kvm_buf_set_msrs: Assertion ` + "`ret == cpu->kvm_msr_buf->nmsrs'" + ` failed.`

func TestKVMFailed(t *testing.T) {
	for _, tt := range []struct {
		name   string
		b      boot
		failed bool
		why    string // what the reason must contain
	}{
		{"MSR abort", boot{exit: errors.New("signal: aborted (core dumped)"), stderr: msrAbort}, true, "kvm_buf_set_msrs: Assertion"},
		{"error at start", boot{exit: errors.New("exit status 1"), stderr: "qemu-system-x86_64: failed to initialize kvm: Permission denied\n"}, true, "failed to initialize kvm"},
		{"silent", boot{silent: true, exit: errors.New("signal: killed")}, true, "no word from the guest"},
		{"ended quietly", boot{}, true, "before the guest said anything"},
		{"guest failed", boot{started: true, exit: errors.New("exit status 1"), stderr: msrAbort}, false, ""},
		{"guest passed", boot{started: true, result: "RESULT PASS"}, false, ""},
	} {
		failed, why := kvmFailed(&tt.b)
		if failed != tt.failed || !strings.Contains(why, tt.why) {
			t.Errorf("%s: kvmFailed = %v, %q; want %v and a reason with %q", tt.name, failed, why, tt.failed, tt.why)
		}
	}
}

// TestAccels: KVM is tried only on the host's own arch, and only where /dev/kvm makes
// a virtual machine; TCG always comes last.
func TestAccels(t *testing.T) {
	native := machine{arch: runtime.GOARCH, goarch: runtime.GOARCH, tcgCPU: "max"}
	foreign := machine{arch: "riscv64", goarch: "riscv64", tcgCPU: "rv64"}
	if runtime.GOARCH == "riscv64" {
		foreign.arch = "s390x"
	}
	for _, tt := range []struct {
		name string
		m    machine
		dev  string
		why  string
	}{
		{"no device", native, "/nonexistent/kvm", "no such file"},
		{"a device that is not KVM", native, "/dev/null", "KVM_GET_API_VERSION"},
		{"another arch", foreign, "/dev/null", "the host is " + runtime.GOARCH},
	} {
		as, why := tt.m.accels(tt.dev)
		if len(as) != 1 || as[0].name != "TCG" || !strings.Contains(why, tt.why) {
			t.Errorf("%s: accels(%s) = %v, %q; want TCG alone and a reason with %q", tt.name, tt.dev, as, why, tt.why)
		}
	}
	if as, why := native.accels("/dev/kvm"); why == "" && (len(as) != 2 || as[0].name != "KVM" || as[1].name != "TCG") {
		t.Errorf("accels(/dev/kvm) on a host whose KVM works = %v, want KVM then TCG", as)
	}
}

// fakeQemu writes a qemu that acts under -enable-kvm as kvm says (a shell snippet)
// and under TCG boots a guest that passes.
func fakeQemu(t *testing.T, kvm string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qemu")
	script := `#!/bin/sh
case " $* " in
*" -enable-kvm "*)
	` + kvm + `
	;;
esac
echo 'VMINIT arch=amd64 kernel="Linux tcg" timeout=1s'
echo 'RESULT PASS (1 checks, 0.1s)'
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunWith boots a fake qemu with KVM then TCG, as run does where /dev/kvm works:
// a KVM that aborts or says nothing is replaced by TCG, and the boot says so; a KVM
// that runs the guest is kept, even when the guest fails.
func TestRunWith(t *testing.T) {
	kvmFirstLine = 2 * time.Second
	defer func() { kvmFirstLine = 90 * time.Second }()
	kvm := accel{"KVM", []string{"-enable-kvm", "-cpu", "host"}}
	tcg := accel{"TCG", []string{"-accel", "tcg", "-cpu", "max"}}
	for _, tt := range []struct {
		name, kvm string
		accel     string // what the summary says
		pass      bool
	}{
		{"MSR abort", "printf '%s\\n' \"" + strings.ReplaceAll(msrAbort, "`", "\\`") + "\" >&2; kill -ABRT $$", "TCG after KVM failed: qemu: signal: aborted", true},
		{"silent", "exec sleep 30", "TCG after KVM failed: no word from the guest", true},
		{"works", "echo 'VMINIT arch=amd64 kernel=\"Linux kvm\"'; echo 'RESULT PASS (1 checks)'; exit 0", "KVM", true},
		{"guest fails", "echo 'VMINIT arch=amd64'; echo 'CHECK x FAIL boom'; echo 'RESULT FAIL 1'; exit 0", "KVM", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := machine{arch: "amd64", goarch: "amd64", qemu: fakeQemu(t, tt.kvm), console: "ttyS0", tcgCPU: "max"}
			b := m.runWith([]accel{kvm, tcg}, "vmlinuz", "initrd", "", 20*time.Second)
			if !strings.HasPrefix(b.accel, tt.accel) || (len(b.problems) == 0) != tt.pass {
				t.Errorf("boot with %s: accel %q, problems %q; want accel %q..., pass %v", tt.name, b.accel, b.problems, tt.accel, tt.pass)
			}
		})
	}
}

// TestMarkersAfterKernelText: a console line that starts with the rest of a kernel
// message, as pseries's does, still counts.
func TestMarkersAfterKernelText(t *testing.T) {
	m := machine{arch: "ppc64el", goarch: "ppc64le", qemu: fakeQemu(t, `echo '#1 SMP Debian 6.VMINIT arch=ppc64le kernel="Linux x ppc64le" timeout=1s'; echo 'RESULT PASS (1 checks)'; exit 0`), console: "hvc0", tcgCPU: "power9"}
	b := m.runWith([]accel{{"KVM", []string{"-enable-kvm"}}}, "vmlinuz", "initrd", "", 10*time.Second)
	if !b.started || b.uname != "Linux x ppc64le" || len(b.problems) > 0 {
		t.Errorf("boot = started %v, uname %q, problems %v", b.started, b.uname, b.problems)
	}
}
