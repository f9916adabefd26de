package portal

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// The console's audit pages for investigators (G5): search by person,
// event, outcome, address and time range; export what the search finds.

func (p *Portal) consoleAuditRoutes(add func(string, string, flow.Action, handlerFunc)) {
	add("GET", "/audit", flow.ReadPeople, p.consoleAudit)
	add("GET", "/audit/export", flow.ReadPeople, p.consoleAuditExport)
	add("GET", "/audit/verify", flow.ReadPeople, p.consoleAuditVerify)
}

// consoleAuditVerify walks the tenant's audit chain and its signed
// checkpoints (X6) and says whether the log is as it was written, or
// where it was changed.
func (p *Portal) consoleAuditVerify(rq *request) error {
	r, err := p.Directory.VerifyAudit(rq.ctx(), rq.caller)
	if err != nil {
		return err
	}
	if !r.OK {
		rq.status = http.StatusConflict
	}
	rq.render("console_verify", &Page{Title: "console.verify.title", Console: &ConsoleNav{Section: "audit"}, Data: r})
	return nil
}

type auditView struct {
	Events []activityRow
	// Logins maps user ids in the events to login IDs, for links.
	Logins map[string]string
	// Query is the search's query string, for the export links; Next the
	// next page's.
	Query, Next string
}

const auditPage = 100

// auditFilter reads the search form (a GET form: the search is a link).
func (p *Portal) auditFilter(rq *request) (store.AuditFilter, map[string]string, error) {
	q := rq.r.URL.Query()
	form := map[string]string{}
	for _, k := range []string{"login_id", "event", "outcome", "ip", "from", "to"} {
		form[k] = q.Get(k)
	}
	var errs validate.Errors
	f := store.AuditFilter{TenantID: rq.tenant.ID, Event: validate.Text(&errs, "event", form["event"], false, 100),
		Outcome: validate.Text(&errs, "outcome", form["outcome"], false, 50)}
	if ip := form["ip"]; ip != "" {
		f.IP = validate.Text(&errs, "ip", ip, false, 64)
	}
	day := func(field string) time.Time {
		v := form[field]
		if v == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			errs.Add(field, "invalid", "Write the date as YYYY-MM-DD.")
		}
		return t
	}
	f.Since = day("from")
	if to := day("to"); !to.IsZero() {
		f.Until = to.AddDate(0, 0, 1) // the whole day
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		errs.Add("to", "before_from", "The end date is before the start date.")
	}
	if err := errs.Err(); err != nil {
		return f, form, err
	}
	if ref := form["login_id"]; ref != "" {
		u, err := p.Directory.User(rq.ctx(), rq.tenant.ID, ref)
		if errors.Is(err, store.ErrNotFound) {
			return f, form, rq.fieldError("login_id", "unknown", "console.audit.no_person")
		}
		if err != nil {
			return f, form, err
		}
		f.UserID = u.ID
	}
	return f, form, nil
}

func (p *Portal) consoleAudit(rq *request) error {
	v := &auditView{Logins: map[string]string{}}
	pg := &Page{Title: "console.audit.title", Console: &ConsoleNav{Section: "audit"}, Data: v}
	f, form, err := p.auditFilter(rq)
	pg.Form = form
	if err != nil {
		return rq.renderForm("console_audit", pg, err)
	}
	query := url.Values{}
	for k, val := range form {
		if val != "" {
			query.Set(k, val)
		}
	}
	v.Query = query.Encode()
	before, _ := strconv.ParseInt(rq.r.URL.Query().Get("before"), 10, 64)
	f.Limit, f.BeforeID = auditPage, max(before, 0)
	events, err := p.Directory.Audit(rq.ctx(), f)
	if err != nil {
		return err
	}
	v.Events = rq.activityRows(events)
	for _, e := range events {
		if e.UserID == "" || v.Logins[e.UserID] != "" {
			continue
		}
		if u, err := p.Directory.UserByID(rq.ctx(), rq.tenant.ID, e.UserID); err == nil {
			v.Logins[e.UserID] = u.LoginID
		}
	}
	if len(events) == auditPage {
		query.Set("before", strconv.FormatInt(events[len(events)-1].ID, 10))
		v.Next = query.Encode()
	}
	rq.render("console_audit", pg)
	return nil
}

// consoleAuditExport downloads every event the search matches as CSV or
// JSON lines, through the directory's export (the admin API's too).
func (p *Portal) consoleAuditExport(rq *request) error {
	format := rq.r.URL.Query().Get("format")
	if format != directory.ExportJSONL {
		format = directory.ExportCSV
	}
	f, form, err := p.auditFilter(rq)
	if err != nil {
		return rq.renderForm("console_audit", &Page{Title: "console.audit.title", Console: &ConsoleNav{Section: "audit"}, Data: &auditView{}, Form: form}, err)
	}
	ctype := directory.ExportContentType(format)
	started, err := p.Directory.ExportAuditTo(rq.ctx(), f, format, rq.w, func() {
		rq.w.Header().Set("Content-Type", ctype)
		rq.w.Header().Set("Content-Disposition", `attachment; filename="audit-`+rq.tenant.Slug+`.`+format+`"`)
	})
	if err != nil {
		if !started {
			return err
		}
		p.Log.Error("console: audit export failed", "err", err)
	}
	return nil
}
