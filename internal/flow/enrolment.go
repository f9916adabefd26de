package flow

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/flow/factor/authenticator"
	"github.com/countersign/countersign/internal/flow/factor/phonecall"
	"github.com/countersign/countersign/internal/flow/factor/questions"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/totp"
)

// Step is what a portal page's step does besides its own operation, in the
// same write transaction, so that no failure leaves a half-finished state
// (a factor active and the sign-in not completed, or the session not renewed).
type Step struct {
	// FinishTxn is the portal sign-in in which the person enrolled their
	// first method: the new factor completes it as its second step.
	FinishTxn string
	// Session is the change to the browser's session.
	Session *SessionChange
}

// CompleteEnrolmentTxn finishes the portal sign-in of a person who had no
// factor, once they enrolled one in it (by a phone call, which the person
// answered away from the page): proving the new factor is their second
// step. The session change of step goes in the same transaction.
func (e *Engine) CompleteEnrolmentTxn(ctx context.Context, c Caller, factorID string, step *Step) error {
	c.ApplicationID = portalOr(c)
	err := e.Store.InTx(ctx, func(q store.Queries) error {
		return e.finishStep(ctx, q, c, step, factorID)
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrEnrolmentGone
	}
	return err
}

// finishStep completes the portal sign-in a step names with the factor just
// activated, then changes the session. The factor must be active, the
// person's, and confirmed after the sign-in began.
func (e *Engine) finishStep(ctx context.Context, q store.Queries, c Caller, step *Step, factorID string) error {
	if step == nil {
		return nil
	}
	if step.FinishTxn != "" {
		txn, err := q.LoginTxnByID(ctx, c.TenantID, step.FinishTxn)
		if err != nil {
			return notFoundAs(err, ErrTxnGone)
		}
		// A portal sign-in, or an application's sign-in on the hosted login
		// that sent a person with no factor through enrolment (X2).
		portal := txn.Mode == ModePortal && txn.ApplicationID == PortalApplication
		app := c.Hosted && txn.Mode == ModePassword && txn.ApplicationID == c.ApplicationID && c.ApplicationID != ""
		if !portal && !app {
			return ErrTxnGone
		}
		f, err := q.FactorByID(ctx, c.TenantID, factorID)
		if err != nil {
			return notFoundAs(err, ErrEnrolmentGone)
		}
		if f.UserID != txn.UserID || f.State != store.FactorActive || f.ConfirmedAt == nil || f.ConfirmedAt.Before(txn.CreatedAt) {
			return ErrEnrolmentGone
		}
		if app && !opensApplications(*f) {
			// Security questions open the portal only (A8): the
			// application's sign-in waits for a factor that opens it.
			return e.changeSession(ctx, q, step.Session)
		}
		done, err := q.CompleteLoginTxn(ctx, txn.ID, store.TxnAllowed, f.ID, e.now())
		if err != nil {
			return err
		}
		if !done {
			return ErrTxnGone
		}
		event := "portal.sign_in"
		if app {
			event = "login"
		}
		if err := e.Audit(ctx, q, c, Event{UserID: txn.UserID, Event: event, Outcome: "success", Detail: map[string]any{"step": "enrolled", "factor": f.ID, "txn": txn.ID}}); err != nil {
			return err
		}
	}
	return e.changeSession(ctx, q, step.Session)
}

// Answer is one security question and the person's answer.
type Answer = questions.Answer

// SetSecurityAnswers records the person's security questions and answers
// (A8) on the strength of a fresh authentication: exactly the policy's
// number of distinct questions from the catalogue, each answer hashed with
// argon2id. Answering again replaces every earlier answer.
func (e *Engine) SetSecurityAnswers(ctx context.Context, c Caller, txnID string, answers []Answer, step *Step) error {
	c.ApplicationID = portalOr(c)
	t, p, u, _, err := e.freshUser(ctx, c, txnID)
	if err != nil {
		return err
	}
	n := p.Portal.SecurityQuestions
	if n == 0 {
		return ErrFactorNotAllowed
	}
	if err := canManageMFA(u.Status); err != nil {
		return err
	}
	if err := questions.Validate(answers, n); err != nil {
		return err
	}
	sealed, cfg, err := questions.Seal(ctx, e.Hasher, e.Keys, u.ID, answers)
	if err != nil {
		return busyOr(err)
	}
	before, err := e.Store.ActiveFactors(ctx, u.ID)
	if err != nil {
		return err
	}
	now := e.now()
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		f := &store.Factor{ID: store.NewID("fac"), TenantID: c.TenantID, UserID: u.ID, Kind: FactorQuestions, Secret: sealed, Config: cfg}
		if err := q.UpsertFactor(ctx, f, now); err != nil {
			return err
		}
		if err := e.factorActivated(ctx, q, c, t, p, u, f, before, now); err != nil {
			return err
		}
		if step != nil {
			return e.changeSession(ctx, q, step.Session)
		}
		return nil
	})
	if err == nil {
		e.wake()
	}
	return err
}

// SecurityQuestions returns the ids of the questions the user answered, in
// the order they chose them; none when they have not.
func (e *Engine) SecurityQuestions(ctx context.Context, userID string) ([]string, error) {
	f, err := e.FactorOfKind(ctx, userID, FactorQuestions)
	if err != nil || f == nil {
		return nil, err
	}
	return questions.Asked(f)
}

// RemoveOwnFactor revokes one of the person's factors on the strength of a
// fresh authentication. The last factor that opens applications stays while
// policy asks the person for a second factor: they replace it instead.
func (e *Engine) RemoveOwnFactor(ctx context.Context, c Caller, txnID, factorID string) error {
	c.ApplicationID = portalOr(c)
	t, p, u, _, err := e.freshUser(ctx, c, txnID)
	if err != nil {
		return err
	}
	all, err := e.Store.ActiveFactors(ctx, u.ID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(all, func(f store.Factor) bool { return f.ID == factorID })
	if i < 0 {
		return ErrEnrolmentGone
	}
	f := all[i]
	if opensApplications(f) && p.RequiresMFA(u.Groups, u.Units, e.now()) {
		others := slices.ContainsFunc(all, func(o store.Factor) bool { return o.ID != f.ID && opensApplications(o) && offered(o, p, false) })
		if !others {
			return ErrLastFactor
		}
	}
	now := e.now()
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		ok, err := q.RevokeFactor(ctx, f.ID, now)
		if err != nil {
			return err
		}
		if !ok {
			return ErrEnrolmentGone
		}
		if err := e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "factor.revoked", Outcome: "success", Detail: map[string]any{"factor": f.ID, "kind": f.Kind, "by": "user"}}); err != nil {
			return err
		}
		lang := languageOf(c, u)
		return e.notifyUser(ctx, q, c, t, p, u, "notice.method_removed.subject", words(lang, "notice.method_removed", factorWhat(lang, f.Kind), when(lang, now)))
	})
	if err == nil {
		e.wake()
	}
	return err
}

// BeginVoiceEnrolment sets up the phone-call factor: a pending factor with
// the numbers, and a verification call to the primary number ("Call me now to
// authenticate"); answering with # activates it (A4).
func (e *Engine) BeginVoiceEnrolment(ctx context.Context, c Caller, txnID string, n VoiceNumbers, pin string) (*store.Factor, *store.VoiceCall, error) {
	t, p, u, _, err := e.freshUser(ctx, c, txnID)
	if err != nil {
		return nil, nil, err
	}
	return e.beginVoice(ctx, c, t, p, u, n, pin)
}

// AdminBeginVoiceEnrolment lets the help desk change a user's phone numbers
// (A12); the person still proves the number by answering the call.
func (e *Engine) AdminBeginVoiceEnrolment(ctx context.Context, c Caller, userID string, n VoiceNumbers, pin string) (*store.Factor, *store.VoiceCall, error) {
	t, p, u, err := e.tenantUser(ctx, c, userID)
	if err != nil {
		return nil, nil, err
	}
	if !mayRedirectCodes(c, p) {
		// The numbers decide where the sign-in calls go.
		return nil, nil, ErrForbidden
	}
	return e.beginVoice(ctx, c, t, p, u, n, pin)
}

func (e *Engine) beginVoice(ctx context.Context, c Caller, t *store.Tenant, p policy.Policy, u *store.User, n VoiceNumbers, pin string) (*store.Factor, *store.VoiceCall, error) {
	if !p.Allows(policy.FactorVoice) {
		return nil, nil, ErrFactorNotAllowed
	}
	if err := canManageMFA(u.Status); err != nil {
		return nil, nil, err
	}
	n, err := phonecall.Validate(p, n, pin)
	if err != nil {
		return nil, nil, err
	}
	cfg, _ := json.Marshal(n)
	now := e.now()
	expires := now.Add(time.Duration(p.EnrolmentTTL))
	f := &store.Factor{ID: store.NewID("fac"), TenantID: c.TenantID, UserID: u.ID, Kind: policy.FactorVoice, CreatedAt: now, ExpiresAt: &expires,
		Config: string(cfg), Secret: phonecall.PINHash(e.Keys, u.ID, pin)}
	var call *store.VoiceCall
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		if err := q.CreatePendingFactor(ctx, f, now); err != nil {
			return err
		}
		if err := e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "factor.enrolment_started", Outcome: "success", Detail: map[string]any{"factor": f.ID, "kind": f.Kind}}); err != nil {
			return err
		}
		call, err = e.placeCall(ctx, q, c, t, p, u, f, n, CallEnrol, "", LegPrimary)
		return err
	})
	if err != nil {
		return nil, nil, e.rateAudited(ctx, c, u, err)
	}
	e.wake()
	return f, call, nil
}

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
	t, p, u, err := e.tenantUser(ctx, c, userID)
	if err != nil {
		return nil, err
	}
	return e.beginTOTP(ctx, c, t, p, u)
}

// tenantUser is a user of the caller's tenant with the tenant and its
// policy, for an administrator's step on the user's behalf.
func (e *Engine) tenantUser(ctx context.Context, c Caller, userID string) (*store.Tenant, policy.Policy, *store.User, error) {
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, p, nil, err
	}
	u, err := e.Store.UserByID(ctx, c.TenantID, userID)
	if err != nil {
		return nil, p, nil, err
	}
	return t, p, u, nil
}

func (e *Engine) beginTOTP(ctx context.Context, c Caller, t *store.Tenant, p policy.Policy, u *store.User) (*Enrolment, error) {
	if !p.Allows(policy.FactorTOTP) {
		return nil, ErrFactorNotAllowed
	}
	if err := canManageMFA(u.Status); err != nil {
		return nil, err
	}
	now := e.now()
	expires := now.Add(time.Duration(p.EnrolmentTTL))
	f := &store.Factor{ID: store.NewID("fac"), TenantID: t.ID, UserID: u.ID, Kind: policy.FactorTOTP, CreatedAt: now, ExpiresAt: &expires}
	secret, sealed, err := authenticator.NewSecret(e.Keys, f.ID)
	if err != nil {
		return nil, err
	}
	f.Secret = sealed
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		if err := q.CreatePendingFactor(ctx, f, now); err != nil {
			return err
		}
		return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "factor.enrolment_started", Outcome: "success", Detail: map[string]any{"factor": f.ID, "kind": f.Kind}})
	})
	if err != nil {
		return nil, err
	}
	return &Enrolment{Factor: f, User: u, URI: authenticator.URI(e.issuer(t, p), u.LoginID, secret), Secret: authenticator.Key(secret), ExpiresAt: expires}, nil
}

// PendingEnrolment returns a pending enrolment again (to render its QR code);
// only while it is still the user's current pending secret.
func (e *Engine) PendingEnrolment(ctx context.Context, c Caller, factorID string) (*Enrolment, error) {
	f, u, p, err := e.pendingFactor(ctx, c, factorID)
	if err != nil {
		return nil, err
	}
	secret, err := authenticator.Open(e.Keys, f)
	if err != nil {
		return nil, err
	}
	t, _, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	return &Enrolment{Factor: f, User: u, URI: authenticator.URI(e.issuer(t, p), u.LoginID, secret), Secret: authenticator.Key(secret), ExpiresAt: *f.ExpiresAt}, nil
}

// ConfirmTOTPEnrolment activates a pending authenticator with a code from its
// secret (C4). The step used here is recorded, so the same code cannot then
// be used to log in. An older authenticator is revoked (C3).
// The step of a portal page goes in the same transaction; nil for none.
func (e *Engine) ConfirmTOTPEnrolment(ctx context.Context, c Caller, factorID, code string, step *Step) (*store.Factor, error) {
	f, u, p, err := e.pendingFactor(ctx, c, factorID)
	if err != nil {
		return nil, err
	}
	t, _, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	secret, err := authenticator.Open(e.Keys, f)
	if err != nil {
		return nil, err
	}
	before, err := e.Store.ActiveFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	now := e.now()
	var result error
	var used int64
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
		if used, ok = authenticator.Confirm(secret, code, p, now); !ok {
			result = ErrWrongCode
			return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "factor.enrolment_confirm", Outcome: "failure", Detail: map[string]any{"factor": f.ID, "reason": "wrong_code"}})
		}
		activated, err := q.ActivateFactor(ctx, f.ID, used, now)
		if err != nil {
			return err
		}
		if !activated {
			result = ErrEnrolmentGone
			return nil
		}
		if err := e.factorActivated(ctx, q, c, t, p, u, f, before, now); err != nil {
			return err
		}
		return e.finishStep(ctx, q, c, step, f.ID)
	})
	if err != nil {
		return nil, err
	}
	if result != nil {
		return nil, result
	}
	e.wake() // the change notice
	f.State = store.FactorActive
	f.LastStep = used
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

func (e *Engine) pendingFactor(ctx context.Context, c Caller, factorID string) (*store.Factor, *store.User, policy.Policy, error) {
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
