package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

func take(t *testing.T, s store.Store, key string, window time.Time, limit int, want bool) {
	t.Helper()
	ok, err := s.TakeRate(t.Context(), key, window, limit)
	if err != nil {
		t.Fatalf("TakeRate(%s, %v): %v", key, window, err)
	}
	if ok != want {
		t.Errorf("TakeRate(%s, %v, %d) = %v, want %v", key, window, limit, ok, want)
	}
}

func testRateLimits(t *testing.T, s store.Store) {
	ctx := t.Context()
	w1 := t0.Truncate(time.Hour)
	w2 := w1.Add(time.Hour)
	const key, other = "sms:usr_a", "sms:usr_b"
	for range 3 {
		take(t, s, key, w1, 3, true)
	}
	for range 2 {
		take(t, s, key, w1, 3, false)
	}
	take(t, s, other, w1, 3, true)
	take(t, s, key, w2, 3, true)
	take(t, s, key, w2, 2, true)
	take(t, s, key, w2, 2, false)

	if n, err := s.DeleteRateWindows(ctx, w2); err != nil || n != 2 {
		t.Errorf("DeleteRateWindows(before w2) = %d, %v; want 2", n, err)
	}
	// The deleted window starts again from nothing; the kept one does not.
	for range 3 {
		take(t, s, key, w1, 3, true)
	}
	take(t, s, key, w1, 3, false)
	take(t, s, key, w2, 2, false)
	if n, err := s.DeleteRateWindows(ctx, w1); err != nil || n != 0 {
		t.Errorf("DeleteRateWindows(before w1) = %d, %v; want 0", n, err)
	}
}

// testRateConcurrent: parallel sends never pass the limit (X4).
func testRateConcurrent(t *testing.T, s store.Store) {
	const limit = 5
	w := t0.Truncate(time.Hour)
	wins := concurrently(t, 100, func(ctx context.Context) (bool, error) {
		return s.TakeRate(ctx, "sms:usr_a", w, limit)
	})
	if wins != limit {
		t.Errorf("%d of 100 parallel sends allowed, want exactly %d", wins, limit)
	}
	take(t, s, "sms:usr_a", w, limit, false)
}
