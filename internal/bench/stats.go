package main

import (
	"math"
	"slices"
	"time"
)

// A summary describes a set of measurements.
type summary struct {
	n                int
	median, min, max float64
	mean, p50, p99   float64
}

// summarize describes xs; the zero summary if there are none.
func summarize(xs []float64) summary {
	if len(xs) == 0 {
		return summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	return summary{
		n: len(s), min: s[0], max: s[len(s)-1], mean: sum / float64(len(s)),
		median: median(s), p50: percentile(s, 50), p99: percentile(s, 99),
	}
}

// median of sorted s: the mean of the middle two for an even count.
func median(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile of sorted s by the nearest-rank method: the smallest value that at least
// p percent of the values do not exceed.
func percentile(s []float64, p float64) float64 {
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(0, min(len(s)-1, rank-1))]
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// walls and cpus are the times of samples, in milliseconds.
func walls(s []sample) []float64 {
	xs := make([]float64, len(s))
	for i := range s {
		xs[i] = ms(s[i].Wall)
	}
	return xs
}

func cpus(s []sample) []float64 {
	xs := make([]float64, len(s))
	for i := range s {
		xs[i] = ms(s[i].CPU)
	}
	return xs
}

// medianMs returns the median wall or CPU time of e's samples, or false if it has none
// (or e is nil).
func medianMs(e *entry, cpu bool) (float64, bool) {
	if e == nil || len(e.samples) == 0 {
		return 0, false
	}
	if cpu {
		return summarize(cpus(e.samples)).median, true
	}
	return summarize(walls(e.samples)).median, true
}
