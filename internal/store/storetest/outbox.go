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

func release(t *testing.T, s store.Store, worker string, ids ...string) int {
	t.Helper()
	n, err := s.ReleaseOutbox(t.Context(), worker, ids)
	if err != nil {
		t.Fatalf("ReleaseOutbox(%s): %v", worker, err)
	}
	return n
}

func renew(t *testing.T, s store.Store, worker string, until time.Time, ids ...string) []string {
	t.Helper()
	held, err := s.RenewOutboxLeases(t.Context(), worker, ids, until)
	if err != nil {
		t.Fatalf("RenewOutboxLeases(%s): %v", worker, err)
	}
	return held
}

// testOutboxRelease: a message claimed and never attempted goes back as it
// was, due at once, and only its claimant can give it back.
func testOutboxRelease(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	a, b := enqueue(t, s, u, t0), enqueue(t, s, u, t0)
	wantIDSet(t, "claim", outboxIDs(claim(t, s, "w1", t0, t0.Add(10*time.Second), 10)), []string{a.ID, b.ID})

	if n := release(t, s, "w2", a.ID, b.ID); n != 0 {
		t.Errorf("ReleaseOutbox by another worker = %d, want 0", n)
	}
	if n := release(t, s, "w1"); n != 0 {
		t.Errorf("ReleaseOutbox of nothing = %d, want 0", n)
	}
	if n := release(t, s, "w1", a.ID); n != 1 {
		t.Errorf("ReleaseOutbox = %d, want 1", n)
	}
	got := getMessage(t, s, a)
	if got.State != store.OutboxPending || got.Attempts != 0 || got.ClaimedBy != "" || got.LeaseUntil != nil ||
		!got.NextAttemptAt.Equal(t0) || string(got.Payload) != "sealed\x00code" {
		t.Errorf("released message = %+v, want pending as enqueued", got)
	}
	if got := getMessage(t, s, b); got.State != store.OutboxSending || got.ClaimedBy != "w1" {
		t.Errorf("message not released = %+v, want still sending by w1", got)
	}
	// Due at once, though b's lease still runs.
	wantIDs(t, "claim after the release", outboxIDs(claim(t, s, "w2", t0.Add(time.Second), t0.Add(11*time.Second), 10)), []string{a.ID})
	if n := release(t, s, "w1", a.ID); n != 0 {
		t.Errorf("ReleaseOutbox of a message another worker claimed = %d, want 0", n)
	}
	if got := getMessage(t, s, a); got.State != store.OutboxSending || got.ClaimedBy != "w2" || got.Attempts != 1 {
		t.Errorf("message claimed by w2 after w1's late release = %+v, want sending by w2, attempt 1", got)
	}

	// A message waiting for a retry goes back to waiting, its failures kept.
	at := t0.Add(time.Minute)
	if ok, err := s.MarkOutboxDelivered(ctx, a.ID, "w2", "twilio", "SM1", at); err != nil || !ok {
		t.Fatalf("MarkOutboxDelivered = %v, %v", ok, err)
	}
	if ok, err := s.MarkOutboxFailed(ctx, b.ID, "w1", "twilio", "timeout", at, false); err != nil || !ok {
		t.Fatalf("MarkOutboxFailed = %v, %v", ok, err)
	}
	wantIDs(t, "claim the retry", outboxIDs(claim(t, s, "w1", at, at.Add(10*time.Second), 10)), []string{b.ID})
	if n := release(t, s, "w1", a.ID, b.ID); n != 1 {
		t.Errorf("ReleaseOutbox of a delivered and a retried message = %d, want 1", n)
	}
	got = getMessage(t, s, b)
	if got.State != store.OutboxRetry || got.Attempts != 1 || got.LastError != "timeout" || got.ClaimedBy != "" || got.LeaseUntil != nil {
		t.Errorf("released retry = %+v, want retry after 1 attempt", got)
	}
	if got := getMessage(t, s, a); got.State != store.OutboxDelivered || got.ProviderRef != "SM1" {
		t.Errorf("delivered message after a release = %+v, want delivered", got)
	}
	wantIDs(t, "claim the released retry", outboxIDs(claim(t, s, "w2", at, at.Add(10*time.Second), 10)), []string{b.ID})
}

// testOutboxRenew: a renewed lease keeps other workers away; a lease that
// ended and was taken is not renewed, and its loser is told.
func testOutboxRenew(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	a, b := enqueue(t, s, u, t0), enqueue(t, s, u, t0)
	claim(t, s, "w1", t0, t0.Add(10*time.Second), 10)
	if held := renew(t, s, "w2", t0.Add(time.Hour), a.ID, b.ID); len(held) != 0 {
		t.Errorf("RenewOutboxLeases by another worker = %q, want none", held)
	}
	if held := renew(t, s, "w1", t0.Add(time.Hour)); len(held) != 0 {
		t.Errorf("RenewOutboxLeases of nothing = %q, want none", held)
	}
	wantIDSet(t, "renewed", renew(t, s, "w1", t0.Add(20*time.Second), a.ID, b.ID), []string{a.ID, b.ID})
	wantTime(t, "renewed LeaseUntil", getMessage(t, s, a).LeaseUntil, t0.Add(20*time.Second))
	wantIDs(t, "claim after the first lease, during the renewed one", outboxIDs(claim(t, s, "w2", t0.Add(15*time.Second), t0.Add(25*time.Second), 10)), []string{})

	wantIDSet(t, "claim after the renewed lease", outboxIDs(claim(t, s, "w2", t0.Add(21*time.Second), t0.Add(31*time.Second), 10)), []string{a.ID, b.ID})
	if held := renew(t, s, "w1", t0.Add(time.Hour), a.ID, b.ID); len(held) != 0 {
		t.Errorf("RenewOutboxLeases by the worker that lost them = %q, want none", held)
	}
	wantTime(t, "LeaseUntil after the loser's renewal", getMessage(t, s, a).LeaseUntil, t0.Add(31*time.Second))
	if ok, err := s.MarkOutboxDelivered(ctx, a.ID, "w2", "twilio", "SM1", t0.Add(22*time.Second)); err != nil || !ok {
		t.Fatalf("MarkOutboxDelivered = %v, %v", ok, err)
	}
	wantIDs(t, "renewed after one was delivered", renew(t, s, "w2", t0.Add(40*time.Second), a.ID, b.ID), []string{b.ID})
	if got := getMessage(t, s, a); got.LeaseUntil != nil {
		t.Errorf("delivered message's lease = %v after a renewal, want none", *got.LeaseUntil)
	}
}

// expiredBatch enqueues n messages, claims them for "w1" with a lease that
// has ended at now, and returns their tenant and ids.
func expiredBatch(t *testing.T, s store.Store, n int, now time.Time) (string, []string) {
	t.Helper()
	tn, u := fixture(t, s)
	for range n {
		enqueue(t, s, u, t0)
	}
	got := outboxIDs(claim(t, s, "w1", t0, now.Add(-time.Second), n))
	if len(got) != n {
		t.Fatalf("claimed %d of %d messages", len(got), n)
	}
	return tn.ID, got
}

// testOutboxRenewRacesClaim: a worker renewing leases that just ended while
// another claims them: every message ends with exactly one of the two, so it
// is sent once.
func testOutboxRenewRacesClaim(t *testing.T, s store.Store) {
	now := t0.Add(time.Minute)
	const n, chunk = 40, 5
	_, all := expiredBatch(t, s, n, now)
	var mu sync.Mutex
	var renewed, claimed []string
	var turn atomic.Int64
	concurrently(t, 2, func(ctx context.Context) (bool, error) {
		if turn.Add(1) == 1 {
			for ids := range slices.Chunk(all, chunk) {
				held, err := s.RenewOutboxLeases(ctx, "w1", ids, now.Add(time.Hour))
				if err != nil {
					return false, err
				}
				mu.Lock()
				renewed = append(renewed, held...)
				mu.Unlock()
			}
			return true, nil
		}
		for {
			got, err := s.ClaimOutbox(ctx, "w2", now, now.Add(time.Hour), chunk)
			if err != nil || len(got) == 0 {
				return err == nil, err
			}
			mu.Lock()
			claimed = append(claimed, outboxIDs(got)...)
			mu.Unlock()
		}
	})
	for _, id := range renewed {
		if slices.Contains(claimed, id) {
			t.Errorf("message %s renewed by w1 and claimed by w2", id)
		}
	}
	wantIDSet(t, "renewed and claimed", append(slices.Clone(renewed), claimed...), all)
	t.Logf("%d renewed by w1, %d claimed by w2", len(renewed), len(claimed))
}

// testOutboxReleaseRacesClaim: a worker releasing messages whose lease just
// ended while another claims them never takes one back from its new holder:
// each is claimed once, and counts the attempt only if it was not released.
func testOutboxReleaseRacesClaim(t *testing.T, s store.Store) {
	now := t0.Add(time.Minute)
	const n, chunk = 40, 5
	tenant, all := expiredBatch(t, s, n, now)
	var mu sync.Mutex
	var released int
	seen := map[string]int{}
	var turn atomic.Int64
	take := func(ctx context.Context) error {
		for {
			got, err := s.ClaimOutbox(ctx, "w2", now, now.Add(time.Hour), chunk)
			if err != nil || len(got) == 0 {
				return err
			}
			mu.Lock()
			for _, m := range got {
				seen[m.ID]++
			}
			mu.Unlock()
		}
	}
	concurrently(t, 2, func(ctx context.Context) (bool, error) {
		if turn.Add(1) == 1 {
			for ids := range slices.Chunk(all, chunk) {
				k, err := s.ReleaseOutbox(ctx, "w1", ids)
				if err != nil {
					return false, err
				}
				mu.Lock()
				released += k
				mu.Unlock()
			}
			return true, nil
		}
		return true, take(ctx)
	})
	// What w1 released after w2 found nothing more is still due.
	if err := take(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantIDSet(t, "claimed by w2", slices.Collect(maps.Keys(seen)), all)
	firstAttempts := 0
	for _, id := range all {
		if seen[id] != 1 {
			t.Errorf("message %s claimed %d times by w2", id, seen[id])
		}
		got := getMessage(t, s, &store.OutboxMessage{ID: id, TenantID: tenant})
		if got.State != store.OutboxSending || got.ClaimedBy != "w2" {
			t.Errorf("message %s = %s by %q, want sending by w2", id, got.State, got.ClaimedBy)
		}
		if got.Attempts == 1 {
			firstAttempts++
		}
	}
	if firstAttempts != released {
		t.Errorf("%d messages on their first attempt, %d released: a release undid another worker's claim or missed its own", firstAttempts, released)
	}
	t.Logf("%d released by w1, %d taken over by w2 after the lease", released, n-released)
}
