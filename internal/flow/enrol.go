package flow

import (
	"context"
	"fmt"
	"time"

	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/totp"
)

// Enrolment is a pending authenticator: what the person scans or types in.
type Enrolment struct {
	Factor    *store.Factor
	User      *store.User
	URI       string // otpauth URI
	Secret    string // Base32 in groups of four
	ExpiresAt time.Time
}

// QRSize is the side of the QR code PNG in pixels.
const QRSize = 256

// QR renders the enrolment's otpauth URI as a PNG.
func (en *Enrolment) QR() ([]byte, error) { return totp.QRPNG(en.URI, QRSize) }

// BeginTOTPEnrolment starts an authenticator enrolment on the strength of a
// fresh authentication (invariant 6): a transaction that was allowed within
// the transaction lifetime, or one whose password step just succeeded for a
// user with no factor yet. A transaction starts one enrolment only.
func (e *Engine) BeginTOTPEnrolment(ctx context.Context, c Caller, txnID string) (*Enrolment, error) {
	t, p, u, txn, err := e.freshUser(ctx, c, txnID)
	if err != nil {
		return nil, err
	}
	// A portal session shows a new secret at every visit (C4) while its
	// authentication is fresh; an application's transaction starts one enrolment.
	if txn.Mode != ModePortal {
		used, err := e.Store.UseTxnForEnrolment(ctx, txn.ID, e.now())
		if err != nil {
			return nil, err
		}
		if !used {
			return nil, ErrFreshAuthRequired
		}
	}
	return e.beginTOTP(ctx, c, t, p, u)
}

// AdminBeginTOTPEnrolment lets a tenant administrator set up a user's
// authenticator (A12, and provisioning in bulk); the caller is authorised.
func (e *Engine) AdminBeginTOTPEnrolment(ctx context.Context, c Caller, userID string) (*Enrolment, error) {
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	u, err := e.Store.UserByID(ctx, c.TenantID, userID)
	if err != nil {
		return nil, err
	}
	return e.beginTOTP(ctx, c, t, p, u)
}

func (e *Engine) beginTOTP(ctx context.Context, c Caller, t *store.Tenant, p policy.Policy, u *store.User) (*Enrolment, error) {
	if !p.Allows(policy.FactorTOTP) {
		return nil, ErrFactorNotAllowed
	}
	if err := canManageMFA(u.Status); err != nil {
		return nil, err
	}
	secret, err := totp.GenerateSecret()
	if err != nil {
		return nil, err
	}
	now := e.now()
	expires := now.Add(time.Duration(p.EnrolmentTTL))
	f := &store.Factor{ID: store.NewID("fac"), TenantID: t.ID, UserID: u.ID, Kind: policy.FactorTOTP, CreatedAt: now, ExpiresAt: &expires}
	// The factor id is the associated data, so a sealed secret copied to
	// another row does not open.
	if f.Secret, err = e.Keys.Seal(secret, []byte(f.ID)); err != nil {
		return nil, err
	}
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		if err := q.CreatePendingFactor(ctx, f, now); err != nil {
			return err
		}
		return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "factor.enrolment_started", Outcome: "success", Detail: map[string]any{"factor": f.ID, "kind": f.Kind}})
	})
	if err != nil {
		return nil, err
	}
	return &Enrolment{Factor: f, User: u, URI: totp.URI(e.issuer(t, p), u.LoginID, secret), Secret: totp.FormatSecret(secret), ExpiresAt: expires}, nil
}

// PendingEnrolment returns a pending enrolment again (to render its QR code);
// only while it is still the user's current pending secret.
func (e *Engine) PendingEnrolment(ctx context.Context, c Caller, factorID string) (*Enrolment, error) {
	f, u, p, err := e.pending(ctx, c, factorID)
	if err != nil {
		return nil, err
	}
	secret, err := e.Keys.Open(f.Secret, []byte(f.ID))
	if err != nil {
		return nil, fmt.Errorf("open factor %s: %w", f.ID, err)
	}
	t, _, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	return &Enrolment{Factor: f, User: u, URI: totp.URI(e.issuer(t, p), u.LoginID, secret), Secret: totp.FormatSecret(secret), ExpiresAt: *f.ExpiresAt}, nil
}

func (e *Engine) pending(ctx context.Context, c Caller, factorID string) (*store.Factor, *store.User, policy.Policy, error) {
	_, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, nil, p, err
	}
	f, err := e.Store.FactorByID(ctx, c.TenantID, factorID)
	if err != nil {
		return nil, nil, p, notFoundAs(err, ErrEnrolmentGone)
	}
	if f.State != store.FactorPending || f.ExpiresAt == nil || !e.now().Before(*f.ExpiresAt) {
		return nil, nil, p, ErrEnrolmentGone
	}
	u, err := e.Store.UserByID(ctx, c.TenantID, f.UserID)
	if err != nil {
		return nil, nil, p, notFoundAs(err, ErrEnrolmentGone)
	}
	if err := canManageMFA(u.Status); err != nil {
		return nil, nil, p, err
	}
	return f, u, p, nil
}

// ConfirmTOTPEnrolment activates a pending authenticator with a code from its
// secret (C4). The step used here is recorded, so the same code cannot then
// be used to log in. An older authenticator is revoked (C3).
func (e *Engine) ConfirmTOTPEnrolment(ctx context.Context, c Caller, factorID, code string) (*store.Factor, error) {
	f, u, p, err := e.pending(ctx, c, factorID)
	if err != nil {
		return nil, err
	}
	t, _, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	secret, err := e.Keys.Open(f.Secret, []byte(f.ID))
	if err != nil {
		return nil, fmt.Errorf("open factor %s: %w", f.ID, err)
	}
	before, err := e.Store.ActiveFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	now := e.now()
	var result error
	var step int64
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		result = nil
		charged, err := q.ChargeEnrolment(ctx, f.ID, p.EnrolmentAttempts)
		if err != nil {
			return err
		}
		if !charged {
			result = ErrEnrolmentGone
			return nil
		}
		var ok bool
		if step, ok = totp.Match(secret, code, now, p.TOTPDrift, -1); !ok {
			result = ErrWrongCode
			return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "factor.enrolment_confirm", Outcome: "failure", Detail: map[string]any{"factor": f.ID, "reason": "wrong_code"}})
		}
		activated, err := q.ActivateFactor(ctx, f.ID, step, now)
		if err != nil {
			return err
		}
		if !activated {
			result = ErrEnrolmentGone
			return nil
		}
		return e.factorActivated(ctx, q, c, t, p, u, f, before, now)
	})
	if err != nil {
		return nil, err
	}
	if result != nil {
		return nil, result
	}
	e.wake() // the change notice
	f.State = store.FactorActive
	f.LastStep = step
	f.ConfirmedAt = &now
	return f, nil
}

// factorActivated records an enrolment or a replacement and tells the person
// on an independent channel, their verified email or else their verified
// phone (invariant 6): someone who took over a password cannot quietly bind
// their own authenticator.
func (e *Engine) factorActivated(ctx context.Context, q store.Queries, c Caller, t *store.Tenant, p policy.Policy, u *store.User, f *store.Factor, before []store.Factor, now time.Time) error {
	event := "factor.enrolled"
	detail := map[string]any{"factor": f.ID, "kind": f.Kind}
	var replaced []string
	for _, old := range before {
		// A factor of the same kind was active: a replacement, whether the
		// new one has its own id (a new authenticator) or keeps the old one
		// (security questions answered again, a new number for SMS).
		if old.Kind == f.Kind {
			replaced = append(replaced, old.ID)
		}
	}
	sentence := "notice.method_added"
	if len(replaced) > 0 {
		event, sentence = "factor.replaced", "notice.method_replaced"
		detail["replaced"] = replaced
	}
	channel, to := noticeDestination(u)
	detail["notified"] = to != ""
	if err := e.Audit(ctx, q, c, Event{UserID: u.ID, Event: event, Outcome: "success", Detail: detail}); err != nil {
		return err
	}
	if to == "" {
		return nil
	}
	lang := languageOf(c, u)
	return e.enqueueNotice(ctx, q, c, t, p, u, channel, to, "notice.method_changed.subject",
		words(lang, sentence, factorWhat(lang, f.Kind), when(lang, now)), now)
}
