package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// fakeEntry is an entry of the named peer whose runs took walls ms.
func fakeEntry(name string, walls ...float64) *entry {
	e := &entry{label: name, peer: &peer{name: name}, pay: payloadTrue}
	for _, x := range walls {
		e.samples = append(e.samples, sample{Wall: time.Duration(x * 1e6)})
	}
	return e
}

// TestEngineTable: the engines' section sets each engine's medians against the
// runtimes' own run from the startup table, and says when an engine is absent.
func TestEngineTable(t *testing.T) {
	b := &bench{cfg: &config{runs: 30, warmup: 5}}
	b.res.startup[0] = &startup{entries: []*entry{
		fakeEntry("runc", 50, 60, 55),
		fakeEntry("launch (OCI)", 4, 5, 6),
	}}
	b.res.engines = []*engine{
		{name: "podman", version: "podman version 4", runs: []*entry{
			fakeEntry("podman + runc", 300, 310, 320), fakeEntry("podman + launch", 250, 200, 260),
		}},
		{name: "containerd", err: errors.New("not installed: ctr")},
	}
	var w strings.Builder
	b.engineTable(&w)
	got := w.String()
	for _, want := range []string{
		"15 rounds after 2 warm-up rounds",
		"55.0 ms for runc, 5.0 ms for launch",
		// 310 with runc, 250 with launch: -60; 310-55, 250-5; 55/310, 5/250.
		"| podman | 310.0 | 250.0 | -60.0 | +255.0 | +245.0 | 17.7 % | 2.0 % |",
		"| containerd | not measured: not installed: ctr |",
		"| podman + launch | podman version 4 | 250.0 | 200.0 | 260.0 | 3 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("engine table lacks %q:\n%s", want, got)
		}
	}
}

// TestEngineRounds: the engines run the bench's rounds, capped.
func TestEngineRounds(t *testing.T) {
	tests := []struct {
		name             string
		cfg              config
		wantWarm, wantRn int
	}{
		{"default", config{runs: 30, warmup: 5}, 2, 15},
		{"few runs", config{runs: 8, warmup: 1}, 1, 8},
		{"quick", config{runs: 5, warmup: 2, quick: true}, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &bench{cfg: &tt.cfg}
			if warm, runs := b.engineRounds(); warm != tt.wantWarm || runs != tt.wantRn {
				t.Errorf("engineRounds() = %d, %d, want %d, %d", warm, runs, tt.wantWarm, tt.wantRn)
			}
		})
	}
}
