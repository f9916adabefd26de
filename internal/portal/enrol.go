package portal

import (
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// The enrolment wizard (A10) and the pages that change a sign-in method
// (issue 4, items 3 and 4). A person with no factor yet arrives here from
// sign-in with an enrol-level session: they choose a method, set it up and
// prove it works, answer the security questions (A8) and see the welcome
// page. A signed-in person uses the same pages to add, change or replace a
// method (A4, A12, C3, C4, C7, C9) and returns to the account page.

func (p *Portal) enrolRoutes(add func(string, string, access, handlerFunc)) {
	add("GET", "/enrol", enrol, p.enrolChoose)
	add("POST", "/enrol", enrol, p.enrolChoice)
	add("GET", "/enrol/app", enrol, p.enrolApp)
	add("POST", "/enrol/app", enrol, p.enrolAppConfirm)
	add("GET", "/enrol/phone", enrol, p.enrolPhone)
	add("POST", "/enrol/phone", enrol, p.enrolPhoneCall)
	// The call pages check the session themselves: approving a new phone on
	// the call revokes the phone factor it replaces, and that ends every
	// session authenticated before, the one waiting on this page included.
	add("GET", "/enrol/phone/call", public, p.enrolPhoneStatus)
	add("POST", "/enrol/phone/done", public, p.enrolPhoneDone)
	add("GET", "/enrol/push", enrol, p.enrolPush)
	add("POST", "/enrol/push", enrol, p.enrolPushGenerate)
	add("POST", "/enrol/push/test", enrol, p.enrolPushTest)
	// As the call pages: approving the test push of a new phone app
	// revokes the app it replaces, which ends this session too.
	add("GET", "/enrol/push/wait", public, p.enrolPushStatus)
	add("POST", "/enrol/push/done", public, p.enrolPushDone)
	add("GET", "/enrol/text", enrol, p.enrolContactForm(enrolText))
	add("POST", "/enrol/text", enrol, p.enrolContactSend(enrolText))
	add("GET", "/enrol/email", enrol, p.enrolContactForm(enrolEmail))
	add("POST", "/enrol/email", enrol, p.enrolContactSend(enrolEmail))
	add("GET", "/enrol/verify", enrol, p.enrolVerifyForm)
	add("POST", "/enrol/verify", enrol, p.enrolVerify)
	add("GET", "/enrol/questions", enrol, p.enrolQuestionsForm)
	add("POST", "/enrol/questions", enrol, p.enrolQuestions)
	add("GET", "/enrol/welcome", full, p.enrolWelcome)
}

// enrolOrder is the order methods are offered in (A3 first).
var enrolOrder = []string{policy.FactorVoice, policy.FactorPush, policy.FactorSMS, policy.FactorEmail, policy.FactorTOTP}

// enrolPaths is the set-up page of each method.
var enrolPaths = map[string]string{
	policy.FactorVoice: "/enrol/phone",
	policy.FactorPush:  "/enrol/push",
	policy.FactorSMS:   "/enrol/text",
	policy.FactorEmail: "/enrol/email",
	policy.FactorTOTP:  "/enrol/app",
}

// Wizard steps.
const (
	enrolStepChoose = iota
	enrolStepSetup
	enrolStepQuestions
	enrolStepDone
)

type enrolStep struct {
	N       int
	Key     string
	Current bool
	Done    bool
}

type enrolMethod struct {
	Kind   string
	Have   bool   // the person already uses it (choosing it changes it)
	Detail string // masked destination, on the welcome page
}

type enrolSlot struct {
	N                int
	Question, Answer string // field names
}

// enrolView is what the enrolment pages show besides the form values.
type enrolView struct {
	Steps  []enrolStep // only in the wizard
	Wizard bool
	// Continue: the enrolment began on an application's sign-in, which
	// the welcome page goes on to.
	Continue bool
	Change   bool // replacing or changing a method the person has

	// The method choice, and the methods on the welcome page.
	Methods []enrolMethod

	// Authenticator app.
	QR              template.URL
	Secret          string
	Account, Issuer string
	Minutes         int
	Gone            bool

	// Phone call.
	PIN bool

	// Mobile App: the store links, and the activation code just generated.
	AndroidApp, IOSApp string
	Code, URL          string
	// URI is the activation QR code's text, for the development phone.
	URI     string
	Pending bool // an activation code of this session awaits its test push

	// Text-enabled number or email address.
	Kind    string // enrolText or enrolEmail
	Path    string // its form
	Current string // the registered one, masked
	Factor  bool   // verifying it makes it a sign-in method
	Denied  bool   // the account may not change contact points (C7)
	SentTo  string // masked
	Level   string // the session level, for the way back

	// Security questions.
	N           int
	Slots       []enrolSlot
	QuestionIDs []string

	// Welcome.
	Questions   bool
	SuggestText bool

	// HasApp: the person uses an authenticator app, the only case in which
	// one-time access tokens are worth mentioning (C8).
	HasApp bool
}

// enrolView starts the view of a page at a wizard step.
func (rq *request) enrolView(step int) *enrolView {
	v := &enrolView{Wizard: rq.data.Wizard}
	if !rq.data.Wizard || (step <= enrolStepSetup && rq.sess.Level == store.SessionFull) {
		// Outside the wizard, or adding a method after its first factor.
		return v
	}
	keys := []string{"enrol.step.choose", "enrol.step.setup"}
	if rq.policy.Portal.SecurityQuestions > 0 {
		keys = append(keys, "enrol.step.questions")
	}
	keys = append(keys, "enrol.step.done")
	at := min(step, len(keys)-1)
	if step == enrolStepDone {
		at = len(keys) - 1
	}
	for i, k := range keys {
		v.Steps = append(v.Steps, enrolStep{N: i + 1, Key: k, Current: i == at, Done: i < at})
	}
	return v
}

// enrolActive returns the person's active factor of kind, if any.
func (rq *request) enrolActive(kind string) (*store.Factor, error) {
	return rq.p.Engine.FactorOfKind(rq.ctx(), rq.user.ID, kind)
}

// enrolFields words the engine's field errors from the catalogue
// (enrol.rule.<field>.<code>, numbered fields sharing their kind's wording)
// and renames fields to the inputs that carry them.
func (rq *request) enrolFields(err error, rename map[string]string) error {
	var fields validate.Errors
	if !errors.As(err, &fields) {
		return err
	}
	out := make(worded, 0, len(fields))
	for _, f := range fields {
		if to, ok := rename[f.Field]; ok {
			f.Field = to
		}
		kind, n := f.Field, ""
		if i := strings.LastIndexByte(kind, '_'); i > 0 && strings.Trim(kind[i+1:], "0123456789") == "" {
			kind, n = kind[:i], kind[i+1:]
		}
		if key := "enrol.rule." + kind + "." + f.Code; rq.text.Has(key) {
			f.Message = rq.text.T(key)
		} else {
			f.Message = rq.fieldMessage(f)
		}
		// Numbered fields say which one, so the summary tells them apart.
		if key := "enrol.rule.which." + kind; n != "" && rq.text.Has(key) {
			f.Message = rq.text.T(key, n, f.Message)
		}
		out = append(out, f)
	}
	return out
}

// enrolForm shows a form again after err. A stale authentication goes back
// to the framework, which has the person sign in again and return.
func (rq *request) enrolForm(name string, pg *Page, err error, rename map[string]string) error {
	if errors.Is(err, flow.ErrFreshAuthRequired) {
		return err
	}
	return rq.renderForm(name, pg, rq.enrolFields(err, rename))
}

// enrolCode reads a 6-digit code, as typed with or without a space.
func (rq *request) enrolCode() (string, error) {
	code := strings.NewReplacer(" ", "", "-", "").Replace(rq.form("code"))
	var errs validate.Errors
	code = validate.Code(&errs, "code", code)
	return code, rq.enrolFields(errs.Err(), nil)
}

// enrolAgain shows that the person must sign in again, and why.
func (rq *request) enrolAgain(reason string) error {
	if err := rq.endSession(); err != nil {
		return err
	}
	return rq.renderForm("enrol_again", &Page{Title: "enrol.again.title", Data: reason}, nil)
}

// enrolStep prepares what completing an enrolment changes besides the
// factor, for the engine to do in the same transaction. In the wizard, the
// new factor is the second step of the sign-in that began it: the sign-in
// completes and the session becomes full. A change renews the session too:
// replacing a method revokes the old one, which ends every session
// authenticated before it, this one included unless renewed.
func (rq *request) enrolStep(notice string) (*flow.Step, *renewal, error) {
	step := &flow.Step{}
	d := sessionData{Notice: notice, App: rq.data.App, SignOn: rq.data.SignOn}
	if rq.sess.Level == store.SessionEnrol {
		step.FinishTxn = rq.sess.TxnID
		d = sessionData{Wizard: true, App: rq.data.App, SignOn: rq.data.SignOn}
	}
	rn, err := rq.renew(rq.user, store.SessionFull, rq.sess.TxnID, d)
	if err != nil {
		return nil, nil, err
	}
	step.Session = rn.change
	return step, rn, nil
}

// enrolFinish follows a step prepared by enrolStep that the engine
// completed: the renewed session is the browser's, and the wizard goes on.
func (rq *request) enrolFinish(rn *renewal) error {
	wizard := rq.sess.Level == store.SessionEnrol
	rq.install(rn)
	if wizard {
		return rq.enrolNext()
	}
	rq.redirect("/account")
	return nil
}

// enrolNext follows a first factor: the security questions when policy asks
// for them and the person has none, else the welcome page.
func (rq *request) enrolNext() error {
	if rq.policy.Portal.SecurityQuestions > 0 {
		ids, err := rq.p.Engine.SecurityQuestions(rq.ctx(), rq.user.ID)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			rq.redirect("/enrol/questions")
			return nil
		}
	}
	rq.redirect("/enrol/welcome")
	return nil
}

// ---- choosing a method ----

func (rq *request) enrolChoosePage() (*Page, error) {
	all, err := rq.p.Engine.Factors(rq.ctx(), rq.user.ID)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, f := range all {
		have[f.Kind] = true
	}
	v := rq.enrolView(enrolStepChoose)
	for _, k := range enrolOrder {
		if rq.policy.Allows(k) {
			v.Methods = append(v.Methods, enrolMethod{Kind: k, Have: have[k]})
		}
	}
	return &Page{Title: "enrol.title", Data: v}, nil
}

func (p *Portal) enrolChoose(rq *request) error {
	pg, err := rq.enrolChoosePage()
	if err != nil {
		return err
	}
	pg.Notice = rq.notice()
	return rq.renderForm("enrol", pg, nil)
}

func (p *Portal) enrolChoice(rq *request) error {
	method := rq.form("method")
	if path, ok := enrolPaths[method]; ok && rq.policy.Allows(method) {
		rq.redirect(path)
		return nil
	}
	pg, err := rq.enrolChoosePage()
	if err != nil {
		return err
	}
	code := "required"
	if method != "" {
		code = "invalid"
	}
	return rq.renderForm("enrol", pg, rq.fieldError("method", code, "enrol.rule.method."+code))
}

// ---- authenticator app (C2–C5, C9) ----

func (rq *request) enrolAppPage(en *flow.Enrolment) (*Page, error) {
	png, err := en.QR()
	if err != nil {
		return nil, err
	}
	v := rq.enrolView(enrolStepSetup)
	v.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	v.Secret = en.Secret
	v.Account = en.User.LoginID
	v.Issuer = rq.policy.Issuer
	if v.Issuer == "" {
		v.Issuer = rq.tenant.Name
	}
	v.Minutes = max(1, int(math.Ceil(en.ExpiresAt.Sub(rq.p.now()).Minutes())))
	old, err := rq.enrolActive(policy.FactorTOTP)
	if err != nil {
		return nil, err
	}
	v.Change = old != nil
	return &Page{Title: "enrol.app.title", Data: v}, nil
}

// enrolApp shows a new authenticator secret. This is the one GET of the
// portal that writes: C4 asks for a new secret at every visit. The engine
// only records a pending secret, which replaces the previous pending one
// and changes nothing the person uses today; only a POST with a code from
// it, in this session, activates it.
func (p *Portal) enrolApp(rq *request) error {
	en, err := p.Engine.BeginTOTPEnrolment(rq.ctx(), rq.caller, rq.sess.TxnID)
	if err != nil {
		return err
	}
	rq.data.PendingTOTP = en.Factor.ID
	if err := rq.saveSession(); err != nil {
		return err
	}
	pg, err := rq.enrolAppPage(en)
	if err != nil {
		return err
	}
	return rq.renderForm("enrol_app", pg, nil)
}

func (p *Portal) enrolAppConfirm(rq *request) error {
	id := rq.data.PendingTOTP
	if id == "" {
		rq.redirect("/enrol/app")
		return nil
	}
	var err error
	if lerr := rq.formLimit("enrol_app"); lerr != nil {
		err = lerr
	} else if code, cerr := rq.enrolCode(); cerr != nil {
		err = cerr
	} else {
		step, rn, serr := rq.enrolStep("enrol.notice.totp")
		if serr != nil {
			return serr
		}
		// Only the secret shown in this session can be confirmed here (C4).
		_, cerr := p.Engine.ConfirmTOTPEnrolment(rq.ctx(), rq.caller, id, code, step)
		if errors.Is(cerr, flow.ErrTxnGone) {
			// The sign-in ran out during the set-up: nothing was changed.
			return rq.enrolAgain("enrol.again.expired")
		}
		if cerr == nil {
			return rq.enrolFinish(rn)
		}
		err = cerr
	}
	if !errors.Is(err, flow.ErrEnrolmentGone) {
		// The same secret again with the error, while it is still pending.
		en, perr := p.Engine.PendingEnrolment(rq.ctx(), rq.caller, id)
		if perr == nil {
			pg, perr := rq.enrolAppPage(en)
			if perr != nil {
				return perr
			}
			return rq.enrolForm("enrol_app", pg, err, nil)
		}
		if !errors.Is(perr, flow.ErrEnrolmentGone) {
			return perr
		}
	}
	// Expired, replaced by a newer visit, or out of attempts (E19): the
	// person starts again with a new secret.
	rq.data.PendingTOTP = ""
	if err := rq.saveSession(); err != nil {
		return err
	}
	v := rq.enrolView(enrolStepSetup)
	v.Gone = true
	return rq.renderForm("enrol_app", &Page{Title: "enrol.app.title", Data: v}, flow.ErrEnrolmentGone)
}

// ---- phone call (A4, A5, A12) ----

// enrolPhoneNumber writes 10 digits as 555-123-4567.
func enrolPhoneNumber(n string) string {
	if len(n) != 10 {
		return n
	}
	return n[:3] + "-" + n[3:6] + "-" + n[6:]
}

func (rq *request) enrolPhonePage() (*Page, error) {
	v := rq.enrolView(enrolStepSetup)
	v.PIN = rq.policy.VoicePINRequired
	old, err := rq.enrolActive(policy.FactorVoice)
	if err != nil {
		return nil, err
	}
	v.Change = old != nil
	return &Page{Title: "enrol.phone.title", Data: v, Form: map[string]string{}}, nil
}

func (p *Portal) enrolPhone(rq *request) error {
	pg, err := rq.enrolPhonePage()
	if err != nil {
		return err
	}
	// The numbers of the call just tried, else those in use (a change).
	var n *flow.VoiceNumbers
	if id := rq.data.PendingVoice; id != "" {
		f, err := p.Engine.PendingFactor(rq.ctx(), rq.tenant.ID, rq.user.ID, id)
		if err != nil {
			return err
		}
		if f != nil {
			pending := voiceNumbers(*f)
			n = &pending
		}
	}
	if n == nil {
		old, err := rq.enrolActive(policy.FactorVoice)
		if err != nil {
			return err
		}
		if old != nil {
			current := voiceNumbers(*old)
			n = &current
		}
	}
	if n != nil {
		pg.Form = map[string]string{"primary": enrolPhoneNumber(n.Primary), "primary_ext": n.PrimaryExt, "backup": enrolPhoneNumber(n.Backup), "backup_ext": n.BackupExt}
	}
	pg.Notice = rq.notice()
	return rq.renderForm("enrol_phone", pg, nil)
}

func (p *Portal) enrolPhoneCall(rq *request) error {
	pg, err := rq.enrolPhonePage()
	if err != nil {
		return err
	}
	n := flow.VoiceNumbers{Primary: rq.form("primary"), PrimaryExt: rq.form("primary_ext"), Backup: rq.form("backup"), BackupExt: rq.form("backup_ext")}
	pg.Form = map[string]string{"primary": n.Primary, "primary_ext": n.PrimaryExt, "backup": n.Backup, "backup_ext": n.BackupExt}
	if err := rq.formLimit("enrol_phone"); err != nil {
		return rq.renderForm("enrol_phone", pg, err)
	}
	f, _, err := p.Engine.BeginVoiceEnrolment(rq.ctx(), rq.caller, rq.sess.TxnID, n, rq.form("pin"))
	if err != nil {
		return rq.enrolForm("enrol_phone", pg, err, nil)
	}
	rq.data.PendingVoice = f.ID
	if err := rq.saveSession(); err != nil {
		return err
	}
	rq.redirect("/enrol/phone/call")
	return nil
}

// enrolCallSession admits the call pages' requests: true when it answered.
// A session that is gone most likely ended when the person approved the
// call, since a new phone revokes the one it replaces.
func (rq *request) enrolCallSession() (bool, error) { return rq.enrolWaitSession("enrol.again.call") }

// enrolWaitSession is enrolCallSession for a page waiting on the phone,
// with the reason shown when the session is gone.
func (rq *request) enrolWaitSession(reason string) (bool, error) {
	switch {
	case rq.sess == nil:
		return true, rq.enrolAgain(reason)
	case !rq.allowed(enrol):
		rq.redirect("/signin?ended=1")
		return true, nil
	}
	return false, nil
}

func (p *Portal) enrolPhoneStatus(rq *request) error {
	if done, err := rq.enrolCallSession(); done || err != nil {
		return err
	}
	if rq.data.PendingVoice == "" {
		rq.redirect("/enrol/phone")
		return nil
	}
	call, err := p.Engine.LatestCall(rq.ctx(), rq.caller, rq.data.PendingVoice)
	if err != nil {
		return err
	}
	v := rq.viewCall(call)
	pg := &Page{Title: "call.title", Data: map[string]any{"Call": v, "Action": "/enrol/phone/done", "Retry": "/enrol/phone"}}
	if v.Done && !v.Approved {
		pg.Alert = v.Outcome // A6: each outcome with its own message
	}
	return rq.renderForm("call", pg, nil)
}

func (p *Portal) enrolPhoneDone(rq *request) error {
	if done, err := rq.enrolCallSession(); done || err != nil {
		return err
	}
	id := rq.data.PendingVoice
	if id == "" {
		rq.redirect("/enrol/phone")
		return nil
	}
	f, err := rq.enrolActive(policy.FactorVoice)
	if err != nil {
		return err
	}
	if f == nil || f.ID != id {
		rq.redirect("/enrol/phone/call")
		return nil
	}
	step, rn, err := rq.enrolStep("enrol.notice.voice")
	if err != nil {
		return err
	}
	err = p.Engine.CompleteEnrolmentTxn(rq.ctx(), rq.caller, f.ID, step)
	if errors.Is(err, flow.ErrTxnGone) {
		// The sign-in ran out during the call; the method works, so the
		// person signs in with it.
		return rq.enrolAgain("enrol.again.expired_active")
	}
	if err != nil {
		return err
	}
	return rq.enrolFinish(rn)
}

// ---- text-enabled number and email address (C7, B3) ----

// Contact point kinds, as BeginContactChange names them.
const (
	enrolText  = "phone"
	enrolEmail = "email"
)

// enrolContact describes the pages of one kind of contact point.
var enrolContact = map[string]struct{ Field, Channel, Path string }{
	enrolText:  {Field: "phone", Channel: policy.FactorSMS, Path: "/enrol/text"},
	enrolEmail: {Field: "email", Channel: policy.FactorEmail, Path: "/enrol/email"},
}

func (rq *request) enrolContactPage(kind string) *Page {
	ck := enrolContact[kind]
	v := rq.enrolView(enrolStepSetup)
	v.Kind, v.Path, v.Level = kind, ck.Path, rq.sess.Level
	v.Factor = rq.policy.Allows(ck.Channel)
	if !v.Factor {
		v.Steps = nil // a contact point only, outside the wizard's steps
	}
	if app, err := rq.enrolActive(policy.FactorTOTP); err == nil {
		v.HasApp = app != nil
	}
	if kind == enrolText && rq.user.Phone != "" {
		v.Current = flow.MaskPhone(rq.user.Phone)
	}
	if kind == enrolEmail && rq.user.Email != "" {
		v.Current = flow.MaskEmail(rq.user.Email)
	}
	v.Change = v.Current != ""
	return &Page{Title: "enrol.contact." + kind + ".title", Data: v, Form: map[string]string{}}
}

func (p *Portal) enrolContactForm(kind string) handlerFunc {
	return func(rq *request) error {
		pg := rq.enrolContactPage(kind)
		if rq.data.VerificationKind == kind {
			// Back from the code page to edit what was typed (C7).
			pg.Form[enrolContact[kind].Field] = rq.data.VerificationValue
		}
		if rq.user.Status != store.StatusActive {
			// Only Active users may change contact points (C1, C7).
			pe := rq.problem(flow.ErrContactChangeDenied)
			pg.Alert = &Alert{Code: pe.Code, Message: rq.errorMessage(pe)}
			pg.Data.(*enrolView).Denied = true
		}
		pg.Notice = rq.notice()
		return rq.renderForm("enrol_contact", pg, nil)
	}
}

func (p *Portal) enrolContactSend(kind string) handlerFunc {
	return func(rq *request) error {
		field := enrolContact[kind].Field
		pg := rq.enrolContactPage(kind)
		pg.Form[field] = rq.form(field)
		return rq.enrolSendCode(kind, pg.Form[field], "enrol_contact", pg, false)
	}
}

// enrolSendCode sends a verification code to value. Sending again, to the
// same or an edited value, makes every earlier code invalid (C7).
func (rq *request) enrolSendCode(kind, value, page string, pg *Page, resend bool) error {
	if err := rq.formLimit("enrol_contact"); err != nil {
		return rq.renderForm(page, pg, err)
	}
	sent, err := rq.p.Engine.BeginContactChange(rq.ctx(), rq.caller, rq.sess.TxnID, kind, value)
	if err != nil {
		return rq.enrolForm(page, pg, err, map[string]string{"value": enrolContact[kind].Field})
	}
	rq.data.Verification, rq.data.VerificationKind, rq.data.VerificationTo, rq.data.VerificationValue = sent.ID, kind, sent.SentTo, value
	if resend {
		rq.data.Notice = "enrol.verify.resent"
	}
	if err := rq.saveSession(); err != nil {
		return err
	}
	rq.redirect("/enrol/verify")
	return nil
}

// enrolVerifying is the contact point waiting for its code, if any.
func (rq *request) enrolVerifying() (string, bool) {
	kind := rq.data.VerificationKind
	_, ok := enrolContact[kind]
	return kind, ok && rq.data.Verification != ""
}

// enrolHome is where a person goes when an enrolment page has nothing to do.
func (rq *request) enrolHome() string {
	if rq.sess.Level == store.SessionFull {
		return "/account"
	}
	return "/enrol"
}

func (rq *request) enrolVerifyPage(kind string) *Page {
	pg := rq.enrolContactPage(kind)
	pg.Title = "enrol.verify.title"
	v := pg.Data.(*enrolView)
	v.SentTo = rq.data.VerificationTo
	v.Minutes = int(time.Duration(rq.policy.CodeTTL).Minutes())
	return pg
}

func (p *Portal) enrolVerifyForm(rq *request) error {
	kind, ok := rq.enrolVerifying()
	if !ok {
		rq.redirect(rq.enrolHome())
		return nil
	}
	pg := rq.enrolVerifyPage(kind)
	pg.Notice = rq.notice()
	return rq.renderForm("enrol_verify", pg, nil)
}

func (p *Portal) enrolVerify(rq *request) error {
	kind, ok := rq.enrolVerifying()
	if !ok {
		rq.redirect(rq.enrolHome())
		return nil
	}
	ck := enrolContact[kind]
	pg := rq.enrolVerifyPage(kind)
	if rq.form("resend") != "" {
		return rq.enrolSendCode(kind, rq.data.VerificationValue, "enrol_verify", pg, true)
	}
	if err := rq.formLimit("enrol_verify"); err != nil {
		return rq.renderForm("enrol_verify", pg, err)
	}
	code, err := rq.enrolCode()
	if err != nil {
		return rq.renderForm("enrol_verify", pg, err)
	}
	// Policy makes a verified contact point a sign-in method: then the
	// confirmation completes an enrolment, in the same transaction.
	method := rq.policy.Allows(ck.Channel)
	verification := rq.data.Verification
	rq.data.Verification, rq.data.VerificationKind, rq.data.VerificationTo, rq.data.VerificationValue = "", "", "", ""
	var step *flow.Step
	var rn *renewal
	if method {
		if step, rn, err = rq.enrolStep("enrol.notice." + ck.Channel); err != nil {
			return err
		}
	} else {
		rq.data.Notice = "enrol.notice.contact_" + kind
		sc, err := rq.saving()
		if err != nil {
			return err
		}
		step = &flow.Step{Session: sc}
	}
	u, err := p.Engine.ConfirmContactChange(rq.ctx(), rq.caller, verification, code, step)
	if err != nil {
		// Nothing changed: the page keeps waiting for the code.
		if lerr := rq.loadSession(); lerr != nil {
			return lerr
		}
	}
	var fields validate.Errors
	switch {
	case errors.Is(err, flow.ErrTxnGone):
		return rq.enrolAgain("enrol.again.expired")
	case errors.As(err, &fields):
		// The address was taken by someone else meanwhile: back to the form.
		back := rq.enrolContactPage(kind)
		back.Form[ck.Field] = rq.data.VerificationValue
		return rq.enrolForm("enrol_contact", back, err, map[string]string{"value": ck.Field})
	case err != nil:
		return rq.enrolForm("enrol_verify", pg, err, nil)
	}
	if method {
		rn.u = u
		return rq.enrolFinish(rn)
	}
	rq.user = u
	rq.redirect(rq.enrolHome())
	return nil
}

// ---- security questions (A8) ----

func (rq *request) enrolQuestionsPage(chosen []string) *Page {
	n := rq.policy.Portal.SecurityQuestions
	v := rq.enrolView(enrolStepQuestions)
	v.N, v.QuestionIDs, v.Change = n, flow.QuestionIDs, len(chosen) > 0
	form := map[string]string{}
	for i := 1; i <= n; i++ {
		q := fmt.Sprintf("question_%d", i)
		v.Slots = append(v.Slots, enrolSlot{N: i, Question: q, Answer: fmt.Sprintf("answer_%d", i)})
		if i <= len(chosen) {
			form[q] = chosen[i-1]
		}
	}
	return &Page{Title: "enrol.questions.title", Data: v, Form: form}
}

// enrolQuestionsOpen redirects when the questions page has nothing to do:
// policy has no questions, or the person has no sign-in method yet (the
// questions never stand in for one).
func (rq *request) enrolQuestionsOpen() bool {
	switch {
	case rq.sess.Level != store.SessionFull:
		rq.redirect("/enrol")
	case rq.policy.Portal.SecurityQuestions == 0 && rq.data.Wizard:
		rq.redirect("/enrol/welcome")
	case rq.policy.Portal.SecurityQuestions == 0:
		rq.redirect("/account")
	default:
		return true
	}
	return false
}

func (p *Portal) enrolQuestionsForm(rq *request) error {
	if !rq.enrolQuestionsOpen() {
		return nil
	}
	chosen, err := p.Engine.SecurityQuestions(rq.ctx(), rq.user.ID)
	if err != nil {
		return err
	}
	pg := rq.enrolQuestionsPage(chosen)
	pg.Notice = rq.notice()
	return rq.renderForm("enrol_questions", pg, nil)
}

func (p *Portal) enrolQuestions(rq *request) error {
	if !rq.enrolQuestionsOpen() {
		return nil
	}
	pg := rq.enrolQuestionsPage(nil)
	answers := make([]flow.Answer, 0, len(pg.Data.(*enrolView).Slots))
	for _, s := range pg.Data.(*enrolView).Slots {
		// After an error the form comes back as typed, answers too: the person
		// is choosing them now, and retyping four answers for one mistake
		// invites new mistakes. The page is never cached (no-store).
		pg.Form[s.Question] = rq.form(s.Question)
		pg.Form[s.Answer] = rq.r.PostFormValue(s.Answer)
		answers = append(answers, flow.Answer{QuestionID: rq.form(s.Question), Text: rq.r.PostFormValue(s.Answer)})
	}
	if err := rq.formLimit("enrol_questions"); err != nil {
		return rq.renderForm("enrol_questions", pg, err)
	}
	wizard := rq.data.Wizard
	if !wizard {
		rq.data.Notice = "enrol.notice.questions"
	}
	sc, err := rq.saving()
	if err != nil {
		return err
	}
	if err := p.Engine.SetSecurityAnswers(rq.ctx(), rq.caller, rq.sess.TxnID, answers, &flow.Step{Session: sc}); err != nil {
		rq.data.Notice = ""
		return rq.enrolForm("enrol_questions", pg, err, nil)
	}
	if wizard {
		rq.redirect("/enrol/welcome")
		return nil
	}
	rq.redirect("/account")
	return nil
}

// ---- welcome (A10) ----

func (p *Portal) enrolWelcome(rq *request) error {
	methods, err := p.Engine.Methods(rq.ctx(), rq.policy, rq.user)
	if err != nil {
		return err
	}
	v := rq.enrolView(enrolStepDone)
	for _, k := range enrolOrder {
		for _, mt := range methods {
			if mt.Factor.Kind == k {
				v.Methods = append(v.Methods, enrolMethod{Kind: k, Detail: mt.To})
			}
		}
	}
	for _, mt := range methods {
		v.Questions = v.Questions || !mt.OpensApplications
		v.HasApp = v.HasApp || mt.Factor.Kind == policy.FactorTOTP
	}
	// A text-enabled number lets one-time access tokens and notices reach
	// the person by text message (C7, C8).
	v.SuggestText = rq.user.PhoneVerifiedAt == nil && rq.user.Status == store.StatusActive
	if rq.data.Wizard {
		rq.data.Wizard = false
		if err := rq.saveSession(); err != nil {
			return err
		}
	}
	// Enrolled on the way to an application (X2): go on to it from here.
	v.Continue = rq.data.SignOn != ""
	return rq.renderForm("welcome", &Page{Title: "welcome.title", Data: v}, nil)
}
