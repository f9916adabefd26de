package main

import (
	"sync"
	"time"

	"github.com/countersign/countersign/internal/totp"
)

// nextStep returns the TOTP step to submit next for a user whose last used
// step is last, when the client's clock is in step now, and whether that step
// may be submitted yet. The server accepts now-1..now+1 but only steps newer
// than the last one used. now-1 is never chosen: a request sent late in a
// step can arrive in the next one, where now-1 has fallen out of the window.
func nextStep(last, now int64) (step int64, ok bool) {
	step = max(last+1, now)
	return step, step <= now+1
}

// untilNextStep is how long to wait, from t, for the next TOTP step to start.
func untilNextStep(t time.Time) time.Duration {
	next := time.Unix((totp.Step(t)+1)*int64(totp.Period/time.Second), 0)
	return next.Sub(t)
}

// scheduler hands out users with a step they may use, so that no step is
// ever submitted twice for a user and no user has two requests in flight
// (an older step arriving after a newer one would be refused as a replay).
type scheduler struct {
	mu     sync.Mutex
	last   []int64 // last step used, per user
	ready  []int   // users to try next, oldest first
	parked []int   // users whose next step lies beyond now+1
}

func newScheduler(last []int64) *scheduler {
	s := &scheduler{last: last, ready: make([]int, len(last))}
	for i := range s.ready {
		s.ready[i] = i
	}
	return s
}

// take removes a user from the queue and returns the step to submit for it
// at step now; ok is false when every idle user must wait for time to move on.
func (s *scheduler) take(now int64) (user int, step int64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ready) == 0 {
		kept := s.parked[:0]
		for _, u := range s.parked {
			if _, ok := nextStep(s.last[u], now); ok {
				s.ready = append(s.ready, u)
			} else {
				kept = append(kept, u)
			}
		}
		s.parked = kept
	}
	for len(s.ready) > 0 {
		u := s.ready[0]
		s.ready = s.ready[1:]
		if step, ok := nextStep(s.last[u], now); ok {
			return u, step, true
		}
		s.parked = append(s.parked, u)
	}
	return -1, 0, false
}

// put returns a user to the queue after step was submitted for it. The step
// counts as used whatever the answer was: the server may have consumed it.
func (s *scheduler) put(user int, step int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last[user] = step
	s.ready = append(s.ready, user)
}
