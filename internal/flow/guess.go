package flow

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
)

// errTxnRace rolls back a verification whose transaction another request completed first.
var errTxnRace = errors.New("transaction completed concurrently")

// errUnsettled rolls back a guess evaluated on the fast path whose counter
// moved since it was read; the guess then runs charged first.
var errUnsettled = errors.New("counter moved since it was read")

// guess charges a guess, evaluates it and records the outcome in one write
// transaction (invariants 1, 2 and 3): the one runner every factor's guess
// goes through. When txn is set a success completes it, once; then runs in
// the same transaction after a success.
func (e *Engine) guess(ctx context.Context, c Caller, p policy.Policy, u *store.User, a factor.Attempt, txn *store.LoginTxn, then func(q store.Queries) error) error {
	now := e.now()
	var result error
	outcome := "success"
	event := "login.mfa"
	if strings.HasPrefix(a.Kind, "verify_") {
		event = "contact.verify"
	}
	detail := func(extra ...any) map[string]any {
		d := map[string]any{"kind": a.Kind}
		for k, v := range a.Detail {
			d[k] = v
		}
		for i := 0; i+1 < len(extra); i += 2 {
			d[extra[i].(string)] = extra[i+1]
		}
		return d
	}
	// run evaluates the guess in one transaction. Charged first (the slow
	// path), the counter goes up before the guess is looked at, so however
	// many guesses race, at most the limit are evaluated. Unless the counter
	// read with the user has moved (then it rolls back with errUnsettled),
	// the fast path evaluates first and records the outcome in one statement
	// conditional on that read: the same bound — an outcome lands only on
	// the counter it was decided against — at one write to the user's row
	// instead of a charge and then a reset.
	run := func(q store.Queries, fast bool) error {
		result = nil
		failures := u.MFAFailures
		if !fast {
			ch, err := q.ChargeMFA(ctx, u.ID, p.MFAAttempts, time.Duration(p.LockoutRelease), now)
			if err != nil {
				return err
			}
			if !ch.Allowed {
				result, outcome = lockedErr(p), "locked"
				return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: event, Outcome: "refused", Detail: detail("reason", "mfa_locked")})
			}
			failures = ch.Failures
		}
		ok, reason, err := a.Check(ctx, q)
		if err != nil {
			return err
		}
		if fast {
			settled, err := q.SettleMFA(ctx, u.ID, store.Settle{Seen: u.MFAFailures, Success: ok, EndsOTARun: a.EndsOTARun, Limit: p.MFAAttempts, Now: now})
			if err != nil {
				return err
			}
			if !settled {
				return errUnsettled
			}
			if !ok {
				failures++
			}
		}
		if !ok {
			outcome = "failure"
			result = ErrWrongCode
			if a.Wrong != nil {
				result = a.Wrong(reason)
			}
			left := p.MFAAttempts - failures
			if refused(result) {
				// Only a wrong answer is told how many remain: a spent run of
				// tokens (E26) is another matter.
				result = problem.WithAttemptsLeft(result, left)
			}
			if err := e.Audit(ctx, q, c, Event{UserID: u.ID, Event: event, Outcome: "failure", Detail: detail("reason", reason, "attempts_left", left)}); err != nil {
				return err
			}
			if left > 0 {
				return nil
			}
			result, outcome = lockedErr(p), "lockout"
			if !fast { // the fast path's statement locked already
				if err := q.MarkMFALocked(ctx, u.ID, now); err != nil {
					return err
				}
			}
			return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "lockout", Outcome: "locked", Detail: map[string]any{"counter": "mfa", "failures": failures}})
		}
		if !fast {
			if err := q.ResetMFA(ctx, u.ID, now); err != nil {
				return err
			}
			if a.EndsOTARun {
				if err := q.ResetOTA(ctx, u.ID); err != nil {
					return err
				}
			}
		}
		extra := []any{}
		if txn != nil {
			done, err := q.CompleteLoginTxn(ctx, txn.ID, store.TxnAllowed, factorID(a.Detail), now)
			if err != nil {
				return err
			}
			if !done {
				return errTxnRace
			}
			extra = append(extra, "txn", txn.ID)
		}
		if a.Success != nil {
			if err := a.Success(ctx, q); err != nil {
				return err
			}
		}
		if then != nil {
			if err := then(q); err != nil {
				return err
			}
		}
		return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: event, Outcome: "success", Detail: detail(extra...)})
	}
	fast := u.MFALockedAt == nil && u.MFAFailures < p.MFAAttempts
	err := e.Store.InTx(ctx, func(q store.Queries) error { return run(q, fast) })
	if errors.Is(err, errUnsettled) {
		err = e.Store.InTx(ctx, func(q store.Queries) error { return run(q, false) })
	}
	if errors.Is(err, errTxnRace) {
		e.observe(a.Kind, "txn_gone")
		return ErrTxnGone
	}
	if err != nil {
		return e.granted(ctx, c, u, event, err)
	}
	e.observe(a.Kind, outcome)
	if result == nil && (a.Success != nil || then != nil) {
		// What ran after the success may have queued a notice (contact
		// change, enrolment by call); a plain check queued nothing, and
		// waking the outbox for it would cost the writer a claim per check.
		e.wake()
	}
	return inLanguage(result, c, u)
}

func factorID(detail map[string]any) string {
	id, _ := detail["factor"].(string)
	return id
}

// inLanguage records on err the language the person reads it in: the page's,
// else their recorded one.
func inLanguage(err error, c Caller, u *store.User) error {
	if err == nil || (!KnownLanguage(c.Lang) && !KnownLanguage(u.Locale)) {
		return err
	}
	return problem.InLanguage(err, languageOf(c, u))
}
