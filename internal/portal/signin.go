package portal

import (
	"errors"
	"net/http"
	"strings"

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
	if err != nil {
		return rq.renderForm("signin", pg, err)
	}
	return rq.afterPassword(res, sessionData{Next: pg.Form["next"], Recovery: rq.data.Recovery && rq.user != nil && rq.user.ID == res.User.ID})
}

// afterPassword starts the session the password step earned: the wizard for
// a person with no factor, the second-factor step otherwise.
func (rq *request) afterPassword(res *flow.Result, d sessionData) error {
	if res.Status == flow.EnrolmentRequired {
		d.Wizard = true
		if err := rq.startSession(res.User, store.SessionEnrol, res.Txn.ID, d); err != nil {
			return err
		}
		rq.redirect("/enrol")
		return nil
	}
	if err := rq.startSession(res.User, levelVerify, res.Txn.ID, d); err != nil {
		return err
	}
	if d.Recovery {
		rq.redirect("/recover/lost/token")
		return nil
	}
	rq.redirect("/signin/verify")
	return nil
}

// finishSignIn turns a completed second step into a full session.
func (rq *request) finishSignIn() error {
	next := rq.data.Next
	d := sessionData{Notice: "signin.welcome_back"}
	if rq.data.Recovery {
		d.Notice, next = "recover.lost.signed_in", "/account"
	}
	if err := rq.startSession(rq.user, store.SessionFull, rq.sess.TxnID, d); err != nil {
		return err
	}
	if next == "" {
		next = "/account"
	}
	rq.redirect(next)
	return nil
}

// factorOption is one way to finish signing in, for the verify page.
type factorOption struct {
	ID, Kind, To string
	HasBackup    bool
}

type verifyData struct {
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
	vd := &verifyData{SentTo: rq.data.SentTo, SentFactor: rq.data.SentFactor}
	for _, f := range factors {
		if f.Kind == flow.FactorQuestions {
			vd.Questions = true
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
	_, err = p.Engine.VerifyTransaction(rq.ctx(), rq.caller, rq.sess.TxnID, flow.Verification{FactorID: rq.form("factor"), Code: code})
	if err != nil {
		return rq.verifyFailed("verify", pg, err)
	}
	return rq.finishSignIn()
}

// verifyFailed shows a failed second step; a transaction that is gone
// means signing in again.
func (rq *request) verifyFailed(page string, pg *Page, err error) error {
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
	_, err = p.Engine.StartCall(rq.ctx(), rq.caller, rq.sess.TxnID, rq.form("factor"), rq.form("leg") == flow.LegBackup)
	if err != nil {
		return rq.verifyFailed("verify", &Page{Title: "verify.title", Data: vd}, err)
	}
	rq.redirect("/signin/call")
	return nil
}

// callView is a call's state for the call page.
type callView struct {
	Leg, To, State string
	Done           bool // the call ended, well or not
	Approved       bool
	Outcome        *Alert
	HasBackup      bool
	FactorID       string
}

func (rq *request) viewCall(call *store.VoiceCall) *callView {
	if call == nil {
		return &callView{State: store.CallQueued}
	}
	v := &callView{Leg: call.Leg, To: flow.MaskPhone(call.Number), State: call.State, FactorID: call.FactorID}
	if err := problem.CallOutcome(call.State); err != nil {
		pe := rq.problem(err)
		v.Done, v.Outcome = true, &Alert{Code: pe.Code, Message: rq.errorMessage(pe)}
	}
	if call.State == store.CallApproved {
		v.Done, v.Approved = true, true
	}
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
	_, err = p.Engine.VerifyTransaction(rq.ctx(), rq.caller, rq.sess.TxnID, flow.Verification{Answers: answers})
	if err != nil {
		return rq.verifyFailed("questions", pg, err)
	}
	return rq.finishSignIn()
}

func (p *Portal) signOut(rq *request) error {
	if err := rq.endSession(); err != nil {
		return err
	}
	http.Redirect(rq.w, rq.r, rq.base()+"/signin?done=signed_out", http.StatusSeeOther)
	return nil
}
