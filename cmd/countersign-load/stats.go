package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, or 0 for an empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// tally is one worker's record of a phase; workers keep their own so the hot
// path takes no lock, and the phase merges them at the end.
type tally struct {
	successes int64
	attempts  int64
	requests  int64
	busy      int64 // requests answered 503
	inWindow  int64 // successes completed before the phase deadline
	deadline  time.Time
	outcomes  map[string]int64
	latencies []time.Duration // of successful attempts
	idle      time.Duration   // waiting for a fresh TOTP step
}

func newTally(deadline time.Time) *tally {
	return &tally{outcomes: map[string]int64{}, deadline: deadline}
}

func (t *tally) merge(o *tally) {
	t.successes += o.successes
	t.attempts += o.attempts
	t.requests += o.requests
	t.busy += o.busy
	t.inWindow += o.inWindow
	for k, v := range o.outcomes {
		t.outcomes[k] += v
	}
	t.latencies = append(t.latencies, o.latencies...)
	t.idle += o.idle
}

// Latency is a latency summary in milliseconds.
type Latency struct {
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

func summarize(lat []time.Duration) Latency {
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }
	return Latency{P50: ms(percentile(lat, 50)), P90: ms(percentile(lat, 90)), P99: ms(percentile(lat, 99)), Max: ms(percentile(lat, 100))}
}

// record counts one HTTP answer under label+outcome.
func (t *tally) record(label string, r reply) {
	t.requests++
	if r.status == 503 {
		t.busy++
	}
	t.outcomes[label+r.outcome()]++
}

// finish counts one attempt (a verification or a login, of one or more
// requests) that took d.
func (t *tally) finish(success bool, d time.Duration) {
	t.attempts++
	if success {
		t.successes++
		t.latencies = append(t.latencies, d)
		if time.Now().Before(t.deadline) {
			t.inWindow++
		}
	}
}
