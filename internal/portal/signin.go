package portal

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

func (p *Portal) signInRoutes(add func(string, string, access, handlerFunc)) {
	add("GET", "/signin", public, p.signInForm)
	add("POST", "/signin", public, p.signIn)
	add("GET", "/signin/verify", verify, p.verifyForm)
	add("POST", "/signin/verify", verify, p.verifyCode)
	add("POST", "/signin/send", verify, p.sendCode)
	add("POST", "/signin/call", verify, p.placeCall)
	add("GET", "/signin/call", verify, p.callStatus)
	add("POST", "/signin/call/done", verify, p.callDone)
	add("GET", "/signin/questions", verify, p.questionsForm)
	add("POST", "/signin/questions", verify, p.answerQuestions)
	add("POST", "/signout", public, p.signOut)
}

// safeNext keeps a "next" path only when it stays inside the tenant's portal.
func (rq *request) safeNext(next string) string {
	if !strings.HasPrefix(next, rq.base()+"/") || strings.Contains(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return ""
	}
	return strings.TrimPrefix(next, rq.base())
}

func (p *Portal) signInForm(rq *request) error {
	q := rq.r.URL.Query()
	pg := &Page{Title: "signin.title", Form: map[string]string{"next": rq.safeNext(q.Get("next"))}}
	switch {
	case q.Get("fresh") != "":
		pg.Notice = rq.text.T("signin.fresh_needed")
		if rq.user != nil {
			pg.Form["login_id"] = rq.user.LoginID
		}
	case q.Get("console") != "":
		pg.Notice = rq.text.T("signin.console")
	case q.Get("ended") != "":
		pg.Notice = rq.text.T("signin.session_ended")
	case q.Get("done") != "":
		if key := "signin.done." + q.Get("done"); rq.text.Has(key) {
			pg.Notice = rq.text.T(key)
		}
	}
	return rq.renderForm("signin", pg, nil)
}

func (p *Portal) signIn(rq *request) error {
	pg := &Page{Title: "signin.title", Form: map[string]string{"login_id": rq.form("login_id"), "next": rq.safeNext(rq.base() + rq.form("next"))}}
	if err := rq.formLimit("signin"); err != nil {
		return rq.renderForm("signin", pg, err)
	}
	res, err := p.Engine.PortalSignIn(rq.ctx(), rq.caller, rq.form("login_id"), rq.r.PostFormValue("password"))
	if errors.Is(err, flow.ErrMFALocked) {
		// Whoever this browser was signed in as before, if anyone, may not
		// be the person locked: nothing of theirs is shown.
		return rq.lockedPage(nil)
	}
	if err != nil {
		return rq.renderForm("signin", pg, err)
	}
	return rq.afterPassword(res, sessionData{Next: pg.Form["next"], Recovery: rq.data.Recovery && rq.user != nil && rq.user.ID == res.User.ID})
}

// lockedPage answers every step once the second factor of u (when known)
// is locked (B5, E03): what happened, when the lock ends or who ends it, and
// what is left to do. It offers no code, call or answer, none of which
// could succeed.
func (rq *request) lockedPage(u *store.User) error {
	pe := rq.problem(flow.ErrMFALocked)
	v := &lockedView{}
	if release := time.Duration(rq.policy.LockoutRelease); release > 0 {
		if u != nil && u.MFALockedAt != nil && u.MFAFailures >= rq.policy.MFAAttempts {
			v.Until = u.MFALockedAt.Add(release).UTC().Format(rq.text.T("format.datetime"))
		} else {
			v.Minutes = max(1, int(release.Minutes()))
		}
	}
	rq.status = pe.Status
	rq.render("locked", &Page{Title: "locked.title", Alert: &Alert{Code: pe.Code, Message: rq.errorMessage(pe)}, Data: v})
	return nil
}

type lockedView struct {
	Until   string // when a timed lock ends, if known
	Minutes int    // else how long a timed lock lasts
}

// mfaLocked reports the engine's second-factor lockout (B5, B6) so that the
// pages of the second step can say so before the person tries anything.
func (rq *request) mfaLocked() bool {
	return rq.user != nil && flow.MFALocked(rq.user, rq.policy, rq.p.now())
}

// afterPassword starts the session the password step earned: the wizard for
// a person with no factor, the second-factor step otherwise.
func (rq *request) afterPassword(res *flow.Result, d sessionData) error {
	level, next := levelVerify, "/signin/verify"
	switch {
	case res.Status == flow.EnrolmentRequired:
		d.Wizard = true
		level, next = store.SessionEnrol, "/enrol"
	case d.Recovery:
		next = "/recover/lost/token"
	}
	if err := rq.startSession(res.User, level, res.Txn.ID, d); err != nil {
		return err
	}
	if res.User.Status == store.StatusDisabled {
		// A disabled person may manage MFA here (C1), but would not learn
		// why applications refuse them: say so, and how to re-enable, first.
		return rq.renderForm("disabled", &Page{Title: "disabled.title", Data: next}, nil)
	}
	rq.redirect(next)
	return nil
}

// finishSignIn turns a completed second step into a full session.
func (rq *request) finishSignIn() error {
	rn, next, err := rq.signedIn()
	if err != nil {
		return err
	}
	if err := rq.p.Engine.ChangeSession(rq.ctx(), rn.change); err != nil {
		return err
	}
	return rq.enter(rn, next)
}

// signedIn prepares the full session a second step earns, for the engine
// to begin in the step's own write transaction, and where to go then.
func (rq *request) signedIn() (*renewal, string, error) {
	next := rq.data.Next
	d := sessionData{Notice: "signin.welcome_back", App: rq.data.App, SignOn: rq.data.SignOn}
	if rq.data.Recovery {
		d.Notice, next = "recover.lost.signed_in", "/account"
	}
	if d.SignOn != "" {
		// An application's sign-in goes back to the application.
		d.Notice, next = "", "/login/continue"
	}
	if next == "" {
		next = "/account"
	}
	rn, err := rq.renew(rq.user, store.SessionFull, rq.sess.TxnID, d)
	return rn, next, err
}

// enter makes the session a step began the browser's and goes on.
func (rq *request) enter(rn *renewal, next string) error {
	rq.install(rn)
	if next == "/login/continue" {
		return rq.continueToApp()
	}
	rq.redirect(next)
	return nil
}

// continueToApp answers a form that completed an application's sign-in
// with a page that moves on by itself. A redirect would be the form's, and
// browsers hold a form's redirects to the page's form-action ('self'), which
// the application's address is not.
func (rq *request) continueToApp() error {
	if rq.r.Method != http.MethodPost {
		rq.redirect("/login/continue")
		return nil
	}
	rq.render("continue", &Page{Title: "continue.title", Data: rq.base() + "/login/continue"})
	return nil
}

// factorOption is one way to finish signing in, for the verify page.
type factorOption struct {
	ID, Kind, To string
	HasBackup    bool
}

type verifyData struct {
	// Remember offers "remember this device" (B4) on an application's sign-in.
	Remember bool
	// App: an application's sign-in, whose lost-device way is a one-time
	// access token for this sign-in.
	App        bool
	Options    []factorOption
	SentTo     string
	SentFactor string
	Questions  bool
}

func (rq *request) factorOptions() (*verifyData, error) {
	factors, err := rq.p.Engine.PortalFactors(rq.ctx(), rq.policy, rq.user)
	if err != nil {
		return nil, err
	}
	vd := &verifyData{SentTo: rq.data.SentTo, SentFactor: rq.data.SentFactor, Remember: rq.data.App != "" && rq.policy.TrustedDeviceTTL > 0, App: rq.data.App != ""}
	for _, f := range factors {
		if f.Kind == flow.FactorQuestions {
			// Security questions open the portal only, never an
			// application (A8).
			vd.Questions = rq.data.App == ""
			continue
		}
		o := factorOption{ID: f.ID, Kind: f.Kind}
		var backup string
		o.To, backup = flow.Reach(f, rq.user)
		o.HasBackup = backup != ""
		vd.Options = append(vd.Options, o)
	}
	return vd, nil
}

func (p *Portal) verifyForm(rq *request) error {
	vd, err := rq.factorOptions()
	if err != nil {
		return err
	}
	return rq.renderForm("verify", &Page{Title: "verify.title", Data: vd, Notice: rq.notice()}, nil)
}

func (p *Portal) verifyCode(rq *request) error {
	vd, err := rq.factorOptions()
	if err != nil {
		return err
	}
	pg := &Page{Title: "verify.title", Data: vd}
	if err := rq.formLimit("verify"); err != nil {
		return rq.renderForm("verify", pg, err)
	}
	var errs validate.Errors
	code := validate.Code(&errs, "code", strings.ReplaceAll(rq.form("code"), " ", ""))
	if err := errs.Err(); err != nil {
		return rq.renderForm("verify", pg, err)
	}
	// The code, the completed sign-in and the full session: one step.
	rn, next, err := rq.signedIn()
	if err != nil {
		return err
	}
	res, err := p.Engine.VerifyTransaction(rq.ctx(), rq.caller, rq.sess.TxnID, flow.Verification{FactorID: rq.form("factor"), Code: code, Session: rn.change,
		RememberDevice: rq.rememberDevice(), DeviceLabel: storableHeader(rq.r.UserAgent(), 100)})
	if err != nil {
		return rq.verifyFailed("verify", pg, err)
	}
	rq.keepDevice(res.TrustedDeviceToken)
	return rq.enter(rn, next)
}

// verifyFailed shows a failed second step; a transaction that is gone
// means signing in again.
func (rq *request) verifyFailed(page string, pg *Page, err error) error {
	if errors.Is(err, flow.ErrMFALocked) {
		return rq.lockedPage(rq.user)
	}
	if errors.Is(err, flow.ErrTxnGone) {
		if err := rq.endSession(); err != nil {
			return err
		}
		rq.redirect("/signin?ended=1")
		return nil
	}
	return rq.renderForm(page, pg, err)
}

func (p *Portal) sendCode(rq *request) error {
	vd, err := rq.factorOptions()
	if err != nil {
		return err
	}
	pg := &Page{Title: "verify.title", Data: vd}
	factor := rq.form("factor")
	sent, err := p.Engine.SendCode(rq.ctx(), rq.caller, rq.sess.TxnID, factor)
	if err != nil {
		return rq.verifyFailed("verify", pg, err)
	}
	rq.data.SentTo, rq.data.SentFactor = sent.SentTo, factor
	if err := rq.saveSession(); err != nil {
		return err
	}
	rq.redirect("/signin/verify")
	return nil
}

func (p *Portal) placeCall(rq *request) error {
	vd, err := rq.factorOptions()
	if err != nil {
		return err
	}
	leg := flow.LegPrimary
	if rq.form("leg") == flow.LegBackup {
		leg = flow.LegBackup
	}
	_, err = p.Engine.StartCall(rq.ctx(), rq.caller, rq.sess.TxnID, rq.form("factor"), leg == flow.LegBackup)
	if err != nil {
		return rq.verifyFailed("verify", &Page{Title: "verify.title", Data: vd}, err)
	}
	// The call page tells a call the person asked for from one the engine
	// placed by itself when the primary went unanswered (A5).
	rq.data.CallLeg = leg
	if err := rq.saveSession(); err != nil {
		return err
	}
	rq.redirect("/signin/call")
	return nil
}

// callView is a call's state for the call page.
type callView struct {
	Leg, To, State string
	// Calling is the catalogue key of the line saying which phone is being
	// called, and why that one.
	Calling  string
	Done     bool // the call ended, well or not
	Approved bool
	// Final: nothing on this page can succeed any more (fraud was reported
	// on a sign-in call, which denies it), so no call is offered again.
	Final     bool
	Outcome   *Alert
	HasBackup bool
	FactorID  string
}

func (rq *request) viewCall(call *store.VoiceCall) *callView {
	if call == nil {
		return &callView{State: store.CallQueued}
	}
	v := &callView{Leg: call.Leg, To: flow.MaskPhone(call.Number), State: call.State, FactorID: call.FactorID, Calling: "call.calling_primary"}
	if call.Leg == flow.LegBackup {
		switch {
		case call.Purpose == flow.CallEnrol:
			// A4: the backup is called once the primary's call is approved.
			v.Calling = "call.calling_backup_enrol"
		case rq.data.CallLeg == flow.LegPrimary:
			// The person asked for the primary, the engine rolled over (A5).
			v.Calling = "call.calling_backup_rollover"
		default:
			v.Calling = "call.calling_backup"
		}
	}
	if err := problem.CallOutcome(call.State); err != nil {
		pe := rq.problem(err)
		v.Done, v.Outcome = true, &Alert{Code: pe.Code, Message: rq.errorMessage(pe)}
		// The code's general message tells an application's user to log in
		// again; this page offers the next call itself, so it says so (A6).
		if key := "call.outcome." + call.State; rq.text.Has(key) {
			v.Outcome.Message = rq.text.T(key)
		}
	}
	if call.State == store.CallApproved {
		v.Done, v.Approved = true, true
	}
	// A fraud report denies the sign-in; a set-up can simply start again.
	v.Final = call.State == store.CallFraud && call.Purpose == flow.CallLogin
	return v
}

func (p *Portal) callStatus(rq *request) error {
	call, err := p.Engine.LatestCall(rq.ctx(), rq.caller, rq.sess.TxnID)
	if err != nil {
		return err
	}
	v := rq.viewCall(call)
	if vd, err := rq.factorOptions(); err == nil {
		for _, o := range vd.Options {
			if o.ID == v.FactorID {
				v.HasBackup = o.HasBackup
			}
		}
	}
	return rq.renderForm("call", &Page{Title: "call.title", Alert: v.Outcome, Data: map[string]any{"Call": v, "Action": "/signin/call/done"}}, nil)
}

func (p *Portal) callDone(rq *request) error {
	txn, err := p.Engine.Transaction(rq.ctx(), rq.caller, rq.sess.TxnID)
	if err != nil || txn.State != store.TxnAllowed {
		rq.redirect("/signin/call")
		return nil
	}
	return rq.finishSignIn()
}

type questionView struct{ Field, ID string }

func (rq *request) userQuestions() ([]questionView, error) {
	ids, err := rq.p.Engine.SecurityQuestions(rq.ctx(), rq.user.ID)
	if err != nil {
		return nil, err
	}
	qs := make([]questionView, len(ids))
	for i, id := range ids {
		qs[i] = questionView{Field: "answer_" + id, ID: id}
	}
	return qs, nil
}

func (p *Portal) questionsForm(rq *request) error {
	qs, err := rq.userQuestions()
	if err != nil {
		return err
	}
	if len(qs) == 0 || !rq.policy.Portal.QuestionsSignIn {
		rq.redirect("/signin/verify")
		return nil
	}
	return rq.renderForm("questions", &Page{Title: "questions.title", Data: qs}, nil)
}

func (p *Portal) answerQuestions(rq *request) error {
	qs, err := rq.userQuestions()
	if err != nil {
		return err
	}
	pg := &Page{Title: "questions.title", Data: qs}
	if err := rq.formLimit("questions"); err != nil {
		return rq.renderForm("questions", pg, err)
	}
	answers := map[string]string{}
	for _, q := range qs {
		answers[q.ID] = rq.r.PostFormValue(q.Field)
	}
	rn, next, err := rq.signedIn()
	if err != nil {
		return err
	}
	_, err = p.Engine.VerifyTransaction(rq.ctx(), rq.caller, rq.sess.TxnID, flow.Verification{Answers: answers, Session: rn.change})
	if err != nil {
		return rq.verifyFailed("questions", pg, err)
	}
	return rq.enter(rn, next)
}

func (p *Portal) signOut(rq *request) error {
	if err := rq.endSession(); err != nil {
		return err
	}
	http.Redirect(rq.w, rq.r, rq.base()+"/signin?done=signed_out", http.StatusSeeOther)
	return nil
}
