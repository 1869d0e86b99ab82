package launch

import (
	"os"
	"os/signal"
	"slices"

	"golang.org/x/sys/unix"
)

// stopping are the forwarded signals that end a launch whose COMMAND does not run yet.
var stopping = []unix.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP}

// signals are the forwarded signals the launcher caught: one channel from the start of
// Run to the end, so that no signal falls between two handlers. Before COMMAND runs,
// one of stopping ends the launch; the others wait to be forwarded.
type signals struct {
	c       chan os.Signal
	pending []unix.Signal // caught before COMMAND ran, in order
	ready   chan struct{} // closed once they are caught
}

// catchSignals starts catching the forwarded signals, on a goroutine of its own: the
// runtime enables each signal with a round trip to its signal thread, about 40 µs
// each, 0.3 ms in all, which overlaps the preparation that way. Until then, a signal
// has its default action, which ends a launcher that has made nothing yet; stop waits
// for it, and is called before anything is made. No signal.Stop follows: it waits for
// the runtime's signal loop to go idle, which costs about a millisecond, and launch
// exits when it is done.
func catchSignals() *signals {
	s := &signals{c: make(chan os.Signal, 16), ready: make(chan struct{})}
	notify := make([]os.Signal, len(forwarded))
	for i, sig := range forwarded {
		notify[i] = sig
	}
	go func() {
		signal.Notify(s.c, notify...)
		close(s.ready)
	}()
	return s
}

// stop returns the first of stopping caught so far, or 0; what else was caught is
// kept for the container. The first call waits until the signals are caught.
func (s *signals) stop() unix.Signal {
	<-s.ready
	for len(s.c) > 0 {
		s.pending = append(s.pending, (<-s.c).(unix.Signal))
	}
	for _, sig := range s.pending {
		if slices.Contains(stopping, sig) {
			return sig
		}
	}
	return 0
}
