package flow

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// PortalApplication is the application id of the self-service portal's login
// transactions; no application key has it, so no application can use them.
const PortalApplication = "portal"

// FactorQuestions is the security-questions factor (A8). Policy cannot allow
// it for applications: it only ever opens the portal.
const FactorQuestions = "questions"

// QuestionIDs is the catalogue of security questions; the portal holds the
// wording of each in every language.
var QuestionIDs = []string{
	"first_pet", "birth_city", "first_school", "childhood_friend", "first_car",
	"mother_birth_city", "first_job", "favourite_teacher", "first_street", "favourite_book",
}

// PortalSignIn proves the login ID and password for the self-service portal
// (A2). Users whose status lets them manage MFA get in (C1), whether or not
// they may reach applications. The result is MFARequired with the factors
// the person may finish with (the security questions among them when policy
// allows), or EnrolmentRequired for a person with no factor yet.
func (e *Engine) PortalSignIn(ctx context.Context, c Caller, loginID, pw string) (*Result, error) {
	c.ApplicationID = PortalApplication
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	u, err := e.checkPassword(ctx, c, p, loginID, pw)
	if err != nil {
		return nil, err
	}
	if err := canManageMFA(u.Status); err != nil {
		return nil, errors.Join(err, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "portal.sign_in", Outcome: "refused", Detail: map[string]any{"reason": "status_" + u.Status}}))
	}
	now := e.now()
	if mfaLocked(u, p, now) {
		return nil, errors.Join(ErrMFALocked, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "portal.sign_in", Outcome: "refused", Detail: map[string]any{"reason": "mfa_locked"}}))
	}
	factors, err := e.PortalFactors(ctx, p, u)
	if err != nil {
		return nil, err
	}
	status := MFARequired
	if !slices.ContainsFunc(factors, func(f store.Factor) bool { return f.Kind != FactorQuestions }) {
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

// PortalFactors lists the factors that finish a portal sign-in: those policy
// allows, and the security questions when they may replace them.
func (e *Engine) PortalFactors(ctx context.Context, p policy.Policy, u *store.User) ([]store.Factor, error) {
	all, err := e.Store.ActiveFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(f store.Factor) bool {
		if f.Kind == FactorQuestions {
			return !p.Portal.QuestionsSignIn || p.Portal.SecurityQuestions == 0
		}
		return !p.Allows(f.Kind)
	}), nil
}

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

// FreshTxn reports whether a portal transaction still proves a fresh
// authentication, so pages can ask the person to confirm it is them before
// they try a change.
func (e *Engine) FreshTxn(ctx context.Context, c Caller, txnID string) bool {
	c.ApplicationID = PortalApplication
	_, _, _, _, err := e.freshUser(ctx, c, txnID)
	return err == nil
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

// verifyAnswers checks every security answer as one second-factor guess.
// The argon2id work happens before the write transaction so the single
// SQLite writer is not held by it; the result is only acted on after the
// guess was charged, so past the limit nothing is revealed (invariant 1).
func (e *Engine) verifyAnswers(ctx context.Context, c Caller, p policy.Policy, u *store.User, answers map[string]string, txn *store.LoginTxn) error {
	var f *store.Factor
	all, err := e.Store.ActiveFactors(ctx, u.ID)
	if err != nil {
		return err
	}
	for i := range all {
		if all[i].Kind == FactorQuestions {
			f = &all[i]
		}
	}
	if f == nil {
		return ErrFactorNotAllowed
	}
	raw, err := e.Keys.Open(f.Secret, questionsAAD(u.ID))
	if err != nil {
		return fmt.Errorf("open questions of %s: %w", u.ID, err)
	}
	var hashes map[string]string
	if err := json.Unmarshal(raw, &hashes); err != nil {
		return fmt.Errorf("questions of %s: %w", u.ID, err)
	}
	match := len(hashes) > 0
	for id, h := range hashes {
		ok, _, err := e.Hasher.Verify(ctx, h, normalizeAnswer(answers[id]))
		if err != nil {
			return busyOr(err)
		}
		match = match && ok
	}
	txn.FactorID = f.ID
	return e.guess(ctx, c, p, u, attempt{
		kind: FactorQuestions, txn: txn, detail: map[string]any{"factor": f.ID},
		check: func(store.Queries) (bool, string, error) {
			if !match {
				return false, "wrong_answer", nil
			}
			return true, "", nil
		},
	})
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

func factorWhat(lang, kind string) string {
	switch kind {
	case policy.FactorTOTP, policy.FactorVoice, policy.FactorSMS, policy.FactorEmail, FactorQuestions:
		return words(lang, "what."+kind)
	}
	return words(lang, "what.other")
}

// enqueueNotice queues a notice of a change to the account: the subject is
// a message key, text the sentence already in the person's language; both
// are signed with the issuer and end with what to do if it was not them.
func (e *Engine) enqueueNotice(ctx context.Context, q store.Queries, c Caller, t *store.Tenant, p policy.Policy, u *store.User, channel, to, subjectKey, text string, now time.Time) error {
	lang := languageOf(c, u)
	iss := e.issuer(t, p)
	m := message(c.TenantID, channel, to, iss+": "+words(lang, subjectKey), iss+": "+text+" "+words(lang, "notice.if_not_you"))
	return outbox.Enqueue(ctx, q, e.Keys, m, u.ID, "notice", now)
}

// noticeDestination is where notices to the person go: their verified
// email, else their verified phone by SMS; to is empty when they have
// neither.
func noticeDestination(u *store.User) (channel, to string) {
	if addr, ok := destination(u, delivery.Email); ok {
		return delivery.Email, addr
	}
	if phone, ok := destination(u, delivery.SMS); ok {
		return delivery.SMS, phone
	}
	return delivery.Email, ""
}

// notifyUser tells the person about a change to their account on their
// verified email, or else their verified phone (invariant 6).
func (e *Engine) notifyUser(ctx context.Context, q store.Queries, c Caller, t *store.Tenant, p policy.Policy, u *store.User, subjectKey, text string) error {
	channel, to := noticeDestination(u)
	if to == "" {
		return nil
	}
	return e.enqueueNotice(ctx, q, c, t, p, u, channel, to, subjectKey, text, e.now())
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
