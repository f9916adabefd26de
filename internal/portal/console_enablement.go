package portal

import (
	"strings"
	"time"

	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/validate"
)

// Tenant-wide enablement (B1) and phased enforcement (A1) in the console:
// the preparation checklist computed from the tenant's real state, the
// test message, the switch that cannot be undone, and the phases that
// bring groups or units into scope from a date, with their progress.

func (p *Portal) consoleEnablementRoutes(add func(string, string, flow.Action, handlerFunc)) {
	add("GET", "/enablement", flow.ChangePolicy, p.consoleEnablement)
	add("POST", "/enablement", flow.ChangePolicy, p.consoleEnable)
	add("POST", "/enablement/test", flow.ChangePolicy, p.consoleTestMessage)
	add("POST", "/phases", flow.ChangePolicy, p.consoleAddPhase)
	add("POST", "/phases/{id}/delete", flow.ChangePolicy, p.consoleDeletePhase)
}

type enablementView struct {
	Checklist *directory.Checklist
	Phases    []directory.PhaseProgress
	Slug      string
}

func (p *Portal) showEnablement(rq *request, pg *Page, formErr error) error {
	cl, err := p.Directory.Enablement(rq.ctx(), rq.caller)
	if err != nil {
		return err
	}
	phases, err := p.Directory.Phases(rq.ctx(), rq.caller)
	if err != nil {
		return err
	}
	pg.Title, pg.Console, pg.Data = "console.enablement.title", &ConsoleNav{Section: "enablement"}, &enablementView{Checklist: cl, Phases: phases, Slug: rq.tenant.Slug}
	if pg.Notice == "" {
		pg.Notice = rq.notice()
	}
	return rq.renderForm("console_enablement", pg, formErr)
}

func (p *Portal) consoleEnablement(rq *request) error { return p.showEnablement(rq, &Page{}, nil) }

func (p *Portal) consoleEnable(rq *request) error {
	if _, err := p.Directory.Enable(rq.ctx(), rq.caller, rq.form("confirm")); err != nil {
		return p.showEnablement(rq, &Page{Form: map[string]string{"confirm": rq.form("confirm")}}, err)
	}
	if err := rq.consoleNotice("console.enablement.enabled"); err != nil {
		return err
	}
	rq.redirect("/enablement")
	return nil
}

func (p *Portal) consoleTestMessage(rq *request) error {
	form := map[string]string{"channel": rq.form("channel"), "to": rq.form("to")}
	if err := p.Directory.SendTestMessage(rq.ctx(), rq.caller, form["channel"], form["to"]); err != nil {
		return p.showEnablement(rq, &Page{Form: form}, err)
	}
	if err := rq.consoleNotice("console.enablement.test_sent"); err != nil {
		return err
	}
	rq.redirect("/enablement")
	return nil
}

// splitNames reads a comma-separated list of names.
func splitNames(v string) []string {
	var out []string
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

func (p *Portal) consoleAddPhase(rq *request) error {
	form := map[string]string{"name": rq.form("name"), "groups": rq.form("groups"), "units": rq.form("units"), "starts": rq.form("starts")}
	in := directory.NewPhase{Name: form["name"], Groups: splitNames(form["groups"]), Units: splitNames(form["units"])}
	var errs validate.Errors
	if day, err := time.Parse(time.DateOnly, form["starts"]); err != nil {
		errs.Add("starts", "invalid", "Write the date as YYYY-MM-DD.")
	} else {
		in.StartsAt = day
		if today := p.now().UTC().Truncate(24 * time.Hour); day.Equal(today) {
			// Today means now: a phase of today starts at once.
			in.StartsAt = p.now()
		}
	}
	if err := errs.Err(); err != nil {
		return p.showEnablement(rq, &Page{Form: form}, err)
	}
	if _, err := p.Directory.AddPhase(rq.ctx(), rq.caller, in); err != nil {
		return p.showEnablement(rq, &Page{Form: form}, err)
	}
	if err := rq.consoleNotice("console.phases.added"); err != nil {
		return err
	}
	rq.redirect("/enablement")
	return nil
}

func (p *Portal) consoleDeletePhase(rq *request) error {
	if err := p.Directory.DeletePhase(rq.ctx(), rq.caller, rq.r.PathValue("id")); err != nil {
		return p.showEnablement(rq, &Page{}, err)
	}
	if err := rq.consoleNotice("console.phases.deleted"); err != nil {
		return err
	}
	rq.redirect("/enablement")
	return nil
}
