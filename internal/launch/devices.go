package launch

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"launch/internal/cgroup"
	"launch/internal/spec"
)

// deviceRules are a bundle's linux.resources.devices, read as the devices cgroup
// reads them (cgroup.Policy): a default and its exceptions; with no rule, every
// device is allowed.
//
// The rules are the container's cgroup's: written to its v1 devices cgroup, and made
// its cgroup v2 device filter (cgroup.SetDevices). launch also keeps a container from
// opening a device its rules deny as its own launch does, whatever the kernel takes:
// every mount but /dev's tmpfs and devpts is nodev, /dev is read-only once its nodes
// are made (so a process with CAP_MKNOD makes a node nowhere it could open it), and a
// node the rules deny is not made, nor a device bound. Only rules that allow every
// device (a privileged container) leave /dev writable and let a mount say dev.
type deviceRules []spec.DeviceRule

// allows reports whether the rules let a process open the device typ (c or b)
// major:minor for reading or for writing, as the devices cgroup and the device
// filter read them (cgroup.Policy, the defaults after the rules).
func (rs deviceRules) allows(typ string, major, minor int64) bool {
	p := cgroup.Policy(deviceCgroupRules(rs))
	return p.Allows(typ[0], major, minor, unix.BPF_DEVCG_ACC_READ) || p.Allows(typ[0], major, minor, unix.BPF_DEVCG_ACC_WRITE)
}

// all reports whether the rules allow every device: with no rule, or a last rule of
// type a that allows, after which nothing is denied.
func (rs deviceRules) all() bool { return cgroup.Policy(deviceCgroupRules(rs)).AllowsAll() }

// defaultDevices are the devices every container may use, allowed after the bundle's
// rules: the nodes launch makes in /dev, the terminal, and the pseudo-terminals of
// the container's devpts.
var defaultDevices = []cgroup.DeviceRule{
	{Allow: true, Type: 'c', Major: 1, Minor: 3, Access: "rwm"}, {Allow: true, Type: 'c', Major: 1, Minor: 5, Access: "rwm"},
	{Allow: true, Type: 'c', Major: 1, Minor: 7, Access: "rwm"}, {Allow: true, Type: 'c', Major: 1, Minor: 8, Access: "rwm"},
	{Allow: true, Type: 'c', Major: 1, Minor: 9, Access: "rwm"}, {Allow: true, Type: 'c', Major: 5, Minor: 0, Access: "rwm"},
	{Allow: true, Type: 'c', Major: 5, Minor: 2, Access: "rwm"}, {Allow: true, Type: 'c', Major: 136, Minor: -1, Access: "rwm"},
}

// deviceCgroupRules are the bundle's rules (checked) as the devices cgroup and the
// device filter take them, in their order, and then the defaults.
func deviceCgroupRules(rs []spec.DeviceRule) []cgroup.DeviceRule {
	var out []cgroup.DeviceRule
	num := func(n *int64) int64 {
		if n == nil || *n < 0 {
			return -1
		}
		return *n
	}
	for _, r := range rs {
		typ := byte('a')
		if r.Type != "" {
			typ = r.Type[0]
		}
		access := r.Access
		if access == "" {
			access = "rwm"
		}
		out = append(out, cgroup.DeviceRule{Allow: r.Allow, Type: typ, Major: num(r.Major), Minor: num(r.Minor), Access: access})
	}
	return append(out, defaultDevices...)
}

// check refuses rules the devices cgroup would not read as launch does (allows): the
// kernel keeps a list of exceptions to allowing, or to denying, every device, and a
// rule of type a clears it; a rule cannot narrow a wider exception already in it (no
// hole in "c 1:* rwm" for "c 1:11"), and a rule of type a with numbers or with less
// than every access is still all devices for every access.
func (rs deviceRules) check() error {
	num := func(n *int64) int64 {
		if n == nil || *n < 0 {
			return -1
		}
		return *n
	}
	type pattern struct {
		typ          string
		major, minor int64
	}
	covers := func(wide, p pattern) bool {
		return wide.typ == p.typ && (wide.major == -1 || wide.major == p.major) && (wide.minor == -1 || wide.minor == p.minor)
	}
	allowAll := true // a new cgroup starts as its parent: every device allowed
	var exceptions []pattern
	for i, r := range rs {
		at := "linux.resources.devices[" + strconv.Itoa(i) + "]"
		// -1 is any number, as runc reads it; another negative one is no number.
		for _, n := range []*int64{r.Major, r.Minor} {
			if n != nil && *n < -1 {
				return bundleError(at, strconv.FormatInt(*n, 10)+" is not a device number (-1 is any)")
			}
		}
		// The kernel reads three letters at most ("rrrw" is r): each once.
		if strings.Trim(r.Access, "rwm") != "" || strings.Count(r.Access, "r") > 1 || strings.Count(r.Access, "w") > 1 ||
			strings.Count(r.Access, "m") > 1 {
			return bundleError(at+".access", strconv.Quote(r.Access)+" is not made of r, w and m, each once")
		}
		if r.Type == "" || r.Type == "a" {
			if num(r.Major) != -1 || num(r.Minor) != -1 {
				return bundleError(at, "a rule of type a is for every device: it takes no numbers")
			}
			if r.Allow && r.Access != "" && !(strings.Contains(r.Access, "r") && strings.Contains(r.Access, "w") && strings.Contains(r.Access, "m")) {
				return bundleError(at, "allowing type a allows every access: give rwm")
			}
			allowAll, exceptions = r.Allow, nil
			continue
		}
		if r.Type != "c" && r.Type != "b" {
			return bundleError(at+".type", strconv.Quote(r.Type)+" is not a, c or b")
		}
		if num(r.Major) > 1<<31-1 || num(r.Minor) > 1<<31-1 {
			return bundleError(at, "a device number past 2^31-1")
		}
		p := pattern{r.Type, num(r.Major), num(r.Minor)}
		if r.Allow != allowAll {
			exceptions = append(exceptions, p) // an exception to the default
			continue
		}
		for _, e := range exceptions {
			if e != p && covers(e, p) {
				return bundleError(at, "cannot narrow the wider rule "+e.typ+" "+strconv.FormatInt(e.major, 10)+":"+strconv.FormatInt(e.minor, 10)+" before it (the devices cgroup keeps no holes)")
			}
		}
	}
	return nil
}
