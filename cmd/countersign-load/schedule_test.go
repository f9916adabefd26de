package main

import (
	"testing"
	"time"
)

func TestNextStep(t *testing.T) {
	tests := []struct {
		name     string
		last     int64
		now      int64
		want     int64
		wantSend bool
	}{
		{"confirmed at now-1: use now", 99, 100, 100, true},
		{"used now: use now+1", 100, 100, 101, true},
		{"used now+1: wait", 101, 100, 102, false},
		{"idle for long: never older than now", 50, 100, 100, true},
		{"just used now-1: use now", 99, 100, 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := nextStep(tt.last, tt.now)
			if got != tt.want || ok != tt.wantSend {
				t.Errorf("nextStep(%d, %d) = %d, %v; want %d, %v", tt.last, tt.now, got, ok, tt.want, tt.wantSend)
			}
		})
	}
}

func TestSchedulerNeverReusesAStep(t *testing.T) {
	const now = 1000
	s := newScheduler([]int64{now - 1, now - 1})
	seen := map[[2]int64]bool{}
	var got int
	for {
		u, step, ok := s.take(now)
		if !ok {
			break
		}
		key := [2]int64{int64(u), step}
		if seen[key] {
			t.Fatalf("user %d got step %d twice", u, step)
		}
		if step < now || step > now+1 {
			t.Fatalf("user %d got step %d outside now..now+1", u, step)
		}
		seen[key] = true
		s.put(u, step)
		got++
	}
	if got != 4 {
		t.Errorf("two fresh users gave %d verifications in one step, want 4 (now and now+1 each)", got)
	}
	// Time moves on by one step: each user has exactly one more.
	got = 0
	for {
		u, step, ok := s.take(now + 1)
		if !ok {
			break
		}
		if step != now+2 {
			t.Errorf("user %d got step %d at the next step, want %d", u, step, now+2)
		}
		s.put(u, step)
		got++
	}
	if got != 2 {
		t.Errorf("at the next step got %d verifications, want 2", got)
	}
}

func TestSchedulerHoldsUserInFlight(t *testing.T) {
	s := newScheduler([]int64{9})
	u, _, ok := s.take(10)
	if !ok || u != 0 {
		t.Fatalf("take = %d, %v; want user 0", u, ok)
	}
	if u, _, ok := s.take(10); ok {
		t.Fatalf("took user %d while its request was in flight", u)
	}
}

func TestUntilNextStep(t *testing.T) {
	at := time.Unix(30*1000+12, 0)
	if got := untilNextStep(at); got != 18*time.Second {
		t.Errorf("untilNextStep = %v, want 18s", got)
	}
}
