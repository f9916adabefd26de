package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
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

// Claims is what a worker needs of storage: claiming due messages, holding
// and handing back its claims, and recording each attempt's outcome, each one
// statement conditioned on the claimant.
type Claims interface {
	ClaimOutbox(ctx context.Context, worker string, now, leaseUntil time.Time, limit int) ([]store.OutboxMessage, error)
	RenewOutboxLeases(ctx context.Context, worker string, ids []string, until time.Time) ([]string, error)
	ReleaseOutbox(ctx context.Context, worker string, ids []string) (int, error)
	MarkOutboxDelivered(ctx context.Context, id, worker, provider, ref string, now time.Time) (bool, error)
	MarkOutboxFailed(ctx context.Context, id, worker, provider, reason string, next time.Time, dead bool) (bool, error)
}

// statementTimeout bounds each statement a worker runs outside the caller's
// context: claiming, renewing, recording and releasing.
const statementTimeout = 5 * time.Second

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

	Batch int // messages claimed at once (default 16)
	// Lease is how long a claim lasts unless renewed (default 10s). A worker
	// renews its batch every third of it, so it bounds how long a crashed
	// server's messages wait, not how long a provider call may take.
	Lease       time.Duration
	SendTimeout time.Duration // one provider call (default 30s)
	// Drain is how long the provider call in flight may still take once the
	// worker is told to stop (default 10s).
	Drain       time.Duration
	MaxAttempts int           // then the message is dead (default 10)
	Poll        time.Duration // idle polling interval (default 500ms)

	wake chan struct{}
}

func (w *Worker) defaults() {
	if w.Batch <= 0 {
		w.Batch = 16
	}
	if w.Lease <= 0 {
		w.Lease = 10 * time.Second
	}
	if w.SendTimeout <= 0 {
		w.SendTimeout = 30 * time.Second
	}
	if w.Drain <= 0 {
		w.Drain = 10 * time.Second
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

// Run delivers until ctx ends. It returns once the batch in hand is settled:
// the provider call in flight finished (or Drain passed) and its outcome
// recorded, the messages not yet attempted released for any worker to take.
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
// were claimed. If ctx ends meanwhile, it settles the batch as Run does.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	w.defaults()
	if ctx.Err() != nil {
		return 0, nil
	}
	// What the worker starts it finishes: a stop signal must neither cut a
	// claim that may already have committed nor keep an outcome from being
	// recorded, so nothing below runs under ctx itself.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(w.Drain, cancelWork) })
	defer stopDrain()

	now := w.Now()
	cctx, cancel := context.WithTimeout(work, statementTimeout)
	msgs, err := w.Store.ClaimOutbox(cctx, w.ID, now, now.Add(w.Lease), w.Batch)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("claim: %w", err)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	h := &holding{w: w, until: now.Add(w.Lease), lost: map[string]bool{}}
	for _, m := range msgs {
		h.left = append(h.left, m.ID)
	}
	stopRenew := h.renewEvery(work, w.Lease/3)
	defer stopRenew()

	var errs []error
	for i := range msgs {
		if ctx.Err() != nil {
			if err := h.release(work); err != nil {
				errs = append(errs, err)
			}
			break
		}
		if !h.holds(msgs[i].ID) {
			w.Log.Warn("claim lost before the attempt", "message", msgs[i].ID)
			h.finish(msgs[i].ID)
			continue
		}
		if err := w.attempt(work, &msgs[i]); err != nil {
			errs = append(errs, err)
		}
		h.finish(msgs[i].ID)
	}
	return len(msgs), errors.Join(errs...)
}

// holding is a worker's claim on one batch: the messages not yet settled,
// and until when it is sure to hold them.
type holding struct {
	w *Worker

	mu    sync.Mutex
	left  []string // claimed, not yet settled
	until time.Time
	lost  map[string]bool // taken by another worker after the lease ended
}

// renewEvery renews the batch's leases until stopped.
func (h *holding) renewEvery(ctx context.Context, every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				h.renew(ctx)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (h *holding) renew(ctx context.Context) {
	h.mu.Lock()
	ids := slices.Clone(h.left)
	h.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	until := h.w.Now().Add(h.w.Lease)
	rctx, cancel := context.WithTimeout(ctx, statementTimeout)
	held, err := h.w.Store.RenewOutboxLeases(rctx, h.w.ID, ids, until)
	cancel()
	if err != nil {
		// The lease still runs to the last renewal; holds stops at its end.
		h.w.Log.Warn("outbox lease renewal", "worker", h.w.ID, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.until = until
	for _, id := range ids {
		if !slices.Contains(held, id) && slices.Contains(h.left, id) {
			h.lost[id] = true
		}
	}
}

// holds tells whether id may still be sent: no other worker can have it.
func (h *holding) holds(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.lost[id] && h.w.Now().Before(h.until)
}

func (h *holding) finish(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.left = slices.DeleteFunc(h.left, func(s string) bool { return s == id })
}

// release hands back every message not yet settled, so that another worker,
// or this server once restarted, takes them up at once instead of after the
// lease.
func (h *holding) release(ctx context.Context) error {
	h.mu.Lock()
	ids := slices.Clone(h.left)
	h.left = nil
	h.mu.Unlock()
	// The drain may have ended with the call before; the release is due all
	// the same.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), statementTimeout)
	defer cancel()
	n, err := h.w.Store.ReleaseOutbox(rctx, h.w.ID, ids)
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	h.w.Log.Info("outbox released on stop", "worker", h.w.ID, "messages", n)
	return nil
}

// attempt sends one message and records the outcome. ctx is cut only when
// a stopping worker's Drain has passed.
func (w *Worker) attempt(ctx context.Context, row *store.OutboxMessage) error {
	record := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), statementTimeout)
	}
	fail := func(provider string, cause error, dead bool) error {
		next := w.Now().Add(Backoff(row.Attempts))
		cut := ctx.Err() != nil && !dead
		if cut {
			// Cut short by the server stopping, not by the provider: any
			// worker may try again at once, and the stop does not spend
			// the message's last attempt.
			next = w.Now()
		}
		if row.Attempts >= w.MaxAttempts && !cut {
			dead = true
		}
		outcome := "retry"
		if dead {
			outcome = "dead"
		}
		w.observe(row.Channel, outcome)
		w.Log.Warn("delivery failed", "message", row.ID, "channel", row.Channel, "provider", provider, "attempt", row.Attempts, "dead", dead, "err", cause)
		rctx, cancel := record()
		defer cancel()
		_, err := w.Store.MarkOutboxFailed(rctx, row.ID, w.ID, provider, cause.Error(), next, dead)
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
	rctx, cancel := record()
	defer cancel()
	held, err := w.Store.MarkOutboxDelivered(rctx, row.ID, w.ID, provider, res.Ref, w.Now())
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
