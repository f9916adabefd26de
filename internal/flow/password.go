package flow

import (
	"context"
	"errors"
	"time"

	"github.com/countersign/countersign/internal/password"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// PasswordLogin checks a login ID and password, then decides from policy
// whether a second factor is needed. Until the password is proven every
// failure looks the same, whether or not the login ID exists (G4).
func (e *Engine) PasswordLogin(ctx context.Context, c Caller, loginID, pw string) (*Result, error) {
	t, p, u, err := e.passwordStep(ctx, c, loginID, pw, statusErr, "login.password")
	if err != nil {
		return nil, err
	}
	return e.afterPrimary(ctx, c, t, p, u, ModePassword, false)
}

// passwordStep proves a login ID and password (checkPassword) and then the
// person's status with check; a status refused is audited as event.
func (e *Engine) passwordStep(ctx context.Context, c Caller, loginID, pw string, check func(string) error, event string) (*store.Tenant, policy.Policy, *store.User, error) {
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, p, nil, err
	}
	u, err := e.checkPassword(ctx, c, p, loginID, pw)
	if err != nil {
		return nil, p, nil, err
	}
	if err := check(u.Status); err != nil {
		return nil, p, nil, errors.Join(inLanguage(err, c, u), e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: event, Outcome: "refused", Detail: map[string]any{"reason": "status_" + u.Status}}))
	}
	return t, p, u, nil
}

// checkPassword proves a login ID and password: the guess is charged before
// it is checked (invariant 1) and every failure looks the same (G4).
//
// A password-locked login ID is told it is locked once the right password
// is given (seed 004, Table 1): that reveals nothing the password did not
// prove. To tell, the guess must be evaluated, so a locked login ID gets one
// more evaluation, which cannot succeed; past it nothing is evaluated and
// every answer is E01 again. One, not more: each evaluation while locked
// confirms a password to whoever typed it, which an unlock would then admit.
func (e *Engine) checkPassword(ctx context.Context, c Caller, p policy.Policy, loginID, pw string) (*store.User, error) {
	var errs validate.Errors
	loginID = validate.LoginID(&errs, "login_id", loginID, p.LoginIDMaxLength)
	if pw == "" {
		errs.Add("password", "required", "Password is required. Enter a valid value in the Password field.")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	now := e.now()
	u, err := e.Store.UserByLoginID(ctx, c.TenantID, loginID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if u == nil || u.PasswordHash == "" {
		// Spend the same work as a real check so timing reveals nothing.
		if err := e.Hasher.VerifyDummy(ctx, pw); err != nil {
			return nil, busyOr(err)
		}
		ev := Event{Event: "login.password", Outcome: "failure", Detail: map[string]any{"reason": "unknown_login_id", "login_id": loginID}}
		if u != nil {
			ev = Event{UserID: u.ID, Event: "login.password", Outcome: "failure", Detail: map[string]any{"reason": "no_password"}}
		}
		e.observe("password", "failure")
		return nil, errors.Join(ErrInvalidCredentials, e.Audit(ctx, e.Store, c, ev))
	}
	release := time.Duration(p.LockoutRelease)
	ch, err := e.Store.ChargePassword(ctx, u.ID, p.PasswordAttempts+1, release, now)
	if err != nil {
		return nil, err
	}
	// Locked before this guess: the counter was at the limit already.
	locked := ch.Failures > p.PasswordAttempts
	if !ch.Allowed {
		if err := e.Hasher.VerifyDummy(ctx, pw); err != nil {
			return nil, busyOr(err)
		}
		e.observe("password", "locked")
		return nil, errors.Join(ErrInvalidCredentials, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "login.password", Outcome: "refused", Detail: map[string]any{"reason": "password_locked"}}))
	}
	ok, rehash, err := e.Hasher.Verify(ctx, u.PasswordHash, pw)
	if err != nil {
		// Not evaluated, so the guess is given back.
		if rerr := e.Store.RefundPassword(ctx, u.ID); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		return nil, busyOr(err)
	}
	if locked {
		e.observe("password", "locked")
		if ok {
			return nil, errors.Join(inLanguage(ErrPasswordLocked, c, u), e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "login.password", Outcome: "refused", Detail: map[string]any{"reason": "password_locked", "password": "right"}}))
		}
		return nil, errors.Join(ErrInvalidCredentials, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "login.password", Outcome: "refused", Detail: map[string]any{"reason": "password_locked", "password": "wrong"}}))
	}
	if !ok {
		e.observe("password", "failure")
		return nil, errors.Join(ErrInvalidCredentials, e.Store.InTx(ctx, func(q store.Queries) error {
			if ch.Failures == p.PasswordAttempts {
				if err := q.MarkPasswordLocked(ctx, u.ID, now); err != nil {
					return err
				}
				if err := e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "lockout", Outcome: "locked", Detail: map[string]any{"counter": "password", "failures": ch.Failures}}); err != nil {
					return err
				}
			}
			return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "login.password", Outcome: "failure", Detail: map[string]any{"reason": "wrong_password", "failures": ch.Failures}})
		}))
	}
	if err := e.Store.ResetPassword(ctx, u.ID); err != nil {
		return nil, err
	}
	if rehash {
		e.rehash(ctx, u, pw)
	}
	e.observe("password", "success")
	return u, nil
}

// rehash stores a hash with the current parameters; failure only delays it to
// the next login, so it is logged, not returned.
func (e *Engine) rehash(ctx context.Context, u *store.User, pw string) {
	h, err := e.Hasher.Hash(ctx, pw)
	if err == nil {
		err = e.Store.SetPasswordHash(ctx, u.TenantID, u.ID, h)
	}
	if err != nil && e.Log != nil {
		e.Log.Warn("password rehash deferred", "user", u.ID, "err", err)
	}
}

func busyOr(err error) error {
	if errors.Is(err, password.ErrBusy) {
		return ErrBusy
	}
	return err
}
