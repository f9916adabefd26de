package flow

import (
	"context"
	"errors"
	"fmt"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// SupportMessageMax is the longest message of a reported MFA issue (A13).
const SupportMessageMax = 400

// SupportRequestInput is what a person types into "Report an MFA issue".
type SupportRequestInput struct {
	LoginID, Name, Phone, Email, Subject, Message string
	// UserID is set when the person is signed in to the portal.
	UserID string
}

// FileSupportRequest validates and files a reported MFA issue with a
// tracking number, acknowledges it by email and copies it to the tenant's
// support address (A13). Reports are limited per client address.
func (e *Engine) FileSupportRequest(ctx context.Context, c Caller, in SupportRequestInput) (*store.SupportRequest, error) {
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	var errs validate.Errors
	r := &store.SupportRequest{ID: store.NewID("sup"), TenantID: c.TenantID, UserID: in.UserID, IP: c.IP, State: "open"}
	r.LoginID = validate.LoginID(&errs, "login_id", in.LoginID, p.LoginIDMaxLength)
	r.Phone = validate.Phone(&errs, "phone", in.Phone, true)
	r.Name = validate.Text(&errs, "name", in.Name, true, 100)
	r.Subject = validate.Text(&errs, "subject", in.Subject, true, 150)
	r.Email = validate.Email(&errs, "email", in.Email, true)
	r.Message = validate.Text(&errs, "message", in.Message, true, SupportMessageMax)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if err := e.takeAttempt(ctx, p, "sup:ip:"+c.TenantID+":"+c.IP); err != nil {
		return nil, err
	}
	now := e.now()
	r.CreatedAt = now
	iss := e.issuer(t, p)
	for range 5 {
		r.Tracking = "MFA-" + now.UTC().Format("20060102") + "-" + factor.Token(6)
		lang := languageOf(c, nil)
		ack := message(c.TenantID, delivery.Email, r.Email, words(lang, "support.subject", iss, r.Tracking),
			words(lang, "support.ack", r.Name, r.Subject, r.Tracking, iss))
		err = e.Store.InTx(ctx, func(q store.Queries) error {
			if err := q.CreateSupportRequest(ctx, r); err != nil {
				return err
			}
			if err := outbox.Enqueue(ctx, q, e.Keys, ack, r.UserID, "support_ack", now); err != nil {
				return err
			}
			if to := p.Portal.SupportEmail; to != "" {
				copyTo := message(c.TenantID, delivery.Email, to, fmt.Sprintf("%s MFA issue %s: %s", iss, r.Tracking, r.Subject),
					fmt.Sprintf("Tracking: %s\nLogin ID: %s\nName: %s\nPhone: %s\nEmail: %s\nSubject: %s\n\n%s\n", r.Tracking, r.LoginID, r.Name, r.Phone, r.Email, r.Subject, r.Message))
				if err := outbox.Enqueue(ctx, q, e.Keys, copyTo, r.UserID, "support_copy", now); err != nil {
					return err
				}
			}
			return e.Audit(ctx, q, c, Event{UserID: r.UserID, Event: "support.reported", Outcome: "success", Detail: map[string]any{"tracking": r.Tracking}})
		})
		if !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	e.wake()
	return r, nil
}
