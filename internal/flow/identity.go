package flow

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// IdentityHashes are the keyed hashes of a date of birth (YYYY-MM-DD) and a
// 9-digit SSN kept for identity validation (C6).
func (e *Engine) IdentityHashes(tenantID, dob, ssn string) (dobHash, ssnHash []byte) {
	if dob != "" {
		dobHash = e.Keys.MAC("identity-dob", []byte(tenantID+"\x00"+dob))
	}
	if ssn != "" {
		ssnHash = e.Keys.MAC("identity-ssn", []byte(tenantID+"\x00"+ssn))
	}
	return dobHash, ssnHash
}

// ValidateIdentity matches an email address, date of birth and SSN against
// the records (C6). Attempts are limited per email address and per client
// address; a mismatch and an unknown email give the same answer.
func (e *Engine) ValidateIdentity(ctx context.Context, c Caller, email, dob, ssn string) (*store.User, error) {
	_, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	var errs validate.Errors
	email = validate.Email(&errs, "email", email, true)
	born := validate.DateOfBirth(&errs, "date_of_birth", dob, e.now())
	ssn = validate.SSN(&errs, "ssn", ssn)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	// The limit is per address, however its case is typed.
	if err := e.takeAttempt(ctx, p, "idv:e:"+c.TenantID+":"+validate.NormalizeEmail(email), "idv:ip:"+c.TenantID+":"+c.IP); err != nil {
		return nil, errors.Join(err, e.Audit(ctx, e.Store, c, Event{Event: "identity.validate", Outcome: "refused", Detail: map[string]any{"reason": "rate_limited"}}))
	}
	dobHash, ssnHash := e.IdentityHashes(c.TenantID, born.Format(time.DateOnly), ssn)
	u, err := e.Store.UserByEmail(ctx, c.TenantID, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if u == nil || len(u.DOBHash) == 0 || len(u.SSNHash) == 0 ||
		subtle.ConstantTimeCompare(u.DOBHash, dobHash)&subtle.ConstantTimeCompare(u.SSNHash, ssnHash) != 1 {
		ev := Event{Event: "identity.validate", Outcome: "failure", Detail: map[string]any{"reason": "no_match"}}
		if u != nil {
			ev.UserID = u.ID
		}
		return nil, errors.Join(ErrIdentityNotMatched, e.Audit(ctx, e.Store, c, ev))
	}
	if u.Status == store.StatusTerminated {
		// Identity details are not the password: a terminated account
		// answers as a mismatch (C14, G4).
		return nil, errors.Join(ErrIdentityNotMatched, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "identity.validate", Outcome: "refused", Detail: map[string]any{"reason": "status_" + u.Status}}))
	}
	if err := canManageMFA(u.Status); err != nil {
		return nil, errors.Join(err, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "identity.validate", Outcome: "refused", Detail: map[string]any{"reason": "status_" + u.Status}}))
	}
	return u, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "identity.validate", Outcome: "success"})
}

// takeAttempt counts one attempt against every key in the policy's identity
// window; any key at its limit refuses. The keys are taken in one
// transaction, so a refusal takes nothing from the others: a client over its
// own limit cannot go on using up the attempts of someone's address.
func (e *Engine) takeAttempt(ctx context.Context, p policy.Policy, keys ...string) error {
	now := e.now()
	window := time.Duration(p.Portal.IdentityWindow)
	start := now.Truncate(window)
	return e.Store.InTx(ctx, func(q store.Queries) error {
		for _, k := range keys {
			ok, err := q.TakeRate(ctx, k, start, p.Portal.IdentityAttempts)
			if err != nil {
				return err
			}
			if !ok {
				return &RateLimitedError{Scope: "attempts", Wait: start.Add(window).Sub(now)}
			}
		}
		return nil
	})
}
