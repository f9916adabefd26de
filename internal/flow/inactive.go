package flow

import (
	"context"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/store"
)

// inactiveBatch bounds the users disabled in one transaction.
const inactiveBatch = 200

// DisableInactiveUsers disables, in every tenant whose policy sets
// disable_after_inactive, the Active accounts with no login for that long
// (C10). Each is audited and told by email or SMS how to re-enable the
// account: the portal's re-enable page, which sends a code to the same
// email or number and can send it again. It returns how many were
// disabled. Several servers may run it at once: each account is disabled,
// audited and told once.
func (e *Engine) DisableInactiveUsers(ctx context.Context) (int, error) {
	tenants, err := e.Store.ListTenants(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, tn := range tenants {
		t, p, err := e.Policy(ctx, tn.ID)
		if err != nil {
			return total, err
		}
		after := time.Duration(p.DisableAfterInactive)
		if after <= 0 {
			continue
		}
		c := Caller{TenantID: t.ID, Actor: "system"}
		for {
			now := e.now()
			n := 0
			err := e.Store.InTx(ctx, func(q store.Queries) error {
				ids, err := q.DisableInactiveUsers(ctx, t.ID, now.Add(-after), now, inactiveBatch)
				if err != nil {
					return err
				}
				n = len(ids)
				for _, id := range ids {
					u, err := q.UserByID(ctx, t.ID, id)
					if err != nil {
						return err
					}
					last := u.CreatedAt
					if u.LastLoginAt != nil {
						last = *u.LastLoginAt
					}
					if err := e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "user.disabled", Outcome: "inactive",
						Detail: map[string]any{"last_activity": last.UTC().Format(time.RFC3339), "after": after.String()}}); err != nil {
						return err
					}
					if err := e.tellDisabled(ctx, q, c, e.issuer(t, p), t.Slug, u, after, now); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return total, err
			}
			total += n
			if n < inactiveBatch {
				break
			}
		}
	}
	return total, nil
}

// tellDisabled sends the notice of an account disabled for inactivity to
// the verified email, or else the verified text-enabled number. The link
// carries no secret: the page it opens sends the code (C10).
func (e *Engine) tellDisabled(ctx context.Context, q store.Queries, c Caller, iss, slug string, u *store.User, after time.Duration, now time.Time) error {
	channel, to := noticeDestination(u)
	if to == "" {
		return nil
	}
	lang := languageOf(c, u)
	where := words(lang, "inactive.where", iss)
	if e.PublicURL != "" {
		where = strings.TrimRight(e.PublicURL, "/") + "/portal/" + slug + "/recover/reenable"
	}
	days := int(after.Hours() / 24)
	m := message(c.TenantID, channel, to, iss+": "+words(lang, "inactive.subject"),
		words(lang, "inactive.sms", iss, u.LoginID, days, where))
	if channel == "email" {
		m.Text = words(lang, "inactive.email", iss, u.LoginID, days, where)
	}
	return outbox.Enqueue(ctx, q, e.Keys, m, u.ID, "notice", now)
}
