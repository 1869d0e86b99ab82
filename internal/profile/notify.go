package profile

import (
	"golang.org/x/sys/unix"

	"launch/internal/policy"
)

// Notifier compiles the filter that sends the calls names, of every ABI the running
// kernel runs, to its listener (seccomp user notification), and allows every other
// call. It is loaded beside the container's own filter, with the flag that makes the
// listener (Program.Flags): the kernel takes the strictest of the two answers, so a
// call the container's filter refuses is refused, and one it allows waits for the
// listener (launch answers sysinfo(2) so, from the container's cgroups).
func Notifier(names ...string) (*Program, error) {
	all := kernelABIs()
	tables := make([]policy.Table, 0, len(all))
	prog := &Program{Flags: unix.SECCOMP_FILTER_FLAG_NEW_LISTENER}
	for _, a := range all {
		// The compiler needs only the numbers of the calls it is told about: every
		// other number gets the same answer, past the table or not.
		pa := &policy.ABI{Name: a.goarch, AuditArch: a.audit, BigEndian: a.bigEndian, Nr: map[string]uint32{},
			MaxNr: a.maxNr, ForeignFrom: a.foreignFrom}
		t := policy.Table{ABI: pa, Default: policy.Allow, Newer: policy.Allow, Other: policy.Allow}
		for _, n := range names {
			if nr, ok := a.nr(n); ok {
				pa.Nr[n] = nr
				t.Calls = append(t.Calls, policy.Call{Name: n, Action: policy.Notify})
				prog.notified = append(prog.notified, notified{a.audit, nr, n})
			}
		}
		tables = append(tables, t)
		prog.ABIs = append(prog.ABIs, a.goarch)
	}
	compiled, err := policy.Compile(tables, policy.Allow)
	if err != nil {
		return nil, err
	}
	prog.Filter, prog.insns = compiled.SockFilters(), compiled.Insns
	for _, l := range compiled.ABIs {
		prog.MaxPath = max(prog.MaxPath, l.MaxPath)
	}
	return prog, nil
}

// A notified call is one the listener gets, as seccomp_data names it.
type notified struct {
	arch, nr uint32
	name     string
}

// Notified returns the name of the call that a notification of arch (AUDIT_ARCH_*)
// and nr is, for a Notifier's program; "" for none of its calls.
func (p *Program) Notified(arch, nr uint32) string {
	for _, c := range p.notified {
		if c.arch == arch && c.nr == nr {
			return c.name
		}
	}
	return ""
}
