package flow

import (
	"context"
	"errors"
	"time"

	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
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

// BeginMFA starts a second-factor-only login for an application that checks
// passwords itself (seed 001): it names the user and Countersign runs only the
// second factor. Such an application has vouched for the user, so unknown and
// unregistered users get their own errors (E05, E06).
func (e *Engine) BeginMFA(ctx context.Context, c Caller, loginID string) (*Result, error) {
	t, p, u, err := e.namedUser(ctx, c, loginID)
	if err != nil {
		return nil, err
	}
	return e.afterPrimary(ctx, c, t, p, u, ModeMFAOnly, false)
}

func (e *Engine) namedUser(ctx context.Context, c Caller, loginID string) (*store.Tenant, policy.Policy, *store.User, error) {
	t, p, u, _, err := e.named(ctx, c, loginID, false)
	return t, p, u, err
}

// named finds the user an application names, with their active factors
// read in the same statement when withFactors is set.
func (e *Engine) named(ctx context.Context, c Caller, loginID string, withFactors bool) (*store.Tenant, policy.Policy, *store.User, []store.Factor, error) {
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, policy.Policy{}, nil, nil, err
	}
	var errs validate.Errors
	loginID = validate.LoginID(&errs, "login_id", loginID, p.LoginIDMaxLength)
	if err := errs.Err(); err != nil {
		return nil, policy.Policy{}, nil, nil, err
	}
	var u *store.User
	var factors []store.Factor
	if withFactors {
		u, factors, err = e.Store.UserWithFactors(ctx, c.TenantID, loginID)
	} else {
		u, err = e.Store.UserByLoginID(ctx, c.TenantID, loginID)
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, p, nil, nil, errors.Join(ErrUserNotFound, e.Audit(ctx, e.Store, c, Event{Event: "login.mfa", Outcome: "refused", Detail: map[string]any{"reason": "user_not_found", "login_id": loginID}}))
		}
		return nil, p, nil, nil, err
	}
	if err := statusErr(u.Status); err != nil {
		return nil, p, nil, nil, errors.Join(inLanguage(err, c, u), e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "login.mfa", Outcome: "refused", Detail: map[string]any{"reason": "status_" + u.Status}}))
	}
	return t, p, u, factors, nil
}

// afterPrimary decides what a user whose first step succeeded needs next.
//
// mustMFA (an application asked for acr "mfa") asks for the second factor
// even where policy does not, and does not take a remembered device instead.
func (e *Engine) afterPrimary(ctx context.Context, c Caller, t *store.Tenant, p policy.Policy, u *store.User, mode string, mustMFA bool) (*Result, error) {
	now := e.now()
	txn := &store.LoginTxn{
		ID: store.NewID("txn"), TenantID: t.ID, UserID: u.ID, ApplicationID: c.ApplicationID,
		Mode: mode, State: store.TxnPending, IP: c.IP, CreatedAt: now, ExpiresAt: now.Add(time.Duration(p.TransactionTTL)),
	}
	if !mustMFA && !p.RequiresMFA(u.Groups, u.Units, e.now()) {
		return e.allowWithout(ctx, c, u, txn, map[string]any{"mode": mode, "mfa": "not_required"})
	}
	if MFALocked(u, p, now) {
		return nil, errors.Join(inLanguage(lockedErr(p), c, u), e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "login.mfa", Outcome: "refused", Detail: map[string]any{"reason": "mfa_locked"}}))
	}
	if device, ok := e.trustedDevice(ctx, c, p, u); ok && !mustMFA {
		return e.allowWithout(ctx, c, u, txn, map[string]any{"mode": mode, "mfa": "trusted_device", "device": device})
	}
	factors, err := e.usableFactors(ctx, p, u)
	if err != nil {
		return nil, err
	}
	status := MFARequired
	if len(factors) == 0 {
		if mode == ModeMFAOnly {
			return nil, errors.Join(inLanguage(ErrNotRegistered, c, u), e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "login.mfa", Outcome: "refused", Detail: map[string]any{"reason": "not_registered"}}))
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
		return nil, e.granted(ctx, c, u, "login", err)
	}
	return &Result{Status: Allowed, Txn: txn, User: u}, nil
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
		return nil, inLanguage(err, c, u)
	}
	return &pending{txn: txn, tenant: t, policy: p, user: u}, nil
}

// challenge loads what sending a code or placing a call for a pending
// transaction needs: the transaction, refused while the second factor is
// locked, and the usable factor asked for.
func (e *Engine) challenge(ctx context.Context, c Caller, txnID, factorID string) (*pending, *store.Factor, error) {
	pt, err := e.pendingTxn(ctx, c, txnID)
	if err != nil {
		return nil, nil, err
	}
	if err := pt.notLocked(ctx, e, c); err != nil {
		return nil, nil, err
	}
	f, err := e.pickFactor(ctx, pt.policy, pt.user, factorID)
	if err != nil {
		return nil, nil, err
	}
	return pt, f, nil
}

// notLocked refuses to send a code or place a call for a person whose
// second factor is locked: nothing sent could succeed (B5).
func (pt *pending) notLocked(ctx context.Context, e *Engine, c Caller) error {
	if !MFALocked(pt.user, pt.policy, e.now()) {
		return nil
	}
	return errors.Join(inLanguage(lockedErr(pt.policy), c, pt.user), e.Audit(ctx, e.Store, c, Event{UserID: pt.user.ID, Event: "challenge.sent", Outcome: "refused", Detail: map[string]any{"reason": "mfa_locked"}}))
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
	// Session, when set, is the portal session change a successful check
	// makes, in the same write transaction.
	Session *SessionChange
}

// VerifyTransaction checks a second factor for a pending transaction.
func (e *Engine) VerifyTransaction(ctx context.Context, c Caller, txnID string, v Verification) (*Result, error) {
	pt, err := e.pendingTxn(ctx, c, txnID)
	if err != nil {
		return nil, err
	}
	p, u, txn := pt.policy, pt.user, pt.txn
	res := &Result{Status: Allowed, Txn: txn, User: u}
	then := func(q store.Queries) error {
		if v.RememberDevice && p.TrustedDeviceTTL > 0 {
			token, err := e.trustDevice(ctx, q, c, p, u, v.DeviceLabel)
			if err != nil {
				return err
			}
			res.TrustedDeviceToken = token
		}
		return e.changeSession(ctx, q, v.Session)
	}
	switch {
	case v.OneTimeToken != "":
		err = e.verify(ctx, c, p, u, oneTimeToken, nil, factor.Response{Code: v.OneTimeToken}, txn, then)
	case v.Answers != nil:
		if txn.Mode != ModePortal {
			return nil, ErrFactorNotAllowed
		}
		f, ferr := e.FactorOfKind(ctx, u.ID, FactorQuestions)
		if ferr != nil {
			return nil, ferr
		}
		if f == nil || !offered(*f, p, true) {
			return nil, ErrFactorNotAllowed
		}
		txn.FactorID = f.ID
		err = e.verify(ctx, c, p, u, kinds[FactorQuestions].(factor.Verifier), f, factor.Response{Answers: v.Answers}, txn, then)
	default:
		var f *store.Factor
		if f, err = e.pickFactor(ctx, p, u, v.FactorID); err != nil {
			return nil, err
		}
		var fv factor.Verifier
		if fv, err = verifier(f); err != nil {
			return nil, err
		}
		txn.FactorID = f.ID
		err = e.verify(ctx, c, p, u, fv, f, factor.Response{Code: v.Code}, txn, then)
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
	// One read: the user and their factors together.
	_, p, u, all, err := e.named(ctx, c, loginID, true)
	if err != nil {
		return nil, err
	}
	if !p.RequiresMFA(u.Groups, u.Units, e.now()) {
		return e.afterPrimary(ctx, c, &store.Tenant{ID: c.TenantID}, p, u, ModeMFAOnly, false)
	}
	f, err := pickFrom(offeredOf(all, p), "")
	if err != nil {
		if errors.Is(err, ErrNotRegistered) {
			return nil, errors.Join(inLanguage(err, c, u), e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "login.mfa", Outcome: "refused", Detail: map[string]any{"reason": "not_registered"}}))
		}
		return nil, err
	}
	if err := e.verify(ctx, c, p, u, kinds[f.Kind].(factor.Verifier), f, factor.Response{Code: code}, nil, nil); err != nil {
		return nil, err
	}
	return &Result{Status: Allowed, User: u}, nil
}
