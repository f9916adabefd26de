package portal

import (
	"slices"
	"strings"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/validate"
)

// The console's policy pages: every setting with its value and default,
// and a change of one setting at a time, validated, with who it affects
// shown before it is made (issue 13 item 6).

func (p *Portal) consolePolicyRoutes(add func(string, string, flow.Action, handlerFunc)) {
	add("GET", "/policy", flow.ReadPeople, p.consolePolicy)
	add("GET", "/policy/change", flow.ChangePolicy, p.consolePolicyForm)
	add("POST", "/policy/change", flow.ChangePolicy, p.consolePolicyChange)
}

type policyView struct {
	Settings []policy.Setting
	MayEdit  bool
}

func (p *Portal) consolePolicy(rq *request) error {
	settings, err := policy.Settings(rq.policy)
	if err != nil {
		return err
	}
	v := &policyView{Settings: settings, MayEdit: flow.Permits(rq.user.ConsoleRole, rq.policy, flow.ChangePolicy)}
	rq.render("console_policy", &Page{Title: "console.policy.title", Console: &ConsoleNav{Section: "policy"}, Data: v, Notice: rq.notice()})
	return nil
}

// policyChange is the change form's data: the setting, and once the
// value was checked, what the change does and to whom.
type policyChange struct {
	Setting policy.Setting
	// Described: the setting has a catalogue description.
	Described bool
	// Confirm is set once the value is valid: the page then asks to confirm.
	Confirm  bool
	NewValue string
	Affected affected
}

// affected says who a change reaches: everyone, or for the settings that
// decide who needs a second factor, how many before and after.
type affected struct {
	Total            int
	MFABefore        int
	MFAAfter         int
	Scope            bool // the change moves people in or out of MFA
	PortalOnly       bool
	PasswordsChanged bool
}

func (p *Portal) setting(rq *request, key string) (policy.Setting, bool, error) {
	settings, err := policy.Settings(rq.policy)
	if err != nil {
		return policy.Setting{}, false, err
	}
	i := slices.IndexFunc(settings, func(s policy.Setting) bool { return s.Key == key })
	if i < 0 {
		return policy.Setting{}, false, nil
	}
	return settings[i], true, nil
}

func (p *Portal) consolePolicyForm(rq *request) error {
	key := rq.r.URL.Query().Get("key")
	s, ok, err := p.setting(rq, key)
	if err != nil {
		return err
	}
	if !ok {
		return p.notFound(rq)
	}
	v := &policyChange{Setting: s, Described: rq.text.Has("policy." + s.Key)}
	rq.render("console_policy_change", &Page{Title: "console.policy.change_title", Console: &ConsoleNav{Section: "policy"}, Data: v,
		Form: map[string]string{"key": s.Key, "value": s.Value}})
	return nil
}

// consolePolicyChange checks the new value; the first submission shows
// what would change and for whom, the confirmed one makes the change.
func (p *Portal) consolePolicyChange(rq *request) error {
	key := rq.form("key")
	s, ok, err := p.setting(rq, key)
	if err != nil {
		return err
	}
	if !ok {
		return p.notFound(rq)
	}
	raw := rq.form("value")
	v := &policyChange{Setting: s, Described: rq.text.Has("policy." + s.Key), NewValue: raw}
	pg := &Page{Title: "console.policy.change_title", Console: &ConsoleNav{Section: "policy"}, Data: v,
		Form: map[string]string{"key": s.Key, "value": raw}}
	patch, err := policy.KeyPatch([]string{key + "=" + raw})
	if err != nil {
		return rq.renderForm("console_policy_change", pg, validate.Errors{{Field: "value", Code: "invalid", Message: err.Error()}})
	}
	next, err := policy.Patch(rq.policy, patch)
	if err != nil {
		return rq.renderForm("console_policy_change", pg, validate.Errors{{Field: "value", Code: "invalid", Message: strings.TrimPrefix(err.Error(), "policy: ")}})
	}
	if rq.form("confirm") != "yes" {
		if v.Affected, err = p.affected(rq, rq.policy, next, key); err != nil {
			return err
		}
		v.Confirm = true
		rq.render("console_policy_change", pg)
		return nil
	}
	if _, err := p.Directory.PatchPolicy(rq.ctx(), rq.caller, patch); err != nil {
		return rq.renderForm("console_policy_change", pg, err)
	}
	if err := rq.consoleNotice("console.policy.changed"); err != nil {
		return err
	}
	rq.redirect("/policy")
	return nil
}

// affected counts who a change reaches.
func (p *Portal) affected(rq *request, before, after policy.Policy, key string) (affected, error) {
	var a affected
	total, _, err := p.Directory.CountPeople(rq.ctx(), rq.tenant.ID, nil)
	if err != nil {
		return a, err
	}
	a.Total = total
	count := func(pol policy.Policy) (int, error) {
		switch pol.MFARequired {
		case policy.MFANobody:
			return 0, nil
		case policy.MFAGroups:
			_, n, err := p.Directory.CountPeople(rq.ctx(), rq.tenant.ID, pol.MFAGroups)
			return n, err
		}
		return total, nil
	}
	if strings.HasPrefix(key, "mfa_required") || strings.HasPrefix(key, "mfa_groups") {
		a.Scope = true
		if a.MFABefore, err = count(before); err != nil {
			return a, err
		}
		if a.MFAAfter, err = count(after); err != nil {
			return a, err
		}
	}
	a.PortalOnly = strings.HasPrefix(key, "portal.")
	a.PasswordsChanged = strings.HasPrefix(key, "password.")
	return a, nil
}
