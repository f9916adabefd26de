package portal

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// "Report an MFA issue" (A13, seed 001): anyone may file one; a signed-in
// person's report is linked to their account.
func (p *Portal) reportRoutes(add func(string, string, access, handlerFunc)) {
	add("GET", "/report", public, p.reportForm)
	add("POST", "/report", public, p.report)
}

// reportFields are the form's fields, in form order.
var reportFields = []string{"login_id", "phone", "name", "subject", "email", "message"}

// reportData is what the report form needs besides its values.
type reportData struct{ Max int }

// reporter is the signed-in person filing a report, if any: not someone
// half-way through recovering a lost device.
func (rq *request) reporter() *store.User {
	if rq.sess == nil || rq.sess.Level == store.SessionRecovery {
		return nil
	}
	return rq.user
}

func (p *Portal) reportForm(rq *request) error {
	pg := &Page{Title: "report.title", Data: reportData{Max: flow.SupportMessageMax}, Form: map[string]string{}}
	if u := rq.reporter(); u != nil {
		pg.Form["login_id"], pg.Form["email"], pg.Form["phone"] = u.LoginID, u.Email, u.Phone
	}
	return rq.renderForm("report", pg, nil)
}

func (p *Portal) report(rq *request) error {
	pg := &Page{Title: "report.title", Data: reportData{Max: flow.SupportMessageMax}, Form: map[string]string{}}
	for _, f := range reportFields {
		pg.Form[f] = rq.form(f)
	}
	if err := rq.formLimit("report"); err != nil {
		return rq.renderForm("report", pg, err)
	}
	in := flow.SupportRequestInput{LoginID: pg.Form["login_id"], Name: pg.Form["name"], Phone: pg.Form["phone"],
		Email: pg.Form["email"], Subject: pg.Form["subject"], Message: pg.Form["message"]}
	if u := rq.reporter(); u != nil {
		in.UserID = u.ID
	}
	r, err := p.Engine.FileSupportRequest(rq.ctx(), rq.caller, in)
	if err != nil {
		return rq.renderForm("report", pg, rq.overLimit(err, pg.Form["message"]))
	}
	return rq.renderForm("report_done", &Page{Title: "report.done_title", Data: r}, nil)
}

// overLimit words a too-long message by how much it is over and what to do,
// as the live counter does, instead of restating the limit; the other field
// errors keep their usual words.
func (rq *request) overLimit(err error, message string) error {
	var fields validate.Errors
	if !errors.As(err, &fields) {
		return err
	}
	out := make(worded, 0, len(fields))
	for _, f := range fields {
		f.Message = rq.fieldMessage(f)
		if f.Field == "message" && f.Code == "too_long" {
			// Counted as the engine counts: trimmed, a line break is one.
			n := utf8.RuneCountInString(strings.TrimSpace(strings.ReplaceAll(message, "\r\n", "\n")))
			f.Message = rq.text.N("report.message_too_long", n-f.Limit, n-f.Limit, f.Limit)
		}
		out = append(out, f)
	}
	return out
}
