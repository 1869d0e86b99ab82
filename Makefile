# launch: build, test and release. Every target runs from a clean checkout; `make
# help` lists them.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
ARCHES   := 386 amd64 arm arm64 loong64 mips mipsle mips64 mips64le ppc64 ppc64le riscv64 s390x
HOSTARCH := $(shell $(GO) env GOARCH)

# Static, CGO-free and reproducible: no paths, no build ID, no VCS stamp, and the
# module graph exactly as go.sum has it.
export CGO_ENABLED := 0
export GOFLAGS     := -mod=readonly
# No inlining (-l) in packages the launcher runs once per start, before the fork or
# on error paths: the OCI commands (oci), the config.json reader and JSON parser (spec,
# jsondec), the seccomp compiler (policy), cgroup setup, errs.Wrap,
# fmt, which only the compiler's and the parser's messages use, and the launcher's
# reading of the host (kernel, mountinfo) and user-namespace maps (userns). That keeps about
# 55 KiB of amd64 code out of the 3 MiB budget (check-static); compiling podman's
# profile is no slower (BenchmarkCompilePodman). Never add a package whose code the
# forked child runs or inlines (childPackages in internal/launch/child_test.go, and
# golang.org/x/sys/unix): a call left uninlined there meets the stack guard the fork
# hooks poisoned, and TestChildRule, which compiles without these flags, cannot see it.
NOINLINE   := launch/internal/oci launch/internal/spec launch/internal/jsondec launch/internal/policy \
	launch/internal/cgroup launch/internal/errs fmt \
	launch/internal/userns launch/internal/kernel launch/internal/mountinfo strconv strings time unicode/utf8
BUILDFLAGS := -trimpath -buildvcs=false $(foreach p,$(NOINLINE),-gcflags=$(p)=-l) \
	-ldflags '-s -w -buildid= -X main.version=$(VERSION)'
# The release runs on every CPU of its arch: ARMv5, MIPS without an FPU, 386 without SSE2.
RELEASE_ENV := GOARM=5 GOMIPS=softfloat GOMIPS64=softfloat GO386=softfloat

.PHONY: help build release verify-repro check-static test test-long fuzz check generate rootfs run bench test-vm conformance clean

help:
	@echo "make build          build/launch for this machine"
	@echo "make run            build a small root file system and run a container on it"
	@echo "make test           every test, the long ones in part: a few minutes (as root the container tests"
	@echo "                    run; LAUNCH_TEST_MUST_RUN=1 forbids skips)"
	@echo "make test-long      every test, the long ones at their full counts (LAUNCH_TEST_LONG=1): CI runs both"
	@echo "make check          generated files, go.mod, gofmt, vet, staticcheck, every GOARCH builds"
	@echo "make fuzz           every fuzz target for FUZZTIME inputs (default 200000x)"
	@echo "make release        build/release/launch-linux-<goarch> for every arch, and SHA256SUMS"
	@echo "make verify-repro   build the release twice from two directories and compare"
	@echo "make check-static   build/launch is static and CGO-free"
	@echo "make bench          benchmarks against the peers, into build/bench"
	@echo "make conformance    runtime-tools v0.9.0's validation suite with runc and build/launch, as root (table in build/conformance.md)"
	@echo "make test-vm        the release binary in emulated machines of every arch Debian has a kernel for"

build:
	$(GO) build $(BUILDFLAGS) -o build/launch ./init

release:
	rm -rf build/release && mkdir -p build/release
	for a in $(ARCHES); do \
		$(RELEASE_ENV) GOOS=linux GOARCH=$$a $(GO) build $(BUILDFLAGS) -o build/release/launch-linux-$$a ./init || exit 1; \
	done
	cd build/release && sha256sum launch-linux-* > SHA256SUMS
	@cat build/release/SHA256SUMS

# Two copies of the tracked source at different depths and paths must give the same bytes.
verify-repro:
	rm -rf build/repro && mkdir -p build/repro/a/src build/repro/b/deeper/path/src
	for d in build/repro/a/src build/repro/b/deeper/path/src; do \
		git ls-files -z | xargs -0 tar -cf - | tar -xf - -C $$d || exit 1; \
		$(MAKE) -C $$d release VERSION=$(VERSION) >/dev/null || exit 1; \
	done
	cmp build/repro/a/src/build/release/SHA256SUMS build/repro/b/deeper/path/src/build/release/SHA256SUMS
	@echo "reproducible: $$(wc -l < build/repro/a/src/build/release/SHA256SUMS) binaries identical"
	rm -rf build/repro

check-static: build
	file build/launch | grep -q 'statically linked'
	$(GO) version -m build/launch | grep -q 'CGO_ENABLED=0'
	@echo "build/launch: static, CGO_ENABLED=0, $$(stat -c %s build/launch) bytes"
	@# The budget is 3 MiB for amd64 (README, "Build").
	@test "$$($(GO) env GOARCH)" != amd64 || test $$(stat -c %s build/launch) -le 3145728 || \
		{ echo "build/launch is larger than 3 MiB"; exit 1; }

# The tests' budget (README, "Tests"): make test runs every test, the long ones (a
# thousand starts in a row, SIGKILL storms, minutes of stress, hundreds of racing
# starts) at a part of their counts; make test-long runs them in full
# (LAUNCH_TEST_LONG=1, testutil.Count). Each run has a time limit per package;
# TESTFLAGS adds go test flags (-v, -run).
TESTTIMEOUT     ?= 15m
LONGTESTTIMEOUT ?= 45m
test:
	$(GO) test -count=1 -timeout $(TESTTIMEOUT) $(TESTFLAGS) ./...

test-long:
	LAUNCH_TEST_LONG=1 $(GO) test -count=1 -timeout $(LONGTESTTIMEOUT) $(TESTFLAGS) ./...

generate:
	$(GO) generate ./...

# Each fuzz target for FUZZTIME (CI runs them briefly; longer runs find more). A count
# of inputs (Nx), not a duration: with a duration, Go 1.26's fuzzing coordinator can
# fail a target with "context deadline exceeded" as the time runs out (go.dev/issue/75804).
FUZZTIME ?= 200000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseArgs$$' -fuzztime $(FUZZTIME) ./internal/launch
	$(GO) test -run '^$$' -fuzz '^FuzzOptionValue$$' -fuzztime $(FUZZTIME) ./internal/launch
	$(GO) test -run '^$$' -fuzz '^FuzzParseSyscalls$$' -fuzztime $(FUZZTIME) ./internal/policy
	$(GO) test -run '^$$' -fuzz '^FuzzParseCaps$$' -fuzztime $(FUZZTIME) ./internal/policy
	$(GO) test -run '^$$' -fuzz '^FuzzDetect$$' -fuzztime $(FUZZTIME) ./internal/cgroup
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/mountinfo
	$(GO) test -run '^$$' -fuzz '^FuzzNewTarget$$' -fuzztime $(FUZZTIME) ./internal/mount
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/profile
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./internal/spec
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/jsondec

# What CI checks besides the tests. The cross builds use the release's settings, so
# that the standard library they compile for each arch serves make release too.
check:
	$(GO) generate ./... && git add -N . && git diff --name-only --exit-code
	$(GO) mod tidy && git diff --name-only --exit-code go.mod go.sum
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null; then staticcheck ./...; else echo "staticcheck not installed: skipped"; fi
	for a in $(ARCHES); do $(RELEASE_ENV) GOOS=linux GOARCH=$$a $(GO) build -trimpath -o /dev/null ./... || exit 1; done

# A small root file system of the project's own: the probe, and busybox where the
# host has a static one.
rootfs:
	rm -rf build/rootfs && mkdir -p build/rootfs/bin build/rootfs/proc build/rootfs/sys build/rootfs/dev build/rootfs/tmp build/rootfs/etc
	$(GO) build -trimpath -o build/rootfs/bin/probe ./internal/probe
	if [ -x /bin/busybox ] && file -L /bin/busybox | grep -q 'statically linked'; then \
		cp /bin/busybox build/rootfs/bin/ && for a in sh ls cat ps free top mount id hostname; do ln -sf busybox build/rootfs/bin/$$a; done; \
	fi
	echo 'root:x:0:0:root:/root:/bin/sh' > build/rootfs/etc/passwd

run: build rootfs
	sudo=$$( [ $$(id -u) = 0 ] || echo sudo ); $$sudo ./build/launch build/rootfs /bin/probe summary

# Benchmarks against the peers, as root; never part of test. BENCHFLAGS=-quick for a
# short run.
bench:
	$(GO) run ./internal/bench -out build/bench $(BENCHFLAGS)

# runtime-tools' validation suite, built from the module proxy into a cache outside the
# checkout, run with runc and with build/launch side by side: fails if launch passes
# fewer tests than runc in any program (internal/conformance).
conformance: build
	LAUNCH_CONFORMANCE=1 LAUNCH_RUNTIME=$(CURDIR)/build/launch LAUNCH_CONFORMANCE_TABLE=$(CURDIR)/build/conformance.md \
		$(GO) test -count=1 -v -timeout 20m -run '^TestRuntimeTools$$' ./internal/conformance

# The release binary in Debian's kernels of eight arches under qemu: pure cgroup v2 and
# an initramfs root (as root; Debian packages are fetched once into build/vm).
test-vm:
	$(GO) run ./internal/vmtest

clean:
	rm -rf build/launch build/release build/rootfs build/bench build/repro build/vm
