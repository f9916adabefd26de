package flow

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/flow/factor/onetime"
	"github.com/countersign/countersign/internal/flow/factor/sentcode"
	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// Recovery code purposes (C10, C13).
const (
	PurposeResetPassword = "reset_password" // forgot password, or change it while locked
	PurposeReenable      = "reenable"       // re-enable a disabled account
)

// recoveryAttemptLimit bounds recovery-code guesses per client address and
// login ID in the policy's identity window, on top of the user's own
// second-factor counter.
func recoveryKeys(c Caller, loginID string) []string {
	// Login IDs are not case-sensitive (C11): neither is their limit.
	return []string{"rcv:ip:" + c.TenantID + ":" + c.IP, "rcv:id:" + c.TenantID + ":" + validate.NormalizeLoginID(loginID)}
}

// SendRecoveryCode sends a 6-digit code for purpose to the verified email or
// text-enabled number of the login ID. The answer is the same whether or not
// the login ID exists, has such a contact point, or may use the purpose (G4):
// nothing is sent then, and the page says "if".
func (e *Engine) SendRecoveryCode(ctx context.Context, c Caller, purpose, loginID, channel string) error {
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return err
	}
	var errs validate.Errors
	loginID = validate.LoginID(&errs, "login_id", loginID, p.LoginIDMaxLength)
	if channel != delivery.Email && channel != delivery.SMS {
		errs.Add("channel", "required", "Choose email or text message.")
	}
	if purpose != PurposeResetPassword && purpose != PurposeReenable {
		errs.Add("purpose", "invalid", "Unknown recovery.")
	}
	if err := errs.Err(); err != nil {
		return err
	}
	if err := e.takeAttempt(ctx, p, recoveryKeys(c, loginID)...); err != nil {
		return err
	}
	u, err := e.Store.UserByLoginID(ctx, c.TenantID, loginID)
	if errors.Is(err, store.ErrNotFound) {
		return e.Audit(ctx, e.Store, c, Event{Event: "recovery.requested", Outcome: "refused", Detail: map[string]any{"purpose": purpose, "reason": "unknown_login_id", "login_id": loginID}})
	}
	if err != nil {
		return err
	}
	refuse := func(reason string) error {
		return e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "recovery.requested", Outcome: "refused", Detail: map[string]any{"purpose": purpose, "reason": reason}})
	}
	if purpose == PurposeReenable && u.Status != store.StatusDisabled {
		return refuse("not_disabled")
	}
	if purpose == PurposeResetPassword && canManageMFA(u.Status) != nil {
		return refuse("status_" + u.Status)
	}
	to, ok := factor.Destination(u, channel)
	if !ok {
		return refuse("no_destination")
	}
	now := e.now()
	code := factor.Digits(6)
	ttl := time.Duration(p.Portal.RecoveryTTL)
	ch := &store.Challenge{ID: store.NewID("rcv"), TenantID: c.TenantID, UserID: u.ID, Purpose: purpose, Channel: channel,
		Destination: to, CodeHash: factor.CodeHash(e.Keys, u.ID, purpose, code), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	iss := e.issuer(t, p)
	lang := languageOf(c, u)
	what := words(lang, "recovery.what."+purpose)
	msg := message(c.TenantID, channel, to, words(lang, "recovery.subject", iss, what),
		words(lang, "recovery.sms", iss, what, code, iss, int(ttl.Minutes())))
	if channel == delivery.Email {
		msg.Text = words(lang, "recovery.email", iss, what, code, int(ttl.Minutes()))
	}
	resend := func(q store.Queries) error {
		_, err := q.ConsumeAllChallenges(ctx, u.ID, purpose, now)
		return err
	}
	err = e.send(ctx, c, p, u, ch, msg, "recovery.requested", resend)
	var limited *RateLimitedError
	if errors.As(err, &limited) {
		// Refused and audited; saying so would tell a stranger the login ID exists.
		return nil
	}
	return err
}

// useRecoveryCode checks a recovery code as a second-factor guess and runs
// apply in the same transaction when it is right. An unknown login ID gets
// the same answer as a wrong code.
func (e *Engine) useRecoveryCode(ctx context.Context, c Caller, purpose, loginID, code string, extra validate.Errors, apply func(q store.Queries, u *store.User) error) (*store.User, error) {
	_, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	errs := extra
	loginID = validate.LoginID(&errs, "login_id", loginID, p.LoginIDMaxLength)
	code = validate.Code(&errs, "code", code)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if err := e.takeAttempt(ctx, p, recoveryKeys(c, loginID)...); err != nil {
		return nil, err
	}
	u, err := e.Store.UserByLoginID(ctx, c.TenantID, loginID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errors.Join(ErrWrongVerificationCode, e.Audit(ctx, e.Store, c, Event{Event: "recovery.used", Outcome: "failure", Detail: map[string]any{"purpose": purpose, "reason": "unknown_login_id", "login_id": loginID}}))
	}
	if err != nil {
		return nil, err
	}
	err = e.guess(ctx, c, p, u, factor.Attempt{
		Kind: purpose, Detail: map[string]any{"purpose": purpose},
		Check: func(ctx context.Context, q store.Queries) (bool, string, error) {
			return sentcode.Consume(ctx, q, e.env(c, p, u), purpose, code, true)
		},
		Success: func(ctx context.Context, q store.Queries) error { return apply(q, u) },
		Wrong:   func(string) error { return ErrWrongVerificationCode },
	}, nil, nil)
	if refused(err) || errors.Is(err, ErrMFALocked) {
		// Word for word the answer to an unknown login ID (G4): no attempts
		// left, no language of the person, no lock; the audit has them.
		return nil, ErrWrongVerificationCode
	}
	if err != nil {
		return nil, err
	}
	e.wake()
	return u, nil
}

// ResetPasswordWithCode sets a new password with a recovery code (forgot
// password, or change it while locked: C13). It clears the password lock,
// not the second-factor lock, ends every portal session of the person and
// tells them on their independent channel. Applications still ask for the
// second factor: recovery never bypasses it.
func (e *Engine) ResetPasswordWithCode(ctx context.Context, c Caller, loginID, code, newPassword string) error {
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return err
	}
	var errs validate.Errors
	if newPassword == "" {
		errs.Add("password", "required", "Password is required. Enter a valid value in the Password field.")
	} else {
		for _, pr := range p.Password.Check(newPassword, loginID) {
			errs.AddLimit("password", pr.Code, pr.Message, pr.Limit)
		}
	}
	// Hash before the transaction: argon2id must not hold the writer.
	var hash string
	if len(errs) == 0 {
		if hash, err = e.Hasher.Hash(ctx, newPassword); err != nil {
			return busyOr(err)
		}
	}
	_, err = e.useRecoveryCode(ctx, c, PurposeResetPassword, loginID, code, errs, func(q store.Queries, u *store.User) error {
		now := e.now()
		if err := q.SetPasswordHash(ctx, c.TenantID, u.ID, hash); err != nil {
			return err
		}
		if err := q.UnlockPassword(ctx, c.TenantID, u.ID); err != nil {
			return err
		}
		if _, err := q.EndUserPortalSessions(ctx, u.ID, "", now); err != nil {
			return err
		}
		if err := e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "password.reset", Outcome: "success"}); err != nil {
			return err
		}
		lang := languageOf(c, u)
		return e.notifyUser(ctx, q, c, t, p, u, "notice.password_changed.subject", words(lang, "notice.password_changed", when(lang, now)))
	})
	return err
}

// ReenableWithCode makes a disabled account active again with a recovery
// code (C10). The person still needs their password and second factor.
func (e *Engine) ReenableWithCode(ctx context.Context, c Caller, loginID, code string) error {
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return err
	}
	_, err = e.useRecoveryCode(ctx, c, PurposeReenable, loginID, code, nil, func(q store.Queries, u *store.User) error {
		if u.Status != store.StatusDisabled {
			return nil
		}
		if err := q.SetUserStatus(ctx, c.TenantID, u.ID, store.StatusActive, e.now()); err != nil {
			return err
		}
		if err := e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "user.reenabled", Outcome: "success", Detail: map[string]any{"by": "recovery_code"}}); err != nil {
			return err
		}
		lang := languageOf(c, u)
		return e.notifyUser(ctx, q, c, t, p, u, "notice.reenabled.subject", words(lang, "notice.reenabled", when(lang, e.now())))
	})
	return err
}

// SendLoginIDReminder sends the login IDs registered with a verified email
// address or text-enabled number to it (forgot login ID: C13). The answer is
// the same whether or not any account matches (G4).
func (e *Engine) SendLoginIDReminder(ctx context.Context, c Caller, channel, value string) error {
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return err
	}
	var errs validate.Errors
	switch channel {
	case delivery.Email:
		value = validate.Email(&errs, "email", value, true)
	case delivery.SMS:
		value = validate.Phone(&errs, "phone", value, true)
	default:
		errs.Add("channel", "required", "Choose email or text message.")
	}
	if err := errs.Err(); err != nil {
		return err
	}
	if err := e.takeAttempt(ctx, p, "lid:ip:"+c.TenantID+":"+c.IP, "lid:to:"+c.TenantID+":"+strings.ToLower(value)); err != nil {
		return err
	}
	var users []store.User
	if channel == delivery.Email {
		u, err := e.Store.UserByEmail(ctx, c.TenantID, value)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if u != nil && u.EmailVerifiedAt != nil {
			users = append(users, *u)
		}
	} else {
		if users, err = e.Store.UsersByPhone(ctx, c.TenantID, value, 10); err != nil {
			return err
		}
	}
	// A terminated account's login ID is of no use to anyone (C14).
	users = slices.DeleteFunc(users, func(u store.User) bool { return u.Status == store.StatusTerminated })
	if len(users) == 0 {
		return e.Audit(ctx, e.Store, c, Event{Event: "login_id.reminder", Outcome: "refused", Detail: map[string]any{"channel": channel, "reason": "no_match"}})
	}
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.LoginID
	}
	iss := e.issuer(t, p)
	now := e.now()
	lang := languageOf(c, &users[0])
	msg := message(c.TenantID, channel, value, words(lang, "reminder.subject", iss),
		words(lang, "reminder."+channel, iss, strings.Join(ids, ", ")))
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		if err := e.takeSendLimits(ctx, q, p, c.TenantID, users[0].ID, value, now); err != nil {
			return err
		}
		if err := outbox.Enqueue(ctx, q, e.Keys, msg, users[0].ID, "login_id_reminder", now); err != nil {
			return err
		}
		return e.Audit(ctx, q, c, Event{UserID: users[0].ID, Event: "login_id.reminder", Outcome: "success", Detail: map[string]any{"channel": channel, "to": factor.Mask(channel, value), "accounts": len(users)}})
	})
	var limited *RateLimitedError
	if errors.As(err, &limited) {
		// Refusing here would tell a stranger the address is registered.
		return e.Audit(ctx, e.Store, c, Event{UserID: users[0].ID, Event: "login_id.reminder", Outcome: "refused", Detail: map[string]any{"reason": "rate_limited", "scope": limited.Scope}})
	}
	if err == nil {
		e.wake()
	}
	return err
}

// RequestOneTimeToken sends a one-time access token for a person whose
// authenticator is lost (C8): only to the registered, verified email or
// text-enabled number, and only while consecutive token logins remain.
func (e *Engine) RequestOneTimeToken(ctx context.Context, c Caller, loginID, channel string) (*Sent, error) {
	t, p, u, err := e.namedUser(ctx, c, loginID)
	if err != nil {
		return nil, err
	}
	return e.sendOneTimeToken(ctx, c, t, p, u, channel)
}

// RequestTxnOneTimeToken sends a one-time access token for a pending
// transaction (the portal's lost-device path, after identity validation and
// the password).
func (e *Engine) RequestTxnOneTimeToken(ctx context.Context, c Caller, txnID, channel string) (*Sent, error) {
	pt, err := e.pendingTxn(ctx, c, txnID)
	if err != nil {
		return nil, err
	}
	return e.sendOneTimeToken(ctx, c, pt.tenant, pt.policy, pt.user, channel)
}

// OneTimeTokensLeft is how many consecutive one-time-token logins the user
// has left (C8: when none, the option is not offered).
func OneTimeTokensLeft(p policy.Policy, u *store.User) int { return onetime.Left(p, u) }

func (e *Engine) sendOneTimeToken(ctx context.Context, c Caller, t *store.Tenant, p policy.Policy, u *store.User, channel string) (*Sent, error) {
	if p.OTAMaxConsecutive == 0 {
		return nil, ErrFactorNotAllowed
	}
	if channel != delivery.Email && channel != delivery.SMS {
		return nil, validate.Errors{{Field: "channel", Code: "invalid", Message: "Channel must be email or sms."}}
	}
	hasApp := false
	factors, err := e.Store.ActiveFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, f := range factors {
		hasApp = hasApp || f.Kind == policy.FactorTOTP
	}
	if !hasApp {
		return nil, ErrNotRegistered
	}
	if u.OTAConsecutive >= p.OTAMaxConsecutive {
		return nil, errors.Join(ErrOTASpent, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "one_time_token.requested", Outcome: "refused", Detail: map[string]any{"reason": "spent"}}))
	}
	to, ok := factor.Destination(u, channel)
	if !ok {
		return nil, ErrNoDestination
	}
	now := e.now()
	token := onetime.New()
	ttl := time.Duration(p.OTATTL)
	ch := &store.Challenge{ID: store.NewID("chl"), TenantID: c.TenantID, UserID: u.ID, Purpose: store.PurposeOTA, Channel: channel,
		Destination: to, CodeHash: factor.CodeHash(e.Keys, u.ID, store.PurposeOTA, token), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	subject, text := onetime.Message(languageOf(c, u), e.issuer(t, p), channel, token, ttl, onetime.Left(p, u))
	msg := message(c.TenantID, channel, to, subject, text)
	if err := e.send(ctx, c, p, u, ch, msg, "one_time_token.requested", nil); err != nil {
		return nil, err
	}
	return &Sent{ID: ch.ID, Channel: channel, SentTo: factor.Mask(channel, to), ExpiresAt: ch.ExpiresAt}, nil
}
