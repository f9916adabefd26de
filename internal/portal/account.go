package portal

import (
	"encoding/json"
	"errors"
	"slices"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

func (p *Portal) accountRoutes(add func(string, string, access, handlerFunc)) {
	add("GET", "/account", full, p.account)
	add("POST", "/account/factors/remove", full, p.removeFactor)
	add("POST", "/account/devices/revoke", full, p.revokeDevice)
	add("GET", "/account/activity", full, p.activity)
}

// voiceNumbers reads a phone-call factor's numbers.
func voiceNumbers(f store.Factor) flow.VoiceNumbers {
	var n flow.VoiceNumbers
	_ = json.Unmarshal([]byte(f.Config), &n)
	return n
}

type methodView struct {
	ID, Kind, Detail string
	Since            string
	Removable        bool
}

type accountData struct {
	Methods    []methodView
	Available  []string // kinds the person may still set up
	Devices    []store.TrustedDevice
	Activity   []activityView
	Email      string
	Phone      string
	Questions  bool
	TokensLeft int
	// Tokens: one-time access tokens stand in for a lost authenticator app
	// (C8), so only people with one hear how many are left.
	Tokens bool
}

type activityView struct {
	When, What, Outcome, IP string
}

func (rq *request) accountData() (*accountData, error) {
	ctx, u := rq.ctx(), rq.user
	methods, err := rq.p.Engine.Methods(ctx, rq.policy, u)
	if err != nil {
		return nil, err
	}
	d := &accountData{TokensLeft: flow.OneTimeTokensLeft(rq.policy, u)}
	if u.Email != "" {
		d.Email = flow.MaskEmail(u.Email)
	}
	if u.Phone != "" {
		d.Phone = flow.MaskPhone(u.Phone)
	}
	have := map[string]bool{}
	for _, mt := range methods {
		f := mt.Factor
		have[f.Kind] = true
		d.Tokens = d.Tokens || (f.Kind == policy.FactorTOTP && rq.policy.OTAMaxConsecutive > 0)
		m := methodView{ID: f.ID, Kind: f.Kind, Detail: mt.To, Removable: mt.Removable}
		if f.ConfirmedAt != nil {
			m.Since = f.ConfirmedAt.UTC().Format(rq.text.T("format.day"))
		}
		if mt.Backup != "" {
			m.Detail += " · " + rq.text.T("account.backup", mt.Backup)
		}
		d.Questions = d.Questions || !mt.OpensApplications
		d.Methods = append(d.Methods, m)
	}
	for _, k := range rq.policy.AllowedFactors {
		if !have[k] {
			d.Available = append(d.Available, k)
		}
	}
	slices.Sort(d.Available)
	devices, err := rq.p.Engine.TrustedDevices(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	now := rq.p.now()
	for _, dv := range devices {
		if dv.RevokedAt == nil && now.Before(dv.ExpiresAt) {
			d.Devices = append(d.Devices, dv)
		}
	}
	if d.Activity, err = rq.activity(10); err != nil {
		return nil, err
	}
	return d, nil
}

// activity is the person's own recent sign-in activity, newest first.
func (rq *request) activity(limit int) ([]activityView, error) {
	events, err := rq.p.Engine.Activity(rq.ctx(), rq.tenant.ID, rq.user.ID, limit*3)
	if err != nil {
		return nil, err
	}
	var out []activityView
	for _, e := range events {
		key := "activity." + e.Event
		if !rq.text.Has(key) {
			continue
		}
		out = append(out, activityView{When: e.CreatedAt.UTC().Format(rq.text.T("format.datetime")), What: rq.text.T(key), Outcome: rq.text.T("activity.outcome." + e.Outcome), IP: e.IP})
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

func (p *Portal) account(rq *request) error {
	d, err := rq.accountData()
	if err != nil {
		return err
	}
	return rq.renderForm("account", &Page{Title: "account.title", Data: d, Notice: rq.notice()}, nil)
}

// accountAgain shows the account page with err, or goes back to it with a notice.
func (rq *request) accountAgain(err error, notice string) error {
	if err == nil {
		rq.data.Notice = notice
		if err := rq.saveSession(); err != nil {
			return err
		}
		rq.redirect("/account")
		return nil
	}
	if errors.Is(err, flow.ErrFreshAuthRequired) {
		return err
	}
	d, derr := rq.accountData()
	if derr != nil {
		return derr
	}
	return rq.renderForm("account", &Page{Title: "account.title", Data: d}, err)
}

func (p *Portal) removeFactor(rq *request) error {
	if rq.form("confirm") == "" {
		// A removal is asked about first, on a page of its own, so it
		// works without JavaScript; "No" goes back to the account page.
		d, err := rq.accountData()
		if err != nil {
			return err
		}
		for _, m := range d.Methods {
			if m.ID == rq.form("factor") && m.Removable {
				return rq.renderForm("remove_confirm", &Page{Title: "remove.title", Data: m}, nil)
			}
		}
	}
	err := p.Engine.RemoveOwnFactor(rq.ctx(), rq.caller, rq.sess.TxnID, rq.form("factor"))
	if err == nil {
		// The removal ended every other session; this one carries on renewed.
		if err := rq.startSession(rq.user, store.SessionFull, rq.sess.TxnID, sessionData{}); err != nil {
			return err
		}
	}
	return rq.accountAgain(err, "account.removed")
}

func (p *Portal) revokeDevice(rq *request) error {
	err := p.Engine.RevokeOwnTrustedDevice(rq.ctx(), rq.caller, rq.sess.TxnID, rq.form("device"))
	return rq.accountAgain(err, "account.device_revoked")
}

func (p *Portal) activity(rq *request) error {
	events, err := rq.activity(50)
	if err != nil {
		return err
	}
	return rq.renderForm("activity", &Page{Title: "activity.title", Data: events}, nil)
}
