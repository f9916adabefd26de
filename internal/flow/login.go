package flow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/password"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/totp"
	"github.com/countersign/countersign/internal/validate"
)

// Login outcomes.
const (
	Allowed           = "allowed"
	MFARequired       = "mfa_required"
	EnrolmentRequired = "enrolment_required"
)

// Transaction modes.
const (
	ModePassword = "password"
	ModeMFAOnly  = "mfa_only"
	// ModePortal is a sign-in to the self-service portal: it reaches no
	// application, admits users who may manage MFA but not log in (C1) and
	// may end with the security questions (A8).
	ModePortal = "portal"
)

// Result is where a login stands after a step.
type Result struct {
	Status  string
	Txn     *store.LoginTxn
	User    *store.User
	Factors []store.Factor // usable second factors when Status is MFARequired
	// TrustedDeviceToken is set when a remembered device was asked for (B4).
	TrustedDeviceToken string
}

// PasswordLogin checks a login ID and password, then decides from policy
// whether a second factor is needed. Until the password is proven every
// failure looks the same, whether or not the login ID exists (G4).
func (e *Engine) PasswordLogin(ctx context.Context, c Caller, loginID, pw string) (*Result, error) {
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	u, err := e.checkPassword(ctx, c, p, loginID, pw)
	if err != nil {
		return nil, err
	}
	if err := statusErr(u.Status); err != nil {
		return nil, errors.Join(err, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "login.password", Outcome: "refused", Detail: map[string]any{"reason": "status_" + u.Status}}))
	}
	return e.afterPrimary(ctx, c, t, p, u, ModePassword)
}

// checkPassword proves a login ID and password: the guess is charged before
// it is checked (invariant 1) and every failure looks the same (G4).
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
	ch, err := e.Store.ChargePassword(ctx, u.ID, p.PasswordAttempts, release, now)
	if err != nil {
		return nil, err
	}
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
	if !ok {
		e.observe("password", "failure")
		return nil, errors.Join(ErrInvalidCredentials, e.Store.InTx(ctx, func(q store.Queries) error {
			if ch.Failures >= p.PasswordAttempts {
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

// BeginMFA starts a second-factor-only login for an application that checks
// passwords itself (seed 001): it names the user and Countersign runs only the
// second factor. Such an application has vouched for the user, so unknown and
// unregistered users get their own errors (E05, E06).
func (e *Engine) BeginMFA(ctx context.Context, c Caller, loginID string) (*Result, error) {
	t, p, u, err := e.namedUser(ctx, c, loginID)
	if err != nil {
		return nil, err
	}
	return e.afterPrimary(ctx, c, t, p, u, ModeMFAOnly)
}

func (e *Engine) namedUser(ctx context.Context, c Caller, loginID string) (*store.Tenant, policy.Policy, *store.User, error) {
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, policy.Policy{}, nil, err
	}
	var errs validate.Errors
	loginID = validate.LoginID(&errs, "login_id", loginID, p.LoginIDMaxLength)
	if err := errs.Err(); err != nil {
		return nil, policy.Policy{}, nil, err
	}
	u, err := e.Store.UserByLoginID(ctx, c.TenantID, loginID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, p, nil, errors.Join(ErrUserNotFound, e.Audit(ctx, e.Store, c, Event{Event: "login.mfa", Outcome: "refused", Detail: map[string]any{"reason": "user_not_found", "login_id": loginID}}))
		}
		return nil, p, nil, err
	}
	if err := statusErr(u.Status); err != nil {
		return nil, p, nil, errors.Join(err, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "login.mfa", Outcome: "refused", Detail: map[string]any{"reason": "status_" + u.Status}}))
	}
	return t, p, u, nil
}

// afterPrimary decides what a user whose first step succeeded needs next.
func (e *Engine) afterPrimary(ctx context.Context, c Caller, t *store.Tenant, p policy.Policy, u *store.User, mode string) (*Result, error) {
	now := e.now()
	txn := &store.LoginTxn{
		ID: store.NewID("txn"), TenantID: t.ID, UserID: u.ID, ApplicationID: c.ApplicationID,
		Mode: mode, State: store.TxnPending, IP: c.IP, CreatedAt: now, ExpiresAt: now.Add(time.Duration(p.TransactionTTL)),
	}
	if !p.RequiresMFA(u.Groups) {
		return e.allowWithout(ctx, c, u, txn, map[string]any{"mode": mode, "mfa": "not_required"})
	}
	if mfaLocked(u, p, now) {
		return nil, errors.Join(ErrMFALocked, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "login.mfa", Outcome: "refused", Detail: map[string]any{"reason": "mfa_locked"}}))
	}
	if device, ok := e.trustedDevice(ctx, c, p, u); ok {
		return e.allowWithout(ctx, c, u, txn, map[string]any{"mode": mode, "mfa": "trusted_device", "device": device})
	}
	factors, err := e.usableFactors(ctx, p, u)
	if err != nil {
		return nil, err
	}
	status := MFARequired
	if len(factors) == 0 {
		if mode == ModeMFAOnly {
			return nil, errors.Join(ErrNotRegistered, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "login.mfa", Outcome: "refused", Detail: map[string]any{"reason": "not_registered"}}))
		}
		// The password is proven: the transaction lets the application start
		// the user's enrolment without asking for it again.
		status = EnrolmentRequired
	}
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		if err := q.CreateLoginTxn(ctx, txn); err != nil {
			return err
		}
		return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "login.started", Outcome: "success", Detail: map[string]any{"mode": mode, "next": status, "txn": txn.ID}})
	})
	if err != nil {
		return nil, err
	}
	return &Result{Status: status, Txn: txn, User: u, Factors: factors}, nil
}

// allowWithout completes a login that needs no second factor now: policy does
// not ask for one, or the device is trusted (B4).
func (e *Engine) allowWithout(ctx context.Context, c Caller, u *store.User, txn *store.LoginTxn, detail map[string]any) (*Result, error) {
	now := e.now()
	txn.State, txn.CompletedAt = store.TxnAllowed, &now
	detail["txn"] = txn.ID
	err := e.Store.InTx(ctx, func(q store.Queries) error {
		if err := q.CreateLoginTxn(ctx, txn); err != nil {
			return err
		}
		if err := q.RecordLogin(ctx, u.ID, now); err != nil {
			return err
		}
		return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "login", Outcome: "success", Detail: detail})
	})
	if err != nil {
		return nil, err
	}
	return &Result{Status: Allowed, Txn: txn, User: u}, nil
}

func (e *Engine) usableFactors(ctx context.Context, p policy.Policy, u *store.User) ([]store.Factor, error) {
	all, err := e.Store.ActiveFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(f store.Factor) bool { return !p.Allows(f.Kind) }), nil
}

// Transaction returns a login transaction of the caller's application.
func (e *Engine) Transaction(ctx context.Context, c Caller, id string) (*store.LoginTxn, error) {
	txn, err := e.Store.LoginTxnByID(ctx, c.TenantID, id)
	if err != nil {
		return nil, notFoundAs(err, ErrTxnGone)
	}
	if txn.ApplicationID != c.ApplicationID {
		return nil, ErrTxnGone
	}
	return txn, nil
}

// pending is a transaction still waiting for its second factor, with what
// every step on it needs.
type pending struct {
	txn    *store.LoginTxn
	tenant *store.Tenant
	policy policy.Policy
	user   *store.User
}

// pendingTxn loads a pending, unexpired transaction of the caller's
// application whose user may still reach applications.
func (e *Engine) pendingTxn(ctx context.Context, c Caller, txnID string) (*pending, error) {
	txn, err := e.Transaction(ctx, c, txnID)
	if err != nil {
		return nil, err
	}
	if txn.State != store.TxnPending || !e.now().Before(txn.ExpiresAt) {
		return nil, ErrTxnGone
	}
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	u, err := e.Store.UserByID(ctx, c.TenantID, txn.UserID)
	if err != nil {
		return nil, notFoundAs(err, ErrTxnGone)
	}
	// The portal admits the statuses that may manage MFA (C1); applications
	// only active users.
	check := statusErr
	if txn.Mode == ModePortal {
		check = canManageMFA
	}
	if err := check(u.Status); err != nil {
		return nil, err
	}
	return &pending{txn: txn, tenant: t, policy: p, user: u}, nil
}

// factor picks the usable factor id, which must be of one of kinds.
func (pt *pending) factor(ctx context.Context, e *Engine, id string, kinds ...string) (*store.Factor, error) {
	f, err := e.pickFactor(ctx, pt.policy, pt.user, id)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(kinds, f.Kind) {
		return nil, ErrFactorNotAllowed
	}
	return f, nil
}

// Verification is what a person submits to complete a transaction.
type Verification struct {
	// FactorID picks the factor; empty means the authenticator app.
	FactorID string
	Code     string
	// OneTimeToken is used instead of a factor by a person whose device is lost (C8).
	OneTimeToken string
	// Answers are security-question answers by question id, accepted instead
	// of a factor only when signing in to the portal (A8).
	Answers map[string]string
	// RememberDevice asks for a trusted-device token on success (B4).
	RememberDevice bool
	DeviceLabel    string
}

// VerifyTransaction checks a second factor for a pending transaction.
func (e *Engine) VerifyTransaction(ctx context.Context, c Caller, txnID string, v Verification) (*Result, error) {
	pt, err := e.pendingTxn(ctx, c, txnID)
	if err != nil {
		return nil, err
	}
	p, u, txn := pt.policy, pt.user, pt.txn
	res := &Result{Status: Allowed, Txn: txn, User: u}
	var remember func(q store.Queries) error
	if v.RememberDevice && p.TrustedDeviceTTL > 0 {
		remember = func(q store.Queries) error {
			token, err := e.trustDevice(ctx, q, c, p, u, v.DeviceLabel)
			res.TrustedDeviceToken = token
			return err
		}
	}
	switch {
	case v.OneTimeToken != "":
		err = e.verifyOneTimeToken(ctx, c, p, u, v.OneTimeToken, txn, remember)
	case v.Answers != nil:
		if txn.Mode != ModePortal || !p.Portal.QuestionsSignIn {
			return nil, ErrFactorNotAllowed
		}
		err = e.verifyAnswers(ctx, c, p, u, v.Answers, txn)
	default:
		var f *store.Factor
		if f, err = e.pickFactor(ctx, p, u, v.FactorID); err != nil {
			return nil, err
		}
		txn.FactorID = f.ID
		switch f.Kind {
		case policy.FactorTOTP:
			err = e.verifyTOTP(ctx, c, p, u, f, v.Code, txn, remember)
		case policy.FactorSMS, policy.FactorEmail:
			err = e.verifyCode(ctx, c, p, u, f, v.Code, txn, remember)
		default:
			err = ErrFactorNotAllowed
		}
	}
	if err != nil {
		return nil, err
	}
	txn.State = store.TxnAllowed
	return res, nil
}

// Check is the one-shot second-factor check for an application that names the
// user and passes the code in one request (as RADIUS will).
func (e *Engine) Check(ctx context.Context, c Caller, loginID, code string) (*Result, error) {
	_, p, u, err := e.namedUser(ctx, c, loginID)
	if err != nil {
		return nil, err
	}
	if !p.RequiresMFA(u.Groups) {
		return e.afterPrimary(ctx, c, &store.Tenant{ID: c.TenantID}, p, u, ModeMFAOnly)
	}
	f, err := e.pickFactor(ctx, p, u, "")
	if err != nil {
		if errors.Is(err, ErrNotRegistered) {
			return nil, errors.Join(err, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "login.mfa", Outcome: "refused", Detail: map[string]any{"reason": "not_registered"}}))
		}
		return nil, err
	}
	if err := e.verifyTOTP(ctx, c, p, u, f, code, nil, nil); err != nil {
		return nil, err
	}
	return &Result{Status: Allowed, User: u}, nil
}

// pickFactor finds the usable factor with this id, or the authenticator app
// when id is empty.
func (e *Engine) pickFactor(ctx context.Context, p policy.Policy, u *store.User, factorID string) (*store.Factor, error) {
	factors, err := e.usableFactors(ctx, p, u)
	if err != nil {
		return nil, err
	}
	for i := range factors {
		f := &factors[i]
		if (factorID == "" && f.Kind == policy.FactorTOTP) || (factorID != "" && f.ID == factorID) {
			return f, nil
		}
	}
	if factorID != "" && len(factors) > 0 {
		return nil, ErrFactorNotAllowed
	}
	return nil, ErrNotRegistered
}

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

// verifyTOTP checks an authenticator code: the step is used at most once per
// factor (invariant 2), and a login with the app resets the count of
// one-time-token logins (C8).
func (e *Engine) verifyTOTP(ctx context.Context, c Caller, p policy.Policy, u *store.User, f *store.Factor, code string, txn *store.LoginTxn, success func(q store.Queries) error) error {
	secret, err := e.Keys.Open(f.Secret, []byte(f.ID))
	if err != nil {
		return fmt.Errorf("open factor %s: %w", f.ID, err)
	}
	now := e.now()
	return e.guess(ctx, c, p, u, attempt{
		kind: f.Kind, txn: txn, detail: map[string]any{"factor": f.ID},
		check: func(q store.Queries) (bool, string, error) {
			step, ok := totp.Match(secret, code, now, p.TOTPDrift, f.LastStep)
			if !ok {
				if _, used := totp.Match(secret, code, now, p.TOTPDrift, -1); used {
					return false, "replayed", nil
				}
				return false, "wrong_code", nil
			}
			// The row decides, not f.LastStep: another server may have used the step since f was read.
			used, err := q.UseStep(ctx, f.ID, step)
			if err != nil || !used {
				return false, "replayed", err
			}
			return true, "", nil
		},
		success: func(q store.Queries) error {
			if u.OTAConsecutive > 0 {
				if err := q.ResetOTA(ctx, u.ID); err != nil {
					return err
				}
			}
			if success != nil {
				return success(q)
			}
			return nil
		},
	})
}
