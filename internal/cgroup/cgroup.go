package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"launch/internal/errs"
	"launch/internal/mount"
)

// Limits are a container's resource limits. Zero means unlimited (or the kernel's
// default, for weights).
type Limits struct {
	Memory    int64   // bytes: memory, kernel memory and memory+swap
	CPUShares uint64  // v1 cpu.shares, converted for v2's cpu.weight
	CPUs      float64 // CFS quota in CPUs
	Pids      int64
	IOWeight  uint64 // v1 blkio weight, 10..1000, converted for v2's io.weight
	CPUSet    string // CPUs the container may run on ("0-2,4"), "" for all

	// A bundle's settings beyond launch's own options (OCI runtime spec,
	// linux.resources); their zero values are launch's defaults.
	CPUPeriod   uint64  // CFS period in µs, 0 for 100 000
	CPUMems     string  // the cpuset's memory nodes, "" for its parent's
	MemorySwap  int64   // memory+swap in bytes: 0 for Memory (no swap), -1 for no limit
	Reservation int64   // v1 memory.soft_limit_in_bytes, v2 memory.low; 0 for none
	Swappiness  *uint64 // v1 memory.swappiness; nil for 0
	KernelMem   int64   // v1 memory.kmem.limit_in_bytes; 0 for Memory
	KernelTCP   int64   // v1 memory.kmem.tcp.limit_in_bytes; 0 for Memory
	NoOOMKill   bool    // v1 memory.oom_control: 1
	// DeviceRules are for a v1 devices cgroup, which the container then joins, and
	// the v2 device filter; they are set by SetDevices, once the container's nodes
	// are made. nil leaves the devices alone.
	DeviceRules []DeviceRule

	// Explicit names the limits the user asked for by option ("memory", "cpu-shares",
	// "cpus", "pids", "io-weight"): if the kernel lacks their controller, that is an
	// error, where for a default it is a warning.
	Explicit map[string]bool
}

// A DeviceRule is one rule of a device policy, as a v1 devices cgroup takes it.
type DeviceRule struct {
	Allow        bool
	Type         byte   // 'a' (every device), 'c' or 'b'
	Major, Minor int64  // -1 for every number
	Access       string // made of r, w and m
}

// String is the rule's line for a v1 devices cgroup: "c 1:3 rwm", "a *:* rwm".
func (r DeviceRule) String() string {
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	return string(r.Type) + " " + num(r.Major) + ":" + num(r.Minor) + " " + r.Access
}

// period is the CFS period in µs.
func (lim Limits) period() uint64 {
	if lim.CPUPeriod > 0 {
		return lim.CPUPeriod
	}
	return 100000
}

// cpuset reports whether lim asks for a cpuset of its own.
func (lim Limits) cpuset() bool { return lim.CPUSet != "" || lim.CPUMems != "" }

// orSize is n as a limit file takes it, or def when n is 0; -1 is "-1", no limit.
func orSize(n int64, def string) string {
	if n == 0 {
		return def
	}
	return strconv.FormatInt(n, 10)
}

// The v1 controllers a container joins; cpuacct for its CPU accounting.
var v1Controllers = []string{"memory", "cpu", "cpuacct", "pids", "blkio"}

// Cgroups are one container's cgroups.
type Cgroups struct {
	Name     string
	Layout   *Layout
	Warnings []string // limits that could not be set, for the user
	Hint     string   // what to do about the warnings, if anything can be done
	Notes    []string // what -v reports (where the cgroups are, kmem)

	made       []made       // cgroups made and not yet removed, in creation order, locked
	joined     []*Hierarchy // hierarchies with a cgroup of the container, for Mounts
	memoryDir  string
	v2Leaf     string
	tasks      []int  // v1 tasks files, open for writing, for the child to join (the locks of made)
	v2Dir      int    // the v2 leaf, O_PATH, for clone3; -1 if none
	v2Procs    int    // its cgroup.procs, for kernels without CLONE_INTO_CGROUP (its lock); -1 if none
	devicesDir string // the v1 devices cgroup, when DeviceRules asked for one
}

// Create makes the container's cgroups, named name (see Name), below each hierarchy's
// Parent, and sets lim. On error, nothing it made is left.
func Create(l *Layout, name string, lim Limits) (_ *Cgroups, err error) {
	c := &Cgroups{Name: name, Layout: l, v2Dir: -1, v2Procs: -1}
	defer func() {
		if err != nil {
			c.Close()
			c.Destroy()
		}
	}()
	if err := c.createV1(lim); err != nil {
		return nil, err
	}
	if l.V2 != nil {
		if err := c.createV2(lim); err != nil {
			return nil, err
		}
	} else if err := c.checkMissing(lim, v2Controllers(lim), nil, nil); err != nil {
		return nil, err
	}
	if len(c.made) == 0 {
		return nil, errors.New("no usable cgroup hierarchy is mounted (see /proc/self/mountinfo)")
	}
	return c, nil
}

// lack records that the controller for limit option is missing: an error if the user
// asked for that limit, a warning otherwise.
func (c *Cgroups) lack(lim Limits, option, what string) error {
	if asked(lim, option) {
		return errors.New("--" + option + ": " + what)
	}
	c.Warnings = append(c.Warnings, what+"; running without the "+option+" limit")
	return nil
}

// asked reports whether the user set the limit of option to a value by option, not to
// none ("--memory max" needs no memory controller).
func asked(lim Limits, option string) bool {
	if !lim.Explicit[option] {
		return false
	}
	switch option {
	case "memory":
		return lim.Memory > 0
	case "cpu-shares":
		return lim.CPUShares > 0
	case "cpus":
		return lim.CPUs > 0
	case "pids":
		return lim.Pids > 0
	case "io-weight":
		return lim.IOWeight > 0
	}
	return true
}

// noWeight records that the I/O controller is there but offers no weight, as on a
// kernel whose disks use no proportional I/O scheduler (BFQ): an error if the user asked
// for a weight, else a note for -v. A weight would have nothing to act on there, so the
// default is not worth a warning at every start.
func (c *Cgroups) noWeight(lim Limits, what string) error {
	if lim.Explicit["io-weight"] {
		return errors.New("--io-weight: " + what)
	}
	c.Notes = append(c.Notes, what+"; running without the io-weight limit")
	return nil
}

// mkdir makes the cgroup dir, locked; it returns the lock file's descriptor, open for
// writing, through which the child joins.
func (c *Cgroups) mkdir(dir string, v2 bool) (int, error) {
	m, err := mkdirLocked(dir, v2)
	if err != nil {
		return -1, err
	}
	c.made = append(c.made, m)
	return m.fd, nil
}

func (c *Cgroups) createV1(lim Limits) error {
	for i := range c.Layout.V1 {
		h := &c.Layout.V1[i]
		// cpuset only when asked for: a new v1 cpuset cgroup starts with no CPUs, and
		// nothing can join it until it has some.
		if !slices.ContainsFunc(v1Controllers, h.Has) && !(h.Has("cpuset") && lim.cpuset()) && !(h.Has("devices") && lim.DeviceRules != nil) {
			continue
		}
		dir := filepath.Join(h.Parent, c.Name)
		fd, err := c.mkdir(dir, false)
		if err != nil {
			return err
		}
		c.tasks = append(c.tasks, fd)
		c.joined = append(c.joined, h)
		if err := c.limitV1(h, dir, lim); err != nil {
			return err
		}
	}
	return nil
}

// v1Name is the v1 name of each v2 controller the limits use.
var v1Name = map[string]string{"cpu": "cpu", "cpuset": "cpuset", "io": "blkio", "memory": "memory", "pids": "pids"}

// inV1 reports whether a v1 hierarchy of the layout has the v2 controller ctl.
func (l *Layout) inV1(ctl string) bool {
	for i := range l.V1 {
		if l.V1[i].Has(v1Name[ctl]) {
			return true
		}
	}
	return false
}

// option names the command-line option whose limit needs the v2 controller ctl.
func option(lim Limits, ctl string) string {
	switch ctl {
	case "cpu":
		if lim.CPUShares == 0 {
			return "cpus"
		}
		return "cpu-shares"
	case "io":
		return "io-weight"
	case "cpuset":
		return "cpuset-cpus"
	}
	return ctl
}

// checkMissing reports the controllers in need that neither a v1 hierarchy nor the
// v2 leaf (whose controllers are avail) provides. why says why the v2 leaf lacks one
// the kernel has; the others the kernel lacks.
func (c *Cgroups) checkMissing(lim Limits, need, avail []string, why map[string]string) error {
	var without, reasons []string // default limits run without, and why
	for _, ctl := range need {
		if c.Layout.inV1(ctl) || slices.Contains(avail, ctl) {
			continue
		}
		opt := option(lim, ctl)
		reason, ok := why[ctl]
		switch {
		case !ok:
			if err := c.lack(lim, opt, "the kernel has no "+v1Name[ctl]+" cgroup controller"); err != nil {
				return err
			}
		case asked(lim, opt):
			return errs.Wrap("--"+opt+": cgroup v2: no "+ctl+" controller: "+reason, ErrNoDelegation)
		default:
			without = append(without, opt)
			if !slices.Contains(reasons, reason) {
				reasons = append(reasons, reason)
			}
		}
	}
	if n := len(without); n > 0 {
		list := without[n-1]
		if n > 1 {
			list = strings.Join(without[:n-1], ", ") + " and " + list
		}
		c.Warnings = append(c.Warnings, "cgroup v2: "+strings.Join(reasons, "; ")+"; running without the "+list+
			" limits, within those of the cgroups launch runs in")
		c.Hint = DelegationHint
	}
	return nil
}

func (c *Cgroups) limitV1(h *Hierarchy, dir string, lim Limits) error {
	if h.Has("memory") {
		c.memoryDir = dir
		if lim.Memory > 0 {
			mem := strconv.FormatInt(lim.Memory, 10)
			if err := writeFile(dir, "memory.limit_in_bytes", mem); err != nil {
				return err
			}
			// Kernel memory is accounted in the limit above on every kernel that still
			// has this file, and the separate limit is gone since 5.16 / refused
			// since 6.1: a note, never an error (runc#2840).
			if err := writeFile(dir, "memory.kmem.limit_in_bytes", orSize(lim.KernelMem, mem)); err != nil {
				c.Notes = append(c.Notes, "kernel memory limit not set: "+err.Error())
			}
			// TCP buffers: cgroup v1 charges them only to a counter of their own, and
			// only once its limit is set; left alone they are charged nowhere, and one
			// container can take the host's whole tcp_mem, which every network namespace
			// shares. The same limit again, of its own.
			if exists(dir, "memory.kmem.tcp.limit_in_bytes") {
				if err := writeFile(dir, "memory.kmem.tcp.limit_in_bytes", orSize(lim.KernelTCP, mem)); err != nil {
					return err
				}
			} else {
				c.Notes = append(c.Notes, "no memory.kmem.tcp.limit_in_bytes: TCP buffers are not limited")
			}
			// memory+swap = memory: no swap. Present only with swap accounting.
			if exists(dir, "memory.memsw.limit_in_bytes") {
				if err := writeFile(dir, "memory.memsw.limit_in_bytes", orSize(lim.MemorySwap, mem)); err != nil {
					return err
				}
			}
		}
		if lim.Reservation > 0 {
			if err := writeFile(dir, "memory.soft_limit_in_bytes", strconv.FormatInt(lim.Reservation, 10)); err != nil {
				return err
			}
		}
		if lim.NoOOMKill {
			if err := writeFile(dir, "memory.oom_control", "1"); err != nil {
				return err
			}
		}
		// Swap is off with or without a memory limit, unless a bundle says otherwise.
		swappiness := "0"
		if lim.Swappiness != nil {
			swappiness = strconv.FormatUint(*lim.Swappiness, 10)
		}
		if err := writeFile(dir, "memory.swappiness", swappiness); err != nil && (!missing(err) || lim.Swappiness != nil) {
			return err
		}
	}
	if h.Has("cpu") {
		if lim.CPUShares > 0 {
			if err := writeFile(dir, "cpu.shares", strconv.FormatUint(lim.CPUShares, 10)); err != nil {
				return err
			}
		}
		if lim.CPUs > 0 {
			if !exists(dir, "cpu.cfs_quota_us") {
				if err := c.lack(lim, "cpus", "the kernel has no CFS bandwidth control (cpu.cfs_quota_us)"); err != nil {
					return err
				}
			} else {
				period := lim.period()
				if err := writeFile(dir, "cpu.cfs_period_us", strconv.FormatUint(period, 10)); err != nil {
					return err
				}
				if err := writeFile(dir, "cpu.cfs_quota_us", strconv.FormatInt(int64(lim.CPUs*float64(period)), 10)); err != nil {
					return err
				}
			}
		}
	}
	if h.Has("cpuset") && lim.cpuset() {
		// cpuset.mems must be set before cpuset.cpus can be, and before any task
		// joins: the parent's memory nodes unless a bundle names them; the same for
		// the CPUs.
		mems, cpus := lim.CPUMems, lim.CPUSet
		for _, f := range []struct {
			v    *string
			file string
		}{{&mems, "cpuset.mems"}, {&cpus, "cpuset.cpus"}} {
			if *f.v == "" {
				v, err := readFile(h.Parent, f.file)
				if err != nil {
					return err
				}
				*f.v = strings.TrimSpace(v)
			}
		}
		if err := writeFile(dir, "cpuset.mems", mems); err != nil {
			return errs.Wrap("cpuset.mems "+mems, err)
		}
		if err := writeFile(dir, "cpuset.cpus", cpus); err != nil {
			return errs.Wrap("--cpuset-cpus "+cpus, err)
		}
	}
	if h.Has("pids") && lim.Pids > 0 {
		if err := writeFile(dir, "pids.max", strconv.FormatInt(lim.Pids, 10)); err != nil {
			return err
		}
	}
	if h.Has("devices") && lim.DeviceRules != nil {
		c.devicesDir = dir
	}
	if h.Has("blkio") && lim.IOWeight > 0 {
		// blkio.weight belongs to CFQ, gone since 5.0; BFQ's own weight has the same
		// range. A machine whose disks use neither has no weight to set.
		w := strconv.FormatUint(lim.IOWeight, 10)
		err := writeFile(dir, "blkio.weight", w)
		if missing(err) {
			err = writeFile(dir, "blkio.bfq.weight", w)
		}
		if missing(err) {
			err = c.noWeight(lim, "no block-I/O weight in this kernel (neither blkio.weight nor blkio.bfq.weight)")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// v2Controllers returns the v2 controllers that lim needs.
func v2Controllers(lim Limits) []string {
	var need []string
	for _, n := range []struct {
		ctl  string
		want bool
	}{
		{"cpu", lim.CPUShares > 0 || lim.CPUs > 0},
		{"cpuset", lim.cpuset()},
		{"io", lim.IOWeight > 0},
		{"memory", true}, // swap is turned off even without a memory limit
		{"pids", lim.Pids > 0},
	} {
		if n.want {
			need = append(need, n.ctl)
		}
	}
	return need
}

func (c *Cgroups) createV2(lim Limits) error {
	h := c.Layout.V2
	// On a hybrid host the v1 hierarchies hold the controllers, and the v2 leaf may
	// only track the processes (and kill them all at once).
	var need []string
	for _, ctl := range v2Controllers(lim) {
		if !c.Layout.inV1(ctl) {
			need = append(need, ctl)
		}
	}
	parent := h.Parent
	var (
		avail []string
		why   map[string]string
	)
	if len(need) > 0 {
		s, err := readSite(h.Mount, parent, parent == h.Dir, os.Getpid())
		if err != nil {
			return err
		}
		p, notes, err := delegate(parent, place(s, need))
		if err != nil {
			return err
		}
		c.Notes = append(c.Notes, notes...)
		avail, why = p.avail, p.why
	}
	if err := c.checkMissing(lim, need, avail, why); err != nil {
		return err
	}
	dir := filepath.Join(parent, c.Name)
	procs, err := c.mkdir(dir, true)
	if err != nil {
		return err
	}
	c.v2Procs = procs
	c.v2Leaf = dir
	c.joined = append(c.joined, h)
	if slices.Contains(avail, "memory") {
		c.memoryDir = dir
		if lim.Memory > 0 {
			if err := writeFile(dir, "memory.max", strconv.FormatInt(lim.Memory, 10)); err != nil {
				return err
			}
		}
		swap := "0"
		switch {
		case lim.MemorySwap == -1:
			swap = "max"
		case lim.MemorySwap > 0 && lim.Memory > 0:
			swap = strconv.FormatInt(max(lim.MemorySwap-lim.Memory, 0), 10)
		}
		if err := writeFile(dir, "memory.swap.max", swap); err != nil && (!missing(err) || swap != "0") {
			return err
		}
		if lim.Reservation > 0 {
			if err := writeFile(dir, "memory.low", strconv.FormatInt(lim.Reservation, 10)); err != nil {
				return err
			}
		}
		if lim.KernelMem > 0 || lim.KernelTCP > 0 || lim.NoOOMKill || lim.Swappiness != nil {
			return errors.New("cgroup v2 has no kernel memory limits, OOM killer switch or swappiness")
		}
	}
	if slices.Contains(avail, "cpu") {
		if lim.CPUShares > 0 {
			if err := writeFile(dir, "cpu.weight", strconv.FormatUint(weightFromShares(lim.CPUShares), 10)); err != nil {
				return err
			}
		}
		if lim.CPUs > 0 {
			period := lim.period()
			if err := writeFile(dir, "cpu.max", strconv.FormatInt(int64(lim.CPUs*float64(period)), 10)+" "+strconv.FormatUint(period, 10)); err != nil {
				return err
			}
		}
	}
	if slices.Contains(avail, "pids") && lim.Pids > 0 {
		if err := writeFile(dir, "pids.max", strconv.FormatInt(lim.Pids, 10)); err != nil {
			return err
		}
	}
	if slices.Contains(avail, "cpuset") && lim.CPUMems != "" {
		if err := writeFile(dir, "cpuset.mems", lim.CPUMems); err != nil {
			return errs.Wrap("cpuset.mems "+lim.CPUMems, err)
		}
	}
	if slices.Contains(avail, "cpuset") && lim.CPUSet != "" {
		if err := writeFile(dir, "cpuset.cpus", lim.CPUSet); err != nil {
			return errs.Wrap("--cpuset-cpus "+lim.CPUSet, err)
		}
	}
	if slices.Contains(avail, "io") && lim.IOWeight > 0 {
		// io.bfq.weight has blkio's range; io.weight is the generic one.
		err := writeFile(dir, "io.bfq.weight", strconv.FormatUint(lim.IOWeight, 10))
		if missing(err) {
			err = writeFile(dir, "io.weight", strconv.FormatUint(ioWeightFromBlkio(lim.IOWeight), 10))
		}
		if missing(err) {
			err = c.noWeight(lim, "no I/O weight in this kernel (neither io.bfq.weight nor io.weight)")
		}
		if err != nil {
			return err
		}
	}
	if c.v2Dir, err = unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return nil
}

// MemoryDir returns the container's memory cgroup and whether it is a v2 one; "" if
// it has none.
func (c *Cgroups) MemoryDir() (string, bool) {
	return c.memoryDir, c.memoryDir != "" && c.memoryDir == c.v2Leaf
}

// CPUAccountingDir returns where the container's CPU time is counted: its v1 cpuacct
// cgroup (per CPU), else its v2 cgroup (cpu.stat); and whether it is v2.
func (c *Cgroups) CPUAccountingDir() (string, bool) {
	for _, h := range c.joined {
		if !h.V2() && h.Has("cpuacct") {
			return filepath.Join(h.Parent, c.Name), false
		}
	}
	return c.v2Leaf, c.v2Leaf != ""
}

// IODir returns where the container's block I/O is counted: its v1 blkio cgroup
// (blkio.throttle.io_service_bytes and the like), else its v2 cgroup (io.stat, which
// is there only if the io controller is enabled in it); and whether it is v2.
func (c *Cgroups) IODir() (string, bool) {
	for _, h := range c.joined {
		if !h.V2() && h.Has("blkio") {
			return filepath.Join(h.Parent, c.Name), false
		}
	}
	return c.v2Leaf, c.v2Leaf != ""
}

// JoinFDs returns the v1 tasks files, open for writing: the child joins each cgroup by
// writing "0" (itself) to them.
func (c *Cgroups) JoinFDs() []int { return c.tasks }

// V2 returns the v2 leaf's directory descriptor for clone3(CLONE_INTO_CGROUP) and its
// cgroup.procs, open for writing, for kernels where that fails; -1 without a v2 leaf.
func (c *Cgroups) V2() (dir, procs int) { return c.v2Dir, c.v2Procs }

// Dirs returns the container's cgroup directories that are not removed yet.
func (c *Cgroups) Dirs() []string {
	dirs := make([]string, len(c.made))
	for i, m := range c.made {
		dirs[i] = m.dir
	}
	return dirs
}

// Close closes what only the fork needed: the v2 leaf's directory. The lock files,
// which the child joins through, stay open until Destroy removes their cgroups.
func (c *Cgroups) Close() {
	if c.v2Dir >= 0 {
		unix.Close(c.v2Dir)
	}
	c.v2Dir = -1
}

// SetDevices sets rules, in order, as the container's device policy: written to its
// v1 devices cgroup if it has one ("a *:* rwm" to devices.deny, "c 1:3 rwm" to
// devices.allow), else as a device filter (see attachDevices) on its v2 cgroup, if it
// has one. On a hybrid host the v1 cgroup decides, and a filter would decide the
// same a second time (at 0.4 ms per container to load it). It reports whether the
// rules were set.
func (c *Cgroups) SetDevices(rules []DeviceRule) (bool, error) {
	switch {
	case c.devicesDir != "":
		return true, writeDeviceRules(c.devicesDir, rules)
	case c.v2Leaf != "" && rules != nil:
		return true, attachDevices(c.v2Leaf, rules)
	}
	return false, nil
}

// writeDeviceRules writes rules, in order, to the v1 devices cgroup dir.
func writeDeviceRules(dir string, rules []DeviceRule) error {
	for _, r := range rules {
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		if err := writeFile(dir, file, r.String()); err != nil {
			return errs.Wrap("device rule "+r.String(), err)
		}
	}
	return nil
}

// OOMKills returns how many processes the memory limit has killed in the container.
func (c *Cgroups) OOMKills() int {
	if c.memoryDir == "" {
		return 0
	}
	name := "memory.oom_control" // v1; "oom_kill N" since 4.13
	if c.memoryDir == c.v2Leaf {
		name = "memory.events"
	}
	data, err := readFile(c.memoryDir, name)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(keyValue(data, "oom_kill"))
	return n
}

// Destroy kills whatever still runs in the container's cgroups and removes them.
// When PID 1 of the container's PID namespace has exited, the kernel has already
// killed every other process in it, so the cgroups are usually empty; a process that
// was moved in from outside is killed here. Only the cgroups Create made are touched,
// and only while their path still leads to them (see made.ours): whatever took the
// name of one that someone else removed is left alone. A cgroup that cannot be removed
// stays locked and listed, and the next Destroy tries it again; the error names each.
func (c *Cgroups) Destroy() error {
	var (
		errs []error
		kept []made
	)
	for i := len(c.made) - 1; i >= 0; i-- {
		m := c.made[i]
		if err := m.remove(); err != nil {
			errs = append(errs, err)
			kept = append(kept, m)
			continue
		}
		unix.Close(m.fd)
	}
	slices.Reverse(kept)
	c.made = kept
	if len(kept) == 0 {
		c.tasks, c.v2Procs = nil, -1
	}
	return errors.Join(errs...)
}

// remove kills the processes of m's cgroup and removes it, retrying while the kernel
// still counts exiting processes in it (EBUSY), for up to about two seconds: on a
// loaded host, processes killed a moment ago can take that long to leave.
func (m made) remove() error { return rmdirKilling(m.dir, time.Second, m.ours) }

// rmdirKilling removes the cgroup dir, killing what runs in it while the kernel still
// counts processes there (EBUSY), waiting twice as long each time until the wait
// passes patience. ours, if not nil, says whether dir is still the cgroup to remove:
// once it is not, there is nothing of ours left to remove.
func rmdirKilling(dir string, patience time.Duration, ours func() bool) error {
	delay := 100 * time.Microsecond
	for {
		if ours != nil && !ours() {
			return nil
		}
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || delay > patience {
			return &os.PathError{Op: "remove cgroup", Path: dir, Err: err}
		}
		killAll(dir)
		time.Sleep(delay)
		delay *= 2
	}
}

// killAll sends SIGKILL to every process in the cgroup dir: at once with cgroup.kill
// (v2, Linux 5.14), else one by one from cgroup.procs. Only rmdirKilling calls it, on
// a cgroup of a container's.
func killAll(dir string) {
	if writeFile(dir, "cgroup.kill", "1") == nil {
		return
	}
	data, err := readFile(dir, "cgroup.procs")
	if err != nil {
		return
	}
	for _, f := range strings.Fields(data) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// Mounts returns the mounts that show the container its own cgroups under
// /sys/fs/cgroup: on v1 (and hybrid) a tmpfs holding one directory per hierarchy, named
// by its controllers as hosts do ("cpu,cpuacct", with cpu and cpuacct as symlinks), and
// on hybrid the v2 tree as "unified"; on pure v2, cgroup2 itself.
func (c *Cgroups) Mounts() []mount.Cgroup {
	var out []mount.Cgroup
	v1 := false
	for _, h := range c.joined {
		if !h.V2() {
			v1 = true
		}
	}
	for _, h := range c.joined {
		// The container's own cgroup in h, for a bind.
		host := c.v2Leaf
		if !h.V2() {
			for _, m := range c.made {
				if strings.HasPrefix(m.dir, h.Mount+"/") {
					host = m.dir
				}
			}
		}
		switch {
		case h.V2() && !v1:
			out = append(out, mount.Cgroup{FSType: "cgroup2", Host: host})
		case h.V2():
			out = append(out, mount.Cgroup{Dir: "unified", FSType: "cgroup2", Host: host})
		default:
			m := mount.Cgroup{Dir: strings.Join(h.Controllers, ","), FSType: "cgroup", Options: strings.Join(h.Controllers, ","), Host: host}
			if len(h.Controllers) > 1 {
				m.Links = h.Controllers
			}
			out = append(out, m)
		}
	}
	return out
}
