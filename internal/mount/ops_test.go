package mount

import (
	"testing"

	"launch/internal/testutil"
)

// TestRootIsInitramfs reads the mount tables of testdata/*.txtar, recorded on real
// machines where they can be, and checks the answer written in each.
func TestRootIsInitramfs(t *testing.T) {
	for _, fx := range testutil.Fixtures(t) {
		t.Run(fx.Name, func(t *testing.T) {
			want := string(fx.File("want")) == "initramfs\n"
			if got := RootIsInitramfs(fx.File("mountinfo")); got != want {
				t.Errorf("RootIsInitramfs = %v, want %v (%q)", got, want, fx.File("want"))
			}
		})
	}
}
