package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// A binary is one file of the release.
type binary struct {
	name string
	size int64
}

// buildRelease runs make release in root, as a user would before copying a binary to a
// board: every arch of the Makefile and SHA256SUMS, with the release's flags. Its
// output is echoed with a "make:" prefix. It returns the binaries, by name.
func buildRelease(root string) ([]binary, error) {
	cmd := exec.Command("make", "-C", root, "release")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			logf("make: %s", sc.Text())
		}
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	if err != nil {
		return nil, fmt.Errorf("make -C %s release: %w", root, err)
	}
	dir := filepath.Join(root, "build", "release")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []binary
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "launch-linux-") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, binary{e.Name(), info.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// buildGuest builds vminit and the probe for arch into dir, static and CGO-free as the
// release is, and returns their paths.
func buildGuest(root, arch, dir string) (init, probe string, err error) {
	init, probe = filepath.Join(dir, "init"), filepath.Join(dir, "probe")
	if err := buildFor(root, arch, "./internal/vminit", init); err != nil {
		return "", "", err
	}
	if err := buildFor(root, arch, "./internal/probe", probe); err != nil {
		return "", "", err
	}
	return init, probe, nil
}

// buildFor builds the package pkg of root for arch into out, as the release is built.
func buildFor(root, arch, pkg, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("GOARCH=%s go build %s: %w\n%s", arch, pkg, err, out)
	}
	return nil
}
