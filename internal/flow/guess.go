package flow

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

// errTxnRace rolls back a verification whose transaction another request completed first.
var errTxnRace = errors.New("transaction completed concurrently")

// attempt is one second-factor guess for guess to run.
type attempt struct {
	kind   string          // totp, sms, email, one_time_token, verify_phone…
	detail map[string]any  // audit detail, never a secret
	txn    *store.LoginTxn // completed on success, when set
	// check evaluates the guess inside the transaction, after it was charged;
	// reason explains a refusal in the audit record.
	check func(q store.Queries) (ok bool, reason string, err error)
	// success runs inside the transaction after a successful check.
	success func(q store.Queries) error
	// failure, when set, replaces ErrWrongCode as the answer to a refusal.
	failure func(reason string) error
}

// guess charges the guess, evaluates it and records the outcome in one write
// transaction (invariants 1, 2 and 3): the same for every kind of code.
func (e *Engine) guess(ctx context.Context, c Caller, p policy.Policy, u *store.User, a attempt) error {
	now := e.now()
	var result error
	outcome := "success"
	event := "login.mfa"
	if strings.HasPrefix(a.kind, "verify_") {
		event = "contact.verify"
	}
	detail := func(extra ...any) map[string]any {
		d := map[string]any{"kind": a.kind}
		for k, v := range a.detail {
			d[k] = v
		}
		for i := 0; i+1 < len(extra); i += 2 {
			d[extra[i].(string)] = extra[i+1]
		}
		return d
	}
	err := e.Store.InTx(ctx, func(q store.Queries) error {
		result = nil
		ch, err := q.ChargeMFA(ctx, u.ID, p.MFAAttempts, time.Duration(p.LockoutRelease), now)
		if err != nil {
			return err
		}
		if !ch.Allowed {
			result, outcome = ErrMFALocked, "locked"
			return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: event, Outcome: "refused", Detail: detail("reason", "mfa_locked")})
		}
		ok, reason, err := a.check(q)
		if err != nil {
			return err
		}
		if !ok {
			result, outcome = ErrWrongCode, "failure"
			if a.failure != nil {
				result = a.failure(reason)
			}
			left := p.MFAAttempts - ch.Failures
			if err := e.Audit(ctx, q, c, Event{UserID: u.ID, Event: event, Outcome: "failure", Detail: detail("reason", reason, "attempts_left", left)}); err != nil {
				return err
			}
			if left > 0 {
				return nil
			}
			result, outcome = ErrMFALocked, "lockout"
			if err := q.MarkMFALocked(ctx, u.ID, now); err != nil {
				return err
			}
			return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "lockout", Outcome: "locked", Detail: map[string]any{"counter": "mfa", "failures": ch.Failures}})
		}
		if err := q.ResetMFA(ctx, u.ID, now); err != nil {
			return err
		}
		extra := []any{}
		if a.txn != nil {
			done, err := q.CompleteLoginTxn(ctx, a.txn.ID, store.TxnAllowed, factorID(a.detail), now)
			if err != nil {
				return err
			}
			if !done {
				return errTxnRace
			}
			extra = append(extra, "txn", a.txn.ID)
		}
		if a.success != nil {
			if err := a.success(q); err != nil {
				return err
			}
		}
		return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: event, Outcome: "success", Detail: detail(extra...)})
	})
	if errors.Is(err, errTxnRace) {
		e.observe(a.kind, "txn_gone")
		return ErrTxnGone
	}
	if err != nil {
		return err
	}
	e.observe(a.kind, outcome)
	if result == nil {
		e.wake() // a success may have queued a notice (contact change, enrolment by call)
	}
	return result
}

func factorID(detail map[string]any) string {
	id, _ := detail["factor"].(string)
	return id
}
