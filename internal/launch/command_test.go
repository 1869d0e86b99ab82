package launch

import (
	"os"
	"slices"
	"testing"
)

// TestEnvironment: COMMAND gets exactly PATH, HOME (/root for root, / for another
// user), TERM when the caller has it, and the --env variables, which replace those in
// place; nothing else of the caller's.
func TestEnvironment(t *testing.T) {
	const path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	t.Setenv("LAUNCH_SECRET", "host-only")
	for _, tt := range []struct {
		name string
		term string // "" for none
		cfg  Config
		want []string
	}{
		{"root", "", Config{}, []string{path, "HOME=/root"}},
		{"uid 0 by --user", "", Config{User: &User{UID: 0, GID: 5}}, []string{path, "HOME=/root"}},
		{"another user", "", Config{User: &User{UID: 1000, GID: 1000}}, []string{path, "HOME=/"}},
		{"TERM", "xterm-256color", Config{}, []string{path, "HOME=/root", "TERM=xterm-256color"}},
		{"--env", "vt220", Config{Env: []string{"FOO=bar", "EMPTY="}}, []string{path, "HOME=/root", "TERM=vt220", "FOO=bar", "EMPTY="}},
		{"--env replaces in place", "vt220", Config{Env: []string{"HOME=/home/x", "PATH=/bin", "TERM=dumb"}},
			[]string{"PATH=/bin", "HOME=/home/x", "TERM=dumb"}},
		{"--env twice", "", Config{Env: []string{"A=1", "B=2", "A=3"}}, []string{path, "HOME=/root", "A=3", "B=2"}},
		{"a name that starts like another", "", Config{Env: []string{"PATHS=x", "HOMER=y"}}, []string{path, "HOME=/root", "PATHS=x", "HOMER=y"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.term != "" {
				t.Setenv("TERM", tt.term)
			} else {
				t.Setenv("TERM", "restored after the test")
				os.Unsetenv("TERM")
			}
			if got := environment(&tt.cfg); !slices.Equal(got, tt.want) {
				t.Errorf("environment(%+v) = %q, want %q", tt.cfg, got, tt.want)
			}
		})
	}
}
