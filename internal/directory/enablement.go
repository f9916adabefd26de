package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// Tenant-wide enablement (B1): an administrator completes a preparation
// checklist computed from the tenant's real state, then enables MFA for
// everyone, for good.

var (
	// ErrNotReady refuses enabling while a required checklist item is not OK.
	ErrNotReady = problem.Domain("enablement_not_ready", "the preparation checklist is not complete")
	// ErrEnabledPermanently refuses any policy that would narrow MFA once
	// it was enabled for the whole tenant.
	ErrEnabledPermanently = problem.Domain("mfa_enabled_permanently", "MFA is enabled for the whole tenant and cannot be undone: mfa_required stays everyone")
)

// Checklist item keys; stable, the console translates them.
const (
	ItemDelivery       = "delivery"
	ItemHelpDesk       = "help_desk"
	ItemAlerts         = "alerts"
	ItemAdministrators = "administrators"
	ItemContactPoints  = "contact_points"
	ItemEnrolled       = "enrolled"
)

// PurposeTest is the outbox purpose of an administrator's test message.
const PurposeTest = "test"

// TestMessageWindow is how recent a delivered test message must be for the
// delivery item to be OK.
const TestMessageWindow = 30 * 24 * time.Hour

// ChecklistItem is one line of the preparation checklist. Count and Total
// are what the item counts (channels tested, administrators enrolled,
// people without a contact point); Detail says in words what is missing.
type ChecklistItem struct {
	Key      string `json:"key"`
	OK       bool   `json:"ok"`
	Required bool   `json:"required"`
	Count    int    `json:"count"`
	Total    int    `json:"total"`
	Detail   string `json:"detail"`
}

// Checklist is the tenant's preparation for enabling MFA; Ready when every
// required item is OK. EnabledAt is set once MFA is enabled.
type Checklist struct {
	EnabledAt *time.Time      `json:"enabled_at"`
	EnabledBy string          `json:"enabled_by,omitempty"`
	Items     []ChecklistItem `json:"items"`
	Ready     bool            `json:"ready"`
}

// Missing lists the keys of the required items that are not OK.
func (c *Checklist) Missing() []string {
	var out []string
	for _, it := range c.Items {
		if it.Required && !it.OK {
			out = append(out, it.Key)
		}
	}
	return out
}

// Provider tells which delivery provider serves a tenant's channel: its
// name and type (dev, smtp, twilio, webhook), or an empty type when none is
// configured. The server sets Service.Providers from its configuration.
type Provider func(tenantSlug, channel string) (name, kind string)

// checkedChannels are the channels the policy sends codes or calls on; a
// tenant allowing none of them still sends notices by email.
func checkedChannels(p policy.Policy) []string {
	var out []string
	for _, ch := range []string{delivery.SMS, delivery.Email, delivery.Voice} {
		if p.Allows(ch) {
			out = append(out, ch)
		}
	}
	if len(out) == 0 {
		out = []string{delivery.Email}
	}
	return out
}

// Enablement computes the preparation checklist from the tenant's state.
func (s *Service) Enablement(ctx context.Context, c flow.Caller) (*Checklist, error) {
	if err := s.Allow(ctx, c, flow.ReadPeople); err != nil {
		return nil, err
	}
	t, err := s.Store.TenantByID(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	return s.checklist(ctx, t)
}

func (s *Service) checklist(ctx context.Context, t *store.Tenant) (*Checklist, error) {
	p, err := policy.Parse(t.Policy)
	if err != nil {
		return nil, err
	}
	now := s.now()
	cl := &Checklist{EnabledAt: t.MFAEnabledAt, EnabledBy: t.MFAEnabledBy}

	// Delivery: a real provider for each channel, proven by a delivered test.
	dl := ChecklistItem{Key: ItemDelivery, Required: true}
	var details []string
	for _, ch := range checkedChannels(p) {
		dl.Total++
		name, kind := "", ""
		if s.Providers != nil {
			name, kind = s.Providers(t.Slug, ch)
		}
		purpose := PurposeTest
		if ch == delivery.Voice {
			// A call needs its own record; any call delivered proves the provider.
			purpose = ""
		}
		n, err := s.Store.CountDelivered(ctx, t.ID, ch, purpose, now.Add(-TestMessageWindow))
		if err != nil {
			return nil, err
		}
		switch {
		case kind == "":
			details = append(details, fmt.Sprintf("%s: no delivery provider is configured", ch))
		case kind == "dev":
			details = append(details, fmt.Sprintf("%s: warning: provider %q is the development outbox, which sends nothing to people; configure a real provider for production", ch, name))
		case n == 0 && ch == delivery.Voice:
			details = append(details, fmt.Sprintf("%s: provider %q has placed no call in the last 30 days; place a verification call (Call me now) from the portal", ch, name))
		case n == 0:
			details = append(details, fmt.Sprintf("%s: provider %q has delivered no test message in the last 30 days; send one", ch, name))
		default:
			dl.Count++
			details = append(details, fmt.Sprintf("%s: provider %q delivered a test", ch, name))
		}
	}
	dl.OK = dl.Count == dl.Total
	dl.Detail = strings.Join(details, "; ") + "."
	cl.Items = append(cl.Items, dl)

	hd := ChecklistItem{Key: ItemHelpDesk, Required: true, Total: 1}
	if p.HelpDesk.Phone != "" || p.HelpDesk.Email != "" || p.HelpDesk.URL != "" {
		hd.OK, hd.Count, hd.Detail = true, 1, "People are told to contact "+strings.TrimSpace(p.HelpDesk.Name+" "+p.HelpDesk.Phone+" "+p.HelpDesk.Email+" "+p.HelpDesk.URL)+"."
	} else {
		hd.Detail = "Set help_desk.phone, help_desk.email or help_desk.url in the policy: locked-out people are sent there."
	}
	cl.Items = append(cl.Items, hd)

	al := ChecklistItem{Key: ItemAlerts, Required: true, Count: len(p.AlertEmails), Total: len(p.AlertEmails)}
	if al.OK = len(p.AlertEmails) > 0; al.OK {
		al.Detail = "Fraud reports and security alerts go to " + strings.Join(p.AlertEmails, ", ") + "."
	} else {
		al.Detail = "Set alert_emails in the policy: fraud reports and security alerts go there."
	}
	cl.Items = append(cl.Items, al)

	total, enrolled, err := s.Store.CountAdministrators(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	ad := ChecklistItem{Key: ItemAdministrators, Required: true, Count: enrolled, Total: total, OK: total > 0 && enrolled == total}
	switch {
	case total == 0:
		ad.Detail = "No person has the console role admin; give at least one administrator that role."
	case ad.OK:
		ad.Detail = fmt.Sprintf("All %d administrators have an active second factor.", total)
	default:
		ad.Detail = fmt.Sprintf("%d of %d administrators have no active second factor; they enrol first.", total-enrolled, total)
	}
	cl.Items = append(cl.Items, ad)

	people, err := s.Store.CountPeople(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	cp := ChecklistItem{Key: ItemContactPoints, Count: people.NoContact, Total: people.Total, OK: people.NoContact == 0,
		Detail: fmt.Sprintf("%d of %d people have neither a verified phone nor a verified email: they cannot receive codes or notices.", people.NoContact, people.Total)}
	cl.Items = append(cl.Items, cp)
	cl.Items = append(cl.Items, ChecklistItem{Key: ItemEnrolled, OK: true, Count: people.Enrolled, Total: people.Total,
		Detail: fmt.Sprintf("%d of %d people already have an active second factor.", people.Enrolled, people.Total)})

	cl.Ready = len(cl.Missing()) == 0
	return cl, nil
}

// Enable turns MFA on for the whole tenant (B1) once the checklist is
// ready and confirm is the tenant's slug. It cannot be undone: from then on
// the policy's mfa_required stays everyone. Enabling again changes nothing.
func (s *Service) Enable(ctx context.Context, c flow.Caller, confirm string) (*Checklist, error) {
	if err := s.Allow(ctx, c, flow.ChangePolicy); err != nil {
		return nil, err
	}
	t, err := s.Store.TenantByID(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(confirm) != t.Slug {
		return nil, validate.Errors{{Field: "confirm", Code: "invalid",
			Message: "Type the organisation's slug to confirm: enabling MFA for everyone cannot be undone."}}
	}
	now := s.now()
	var notReady *Checklist
	err = s.Store.InTx(ctx, func(q store.Queries) error {
		// The tenant's row is held from here to the commit, so no policy
		// change slips between the checklist and the enablement.
		t, err := q.TenantForUpdate(ctx, c.TenantID)
		if err != nil {
			return err
		}
		if t.MFAEnabledAt != nil {
			return nil
		}
		cl, err := s.checklist(ctx, t)
		if err != nil {
			return err
		}
		if missing := cl.Missing(); len(missing) > 0 {
			notReady = cl
			list := strings.Join(missing, ", ")
			return fmt.Errorf("%w (missing: %s)", problem.Variant(ErrNotReady, "items", "message", list), list)
		}
		p, err := policy.Parse(t.Policy)
		if err != nil {
			return err
		}
		p.MFARequired, p.MFAGroups = policy.MFAEveryone, nil
		canonical, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if _, err := q.SetTenantMFAEnabled(ctx, t.ID, c.Actor, now); err != nil {
			return err
		}
		if err := q.UpdateTenantPolicy(ctx, t.ID, canonical); err != nil {
			return err
		}
		return s.Engine.Audit(ctx, q, c, flow.Event{Event: "mfa.enabled", Outcome: "success", Detail: map[string]any{"slug": t.Slug}})
	})
	s.Engine.ForgetPolicy(c.TenantID)
	if err != nil {
		return notReady, err
	}
	t, err = s.Store.TenantByID(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	return s.checklist(ctx, t)
}

// SendTestMessage sends a test message on a channel (sms or email) through
// the outbox, as every message goes; once delivered it proves the channel's
// provider for the checklist.
func (s *Service) SendTestMessage(ctx context.Context, c flow.Caller, channel, to string) error {
	if err := s.Allow(ctx, c, flow.ChangePolicy); err != nil {
		return err
	}
	var errs validate.Errors
	switch channel {
	case delivery.SMS:
		to = validate.Phone(&errs, "to", to, true)
	case delivery.Email:
		to = validate.Email(&errs, "to", to, true)
	case delivery.Voice:
		errs.Add("channel", "invalid", "A test call needs a person to answer it: place a verification call (Call me now) from the portal; the checklist counts any call delivered in the last 30 days.")
	default:
		errs.Add("channel", "invalid", "Channel must be sms or email.")
	}
	if err := errs.Err(); err != nil {
		return err
	}
	t, p, err := s.Engine.Policy(ctx, c.TenantID)
	if err != nil {
		return err
	}
	iss := p.Issuer
	if iss == "" {
		iss = t.Name
	}
	m := delivery.Message{ID: store.NewID("msg"), TenantID: t.ID, Channel: channel, To: to,
		Subject: iss + ": test message",
		Text:    iss + ": this is a test message from Countersign. Delivery on this channel works; no action is needed."}
	if channel == delivery.SMS {
		if e164, err := delivery.E164(to); err == nil {
			m.To = e164
		}
	}
	now := s.now()
	err = s.Store.InTx(ctx, func(q store.Queries) error {
		if err := outbox.Enqueue(ctx, q, s.Engine.Keys, m, "", PurposeTest, now); err != nil {
			return err
		}
		return s.Engine.Audit(ctx, q, c, flow.Event{Event: "delivery.test_sent", Outcome: "success",
			Detail: map[string]any{"channel": channel, "to": m.To, "message": m.ID}})
	})
	if err == nil && s.Engine.Notify != nil {
		s.Engine.Notify()
	}
	return err
}

// writePolicy is the one path every policy change takes (PUT, PATCH, the
// command line, the console): it reads the tenant in the write transaction,
// holding its row, so a change racing an enablement sees it, and refuses any
// policy that narrows MFA once it is enabled for the whole tenant (B1).
func (s *Service) writePolicy(ctx context.Context, c flow.Caller, change func(cur policy.Policy) (policy.Policy, error), detail func(canonical []byte) map[string]any) (policy.Policy, error) {
	var p policy.Policy
	err := s.Store.InTx(ctx, func(q store.Queries) error {
		t, err := q.TenantForUpdate(ctx, c.TenantID)
		if err != nil {
			return err
		}
		cur, err := policy.Parse(t.Policy)
		if err != nil {
			return err
		}
		if p, err = change(cur); err != nil {
			return err
		}
		if t.MFAEnabledAt != nil && p.MFARequired != policy.MFAEveryone {
			return ErrEnabledPermanently
		}
		canonical, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if err := q.UpdateTenantPolicy(ctx, c.TenantID, canonical); err != nil {
			return err
		}
		return s.Engine.Audit(ctx, q, c, flow.Event{Event: "policy.changed", Outcome: "success", Detail: detail(canonical)})
	})
	s.Engine.ForgetPolicy(c.TenantID)
	if errors.Is(err, ErrEnabledPermanently) {
		_ = s.Engine.Audit(ctx, s.Store, c, flow.Event{Event: "policy.changed", Outcome: "refused", Detail: map[string]any{"reason": "mfa_enabled_permanently", "mfa_required": p.MFARequired}})
	}
	return p, err
}
