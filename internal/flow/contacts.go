package flow

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/totp"
	"github.com/countersign/countersign/internal/validate"
)

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
	code := factor.Digits(6)
	ttl := time.Duration(p.CodeTTL)
	ch := &store.Challenge{ID: store.NewID("vfy"), TenantID: c.TenantID, UserID: u.ID, Purpose: purpose, Channel: channel,
		Destination: value, CodeHash: factor.CodeHash(e.Keys, u.ID, purpose, code), CreatedAt: now, ExpiresAt: now.Add(ttl)}
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
	return &Sent{ID: ch.ID, Channel: channel, SentTo: factor.Mask(channel, value), ExpiresAt: ch.ExpiresAt}, nil
}

// ConfirmContactChange checks the verification code, records the verified
// contact point, makes it usable as a factor when policy allows, and tells
// the person on the old contact point (invariant 6). The step of a portal
// page goes in the same transaction; nil for none.
func (e *Engine) ConfirmContactChange(ctx context.Context, c Caller, verificationID, code string, step *Step) (*store.User, error) {
	now := e.now()
	ch, err := e.Store.LiveChallenge(ctx, c.TenantID, verificationID, now)
	if err != nil {
		return nil, notFoundAs(err, ErrVerificationGone)
	}
	if ch.Purpose != store.PurposeVerifyPhone && ch.Purpose != store.PurposeVerifyEmail {
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
	env := e.env(c, p, u)
	then := func(q store.Queries) error {
		if step == nil {
			return nil
		}
		factorID := ""
		all, err := q.ActiveFactors(ctx, u.ID)
		if err != nil {
			return err
		}
		for _, f := range all {
			if f.Kind == ch.Channel {
				factorID = f.ID
			}
		}
		return e.finishStep(ctx, q, c, step, factorID)
	}
	err = e.guess(ctx, c, p, u, factor.Attempt{
		Kind: ch.Purpose, Detail: map[string]any{"verification": ch.ID},
		Check: func(ctx context.Context, q store.Queries) (bool, string, error) {
			code, ok := totp.NormalizeCode(code)
			if !ok {
				return false, "malformed_code", nil
			}
			got, err := q.ConsumeChallenge(ctx, u.ID, ch.Purpose, factor.CodeHash(env.Keys, u.ID, ch.Purpose, code), env.Now)
			if err != nil || got == nil || got.ID != ch.ID {
				return false, "wrong_code", err
			}
			return true, "", nil
		},
		Success: func(ctx context.Context, q store.Queries) error {
			return e.applyContact(ctx, q, c, t, p, u, ch.Channel, ch.Destination, env.Now)
		},
		Wrong: func(string) error { return ErrWrongVerificationCode },
	}, nil, then)
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
	if !mayRedirectCodes(c, p) {
		return errors.Join(ErrForbidden, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "contact.changed", Outcome: "refused", Detail: map[string]any{"reason": "role", "channel": channel}}))
	}
	if u.Status == store.StatusTerminated {
		// Nothing reaches a terminated account again, nor its notices (C14).
		return validate.Errors{{Field: "status", Code: "terminated", Message: "This account was terminated; its contact details can no longer change."}}
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
	old, _ := factor.Destination(u, channel)
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
		cfg, _ := json.Marshal(map[string]string{"to": factor.Mask(channel, value)})
		if err := q.UpsertFactor(ctx, &store.Factor{ID: store.NewID("fac"), TenantID: c.TenantID, UserID: u.ID, Kind: channel, Config: string(cfg)}, now); err != nil {
			return err
		}
	}
	if old != "" && !strings.EqualFold(old, value) {
		iss, lang := e.issuer(t, p), languageOf(c, u)
		notice := message(c.TenantID, channel, old, words(lang, "changed.subject."+channel, iss),
			words(lang, "changed.text."+channel, iss, factor.Mask(channel, value))+" "+words(lang, "notice.if_not_you"))
		if err := outbox.Enqueue(ctx, q, e.Keys, notice, u.ID, "notice", now); err != nil {
			return err
		}
	}
	// A change an administrator made is told on the new point too: the
	// person did not prove it with a code, so they learn of it there (B2).
	// A first number or address is set up, not changed: nothing to tell.
	newNotified := c.Role != "" && old != "" && !strings.EqualFold(old, value)
	if newNotified {
		iss, lang := e.issuer(t, p), languageOf(c, u)
		notice := message(c.TenantID, channel, value, words(lang, "changed.subject."+channel, iss),
			words(lang, "added.text."+channel, iss)+" "+words(lang, "notice.if_not_you"))
		if err := outbox.Enqueue(ctx, q, e.Keys, notice, u.ID, "notice", now); err != nil {
			return err
		}
	}
	return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "contact.changed", Outcome: "success",
		Detail: map[string]any{"channel": channel, "to": factor.Mask(channel, value), "old_notified": old != "" && !strings.EqualFold(old, value), "new_notified": newNotified}})
}

// mayRedirectCodes says whether the caller may change where a person's
// codes and calls go (B2, A12): an administrator may; the help desk
// (role support) only where policy grants it, since whoever sets the
// number receives the codes.
func mayRedirectCodes(c Caller, p policy.Policy) bool {
	// A caller without an administrator role is the person themself, whose
	// own changes are verified by a code at the new point (C7).
	return c.Role == "" || Permits(c.Role, p, ChangeContacts)
}
