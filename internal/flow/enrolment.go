package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/totp"
	"github.com/countersign/countersign/internal/validate"
)

// CompleteEnrolmentTxn finishes the portal sign-in of a person who had no
// factor, once they enrolled one in it: proving the new factor is their
// second step. The factor must be active, theirs, and confirmed after the
// sign-in began.
func (e *Engine) CompleteEnrolmentTxn(ctx context.Context, c Caller, txnID, factorID string) error {
	c.ApplicationID = PortalApplication
	txn, err := e.Transaction(ctx, c, txnID)
	if err != nil {
		return err
	}
	if txn.Mode != ModePortal {
		return ErrTxnGone
	}
	f, err := e.Store.FactorByID(ctx, c.TenantID, factorID)
	if err != nil {
		return notFoundAs(err, ErrEnrolmentGone)
	}
	if f.UserID != txn.UserID || f.State != store.FactorActive || f.ConfirmedAt == nil || f.ConfirmedAt.Before(txn.CreatedAt) {
		return ErrEnrolmentGone
	}
	now := e.now()
	done, err := e.Store.CompleteLoginTxn(ctx, txn.ID, store.TxnAllowed, f.ID, now)
	if err != nil {
		return err
	}
	if !done {
		return ErrTxnGone
	}
	return e.Audit(ctx, e.Store, c, Event{UserID: txn.UserID, Event: "portal.sign_in", Outcome: "success", Detail: map[string]any{"step": "enrolled", "factor": f.ID, "txn": txn.ID}})
}

// Answer is one security question and the person's answer.
type Answer struct {
	QuestionID string
	Text       string
}

type questionsConfig struct {
	Questions []string `json:"questions"`
}

// normalizeAnswer makes answers forgiving of case and spacing.
func normalizeAnswer(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

func questionsAAD(userID string) []byte { return []byte("questions\x00" + userID) }

// SetSecurityAnswers records the person's security questions and answers
// (A8) on the strength of a fresh authentication: exactly the policy's
// number of distinct questions from the catalogue, each answer hashed with
// argon2id. Answering again replaces every earlier answer.
func (e *Engine) SetSecurityAnswers(ctx context.Context, c Caller, txnID string, answers []Answer) error {
	c.ApplicationID = PortalApplication
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
	var errs validate.Errors
	seen := map[string]bool{}
	ids := make([]string, 0, n)
	for i, a := range answers {
		qf, af := fmt.Sprintf("question_%d", i+1), fmt.Sprintf("answer_%d", i+1)
		switch {
		case a.QuestionID == "":
			errs.Add(qf, "required", "Choose a question.")
		case !slices.Contains(QuestionIDs, a.QuestionID):
			errs.Add(qf, "invalid", "Choose a question from the list.")
		case seen[a.QuestionID]:
			errs.Add(qf, "duplicate", "Choose a different question: each question may be used once.")
		}
		seen[a.QuestionID] = true
		ids = append(ids, a.QuestionID)
		switch norm := normalizeAnswer(a.Text); {
		case norm == "":
			errs.Add(af, "required", "Answer is required. Enter an answer you will remember.")
		case len([]rune(norm)) < 3:
			errs.Add(af, "too_short", "Answer must be at least 3 characters long.")
		case len(norm) > 100:
			errs.Add(af, "too_long", "Answer must be at most 100 characters long.")
		}
	}
	if len(answers) != n {
		errs.Add("questions", "count", fmt.Sprintf("Answer exactly %d different questions.", n))
	}
	if err := errs.Err(); err != nil {
		return err
	}
	hashes := make(map[string]string, n)
	for _, a := range answers {
		h, err := e.Hasher.Hash(ctx, normalizeAnswer(a.Text))
		if err != nil {
			return busyOr(err)
		}
		hashes[a.QuestionID] = h
	}
	raw, _ := json.Marshal(hashes)
	sealed, err := e.Keys.Seal(raw, questionsAAD(u.ID))
	if err != nil {
		return err
	}
	cfg, _ := json.Marshal(questionsConfig{Questions: ids})
	before, err := e.Store.ActiveFactors(ctx, u.ID)
	if err != nil {
		return err
	}
	now := e.now()
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		f := &store.Factor{ID: store.NewID("fac"), TenantID: c.TenantID, UserID: u.ID, Kind: FactorQuestions, Secret: sealed, Config: string(cfg)}
		if err := q.UpsertFactor(ctx, f, now); err != nil {
			return err
		}
		return e.factorActivated(ctx, q, c, t, p, u, f, before, now)
	})
	if err == nil {
		e.wake()
	}
	return err
}

// SecurityQuestions returns the ids of the questions the user answered, in
// the order they chose them; none when they have not.
func (e *Engine) SecurityQuestions(ctx context.Context, userID string) ([]string, error) {
	all, err := e.Store.ActiveFactors(ctx, userID)
	if err != nil {
		return nil, err
	}
	for _, f := range all {
		if f.Kind == FactorQuestions {
			var cfg questionsConfig
			if err := json.Unmarshal([]byte(f.Config), &cfg); err != nil {
				return nil, fmt.Errorf("questions factor %s: %w", f.ID, err)
			}
			return cfg.Questions, nil
		}
	}
	return nil, nil
}

// RemoveOwnFactor revokes one of the person's factors on the strength of a
// fresh authentication. The last factor that opens applications stays while
// policy asks the person for a second factor: they replace it instead.
func (e *Engine) RemoveOwnFactor(ctx context.Context, c Caller, txnID, factorID string) error {
	c.ApplicationID = PortalApplication
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
	if f.Kind != FactorQuestions && p.RequiresMFA(u.Groups) {
		others := slices.ContainsFunc(all, func(o store.Factor) bool { return o.ID != f.ID && o.Kind != FactorQuestions && p.Allows(o.Kind) })
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
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, nil, err
	}
	u, err := e.Store.UserByID(ctx, c.TenantID, userID)
	if err != nil {
		return nil, nil, err
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
	n, err := e.validateVoice(p, n, pin)
	if err != nil {
		return nil, nil, err
	}
	cfg, _ := json.Marshal(n)
	now := e.now()
	expires := now.Add(time.Duration(p.EnrolmentTTL))
	f := &store.Factor{ID: store.NewID("fac"), TenantID: c.TenantID, UserID: u.ID, Kind: policy.FactorVoice, CreatedAt: now, ExpiresAt: &expires,
		Config: string(cfg), Secret: e.pinHash(u.ID, pin)}
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
