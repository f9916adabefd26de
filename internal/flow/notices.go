package flow

import (
	"context"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

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
	if addr, ok := factor.Destination(u, delivery.Email); ok {
		return delivery.Email, addr
	}
	if phone, ok := factor.Destination(u, delivery.SMS); ok {
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
