package portal

import (
	"errors"
	"net/url"
	"slices"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// The console's people pages: search, a person's page, and what the help
// desk and administrators do for a person (B2, B6, A12, C1).

func (p *Portal) consolePeopleRoutes(add func(string, string, flow.Action, handlerFunc)) {
	add("GET", "/people", flow.ReadPeople, p.consolePeople)
	add("GET", "/people/{id}", flow.ReadPeople, p.consolePerson)
	add("POST", "/people/{id}/unlock", flow.Unlock, p.consoleUnlock)
	add("POST", "/people/{id}/reset", flow.ResetFactors, p.consoleReset)
	// Who may change contact points is the engine's decision (policy may
	// grant it to the help desk), as for the admin API.
	add("POST", "/people/{id}/contact", flow.ReadPeople, p.consoleContact)
	add("POST", "/people/{id}/status", flow.ChangeStatus, p.consoleStatus)
	add("POST", "/people/{id}/role", flow.ManagePeople, p.consoleRole)
	add("POST", "/people/{id}/devices/revoke", flow.ReadPeople, p.consoleRevokeDevice)
}

// peopleView is the search page's data.
type peopleView struct {
	Query, Status string
	Statuses      []string
	Searched      bool
	People        []store.User
	// Next is the query string of the next page, if there is one.
	Next string
}

const peoplePage = 50

func (p *Portal) consolePeople(rq *request) error {
	q := rq.r.URL.Query()
	v := &peopleView{Query: q.Get("q"), Status: q.Get("status"), Statuses: append(slices.Clone(store.Statuses), store.StatusTerminated)}
	pg := &Page{Title: "console.people.title", Console: &ConsoleNav{Section: "people"}, Data: v,
		Form: map[string]string{"q": v.Query, "status": v.Status}}
	people, err := p.Directory.SearchUsers(rq.ctx(), rq.caller, directory.UserSearch{Query: v.Query, Status: v.Status, After: q.Get("after"), Limit: peoplePage})
	if err != nil {
		return rq.renderForm("console_people", pg, err)
	}
	v.Searched, v.People = true, people
	if len(people) == peoplePage {
		v.Next = url.Values{"q": {v.Query}, "status": {v.Status}, "after": {people[len(people)-1].LoginID}}.Encode()
	}
	rq.render("console_people", pg)
	return nil
}

// personView is a person's page: everything the help desk needs to help,
// and the actions the viewer's role allows.
type personView struct {
	Person   *store.User
	Factors  []store.Factor
	Devices  []store.TrustedDevice
	Activity []activityRow
	// Locked: the second factor is locked now (B5).
	Locked      bool
	MFALimit    int
	Statuses    []string
	MayUnlock   bool
	MayReset    bool
	MayContacts bool
	MayStatus   bool
	MayRole     bool
	MayResend   bool
	MayEnd      bool
	Terminated  bool
}

func (p *Portal) person(rq *request) (*store.User, error) {
	id := rq.r.PathValue("id")
	if !validate.Usable(id) || len(id) > 100 {
		return nil, store.ErrNotFound
	}
	return p.Directory.UserByID(rq.ctx(), rq.tenant.ID, id)
}

func (p *Portal) consolePerson(rq *request) error {
	return p.showPerson(rq, &Page{}, nil)
}

// showPerson renders a person's page, after err when a form on it failed.
func (p *Portal) showPerson(rq *request, pg *Page, formErr error) error {
	u, err := p.person(rq)
	if err != nil {
		return err
	}
	v := &personView{Person: u, MFALimit: rq.policy.MFAAttempts, Statuses: store.Statuses,
		Locked: flow.MFALocked(u, rq.policy, rq.p.now())}
	role := rq.user.ConsoleRole
	v.MayUnlock = flow.Permits(role, rq.policy, flow.Unlock)
	v.MayReset = flow.Permits(role, rq.policy, flow.ResetFactors)
	v.MayContacts = flow.Permits(role, rq.policy, flow.ChangeContacts)
	v.MayStatus = flow.Permits(role, rq.policy, flow.ChangeStatus)
	v.MayRole = flow.Permits(role, rq.policy, flow.ManagePeople)
	v.Terminated = u.Status == store.StatusTerminated
	v.MayResend = flow.Permits(role, rq.policy, flow.ResendMessage) && !v.Terminated
	v.MayEnd = flow.Permits(role, rq.policy, flow.Terminate) && !v.Terminated
	if v.Terminated {
		// Nothing changes a terminated account any more (C14).
		v.MayUnlock, v.MayReset, v.MayContacts, v.MayStatus, v.MayRole = false, false, false, false, false
	}
	if v.Factors, err = p.Directory.Factors(rq.ctx(), u.ID); err != nil {
		return err
	}
	v.Factors = slices.DeleteFunc(v.Factors, func(f store.Factor) bool { return f.State == store.FactorRevoked })
	if v.Devices, err = p.Directory.TrustedDevices(rq.ctx(), u.ID); err != nil {
		return err
	}
	now := p.now()
	v.Devices = slices.DeleteFunc(v.Devices, func(d store.TrustedDevice) bool { return d.RevokedAt != nil || now.After(d.ExpiresAt) })
	events, err := p.Directory.Audit(rq.ctx(), store.AuditFilter{TenantID: rq.tenant.ID, UserID: u.ID, Limit: 10})
	if err != nil {
		return err
	}
	v.Activity = rq.activityRows(events)
	pg.Title, pg.Data = "console.person.title", v
	if pg.Console == nil {
		pg.Console = &ConsoleNav{Section: "people"}
	}
	if pg.Form == nil {
		pg.Form = map[string]string{"email": u.Email, "phone": u.Phone, "status": u.Status, "role": u.ConsoleRole}
	}
	if pg.Notice == "" {
		pg.Notice = rq.notice()
	}
	return rq.renderForm("console_person", pg, formErr)
}

// personDone goes back to the person's page with a notice.
func (rq *request) personDone(u *store.User, notice string) error {
	if err := rq.consoleNotice(notice); err != nil {
		return err
	}
	rq.redirect("/people/" + u.ID)
	return nil
}

func (p *Portal) consoleUnlock(rq *request) error {
	u, err := p.person(rq)
	if err != nil {
		return err
	}
	if err := p.Directory.Unlock(rq.ctx(), rq.caller, u.ID); err != nil {
		return p.showPerson(rq, &Page{}, err)
	}
	return rq.personDone(u, "console.person.unlocked")
}

func (p *Portal) consoleReset(rq *request) error {
	u, err := p.person(rq)
	if err != nil {
		return err
	}
	if rq.form("confirm") != "yes" {
		return p.showPerson(rq, &Page{}, rq.fieldError("confirm", "required", "console.person.reset_confirm_needed"))
	}
	if _, err := p.Directory.ResetFactors(rq.ctx(), rq.caller, u.ID); err != nil {
		return p.showPerson(rq, &Page{}, err)
	}
	return rq.personDone(u, "console.person.reset_done")
}

// consoleContact changes where a person's codes and calls go. The engine
// tells the person on the old and the new address (B2, A12).
func (p *Portal) consoleContact(rq *request) error {
	u, err := p.person(rq)
	if err != nil {
		return err
	}
	channel, field := delivery.SMS, "phone"
	if rq.form("channel") == "email" {
		channel, field = delivery.Email, "email"
	}
	form := map[string]string{"email": u.Email, "phone": u.Phone, "status": u.Status, "role": u.ConsoleRole}
	form[field] = rq.form(field)
	var errs validate.Errors
	var value string
	if channel == delivery.Email {
		value = validate.Email(&errs, "email", rq.form("email"), true)
	} else {
		value = validate.Phone(&errs, "phone", rq.form("phone"), true)
	}
	if err := errs.Err(); err != nil {
		return p.showPerson(rq, &Page{Form: form}, err)
	}
	if err := p.Engine.SetContact(rq.ctx(), rq.caller, u.ID, channel, value); err != nil {
		return p.showPerson(rq, &Page{Form: form}, err)
	}
	return rq.personDone(u, "console.person.contact_changed."+field)
}

func (p *Portal) consoleStatus(rq *request) error {
	u, err := p.person(rq)
	if err != nil {
		return err
	}
	status := rq.form("status")
	if err := p.Directory.SetStatus(rq.ctx(), rq.caller, u.ID, status); err != nil {
		return p.showPerson(rq, &Page{Form: map[string]string{"email": u.Email, "phone": u.Phone, "status": status, "role": u.ConsoleRole}}, err)
	}
	return rq.personDone(u, "console.person.status_changed")
}

func (p *Portal) consoleRole(rq *request) error {
	u, err := p.person(rq)
	if err != nil {
		return err
	}
	role := rq.form("role")
	if u.ID == rq.user.ID && role != store.RoleAdmin {
		// An administrator cannot lock themself out of the console by mistake.
		return p.showPerson(rq, &Page{}, rq.fieldError("role", "own", "console.person.role_own"))
	}
	if err := p.Directory.SetConsoleRole(rq.ctx(), rq.caller, u.ID, role); err != nil {
		return p.showPerson(rq, &Page{}, err)
	}
	return rq.personDone(u, "console.person.role_changed")
}

func (p *Portal) consoleRevokeDevice(rq *request) error {
	u, err := p.person(rq)
	if err != nil {
		return err
	}
	err = p.Engine.RevokeTrustedDevice(rq.ctx(), rq.caller, u.ID, rq.form("device"))
	if errors.Is(err, store.ErrNotFound) {
		return rq.personDone(u, "console.person.device_gone")
	}
	if err != nil {
		return err
	}
	return rq.personDone(u, "console.person.device_revoked")
}

// activityRow is an audit event as the console's tables show it.
type activityRow struct {
	When, Event, Outcome, Actor, IP, Detail, UserID string
}

func (rq *request) activityRows(events []store.AuditEvent) []activityRow {
	out := make([]activityRow, 0, len(events))
	for _, e := range events {
		detail := e.Detail
		if detail == "{}" {
			detail = ""
		}
		out = append(out, activityRow{When: e.CreatedAt.UTC().Format(rq.text.T("format.datetime")), Event: e.Event, Outcome: e.Outcome,
			Actor: e.Actor, IP: e.IP, Detail: detail, UserID: e.UserID})
	}
	return out
}
