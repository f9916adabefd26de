package flow

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

// freshUser resolves a transaction that proves a fresh authentication
// (invariant 6): allowed within the transaction lifetime, or a password
// step just passed by a user who has no factor yet.
func (e *Engine) freshUser(ctx context.Context, c Caller, txnID string) (*store.Tenant, policy.Policy, *store.User, *store.LoginTxn, error) {
	txn, err := e.Transaction(ctx, c, txnID)
	if errors.Is(err, store.ErrUnavailable) {
		// Not knowing is no proof the authentication is stale: signing in
		// again would fail the same way.
		return nil, policy.Policy{}, nil, nil, err
	}
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

// PortalApplication is the application id of the self-service portal's login
// transactions; no application key has it, so no application can use them.
const PortalApplication = "portal"

// PortalSignIn proves the login ID and password for the self-service portal
// (A2). Users whose status lets them manage MFA get in (C1), whether or not
// they may reach applications. The result is MFARequired with the factors
// the person may finish with (the security questions among them when policy
// allows), or EnrolmentRequired for a person with no factor yet.
func (e *Engine) PortalSignIn(ctx context.Context, c Caller, loginID, pw string) (*Result, error) {
	c.ApplicationID = PortalApplication
	t, p, u, err := e.passwordStep(ctx, c, loginID, pw, canManageMFA, "portal.sign_in")
	if err != nil {
		return nil, err
	}
	now := e.now()
	if MFALocked(u, p, now) {
		return nil, errors.Join(inLanguage(lockedErr(p), c, u), e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "portal.sign_in", Outcome: "refused", Detail: map[string]any{"reason": "mfa_locked"}}))
	}
	factors, err := e.PortalFactors(ctx, p, u)
	if err != nil {
		return nil, err
	}
	status := MFARequired
	if !slices.ContainsFunc(factors, func(f store.Factor) bool { return opensApplications(f) }) {
		// Questions alone never stand in for a first enrolment.
		status, factors = EnrolmentRequired, nil
	}
	txn := &store.LoginTxn{
		ID: store.NewID("txn"), TenantID: t.ID, UserID: u.ID, ApplicationID: PortalApplication,
		Mode: ModePortal, State: store.TxnPending, IP: c.IP, CreatedAt: now, ExpiresAt: now.Add(time.Duration(p.Portal.FreshAuth)),
	}
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		if err := q.CreateLoginTxn(ctx, txn); err != nil {
			return err
		}
		return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "portal.sign_in", Outcome: "success", Detail: map[string]any{"step": "password", "next": status, "txn": txn.ID}})
	})
	if err != nil {
		return nil, err
	}
	return &Result{Status: status, Txn: txn, User: u, Factors: factors}, nil
}

// FreshTxn reports whether a portal transaction still proves a fresh
// authentication, so pages can ask the person to confirm it is them before
// they try a change.
func (e *Engine) FreshTxn(ctx context.Context, c Caller, txnID string) bool {
	c.ApplicationID = portalOr(c)
	_, _, _, _, err := e.freshUser(ctx, c, txnID)
	return err == nil
}

// PortalUser returns a user of the caller's tenant for a portal session.
func (e *Engine) PortalUser(ctx context.Context, c Caller, userID string) (*store.User, policy.Policy, error) {
	_, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, p, err
	}
	u, err := e.Store.UserByID(ctx, c.TenantID, userID)
	return u, p, err
}

// TenantBySlug finds the tenant a portal address names.
func (e *Engine) TenantBySlug(ctx context.Context, slug string) (*store.Tenant, error) {
	return e.Store.TenantBySlug(ctx, slug)
}

// Activity is the person's own recent account activity, newest first.
func (e *Engine) Activity(ctx context.Context, tenantID, userID string, limit int) ([]store.AuditEvent, error) {
	return e.Store.ListAudit(ctx, store.AuditFilter{TenantID: tenantID, UserID: userID, Limit: limit})
}

// SetLanguage records the language the person's messages are written in,
// chosen by them in the portal (X8).
func (e *Engine) SetLanguage(ctx context.Context, tenantID, userID, lang string) error {
	if lang != "" && !KnownLanguage(lang) {
		return ErrFactorNotAllowed
	}
	return e.Store.SetUserLocale(ctx, tenantID, userID, lang)
}

// FormAttempt counts one submission of a form under key against limit per
// window; false means the limit is reached until the window ends.
func (e *Engine) FormAttempt(ctx context.Context, key string, window time.Duration, limit int) (bool, error) {
	return e.Store.TakeRate(ctx, key, e.now().Truncate(window), limit)
}

// PendingFactor returns the person's pending factor with this id, or nil.
func (e *Engine) PendingFactor(ctx context.Context, tenantID, userID, id string) (*store.Factor, error) {
	f, err := e.Store.FactorByID(ctx, tenantID, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (f.UserID != userID || f.State != store.FactorPending)) {
		return nil, nil
	}
	return f, err
}

// portalOr is the application whose transaction a portal page works on:
// the portal's own, unless the session began on the hosted login for an
// application (X2), whose sign-in transaction the session carries.
func portalOr(c Caller) string {
	if c.Hosted && c.ApplicationID != "" {
		return c.ApplicationID
	}
	return PortalApplication
}
