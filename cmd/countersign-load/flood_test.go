package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseVmHWM(t *testing.T) {
	got, err := parseVmHWM("Name:\tcountersign\nVmPeak:\t  900000 kB\nVmHWM:\t   123456 kB\nVmRSS:\t 100000 kB\n")
	if err != nil || got != 123456 {
		t.Errorf("parseVmHWM = %d, %v; want 123456", got, err)
	}
	if _, err := parseVmHWM("Name:\tx\n"); err == nil {
		t.Error("no VmHWM line: want an error")
	}
}

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
	got := floodRatios(phases)
	want := []Ratio{{"flood checks ÷ checks alone", 0.25, ""}, {"flood checks' p99 ÷ checks alone's p99", 5, ""}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("floodRatios = %v, want %v", got, want)
	}
	phases[1].IdleShare = 0.5
	if r := floodRatios(phases); len(r) != 2 || r[0].Note == "" {
		t.Errorf("flood user-limited: %v, want a note", r)
	}
	if r := floodRatios(phases[1:]); r != nil {
		t.Errorf("without totp: %v, want none", r)
	}
}

// TestFloodLoginsBounded holds every login until the schedule has stopped
// sending: no more than maxInFlight may be outstanding, the rest of what
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
	rep, sent, unsent := floodLogins(context.Background(), newClient(srv.URL, "k", "", maxInFlight), pop, rate, duration)
	if sent > maxInFlight {
		t.Errorf("sent %d while all were held, more than %d in flight", sent, maxInFlight)
	}
	if limit := int64(rate*duration.Seconds()) + 1; sent+unsent > limit {
		t.Errorf("sent %d + not sent %d > %d due", sent, unsent, limit)
	}
	if rep.Attempts != sent || rep.Successes != sent || received.Load() != sent {
		t.Errorf("sent %d, attempts %d, successes %d, received %d", sent, rep.Attempts, rep.Successes, received.Load())
	}
}
