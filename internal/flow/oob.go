package flow

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/totp"
	"github.com/countersign/countersign/internal/validate"
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

var (
	ErrOTASpent            = problem.Domain("one_time_tokens_spent", "one-time access tokens spent: log in with the authenticator app first")
	ErrNoDestination       = problem.Domain("no_verified_destination", "no verified destination for this channel")
	ErrVerificationGone    = problem.Domain("verification_gone", "verification expired, replaced or unknown")
	ErrContactChangeDenied = problem.Domain("contact_change_denied", "only active users may change contact points")
)

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

func (e *Engine) issuer(t *store.Tenant, p policy.Policy) string {
	if p.Issuer != "" {
		return p.Issuer
	}
	return t.Name
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

// verifyCode checks an SMS or email code: any live code of the user works, a
// success ends them all (B8), every failure counts (B5).
func (e *Engine) verifyCode(ctx context.Context, c Caller, p policy.Policy, u *store.User, f *store.Factor, code string, txn *store.LoginTxn, success func(q store.Queries) error) error {
	now := e.now()
	return e.guess(ctx, c, p, u, attempt{
		kind: f.Kind, txn: txn, detail: map[string]any{"factor": f.ID},
		check: func(q store.Queries) (bool, string, error) {
			code, ok := totp.NormalizeCode(code)
			if !ok {
				return false, "malformed_code", nil
			}
			ch, err := q.ConsumeChallenge(ctx, u.ID, store.PurposeLogin, e.codeHash(u.ID, store.PurposeLogin, code), now)
			if err != nil || ch == nil {
				return false, "wrong_code", err
			}
			_, err = q.ConsumeAllChallenges(ctx, u.ID, store.PurposeLogin, now)
			return err == nil, "", err
		},
		success: success,
	})
}

// RequestOneTimeToken sends a one-time access token for a person whose
// authenticator is lost (C8): only to the registered, verified email or
// text-enabled number, and only while consecutive token logins remain.
func (e *Engine) RequestOneTimeToken(ctx context.Context, c Caller, loginID, channel string) (*Sent, error) {
	t, p, u, err := e.namedUser(ctx, c, loginID)
	if err != nil {
		return nil, err
	}
	return e.sendOneTimeToken(ctx, c, t, p, u, channel)
}

// RequestTxnOneTimeToken sends a one-time access token for a pending
// transaction (the portal's lost-device path, after identity validation and
// the password).
func (e *Engine) RequestTxnOneTimeToken(ctx context.Context, c Caller, txnID, channel string) (*Sent, error) {
	pt, err := e.pendingTxn(ctx, c, txnID)
	if err != nil {
		return nil, err
	}
	return e.sendOneTimeToken(ctx, c, pt.tenant, pt.policy, pt.user, channel)
}

// OneTimeTokensLeft is how many consecutive one-time-token logins the user
// has left (C8: when none, the option is not offered).
func OneTimeTokensLeft(p policy.Policy, u *store.User) int {
	return max(0, p.OTAMaxConsecutive-u.OTAConsecutive)
}

func (e *Engine) sendOneTimeToken(ctx context.Context, c Caller, t *store.Tenant, p policy.Policy, u *store.User, channel string) (*Sent, error) {
	if p.OTAMaxConsecutive == 0 {
		return nil, ErrFactorNotAllowed
	}
	if channel != delivery.Email && channel != delivery.SMS {
		return nil, validate.Errors{{Field: "channel", Code: "invalid", Message: "Channel must be email or sms."}}
	}
	hasApp := false
	factors, err := e.Store.ActiveFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, f := range factors {
		hasApp = hasApp || f.Kind == policy.FactorTOTP
	}
	if !hasApp {
		return nil, ErrNotRegistered
	}
	if u.OTAConsecutive >= p.OTAMaxConsecutive {
		return nil, errors.Join(ErrOTASpent, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "one_time_token.requested", Outcome: "refused", Detail: map[string]any{"reason": "spent"}}))
	}
	to, ok := destination(u, channel)
	if !ok {
		return nil, ErrNoDestination
	}
	now := e.now()
	token := randomToken(10)
	ttl := time.Duration(p.OTATTL)
	ch := &store.Challenge{ID: store.NewID("chl"), TenantID: c.TenantID, UserID: u.ID, Purpose: store.PurposeOTA, Channel: channel,
		Destination: to, CodeHash: e.codeHash(u.ID, store.PurposeOTA, token), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	iss := e.issuer(t, p)
	left := p.OTAMaxConsecutive - u.OTAConsecutive
	lang := languageOf(c, u)
	msg := message(c.TenantID, channel, to, words(lang, "ota.subject", iss), words(lang, "ota.sms", iss, token[:5], token[5:], int(ttl.Minutes())))
	if channel == delivery.Email {
		msg.Text = words(lang, "ota.email", iss, token[:5], token[5:], int(ttl.Minutes()), left)
	}
	if err := e.send(ctx, c, p, u, ch, msg, "one_time_token.requested", nil); err != nil {
		return nil, err
	}
	return &Sent{ID: ch.ID, Channel: channel, SentTo: mask(channel, to), ExpiresAt: ch.ExpiresAt}, nil
}

func (e *Engine) verifyOneTimeToken(ctx context.Context, c Caller, p policy.Policy, u *store.User, token string, txn *store.LoginTxn, success func(q store.Queries) error) error {
	now := e.now()
	return e.guess(ctx, c, p, u, attempt{
		kind: "one_time_token", txn: txn, detail: map[string]any{},
		check: func(q store.Queries) (bool, string, error) {
			ch, err := q.ConsumeChallenge(ctx, u.ID, store.PurposeOTA, e.codeHash(u.ID, store.PurposeOTA, normalizeToken(token)), now)
			if err != nil || ch == nil {
				return false, "wrong_token", err
			}
			// Only a used token counts; one that expires unused does not (C8).
			ok, err := q.TakeOTA(ctx, u.ID, p.OTAMaxConsecutive)
			if err != nil || !ok {
				return false, "one_time_tokens_spent", err
			}
			return true, "", nil
		},
		failure: func(reason string) error {
			if reason == "one_time_tokens_spent" {
				return ErrOTASpent
			}
			return ErrWrongCode
		},
		success: success,
	})
}

// trustDevice issues a remembered-device token (B4), stored as a keyed hash.
func (e *Engine) trustDevice(ctx context.Context, q store.Queries, c Caller, p policy.Policy, u *store.User, label string) (string, error) {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	token := "csd_" + base64.RawURLEncoding.EncodeToString(raw)
	now := e.now()
	if len(label) > 100 {
		label = label[:100]
	}
	d := &store.TrustedDevice{ID: store.NewID("dev"), TenantID: c.TenantID, UserID: u.ID, TokenHash: e.Keys.MAC("device", []byte(token)),
		IP: c.IP, Label: label, CreatedAt: now, ExpiresAt: now.Add(time.Duration(p.TrustedDeviceTTL))}
	if err := q.CreateTrustedDevice(ctx, d); err != nil {
		return "", err
	}
	return token, e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "trusted_device.created", Outcome: "success", Detail: map[string]any{"device": d.ID, "expires_at": d.ExpiresAt}})
}

// trustedDevice reports whether the presented token remembers this user here.
func (e *Engine) trustedDevice(ctx context.Context, c Caller, p policy.Policy, u *store.User) (string, bool) {
	if c.TrustedDevice == "" || p.TrustedDeviceTTL == 0 || len(c.TrustedDevice) > 200 {
		return "", false
	}
	d, err := e.Store.TrustedDeviceByHash(ctx, c.TenantID, e.Keys.MAC("device", []byte(c.TrustedDevice)))
	if err != nil || d.UserID != u.ID || d.RevokedAt != nil || !e.now().Before(d.ExpiresAt) {
		return "", false
	}
	if p.TrustedDeviceBindIP && d.IP != c.IP {
		return "", false
	}
	if err := e.Store.TouchTrustedDevice(ctx, d.ID, e.now()); err != nil && e.Log != nil {
		e.Log.Warn("touch trusted device", "err", err)
	}
	return d.ID, true
}

// freshUser resolves a transaction that proves a fresh authentication
// (invariant 6): allowed within the transaction lifetime, or a password
// step just passed by a user who has no factor yet.
func (e *Engine) freshUser(ctx context.Context, c Caller, txnID string) (*store.Tenant, policy.Policy, *store.User, *store.LoginTxn, error) {
	txn, err := e.Transaction(ctx, c, txnID)
	if err != nil {
		return nil, policy.Policy{}, nil, nil, ErrFreshAuthRequired
	}
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, p, nil, nil, err
	}
	now := e.now()
	u, err := e.Store.UserByID(ctx, c.TenantID, txn.UserID)
	if err != nil {
		return nil, p, nil, nil, notFoundAs(err, ErrFreshAuthRequired)
	}
	fresh := false
	window := time.Duration(p.TransactionTTL)
	if txn.Mode == ModePortal {
		window = time.Duration(p.Portal.FreshAuth)
	}
	switch txn.State {
	case store.TxnAllowed:
		fresh = txn.CompletedAt != nil && now.Sub(*txn.CompletedAt) < window
	case store.TxnPending:
		if (txn.Mode == ModePassword || txn.Mode == ModePortal) && now.Before(txn.ExpiresAt) {
			factors, err := e.usableFactors(ctx, p, u)
			if err != nil {
				return nil, p, nil, nil, err
			}
			fresh = len(factors) == 0
		}
	}
	if !fresh {
		return nil, p, nil, nil, ErrFreshAuthRequired
	}
	return t, p, u, txn, nil
}

// BeginContactChange sends a 6-digit verification code to a new phone number
// or email address (C7). Beginning again, with the same or an edited value,
// invalidates earlier codes. Only active users may change contact points.
func (e *Engine) BeginContactChange(ctx context.Context, c Caller, txnID, kind, value string) (*Sent, error) {
	t, p, u, _, err := e.freshUser(ctx, c, txnID)
	if err != nil {
		return nil, err
	}
	if u.Status != store.StatusActive {
		return nil, ErrContactChangeDenied
	}
	var errs validate.Errors
	var channel, purpose string
	switch kind {
	case "phone":
		channel, purpose = delivery.SMS, store.PurposeVerifyPhone
		value = validate.Phone(&errs, "value", value, true)
	case "email":
		channel, purpose = delivery.Email, store.PurposeVerifyEmail
		value = validate.Email(&errs, "value", value, true)
		if len(errs) == 0 {
			if other, err := e.Store.UserByEmail(ctx, c.TenantID, value); err == nil && other.ID != u.ID {
				errs.Add("value", "taken", "This email address is already used by another user of this organisation. Each user needs their own email address.")
			}
		}
	default:
		errs.Add("kind", "invalid", "Kind must be phone or email.")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	now := e.now()
	code := randomDigits(6)
	ttl := time.Duration(p.CodeTTL)
	ch := &store.Challenge{ID: store.NewID("vfy"), TenantID: c.TenantID, UserID: u.ID, Purpose: purpose, Channel: channel,
		Destination: value, CodeHash: e.codeHash(u.ID, purpose, code), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	iss := e.issuer(t, p)
	lang := languageOf(c, u)
	msg := message(c.TenantID, channel, value, words(lang, "verify.subject."+kind, iss), words(lang, "verify.text."+kind, iss, code, int(ttl.Minutes())))
	resend := func(q store.Queries) error {
		_, err := q.ConsumeAllChallenges(ctx, u.ID, purpose, now)
		return err
	}
	if err := e.send(ctx, c, p, u, ch, msg, "contact.verification_sent", resend); err != nil {
		return nil, err
	}
	return &Sent{ID: ch.ID, Channel: channel, SentTo: mask(channel, value), ExpiresAt: ch.ExpiresAt}, nil
}

// ConfirmContactChange checks the verification code, records the verified
// contact point, makes it usable as a factor when policy allows, and tells
// the person on the old contact point (invariant 6).
func (e *Engine) ConfirmContactChange(ctx context.Context, c Caller, verificationID, code string) (*store.User, error) {
	now := e.now()
	ch, err := e.Store.LiveChallenge(ctx, c.TenantID, verificationID, now)
	if err != nil || (ch.Purpose != store.PurposeVerifyPhone && ch.Purpose != store.PurposeVerifyEmail) {
		return nil, ErrVerificationGone
	}
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	u, err := e.Store.UserByID(ctx, c.TenantID, ch.UserID)
	if err != nil {
		return nil, notFoundAs(err, ErrVerificationGone)
	}
	if u.Status != store.StatusActive {
		return nil, ErrContactChangeDenied
	}
	err = e.guess(ctx, c, p, u, attempt{
		kind: ch.Purpose, detail: map[string]any{"verification": ch.ID},
		check: func(q store.Queries) (bool, string, error) {
			code, ok := totp.NormalizeCode(code)
			if !ok {
				return false, "malformed_code", nil
			}
			got, err := q.ConsumeChallenge(ctx, u.ID, ch.Purpose, e.codeHash(u.ID, ch.Purpose, code), now)
			if err != nil || got == nil || got.ID != ch.ID {
				return false, "wrong_code", err
			}
			return true, "", nil
		},
		success: func(q store.Queries) error {
			return e.applyContact(ctx, q, c, t, p, u, ch.Channel, ch.Destination, now)
		},
	})
	if err != nil {
		return nil, err
	}
	return e.Store.UserByID(ctx, c.TenantID, u.ID)
}

// SetContact records a contact point an administrator vouches for (B2).
func (e *Engine) SetContact(ctx context.Context, c Caller, userID, channel, value string) error {
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return err
	}
	u, err := e.Store.UserByID(ctx, c.TenantID, userID)
	if err != nil {
		return err
	}
	err = e.Store.InTx(ctx, func(q store.Queries) error { return e.applyContact(ctx, q, c, t, p, u, channel, value, e.now()) })
	if err == nil {
		e.wake() // the notice to the old contact point
	}
	return err
}

// applyContact stores a verified contact point, keeps the matching factor in
// step with it and notifies the old one.
func (e *Engine) applyContact(ctx context.Context, q store.Queries, c Caller, t *store.Tenant, p policy.Policy, u *store.User, channel, value string, now time.Time) error {
	old, _ := destination(u, channel)
	if old == "" {
		if channel == delivery.SMS {
			old = u.Phone
		} else {
			old = u.Email
		}
	}
	var err error
	if channel == delivery.SMS {
		err = q.SetPhone(ctx, c.TenantID, u.ID, value, &now)
	} else {
		err = q.SetEmail(ctx, c.TenantID, u.ID, value, &now)
	}
	if errors.Is(err, store.ErrConflict) {
		return validate.Errors{{Field: "email", Code: "taken", Message: "This email address is already used by another user of this organisation. Each user needs their own email address."}}
	}
	if err != nil {
		return err
	}
	if p.Allows(channel) {
		cfg, _ := json.Marshal(map[string]string{"to": mask(channel, value)})
		if err := q.UpsertFactor(ctx, &store.Factor{ID: store.NewID("fac"), TenantID: c.TenantID, UserID: u.ID, Kind: channel, Config: string(cfg)}, now); err != nil {
			return err
		}
	}
	if old != "" && !strings.EqualFold(old, value) {
		iss, lang := e.issuer(t, p), languageOf(c, u)
		notice := message(c.TenantID, channel, old, words(lang, "changed.subject."+channel, iss),
			words(lang, "changed.text."+channel, iss, mask(channel, value))+" "+words(lang, "notice.if_not_you"))
		if err := outbox.Enqueue(ctx, q, e.Keys, notice, u.ID, "notice", now); err != nil {
			return err
		}
	}
	return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "contact.changed", Outcome: "success",
		Detail: map[string]any{"channel": channel, "to": mask(channel, value), "old_notified": old != "" && !strings.EqualFold(old, value)}})
}

// RevokeTrustedDevice ends a remembered device of a user.
func (e *Engine) RevokeTrustedDevice(ctx context.Context, c Caller, userID, deviceID string) error {
	return e.Store.InTx(ctx, func(q store.Queries) error {
		ok, err := q.RevokeTrustedDevice(ctx, userID, deviceID, e.now())
		if err != nil {
			return err
		}
		if !ok {
			return store.ErrNotFound
		}
		return e.Audit(ctx, q, c, Event{UserID: userID, Event: "trusted_device.revoked", Outcome: "success", Detail: map[string]any{"device": deviceID}})
	})
}

// OwnTrustedDevices lists the remembered devices of the person a fresh
// transaction proves (B4: users see their own devices).
func (e *Engine) OwnTrustedDevices(ctx context.Context, c Caller, txnID string) ([]store.TrustedDevice, error) {
	_, _, u, _, err := e.freshUser(ctx, c, txnID)
	if err != nil {
		return nil, err
	}
	return e.Store.ListTrustedDevices(ctx, u.ID)
}

// RevokeOwnTrustedDevice lets that person forget one of their devices.
func (e *Engine) RevokeOwnTrustedDevice(ctx context.Context, c Caller, txnID, deviceID string) error {
	_, _, u, _, err := e.freshUser(ctx, c, txnID)
	if err != nil {
		return err
	}
	return e.RevokeTrustedDevice(ctx, c, u.ID, deviceID)
}
