package flow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

// RateLimitedError says a send limit was reached and when to try again (X4).
type RateLimitedError struct {
	Scope string // user, destination or tenant
	Wait  time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("send limit per %s reached; retry after %s", e.Scope, e.Wait.Round(time.Second))
}

// RetryAfter is how long to wait; front doors answer with it (Retry-After).
func (e *RateLimitedError) RetryAfter() time.Duration { return e.Wait }

// Sent describes a code or token on its way.
type Sent struct {
	ID        string // challenge id (the verification id for contact changes)
	Channel   string
	SentTo    string // masked destination
	ExpiresAt time.Time
}

// MaskPhone shows only the last four digits of a phone number.
func MaskPhone(p string) string { return factor.MaskPhone(p) }

// MaskEmail shows the first letter and the domain of an address.
func MaskEmail(a string) string { return factor.MaskEmail(a) }

// takeSendLimits counts one send against the user, the destination and the
// tenant (X4); inside the caller's transaction, so a refused send takes nothing.
func (e *Engine) takeSendLimits(ctx context.Context, q store.Queries, p policy.Policy, tenantID, userID, destination string, now time.Time) error {
	limits := []struct {
		scope, key string
		l          policy.Limit
	}{
		{"user", "u:" + userID, p.SendLimits.PerUser},
		{"destination", "d:" + tenantID + ":" + strings.ToLower(destination), p.SendLimits.PerDestination},
		{"tenant", "t:" + tenantID, p.SendLimits.PerTenant},
	}
	for _, l := range limits {
		window := time.Duration(l.l.Window)
		start := now.Truncate(window)
		ok, err := q.TakeRate(ctx, l.key, start, l.l.Count)
		if err != nil {
			return err
		}
		if !ok {
			return &RateLimitedError{Scope: l.scope, Wait: start.Add(window).Sub(now)}
		}
	}
	return nil
}

// send writes a challenge and its message in one transaction.
func (e *Engine) send(ctx context.Context, c Caller, p policy.Policy, u *store.User, ch *store.Challenge, msg delivery.Message, event string, before func(q store.Queries) error) error {
	now := e.now()
	var limited *RateLimitedError
	err := e.Store.InTx(ctx, func(q store.Queries) error {
		if before != nil {
			if err := before(q); err != nil {
				return err
			}
		}
		if err := e.takeSendLimits(ctx, q, p, c.TenantID, u.ID, ch.Destination, now); err != nil {
			return err
		}
		if err := q.CreateChallenge(ctx, ch); err != nil {
			return err
		}
		if err := outbox.Enqueue(ctx, q, e.Keys, msg, u.ID, ch.Purpose, now); err != nil {
			return err
		}
		return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: event, Outcome: "success",
			Detail: map[string]any{"channel": ch.Channel, "to": factor.Mask(ch.Channel, ch.Destination), "challenge": ch.ID, "message": msg.ID}})
	})
	if errors.As(err, &limited) {
		e.observe("send", "rate_limited")
		return errors.Join(err, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: event, Outcome: "refused",
			Detail: map[string]any{"reason": "rate_limited", "scope": limited.Scope, "channel": ch.Channel}}))
	}
	if err == nil {
		e.wake()
	}
	return err
}

func message(tenantID, channel, to, subject, text string) delivery.Message {
	m := delivery.Message{ID: store.NewID("msg"), TenantID: tenantID, Channel: channel, Subject: subject, Text: text, To: to}
	if channel != delivery.Email {
		m.To, _ = delivery.E164(to)
	}
	return m
}

// SendCode sends a fresh 6-digit code for a pending transaction by SMS or
// email (B3). Earlier codes stay valid until they expire (B8).
func (e *Engine) SendCode(ctx context.Context, c Caller, txnID, factorID string) (*Sent, error) {
	pt, f, err := e.challenge(ctx, c, txnID, factorID)
	if err != nil {
		return nil, err
	}
	t, p, u, txn := pt.tenant, pt.policy, pt.user, pt.txn
	sender, ok := kinds[f.Kind].(factor.Sender)
	if !ok {
		return nil, ErrFactorNotAllowed
	}
	now := e.now()
	to, ok := factor.Destination(u, sender.Channel())
	if !ok {
		return nil, ErrNoDestination
	}
	code := factor.Digits(6)
	ttl := time.Duration(p.CodeTTL)
	ch := &store.Challenge{ID: store.NewID("chl"), TenantID: c.TenantID, UserID: u.ID, Purpose: store.PurposeLogin, Channel: sender.Channel(),
		Destination: to, CodeHash: factor.CodeHash(e.Keys, u.ID, store.PurposeLogin, code), TxnID: txn.ID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	subject, text := sender.Message(languageOf(c, u), e.issuer(t, p), code, ttl)
	msg := message(c.TenantID, sender.Channel(), to, subject, text)
	if err := e.send(ctx, c, p, u, ch, msg, "challenge.sent", nil); err != nil {
		return nil, err
	}
	return &Sent{ID: ch.ID, Channel: sender.Channel(), SentTo: factor.Mask(sender.Channel(), to), ExpiresAt: ch.ExpiresAt}, nil
}

func (e *Engine) rateAudited(ctx context.Context, c Caller, u *store.User, err error) error {
	var limited *RateLimitedError
	if errors.As(err, &limited) {
		e.observe("send", "rate_limited")
		return errors.Join(err, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "call.placed", Outcome: "refused",
			Detail: map[string]any{"reason": "rate_limited", "scope": limited.Scope}}))
	}
	return err
}
