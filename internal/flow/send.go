package flow

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

// RateLimitedError says a send limit was reached and when to try again (X4).
type RateLimitedError struct {
	Scope      string // user, destination or tenant
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("send limit per %s reached; retry after %s", e.Scope, e.RetryAfter.Round(time.Second))
}

// Sent describes a code or token on its way.
type Sent struct {
	ID        string // challenge id (the verification id for contact changes)
	Channel   string
	SentTo    string // masked destination
	ExpiresAt time.Time
}

func randomDigits(n int) string {
	var b strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String()
}

// tokenAlphabet leaves out look-alikes (0/O, 1/I/L) so a token read aloud or
// copied by hand survives.
const tokenAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

func randomToken(n int) string {
	var b strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(int64(len(tokenAlphabet))))
		b.WriteByte(tokenAlphabet[d.Int64()])
	}
	return b.String()
}

// normalizeToken accepts a token typed in groups or lower case.
func normalizeToken(s string) string {
	return strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(s)))
}

func (e *Engine) codeHash(userID, purpose, code string) []byte {
	return e.Keys.MAC("challenge", []byte(userID+"\x00"+purpose+"\x00"+code))
}

// MaskPhone shows only the last four digits.
func MaskPhone(p string) string {
	if len(p) < 4 {
		return "****"
	}
	return "***-***-" + p[len(p)-4:]
}

// MaskEmail shows the first letter and the domain.
func MaskEmail(a string) string {
	local, domain, ok := strings.Cut(a, "@")
	if !ok || local == "" {
		return "***"
	}
	return local[:1] + "***@" + domain
}

func mask(channel, to string) string {
	if channel == delivery.Email {
		return MaskEmail(to)
	}
	return MaskPhone(to)
}

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
			return &RateLimitedError{Scope: l.scope, RetryAfter: start.Add(window).Sub(now)}
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
			Detail: map[string]any{"channel": ch.Channel, "to": mask(ch.Channel, ch.Destination), "challenge": ch.ID, "message": msg.ID}})
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

// destination returns the verified contact point of a channel.
func destination(u *store.User, channel string) (string, bool) {
	switch channel {
	case delivery.SMS:
		return u.Phone, u.Phone != "" && u.PhoneVerifiedAt != nil
	case delivery.Email:
		return u.Email, u.Email != "" && u.EmailVerifiedAt != nil
	}
	return "", false
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
	pt, err := e.pendingTxn(ctx, c, txnID)
	if err != nil {
		return nil, err
	}
	t, p, u, txn := pt.tenant, pt.policy, pt.user, pt.txn
	f, err := pt.factor(ctx, e, factorID, policy.FactorSMS, policy.FactorEmail)
	if err != nil {
		return nil, err
	}
	now := e.now()
	to, ok := destination(u, f.Kind)
	if !ok {
		return nil, ErrNoDestination
	}
	code := randomDigits(6)
	ttl := time.Duration(p.CodeTTL)
	ch := &store.Challenge{ID: store.NewID("chl"), TenantID: c.TenantID, UserID: u.ID, Purpose: store.PurposeLogin, Channel: f.Kind,
		Destination: to, CodeHash: e.codeHash(u.ID, store.PurposeLogin, code), TxnID: txn.ID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	iss := e.issuer(t, p)
	minutes := int(ttl.Minutes())
	lang := languageOf(c, u)
	msg := message(c.TenantID, f.Kind, to, words(lang, "code.subject", iss), words(lang, "code.sms", iss, code, minutes, iss))
	if f.Kind == delivery.Email {
		msg.Text = words(lang, "code.email", iss, code, minutes, iss)
	}
	if err := e.send(ctx, c, p, u, ch, msg, "challenge.sent", nil); err != nil {
		return nil, err
	}
	return &Sent{ID: ch.ID, Channel: f.Kind, SentTo: mask(f.Kind, to), ExpiresAt: ch.ExpiresAt}, nil
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
