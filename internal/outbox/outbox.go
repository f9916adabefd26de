package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/store"
)

// Enqueue seals m and adds it to the outbox through q, which should be the
// transaction that made the message necessary.
func Enqueue(ctx context.Context, q store.Queries, keys *keyring.Keyring, m delivery.Message, userID, purpose string, now time.Time) error {
	if m.ID == "" {
		m.ID = store.NewID("msg")
	}
	plain, err := json.Marshal(m)
	if err != nil {
		return err
	}
	sealed, err := keys.Seal(plain, []byte(m.ID))
	if err != nil {
		return err
	}
	return q.EnqueueOutbox(ctx, &store.OutboxMessage{
		ID: m.ID, TenantID: m.TenantID, UserID: userID, Channel: m.Channel, Purpose: purpose, Destination: m.To,
		Payload: sealed, State: store.OutboxPending, NextAttemptAt: now, CreatedAt: now,
	})
}

// Route picks the provider for a tenant's channel.
type Route func(tenantID, channel string) (provider string, s delivery.Sender, err error)

// Claims is what a worker needs of storage: claiming due messages and
// recording each attempt's outcome, each one statement.
type Claims interface {
	ClaimOutbox(ctx context.Context, worker string, now, leaseUntil time.Time, limit int) ([]store.OutboxMessage, error)
	MarkOutboxDelivered(ctx context.Context, id, worker, provider, ref string, now time.Time) (bool, error)
	MarkOutboxFailed(ctx context.Context, id, worker, provider, reason string, next time.Time, dead bool) (bool, error)
}

// Worker delivers due messages.
type Worker struct {
	Store Claims
	Keys  *keyring.Keyring
	Route Route
	// ID names this worker in claims; unique per process.
	ID  string
	Now func() time.Time
	Log *slog.Logger
	// Observe, when set, is told each attempt's channel and outcome.
	Observe func(channel, outcome string)

	Batch       int           // messages claimed at once (default 16)
	Lease       time.Duration // how long a claim lasts (default 2m); longer than SendTimeout
	SendTimeout time.Duration // one provider call (default 30s)
	MaxAttempts int           // then the message is dead (default 10)
	Poll        time.Duration // idle polling interval (default 500ms)

	wake chan struct{}
}

func (w *Worker) defaults() {
	if w.Batch <= 0 {
		w.Batch = 16
	}
	if w.Lease <= 0 {
		w.Lease = 2 * time.Minute
	}
	if w.SendTimeout <= 0 {
		w.SendTimeout = 30 * time.Second
	}
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = 10
	}
	if w.Poll <= 0 {
		w.Poll = 500 * time.Millisecond
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.Log == nil {
		w.Log = slog.New(slog.DiscardHandler)
	}
	if w.wake == nil {
		w.wake = make(chan struct{}, 1)
	}
}

// Notify wakes the worker early: something was just enqueued in this process.
func (w *Worker) Notify() {
	if w.wake == nil {
		return
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	w.defaults()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.wake:
		}
		n, err := w.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			w.Log.Warn("outbox", "err", err)
		}
		wait := w.Poll
		if n == w.Batch {
			wait = 0 // more may be due
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// RunOnce claims one batch and attempts each message; it returns how many
// were claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	w.defaults()
	now := w.Now()
	msgs, err := w.Store.ClaimOutbox(ctx, w.ID, now, now.Add(w.Lease), w.Batch)
	if err != nil {
		return 0, fmt.Errorf("claim: %w", err)
	}
	var errs []error
	for i := range msgs {
		if err := w.attempt(ctx, &msgs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return len(msgs), errors.Join(errs...)
}

func (w *Worker) attempt(ctx context.Context, row *store.OutboxMessage) error {
	fail := func(provider string, cause error, dead bool) error {
		next := w.Now().Add(Backoff(row.Attempts))
		if row.Attempts >= w.MaxAttempts {
			dead = true
		}
		outcome := "retry"
		if dead {
			outcome = "dead"
		}
		w.observe(row.Channel, outcome)
		w.Log.Warn("delivery failed", "message", row.ID, "channel", row.Channel, "provider", provider, "attempt", row.Attempts, "dead", dead, "err", cause)
		_, err := w.Store.MarkOutboxFailed(ctx, row.ID, w.ID, provider, cause.Error(), next, dead)
		return err
	}
	if row.Payload == nil {
		return fail("", errors.New("payload missing"), true)
	}
	plain, err := w.Keys.Open(row.Payload, []byte(row.ID))
	if err != nil {
		return fail("", fmt.Errorf("open payload: %w", err), true)
	}
	var m delivery.Message
	if err := json.Unmarshal(plain, &m); err != nil {
		return fail("", fmt.Errorf("decode payload: %w", err), true)
	}
	provider, sender, err := w.Route(row.TenantID, row.Channel)
	if err != nil {
		return fail(provider, err, false)
	}
	sctx, cancel := context.WithTimeout(ctx, w.SendTimeout)
	res, err := sender.Send(sctx, m)
	cancel()
	if err != nil {
		return fail(provider, err, delivery.IsPermanent(err))
	}
	w.observe(row.Channel, "delivered")
	held, err := w.Store.MarkOutboxDelivered(ctx, row.ID, w.ID, provider, res.Ref, w.Now())
	if err == nil && !held {
		w.Log.Warn("delivered after the claim expired", "message", row.ID)
	}
	return err
}

func (w *Worker) observe(channel, outcome string) {
	if w.Observe != nil {
		w.Observe(channel, outcome)
	}
}

// Backoff is the wait before attempt n+1: 5s doubling, at most 10 minutes.
func Backoff(attempts int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < attempts && d < 10*time.Minute; i++ {
		d *= 2
	}
	return min(d, 10*time.Minute)
}
