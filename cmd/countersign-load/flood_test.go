package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestCapacity(t *testing.T) {
	if got := capacity(2, 40*time.Millisecond); got != 50 {
		t.Errorf("capacity(2, 40ms) = %v, want 50", got)
	}
	if got := capacity(2, 0); got != 0 {
		t.Errorf("capacity(2, 0) = %v, want 0", got)
	}
}

func TestFloodRatios(t *testing.T) {
	phases := []PhaseReport{
		{Name: "totp", PerSecond: 1000, Latency: Latency{P99: 20}},
		{Name: "flood", PerSecond: 250, Successes: 750, Latency: Latency{P99: 100}},
		{Name: "flood logins", PerSecond: 60},
	}
	fr := &FloodReport{PeakRSSKiB: 300 * 1024}
	got := floodRatios(phases, fr)
	want := []Ratio{{ratioFlood, 0.25, ""}, {ratioFloodP99, 5, ""}, {figureFloodP99, 100, ""}, {figurePeakRSS, 300, ""}}
	if !slices.Equal(got, want) {
		t.Errorf("floodRatios = %v, want %v", got, want)
	}
	phases[1].IdleShare = 0.5
	if r := floodRatios(phases, nil); len(r) != 3 || r[0].Note == "" || r[2].Note == "" {
		t.Errorf("flood user-limited: %v, want three ratios with a note", r)
	}
	if r := floodRatios(phases[1:], nil); len(r) != 1 || r[0].Name != figureFloodP99 {
		t.Errorf("without totp: %v, want the flood's p99 only", r)
	}
	if r := floodRatios(phases[:1], fr); r != nil {
		t.Errorf("without flood: %v, want none", r)
	}
}

func TestHashingCapacityGiven(t *testing.T) {
	got := hashingCapacity(config{serverCPUs: 4, hashMS: 25})
	if want := (Hashing{ServerCPUs: 4, HashMS: 25, PerSecond: 160}); got != want {
		t.Errorf("hashingCapacity = %+v, want %+v", got, want)
	}
}

// TestFloodLoginsBounded holds every login until the schedule has stopped
// sending: no more than the in-flight bound may be outstanding, the rest of what
// fell due is counted as not sent, and nothing exceeds rate × duration.
// It asserts bounds only, never how long anything took.
func TestFloodLoginsBounded(t *testing.T) {
	release := make(chan struct{})
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		<-release
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"enrolment_required"}`))
	}))
	defer srv.Close()
	time.AfterFunc(300*time.Millisecond, func() { close(release) })

	pop := &population{passwords: []passwordUser{{"a", "pw"}, {"b", "pw"}}}
	const rate, duration = 20000.0, 100 * time.Millisecond
	const inflight = 40
	rep, sent, unsent := floodLogins(context.Background(), newClient(srv.URL, "k", "", inflight), pop, rate, duration, inflight)
	if sent > inflight {
		t.Errorf("sent %d while all were held, more than %d in flight", sent, inflight)
	}
	if limit := int64(rate*duration.Seconds()) + 1; sent+unsent > limit {
		t.Errorf("sent %d + not sent %d > %d due", sent, unsent, limit)
	}
	if rep.Attempts != sent || rep.Successes != sent || received.Load() != sent {
		t.Errorf("sent %d, attempts %d, successes %d, received %d", sent, rep.Attempts, rep.Successes, received.Load())
	}
}
