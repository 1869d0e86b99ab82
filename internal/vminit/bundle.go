package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// bundle runs an OCI bundle of /rootfs with launch run, as an engine would: its
// device rules, on this pure cgroup v2 host, are the container's cgroup's device
// filter. The container writes to /dev/kmsg, a node of linux.devices on /dev (which
// may hold nodes, so only the rules decide): refused with EPERM, the filter's errno,
// when they allow it for reading only, and written when they allow writing.
func (c *checker) bundle() {
	dir, err := os.MkdirTemp("/", "bundle") // the root tmpfs: the machine has no /tmp
	if err != nil {
		c.report("bundle-setup", err, "")
		return
	}
	defer os.RemoveAll(dir)
	if r := c.launch("spec", "--bundle", dir); r.failure(0) != nil {
		c.report("bundle-setup", r.failure(0), "")
		return
	}
	for _, t := range []struct{ name, access, want string }{
		{"bundle-device-filter-denies", "r", "EPERM"},
		{"bundle-device-filter-allows", "rw", "ok"},
	} {
		err := writeBundle(dir, func(cfg map[string]any) {
			proc := cfg["process"].(map[string]any)
			proc["terminal"] = false
			proc["args"] = []any{"/probe", "try", "write", "/dev/kmsg", "launch-vm: " + t.name}
			cfg["root"] = map[string]any{"path": "/rootfs"}
			linux := cfg["linux"].(map[string]any)
			linux["devices"] = []any{map[string]any{"type": "c", "path": "/dev/kmsg", "major": 1, "minor": 11, "fileMode": 0o600}}
			linux["resources"] = map[string]any{"devices": []any{
				map[string]any{"allow": false, "access": "rwm"},
				map[string]any{"allow": true, "type": "c", "major": 1, "minor": 11, "access": t.access}}}
		})
		if err != nil {
			c.report(t.name, err, "")
			continue
		}
		r := c.launch("--root", filepath.Join(dir, "state"), "run", "--bundle", dir, "vm")
		err = r.failure(0)
		if got := strings.TrimSpace(r.stdout); err == nil && got != t.want {
			err = fmt.Errorf("write to /dev/kmsg with access %q allowed: %q, want %s", t.access, got, t.want)
		}
		c.report(t.name, err, strings.TrimSpace(r.stdout))
	}
}

// writeBundle reads the bundle's config.json, lets change edit it, and writes it.
func writeBundle(dir string, change func(map[string]any)) error {
	file := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		return errors.New("config.json of launch spec: " + err.Error())
	}
	change(cfg)
	if data, err = json.Marshal(cfg); err != nil {
		return err
	}
	return os.WriteFile(file, data, 0o644)
}
