package storetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

func enqueue(t *testing.T, s store.Store, u *store.User, next time.Time) *store.OutboxMessage {
	t.Helper()
	m := &store.OutboxMessage{
		ID: store.NewID("msg"), TenantID: u.TenantID, UserID: u.ID, Channel: "sms", Purpose: store.PurposeLogin,
		Destination: "+15550100", Payload: []byte("sealed\x00code"), NextAttemptAt: next, CreatedAt: t0,
	}
	if err := s.EnqueueOutbox(t.Context(), m); err != nil {
		t.Fatalf("EnqueueOutbox: %v", err)
	}
	return m
}

func claim(t *testing.T, s store.Store, worker string, now, lease time.Time, limit int) []store.OutboxMessage {
	t.Helper()
	got, err := s.ClaimOutbox(t.Context(), worker, now, lease, limit)
	if err != nil {
		t.Fatalf("ClaimOutbox(%s): %v", worker, err)
	}
	return got
}

func outboxIDs(ms []store.OutboxMessage) []string {
	return ids(ms, func(m store.OutboxMessage) string { return m.ID })
}

func getMessage(t *testing.T, s store.Store, m *store.OutboxMessage) store.OutboxMessage {
	t.Helper()
	list, err := s.ListOutbox(t.Context(), store.OutboxFilter{TenantID: m.TenantID, Limit: 1000})
	if err != nil {
		t.Fatalf("ListOutbox: %v", err)
	}
	for _, got := range list {
		if got.ID == m.ID {
			return got
		}
	}
	t.Fatalf("message %s not listed", m.ID)
	return store.OutboxMessage{}
}

func testOutbox(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	m := enqueue(t, s, u, t0)
	later := enqueue(t, s, u, t0.Add(time.Hour))
	if m.State != store.OutboxPending {
		t.Errorf("enqueued state = %q, want %q", m.State, store.OutboxPending)
	}
	got := getMessage(t, s, m)
	if got.State != store.OutboxPending || got.Attempts != 0 || string(got.Payload) != "sealed\x00code" || got.Destination != m.Destination ||
		got.Channel != "sms" || got.Purpose != store.PurposeLogin || got.UserID != u.ID || !got.NextAttemptAt.Equal(t0) ||
		!got.CreatedAt.Equal(t0) || got.LeaseUntil != nil || got.ClaimedBy != "" || got.DeliveredAt != nil {
		t.Errorf("listed message = %+v, want %+v", got, m)
	}

	lease := t0.Add(time.Minute)
	claimed := claim(t, s, "w1", t0, lease, 10)
	wantIDs(t, "first claim", outboxIDs(claimed), []string{m.ID})
	if len(claimed) == 1 {
		c := claimed[0]
		if c.State != store.OutboxSending || c.Attempts != 1 || c.ClaimedBy != "w1" || string(c.Payload) != "sealed\x00code" {
			t.Errorf("claimed message = %+v, want sending, attempt 1, w1, with payload", c)
		}
		wantTime(t, "claimed LeaseUntil", c.LeaseUntil, lease)
	}
	wantIDs(t, "claim during the lease", outboxIDs(claim(t, s, "w2", t0.Add(30*time.Second), t0.Add(2*time.Minute), 10)), []string{})

	delivered := t0.Add(40 * time.Second)
	if ok, err := s.MarkOutboxDelivered(ctx, m.ID, "w2", "twilio", "SM2", delivered); err != nil || ok {
		t.Errorf("MarkOutboxDelivered by another worker = %v, %v; want false", ok, err)
	}
	if ok, err := s.MarkOutboxDelivered(ctx, m.ID, "w1", "twilio", "SM1", delivered); err != nil || !ok {
		t.Errorf("MarkOutboxDelivered = %v, %v; want true", ok, err)
	}
	got = getMessage(t, s, m)
	if got.State != store.OutboxDelivered || len(got.Payload) != 0 || got.Provider != "twilio" || got.ProviderRef != "SM1" || got.LeaseUntil != nil {
		t.Errorf("delivered message = %+v, want delivered by twilio SM1 without payload or lease", got)
	}
	wantTime(t, "DeliveredAt", got.DeliveredAt, delivered)
	if ok, err := s.MarkOutboxDelivered(ctx, m.ID, "w1", "twilio", "SM1", delivered); err != nil || ok {
		t.Errorf("MarkOutboxDelivered again = %v, %v; want false", ok, err)
	}
	// A delivered message is never claimed again, even after its lease.
	wantIDs(t, "claim before the later message is due", outboxIDs(claim(t, s, "w1", t0.Add(10*time.Minute), t0.Add(11*time.Minute), 10)), []string{})

	// A failure waits for its retry time, keeping the payload.
	at := t0.Add(time.Hour)
	wantIDs(t, "claim the later message", outboxIDs(claim(t, s, "w1", at, at.Add(time.Minute), 10)), []string{later.ID})
	if ok, err := s.MarkOutboxFailed(ctx, later.ID, "w2", "twilio", "timeout", at.Add(time.Hour), false); err != nil || ok {
		t.Errorf("MarkOutboxFailed by another worker = %v, %v; want false", ok, err)
	}
	if ok, err := s.MarkOutboxFailed(ctx, later.ID, "w1", "twilio", "timeout", at.Add(time.Hour), false); err != nil || !ok {
		t.Errorf("MarkOutboxFailed = %v, %v; want true", ok, err)
	}
	got = getMessage(t, s, later)
	if got.State != store.OutboxRetry || got.LastError != "timeout" || string(got.Payload) != "sealed\x00code" || got.LeaseUntil != nil ||
		!got.NextAttemptAt.Equal(at.Add(time.Hour)) {
		t.Errorf("failed message = %+v, want retry with payload at %v", got, at.Add(time.Hour))
	}
	wantIDs(t, "claim before the retry", outboxIDs(claim(t, s, "w2", at.Add(59*time.Minute), at.Add(2*time.Hour), 10)), []string{})
	retried := claim(t, s, "w2", at.Add(time.Hour), at.Add(61*time.Minute), 10)
	wantIDs(t, "claim the retry", outboxIDs(retried), []string{later.ID})
	if len(retried) == 1 && (retried[0].Attempts != 2 || retried[0].ClaimedBy != "w2") {
		t.Errorf("retried message = %+v, want attempt 2 by w2", retried[0])
	}
	if ok, err := s.MarkOutboxFailed(ctx, later.ID, "w2", "twilio", "invalid number", at.Add(2*time.Hour), true); err != nil || !ok {
		t.Errorf("MarkOutboxFailed dead = %v, %v; want true", ok, err)
	}
	got = getMessage(t, s, later)
	if got.State != store.OutboxDead || len(got.Payload) != 0 || got.LastError != "invalid number" {
		t.Errorf("dead message = %+v, want dead without payload", got)
	}
	wantIDs(t, "claim after death", outboxIDs(claim(t, s, "w1", at.Add(5*time.Hour), at.Add(6*time.Hour), 10)), []string{})

	// A worker that outlived its lease lost the message to the next one.
	stale := enqueue(t, s, u, t0)
	now := t0.Add(10 * time.Hour)
	wantIDs(t, "claim by w1", outboxIDs(claim(t, s, "w1", now, now.Add(time.Minute), 10)), []string{stale.ID})
	again := claim(t, s, "w2", now.Add(2*time.Minute), now.Add(3*time.Minute), 10)
	wantIDs(t, "claim after the lease", outboxIDs(again), []string{stale.ID})
	if len(again) == 1 && (again[0].Attempts != 2 || again[0].ClaimedBy != "w2") {
		t.Errorf("reclaimed message = %+v, want attempt 2 by w2", again[0])
	}
	if ok, err := s.MarkOutboxDelivered(ctx, stale.ID, "w1", "twilio", "SM3", now.Add(2*time.Minute)); err != nil || ok {
		t.Errorf("MarkOutboxDelivered by the worker that lost the lease = %v, %v; want false", ok, err)
	}
	if ok, err := s.MarkOutboxFailed(ctx, stale.ID, "w1", "twilio", "x", now, false); err != nil || ok {
		t.Errorf("MarkOutboxFailed by the worker that lost the lease = %v, %v; want false", ok, err)
	}
	pending := enqueue(t, s, u, now.Add(24*time.Hour))

	counts, err := s.CountOutbox(ctx)
	if err != nil {
		t.Fatalf("CountOutbox: %v", err)
	}
	want := map[string]int{store.OutboxDelivered: 1, store.OutboxDead: 1, store.OutboxSending: 1, store.OutboxPending: 1}
	if !maps.Equal(counts, want) {
		t.Errorf("CountOutbox = %v, want %v", counts, want)
	}

	// Listing filters.
	bob := newUser(t, s, tn.ID, "bob")
	theirs := enqueue(t, s, bob, now)
	other := newTenant(t, s, "other")
	list := func(f store.OutboxFilter) []string {
		t.Helper()
		ms, err := s.ListOutbox(ctx, f)
		if err != nil {
			t.Fatalf("ListOutbox(%+v): %v", f, err)
		}
		return outboxIDs(ms)
	}
	wantIDSet(t, "ListOutbox(tenant)", list(store.OutboxFilter{TenantID: tn.ID}), []string{m.ID, later.ID, stale.ID, pending.ID, theirs.ID})
	wantIDSet(t, "ListOutbox(pending)", list(store.OutboxFilter{TenantID: tn.ID, State: store.OutboxPending}), []string{pending.ID, theirs.ID})
	wantIDSet(t, "ListOutbox(bob)", list(store.OutboxFilter{TenantID: tn.ID, UserID: bob.ID}), []string{theirs.ID})
	wantIDSet(t, "ListOutbox(other tenant)", list(store.OutboxFilter{TenantID: other.ID}), []string{})
	wantIDSet(t, "ListOutbox(no tenant)", list(store.OutboxFilter{}), []string{})
	if n := len(list(store.OutboxFilter{TenantID: tn.ID, Limit: 2})); n != 2 {
		t.Errorf("ListOutbox(limit 2) = %d messages", n)
	}
}

// testOutboxClaimConcurrent: workers draining the queue together never hold
// one message at once, so each is sent once.
func testOutboxClaimConcurrent(t *testing.T, s store.Store) {
	_, u := fixture(t, s)
	const messages, workers, batch = 100, 4, 5
	want := make([]string, 0, messages)
	for range messages {
		want = append(want, enqueue(t, s, u, t0).ID)
	}
	var mu sync.Mutex
	seen := map[string][]string{} // message → workers that claimed it
	var next atomic.Int64
	concurrently(t, workers, func(ctx context.Context) (bool, error) {
		worker := fmt.Sprintf("w%d", next.Add(1))
		for {
			got, err := s.ClaimOutbox(ctx, worker, t0.Add(time.Second), t0.Add(time.Hour), batch)
			if err != nil {
				return false, err
			}
			if len(got) == 0 {
				return true, nil
			}
			if len(got) > batch {
				return false, fmt.Errorf("%s claimed %d messages, limit %d", worker, len(got), batch)
			}
			mu.Lock()
			for _, m := range got {
				seen[m.ID] = append(seen[m.ID], worker)
			}
			mu.Unlock()
		}
	})
	for id, by := range seen {
		if len(by) != 1 {
			t.Errorf("message %s claimed %d times, by %v", id, len(by), by)
		}
	}
	wantIDSet(t, "claimed messages", slices.Collect(maps.Keys(seen)), want)
	if got := claim(t, s, "late", t0.Add(time.Second), t0.Add(time.Hour), batch); len(got) != 0 {
		t.Errorf("claim after draining = %d messages", len(got))
	}
}
