package portal

import (
	"net/url"
	"strings"

	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// The console's queue of reported MFA issues (A13, G5): the help desk
// takes an issue, writes internal notes and closes it; the tracking number
// the person was given finds it.

func (p *Portal) consoleReportRoutes(add func(string, string, flow.Action, handlerFunc)) {
	add("GET", "/reports", flow.ReadPeople, p.consoleReports)
	add("GET", "/reports/{tracking}", flow.ReadPeople, p.consoleReport)
	add("POST", "/reports/{tracking}", flow.WorkReports, p.consoleWorkReport)
	add("POST", "/reports/{tracking}/notes", flow.WorkReports, p.consoleReportNote)
}

// reportStates are the states of a reported issue, in the queue's order.
var reportStates = []string{"open", "in_progress", "closed"}

type reportsView struct {
	State, Query string
	States       []string
	Reports      []store.SupportRequest
	Next         string
}

const reportsPage = 50

func (p *Portal) consoleReports(rq *request) error {
	q := rq.r.URL.Query()
	v := &reportsView{State: q.Get("state"), Query: q.Get("q"), States: reportStates}
	pg := &Page{Title: "console.reports.title", Console: &ConsoleNav{Section: "reports"}, Data: v, Notice: rq.notice(),
		Form: map[string]string{"state": v.State, "q": v.Query}}
	reports, err := p.Directory.SupportQueue(rq.ctx(), rq.caller, store.SupportFilter{TenantID: rq.tenant.ID, State: v.State, Query: v.Query,
		Before: q.Get("before"), Limit: reportsPage})
	if err != nil {
		return rq.renderForm("console_reports", pg, err)
	}
	v.Reports = reports
	if len(reports) == reportsPage {
		v.Next = url.Values{"state": {v.State}, "q": {v.Query}, "before": {reports[len(reports)-1].Tracking}}.Encode()
	}
	rq.render("console_reports", pg)
	return nil
}

type reportView struct {
	Report  *store.SupportRequest
	Notes   []store.SupportNote
	States  []string
	MayWork bool
	// Me is how the queue names the viewer as an assignee.
	Me string
	// Person is the reporter's account, when the report names one.
	Person *store.User
}

func (p *Portal) consoleReport(rq *request) error {
	return p.showReport(rq, &Page{}, nil)
}

func (p *Portal) showReport(rq *request, pg *Page, formErr error) error {
	tracking := strings.ToUpper(rq.r.PathValue("tracking"))
	if !validate.Usable(tracking) || len(tracking) > 40 {
		return store.ErrNotFound
	}
	r, notes, err := p.Directory.SupportRequestDetail(rq.ctx(), rq.caller, tracking)
	if err != nil {
		return err
	}
	for i, n := range notes {
		// A note written in the console names its author by login ID.
		if id, ok := strings.CutPrefix(n.Author, "console:"); ok {
			if u, err := p.Directory.UserByID(rq.ctx(), rq.tenant.ID, id); err == nil {
				notes[i].Author = u.LoginID
			}
		}
	}
	v := &reportView{Report: r, Notes: notes, States: reportStates, Me: rq.user.LoginID,
		MayWork: flow.Permits(rq.user.ConsoleRole, rq.policy, flow.WorkReports)}
	if r.UserID != "" {
		if u, err := p.Directory.UserByID(rq.ctx(), rq.tenant.ID, r.UserID); err == nil {
			v.Person = u
		}
	} else if r.LoginID != "" {
		if u, err := p.Directory.User(rq.ctx(), rq.tenant.ID, r.LoginID); err == nil {
			v.Person = u
		}
	}
	pg.Title, pg.Data, pg.Console = "console.report.title", v, &ConsoleNav{Section: "reports"}
	if pg.Form == nil {
		pg.Form = map[string]string{"state": r.State, "assignee": r.Assignee}
	}
	if pg.Notice == "" {
		pg.Notice = rq.notice()
	}
	return rq.renderForm("console_report", pg, formErr)
}

func (p *Portal) consoleWorkReport(rq *request) error {
	tracking := strings.ToUpper(rq.r.PathValue("tracking"))
	state, assignee := rq.form("state"), rq.form("assignee")
	if rq.form("take") != "" {
		assignee = rq.user.LoginID
	}
	ch := directory.SupportChange{State: &state, Assignee: &assignee}
	if _, err := p.Directory.WorkSupportRequest(rq.ctx(), rq.caller, tracking, ch); err != nil {
		return p.showReport(rq, &Page{Form: map[string]string{"state": state, "assignee": assignee}}, err)
	}
	if err := rq.consoleNotice("console.report.updated"); err != nil {
		return err
	}
	rq.redirect("/reports/" + url.PathEscape(tracking))
	return nil
}

func (p *Portal) consoleReportNote(rq *request) error {
	tracking := strings.ToUpper(rq.r.PathValue("tracking"))
	note := rq.form("note")
	if note == "" {
		return p.showReport(rq, &Page{}, rq.fieldError("note", "required", "console.report.note_needed"))
	}
	if _, err := p.Directory.WorkSupportRequest(rq.ctx(), rq.caller, tracking, directory.SupportChange{Note: note}); err != nil {
		return p.showReport(rq, &Page{Form: map[string]string{"note": note}}, err)
	}
	if err := rq.consoleNotice("console.report.noted"); err != nil {
		return err
	}
	rq.redirect("/reports/" + url.PathEscape(tracking))
	return nil
}
