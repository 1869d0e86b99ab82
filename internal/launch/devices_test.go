package launch

import (
	"strings"
	"testing"

	"launch/internal/spec"
)

func i64(n int64) *int64 { return &n }

// TestDeviceRulesCheck: rules the devices cgroup would read otherwise than launch are
// refused (each was a way to a device the bundle denies).
func TestDeviceRulesCheck(t *testing.T) {
	deny := spec.DeviceRule{Allow: false, Access: "rwm"}
	for _, c := range []struct {
		rules deviceRules
		want  string
	}{
		{deviceRules{deny, {Allow: true, Type: "c", Major: i64(1), Access: "rwm"}, {Allow: false, Type: "c", Major: i64(1), Minor: i64(11), Access: "rwm"}}, "cannot narrow"},
		{deviceRules{deny, {Allow: true, Type: "a", Major: i64(1), Minor: i64(3), Access: "rwm"}}, "takes no numbers"},
		{deviceRules{deny, {Allow: true, Access: "m"}}, "every access"},
		{deviceRules{deny, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwx"}}, "not made of"},
		{deviceRules{deny, {Allow: true, Type: "p", Access: "rwm"}}, "not a, c or b"},
		// The kernel reads "mmmw" as m, launch would read it as mw.
		{deviceRules{deny, {Allow: true, Type: "c", Major: i64(1), Minor: i64(11), Access: "mmmw"}}, "each once"},
		{deviceRules{deny, {Allow: true, Type: "c", Major: i64(1), Minor: i64(11), Access: "rr"}}, "each once"},
		{deviceRules{{Allow: false, Type: "c", Major: i64(1), Access: "rwm"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}}, "cannot narrow"},
	} {
		err := c.rules.check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.rules, err, c.want)
		}
	}
	for _, ok := range []deviceRules{
		nil,
		{deny},
		{deny, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}, {Allow: true, Type: "c", Major: i64(136), Access: "rwm"}},
		{deny, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}, {Allow: false, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}},
		{{Allow: true, Access: "rwm"}, {Allow: false, Type: "c", Major: i64(1), Minor: i64(11), Access: "rwm"}},
		{deny, {Allow: true, Type: "c", Major: i64(1), Minor: i64(11), Access: "wr"}},
	} {
		if err := ok.check(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	// What launch reads of the rules it takes.
	r := deviceRules{deny, {Allow: true, Type: "c", Major: i64(1), Access: "rwm"}}
	if !r.allows("c", 1, 11) || r.allows("b", 1, 11) || r.allows("c", 2, 0) || r.all() {
		t.Errorf("allows/all of %+v", r)
	}
}
