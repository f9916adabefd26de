package portal

import (
	"encoding/base64"
	"errors"
	"html/template"
	"math"
	"time"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

// The Mobile App method's pages (A9, X3), made like the phone call's: the
// set-up with its activation code and "Authenticate me now", and at
// sign-in a request to the phone app, each followed by a page that checks
// by itself until the person has answered in the app.

func (p *Portal) pushRoutes(add func(string, string, access, handlerFunc)) {
	add("POST", "/signin/push", verify, p.sendPush)
	// The waiting page checks the session itself: after "I didn't request
	// this" the second step is locked (block_on_fraud), and the page must
	// still say what happened rather than only that it is locked.
	add("GET", "/signin/push", public, p.pushStatus)
	add("POST", "/signin/push/done", verify, p.pushDone)
}

// ---- enrolment (A9) ----

func (rq *request) enrolPushPage() (*Page, error) {
	v := rq.enrolView(enrolStepSetup)
	v.AndroidApp, v.IOSApp = rq.policy.Push.AndroidApp, rq.policy.Push.IOSApp
	v.Minutes = max(1, int(math.Round(time.Duration(rq.policy.Push.ActivationTTL).Minutes())))
	old, err := rq.enrolActive(policy.FactorPush)
	if err != nil {
		return nil, err
	}
	v.Change = old != nil
	if id := rq.data.PendingPush; id != "" {
		f, err := rq.p.Engine.PendingFactor(rq.ctx(), rq.tenant.ID, rq.user.ID, id)
		if err != nil {
			return nil, err
		}
		v.Pending = f != nil
	}
	return &Page{Title: "enrol.push.title", Data: v}, nil
}

// enrolPush shows the steps: install the app, generate an activation code,
// authenticate. Unlike the authenticator app's page it writes nothing: the
// activation code is made only when the person asks for it.
func (p *Portal) enrolPush(rq *request) error {
	pg, err := rq.enrolPushPage()
	if err != nil {
		return err
	}
	pg.Notice = rq.notice()
	return rq.renderForm("enrol_push", pg, nil)
}

// enrolPushGenerate makes a new activation code, which replaces any earlier
// one (A9), and shows it once: the code is not kept anywhere to show again.
func (p *Portal) enrolPushGenerate(rq *request) error {
	pg, err := rq.enrolPushPage()
	if err != nil {
		return err
	}
	if err := rq.formLimit("enrol_push"); err != nil {
		return rq.renderForm("enrol_push", pg, err)
	}
	en, err := p.Engine.BeginPushEnrolment(rq.ctx(), rq.caller, rq.sess.TxnID)
	if errors.Is(err, flow.ErrTxnGone) {
		return rq.enrolAgain("enrol.again.expired")
	}
	if err != nil {
		return rq.enrolForm("enrol_push", pg, err, nil)
	}
	rq.data.PendingPush = en.Factor.ID
	if err := rq.saveSession(); err != nil {
		return err
	}
	png, err := en.QR()
	if err != nil {
		return err
	}
	v := pg.Data.(*enrolView)
	v.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	v.Code, v.URL, v.Pending, v.URI = en.Code, en.URL, true, en.URI
	v.Minutes = max(1, int(math.Ceil(en.ExpiresAt.Sub(rq.p.now()).Minutes())))
	return rq.renderForm("enrol_push", pg, nil)
}

// enrolPushTest is "Authenticate me now": the test push that, approved,
// activates the factor (A9). Before the app registered it is E47.
func (p *Portal) enrolPushTest(rq *request) error {
	id := rq.data.PendingPush
	if id == "" {
		rq.redirect("/enrol/push")
		return nil
	}
	pg, err := rq.enrolPushPage()
	if err != nil {
		return err
	}
	if err := rq.formLimit("enrol_push"); err != nil {
		return rq.renderForm("enrol_push", pg, err)
	}
	_, err = p.Engine.SendTestPush(rq.ctx(), rq.caller, rq.sess.TxnID, id)
	switch {
	case errors.Is(err, flow.ErrTxnGone):
		return rq.enrolAgain("enrol.again.expired")
	case errors.Is(err, flow.ErrEnrolmentGone):
		// Expired or replaced: the person generates a new code.
		rq.data.PendingPush = ""
		if err := rq.saveSession(); err != nil {
			return err
		}
		pg.Data.(*enrolView).Pending = false
		return rq.enrolForm("enrol_push", pg, err, nil)
	case err != nil:
		return rq.enrolForm("enrol_push", pg, err, nil)
	}
	rq.redirect("/enrol/push/wait")
	return nil
}

func (p *Portal) enrolPushStatus(rq *request) error {
	if done, err := rq.enrolWaitSession("enrol.again.push"); done || err != nil {
		return err
	}
	if rq.data.PendingPush == "" {
		rq.redirect("/enrol/push")
		return nil
	}
	ch, err := p.Engine.LatestPush(rq.ctx(), rq.caller, rq.data.PendingPush)
	if errors.Is(err, flow.ErrPushGone) {
		rq.redirect("/enrol/push")
		return nil
	}
	if err != nil {
		return err
	}
	v := rq.viewPush(ch)
	v.Enrol = true
	return rq.renderForm("push", &Page{Title: v.title("push.title_enrol"), Alert: v.Outcome, Data: map[string]any{"Push": v, "Action": "/enrol/push/done", "Again": "/enrol/push/test"}}, nil)
}

func (p *Portal) enrolPushDone(rq *request) error {
	if done, err := rq.enrolWaitSession("enrol.again.push"); done || err != nil {
		return err
	}
	id := rq.data.PendingPush
	if id == "" {
		rq.redirect("/enrol/push")
		return nil
	}
	f, err := rq.enrolActive(policy.FactorPush)
	if err != nil {
		return err
	}
	if f == nil || f.ID != id {
		rq.redirect("/enrol/push/wait")
		return nil
	}
	rq.data.PendingPush = ""
	step, rn, err := rq.enrolStep("enrol.notice.push")
	if err != nil {
		return err
	}
	err = p.Engine.CompleteEnrolmentTxn(rq.ctx(), rq.caller, f.ID, step)
	if errors.Is(err, flow.ErrTxnGone) {
		// The sign-in ran out meanwhile; the app works, so the person
		// signs in with it.
		return rq.enrolAgain("enrol.again.expired_active")
	}
	if err != nil {
		return err
	}
	return rq.enrolFinish(rn)
}

// ---- sign-in (X3) ----

// pushView is a push's state for the page that waits for the answer.
type pushView struct {
	State    string
	Number   string // to pick in the app (number matching), if any
	Minutes  int    // left to answer
	Done     bool   // answered or expired
	Approved bool
	// Final: the person said they did not request it; a sign-in is denied
	// and nothing on the page can succeed any more.
	Final    bool
	Fraud    bool
	Enrol    bool
	Outcome  *Alert
	FactorID string
}

func (rq *request) viewPush(ch *store.PushChallenge) *pushView {
	v := &pushView{State: ch.State, Number: ch.Answer, FactorID: ch.FactorID}
	v.Minutes = max(1, int(math.Ceil(ch.ExpiresAt.Sub(rq.p.now()).Minutes())))
	switch ch.State {
	case store.PushOpen:
	case store.PushApproved:
		v.Done, v.Approved = true, true
	default:
		v.Done = true
		v.Fraud = ch.State == store.PushFraud
		v.Final = v.Fraud && ch.Purpose == store.PushLogin
		v.Outcome = &Alert{Message: rq.text.T("push.outcome." + ch.State)}
		switch {
		case v.Final:
			// The page says it all once; an alert would repeat it.
			v.Outcome = nil
		case v.Fraud:
			v.Outcome.Message = rq.text.T("push.outcome.fraud_enrol")
		}
	}
	return v
}

// title is the page's title: waiting is the open one's.
func (v *pushView) title(waiting string) string {
	switch {
	case v.Final:
		return "push.title_blocked"
	case v.Done && !v.Approved:
		return "push.title_refused"
	}
	return waiting
}

// sendPush sends a request to the person's phone app and shows the page
// that waits for the answer.
func (p *Portal) sendPush(rq *request) error {
	vd, err := rq.factorOptions()
	if err != nil {
		return err
	}
	pg := &Page{Title: "verify.title", Data: vd}
	if err := rq.formLimit("verify"); err != nil {
		return rq.renderForm("verify", pg, err)
	}
	if _, err := p.Engine.SendPush(rq.ctx(), rq.caller, rq.sess.TxnID, rq.form("factor")); err != nil {
		return rq.verifyFailed("verify", pg, err)
	}
	rq.redirect("/signin/push")
	return nil
}

func (p *Portal) pushStatus(rq *request) error {
	if !rq.allowed(verify) {
		rq.redirect("/signin?ended=1")
		return nil
	}
	ch, err := p.Engine.LatestPush(rq.ctx(), rq.caller, rq.sess.TxnID)
	if errors.Is(err, flow.ErrPushGone) {
		rq.redirect("/signin/verify")
		return nil
	}
	if err != nil {
		return err
	}
	v := rq.viewPush(ch)
	if !v.Final && rq.mfaLocked() {
		return rq.lockedPage(rq.user)
	}
	return rq.renderForm("push", &Page{Title: v.title("push.title"), Alert: v.Outcome, Data: map[string]any{"Push": v, "Action": "/signin/push/done", "Again": "/signin/push"}}, nil)
}

// pushDone finishes the sign-in the approved push allowed, as callDone does
// for a call.
func (p *Portal) pushDone(rq *request) error {
	txn, err := p.Engine.Transaction(rq.ctx(), rq.caller, rq.sess.TxnID)
	if err != nil || txn.State != store.TxnAllowed {
		rq.redirect("/signin/push")
		return nil
	}
	return rq.finishSignIn()
}
