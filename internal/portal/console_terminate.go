package portal

import (
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/store"
)

// Ending a compromised account for good (C14), and sending a person their
// enrolment or re-enable message again (the help desk's part).

func (p *Portal) consoleTerminateRoutes(add func(string, string, flow.Action, handlerFunc)) {
	add("GET", "/people/{id}/terminate", flow.Terminate, p.consoleTerminateForm)
	add("POST", "/people/{id}/terminate", flow.Terminate, p.consoleTerminate)
	add("POST", "/people/{id}/resend", flow.ResendMessage, p.consoleResend)
}

func (p *Portal) consoleTerminateForm(rq *request) error {
	u, err := p.person(rq)
	if err != nil {
		return err
	}
	if u.Status == store.StatusTerminated {
		return rq.personDone(u, "console.terminate.already")
	}
	rq.render("console_terminate", &Page{Title: "console.terminate.title", Console: &ConsoleNav{Section: "people"}, Data: u})
	return nil
}

func (p *Portal) consoleTerminate(rq *request) error {
	u, err := p.person(rq)
	if err != nil {
		return err
	}
	pg := &Page{Title: "console.terminate.title", Console: &ConsoleNav{Section: "people"}, Data: u,
		Form: map[string]string{"reason": rq.form("reason")}}
	if rq.form("confirm_login_id") != u.LoginID {
		return rq.renderForm("console_terminate", pg, rq.fieldError("confirm_login_id", "mismatch", "console.terminate.confirm_mismatch"))
	}
	if _, err := p.Directory.Terminate(rq.ctx(), rq.caller, u.ID, rq.form("reason")); err != nil {
		return rq.renderForm("console_terminate", pg, err)
	}
	return rq.personDone(u, "console.terminate.done")
}

func (p *Portal) consoleResend(rq *request) error {
	u, err := p.person(rq)
	if err != nil {
		return err
	}
	kind := rq.form("kind")
	if err := p.Directory.ResendMessage(rq.ctx(), rq.caller, u.ID, kind); err != nil {
		return p.showPerson(rq, &Page{}, err)
	}
	return rq.personDone(u, "console.resend.done."+kind)
}
