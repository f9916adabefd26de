package flow

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// Messages the help desk may send a person again.
const (
	// ResendEnrolment invites the person to enrol a second factor in the
	// self-service portal (A2), with the portal's address.
	ResendEnrolment = "enrolment"
	// ResendReenable tells a disabled person how to re-enable the account
	// themselves: the portal's re-enable page sends them a code (C10, C13).
	ResendReenable = "reenable"
)

// ResendKinds lists the messages ResendMessage sends.
var ResendKinds = []string{ResendEnrolment, ResendReenable}

// ResendMessage sends a person their enrolment invitation or re-enable
// message again, on the help desk's request, to their verified email or
// else their verified text-enabled number. It is refused with a field error
// when it makes no sense (an enrolment invitation to someone already
// enrolled, a re-enable message to someone not disabled, no verified
// destination); it counts against the person's attempt window, so a help
// desk cannot flood anyone, and against the usual send limits (X4).
func (e *Engine) ResendMessage(ctx context.Context, c Caller, userID, kind string) error {
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return err
	}
	if !slices.Contains(ResendKinds, kind) {
		return validate.Errors{{Field: "kind", Code: "invalid", Message: "Kind must be one of " + strings.Join(ResendKinds, ", ") + "."}}
	}
	u, err := e.Store.UserByID(ctx, c.TenantID, userID)
	if err != nil {
		return err
	}
	refuse := func(code, msg string) error {
		return errors.Join(validate.Errors{{Field: "kind", Code: code, Message: msg}},
			e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "message.resent", Outcome: "refused", Detail: map[string]any{"kind": kind, "reason": code}}))
	}
	switch kind {
	case ResendEnrolment:
		if err := canManageMFA(u.Status); err != nil {
			return refuse("status_"+u.Status, "This person's status is "+u.Status+": they cannot enrol a second factor until it is resolved.")
		}
		// A factor the policy offers at sign-in is enrolment enough.
		factors, err := e.usableFactors(ctx, p, u)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(factors, func(f store.Factor) bool { return f.Kind != FactorQuestions }) {
			return refuse("already_enrolled", "This person has already enrolled a second factor; there is nothing to invite them to.")
		}
	case ResendReenable:
		if u.Status != store.StatusDisabled {
			return refuse("not_disabled", "Only a disabled account can be re-enabled by its owner; this person's status is "+u.Status+".")
		}
	}
	channel, to := noticeDestination(u)
	if to == "" {
		return refuse("no_destination", "This person has no verified email address or text-enabled number to send it to. Update their contact details first.")
	}
	if err := e.takeAttempt(ctx, p, "rsd:"+c.TenantID+":"+u.ID); err != nil {
		return errors.Join(err, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "message.resent", Outcome: "refused", Detail: map[string]any{"kind": kind, "reason": "rate_limited"}}))
	}
	lang := languageOf(Caller{}, u)
	iss := e.issuer(t, p)
	base := strings.TrimRight(e.PublicURL, "/") + "/portal/" + t.Slug
	where := words(lang, "invite.where", iss)
	if kind == ResendReenable {
		where = words(lang, "inactive.where", iss)
		if e.PublicURL != "" {
			where = base + "/recover/reenable"
		}
	} else if e.PublicURL != "" {
		where = base
	}
	m := message(c.TenantID, channel, to, iss+": "+words(lang, kind+".subject"), words(lang, kind+".sms", iss, u.LoginID, where))
	if channel == "email" {
		m.Text = words(lang, kind+".email", iss, u.LoginID, where)
	}
	now := e.now()
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		if err := e.takeSendLimits(ctx, q, p, c.TenantID, u.ID, to, now); err != nil {
			return err
		}
		if err := outbox.Enqueue(ctx, q, e.Keys, m, u.ID, "notice", now); err != nil {
			return err
		}
		return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "message.resent", Outcome: "success",
			Detail: map[string]any{"kind": kind, "channel": channel, "to": maskTo(channel, to), "message": m.ID}})
	})
	var limited *RateLimitedError
	if errors.As(err, &limited) {
		return errors.Join(err, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "message.resent", Outcome: "refused",
			Detail: map[string]any{"kind": kind, "reason": "rate_limited", "scope": limited.Scope}}))
	}
	if err == nil {
		e.wake()
	}
	return err
}

func maskTo(channel, to string) string {
	if channel == "email" {
		return MaskEmail(to)
	}
	return MaskPhone(to)
}
