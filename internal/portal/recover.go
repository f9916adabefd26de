package portal

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// Recovery: a lost device (identity validation, the password, then a
// one-time access token: C6, C8), a forgotten login ID, a forgotten
// password or one to change while locked, and a disabled account (C10, C13).
// Every answer to someone who has not proved the password is the same
// whether or not the account exists (G4).
func (p *Portal) recoveryRoutes(add func(string, string, access, handlerFunc)) {
	add("GET", "/recover", public, p.recoverMenu)
	add("GET", "/recover/lost", public, p.lostForm)
	add("POST", "/recover/lost", public, p.lostValidate)
	add("GET", "/recover/lost/signin", recovery, p.lostSignInForm)
	add("POST", "/recover/lost/signin", recovery, p.lostSignIn)
	add("GET", "/recover/lost/token", verify, p.tokenForm)
	add("POST", "/recover/lost/token", verify, p.tokenSend)
	add("POST", "/recover/lost/token/verify", verify, p.tokenVerify)
	add("GET", "/recover/login-id", public, p.loginIDForm)
	add("POST", "/recover/login-id", public, p.loginIDSend)
	for _, k := range recoverKinds {
		add("GET", "/recover/"+k.Name, public, p.codeRequestForm(k))
		add("POST", "/recover/"+k.Name, public, p.codeRequest(k))
	}
	add("POST", "/recover/password/reset", public, p.resetPassword)
	add("POST", "/recover/reenable/confirm", public, p.reenable)
}

func (p *Portal) recoverMenu(rq *request) error {
	return rq.renderForm("recover", &Page{Title: "recover.title"}, nil)
}

// renderWorded shows a form again with a domain error under its public code
// but in this page's words, where the code's general message would mislead.
func (rq *request) renderWorded(name string, pg *Page, err error, key string) error {
	pe := rq.problem(err)
	pg.Alert = rq.alert(pe.Code, key)
	rq.status = pe.Status
	if pe.RetryAfter > 0 {
		rq.w.Header().Set("Retry-After", fmt.Sprint(pe.RetryAfter))
	}
	rq.render(name, pg)
	return nil
}

// --- Lost device: identity validation (C6) ---

func (p *Portal) lostForm(rq *request) error {
	return rq.renderForm("recover_lost", &Page{Title: "recover.lost.title"}, nil)
}

func (p *Portal) lostValidate(rq *request) error {
	// The SSN is never shown again.
	pg := &Page{Title: "recover.lost.title", Form: map[string]string{"email": rq.form("email"), "date_of_birth": rq.form("date_of_birth")}}
	err := rq.formLimit("identity")
	var u *store.User
	if err == nil {
		u, err = p.Engine.ValidateIdentity(rq.ctx(), rq.caller, rq.form("email"), rq.form("date_of_birth"), rq.form("ssn"))
	}
	var limited *flow.RateLimitedError
	if errors.As(err, &limited) {
		return rq.renderWorded("recover_lost", pg, err, "recover.lost.attempts_spent")
	}
	if err != nil {
		return rq.renderForm("recover_lost", pg, err)
	}
	if err := rq.startSession(u, store.SessionRecovery, "", sessionData{Recovery: true}); err != nil {
		return err
	}
	rq.redirect("/recover/lost/signin")
	return nil
}

// --- Lost device: security verification (C6) ---

func (p *Portal) lostSignInForm(rq *request) error {
	return rq.renderForm("recover_lost_signin", &Page{Title: "recover.lost.signin_title"}, nil)
}

func (p *Portal) lostSignIn(rq *request) error {
	pg := &Page{Title: "recover.lost.signin_title", Form: map[string]string{"login_id": rq.form("login_id")}}
	if err := rq.formLimit("lost_signin"); err != nil {
		return rq.renderForm("recover_lost_signin", pg, err)
	}
	res, err := p.Engine.PortalSignIn(rq.ctx(), rq.caller, rq.form("login_id"), rq.r.PostFormValue("password"))
	if err == nil && res.User.ID != rq.user.ID {
		// Another person's credentials: the answer of a wrong password.
		err = flow.ErrInvalidCredentials
	}
	if errors.Is(err, flow.ErrMFALocked) {
		return rq.lockedPage(nil)
	}
	if err != nil {
		return rq.renderForm("recover_lost_signin", pg, err)
	}
	return rq.afterPassword(res, sessionData{Recovery: true})
}

// --- Lost device: one-time access token (C8) ---

// sentTokenPrefix marks sessionData.SentFactor when a token went out, followed
// by its channel.
const sentTokenPrefix = "one_time_token:"

type tokenOption struct{ Channel, To string }

type tokenView struct {
	// Options are the verified destinations; they cannot be typed or changed.
	Options   []tokenOption
	Left, Max int
	TTL       int // minutes
	// Offered: a token may be sent now; otherwise Reason (a key) says why not.
	Offered bool
	Reason  string
	SentTo  string
	// Other ways to finish signing in.
	Questions, OtherMethods bool
}

func (rq *request) tokenView() (*tokenView, error) {
	vd, err := rq.factorOptions()
	if err != nil {
		return nil, err
	}
	u := rq.user
	v := &tokenView{Left: flow.OneTimeTokensLeft(rq.policy, u), Max: rq.policy.OTAMaxConsecutive,
		TTL: int(time.Duration(rq.policy.OTATTL).Minutes()), Questions: vd.Questions, OtherMethods: len(vd.Options) > 0}
	if u.Email != "" && u.EmailVerifiedAt != nil {
		v.Options = append(v.Options, tokenOption{delivery.Email, flow.MaskEmail(u.Email)})
	}
	if u.Phone != "" && u.PhoneVerifiedAt != nil {
		v.Options = append(v.Options, tokenOption{delivery.SMS, flow.MaskPhone(u.Phone)})
	}
	hasApp := false
	for _, o := range vd.Options {
		hasApp = hasApp || o.Kind == policy.FactorTOTP
	}
	switch {
	case v.Max == 0 || !hasApp:
		v.Reason = "recover.token.not_available"
	case v.Left == 0:
		v.Reason = "recover.token.spent"
	case len(v.Options) == 0:
		v.Reason = "recover.token.no_destination"
	default:
		v.Offered = true
	}
	if strings.HasPrefix(rq.data.SentFactor, sentTokenPrefix) {
		v.SentTo = rq.data.SentTo
	}
	return v, nil
}

// tokenPage is the token page, or nil when this sign-in did not start with
// identity validation (it is then an ordinary second step).
func (rq *request) tokenPage() (*Page, error) {
	// An application's sign-in on the hosted login may ask for a token
	// after its password, as the REST API's may (C8, X2).
	if !rq.data.Recovery && rq.data.App == "" {
		rq.redirect("/signin/verify")
		return nil, nil
	}
	v, err := rq.tokenView()
	if err != nil {
		return nil, err
	}
	return &Page{Title: "recover.token.title", Data: v, Form: map[string]string{"channel": strings.TrimPrefix(rq.data.SentFactor, sentTokenPrefix)}}, nil
}

func (p *Portal) tokenForm(rq *request) error {
	pg, err := rq.tokenPage()
	if pg == nil {
		return err
	}
	pg.Notice = rq.notice()
	return rq.renderForm("recover_lost_token", pg, nil)
}

func (p *Portal) tokenSend(rq *request) error {
	pg, err := rq.tokenPage()
	if pg == nil {
		return err
	}
	if err := rq.formLimit("token"); err != nil {
		return rq.renderForm("recover_lost_token", pg, err)
	}
	v := pg.Data.(*tokenView)
	if !v.Offered {
		return rq.renderForm("recover_lost_token", pg, nil)
	}
	channel := rq.form("channel")
	pg.Form["channel"] = channel
	if !validChannel(v.Options, channel) {
		return rq.renderForm("recover_lost_token", pg, rq.fieldError("channel", "required", "recover.token.choose"))
	}
	sent, err := p.Engine.RequestTxnOneTimeToken(rq.ctx(), rq.caller, rq.sess.TxnID, channel)
	if err != nil {
		return rq.verifyFailed("recover_lost_token", pg, err)
	}
	rq.data.SentTo, rq.data.SentFactor = sent.SentTo, sentTokenPrefix+channel
	if err := rq.saveSession(); err != nil {
		return err
	}
	rq.redirect("/recover/lost/token")
	return nil
}

func validChannel(opts []tokenOption, channel string) bool {
	for _, o := range opts {
		if o.Channel == channel {
			return true
		}
	}
	return false
}

// tokenLength is the length of a one-time access token without spaces.
const tokenLength = 10

func (p *Portal) tokenVerify(rq *request) error {
	pg, err := rq.tokenPage()
	if pg == nil {
		return err
	}
	if err := rq.formLimit("token_verify"); err != nil {
		return rq.renderForm("recover_lost_token", pg, err)
	}
	token := strings.NewReplacer(" ", "", "-", "").Replace(rq.form("token"))
	switch {
	case token == "":
		return rq.renderForm("recover_lost_token", pg, rq.fieldError("token", "required", "recover.token.required"))
	case len(token) != tokenLength || strings.ContainsFunc(token, func(r rune) bool { return !tokenChar(r) }):
		return rq.renderForm("recover_lost_token", pg, rq.fieldError("token", "invalid_format", "recover.token.format"))
	}
	rn, next, err := rq.signedIn()
	if err != nil {
		return err
	}
	_, err = p.Engine.VerifyTransaction(rq.ctx(), rq.caller, rq.sess.TxnID, flow.Verification{OneTimeToken: token, Session: rn.change})
	if errors.Is(err, flow.ErrWrongToken) {
		return rq.renderWorded("recover_lost_token", pg, err, "recover.token.wrong")
	}
	if err != nil {
		return rq.verifyFailed("recover_lost_token", pg, err)
	}
	return rq.enter(rn, next)
}

func tokenChar(r rune) bool {
	return ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
}

// --- Forgot login ID (C13) ---

func (p *Portal) loginIDForm(rq *request) error {
	return rq.renderForm("recover_login_id", &Page{Title: "recover.login_id.title"}, nil)
}

func (p *Portal) loginIDSend(rq *request) error {
	channel := rq.form("channel")
	pg := &Page{Title: "recover.login_id.title", Form: map[string]string{"channel": channel, "email": rq.form("email"), "phone": rq.form("phone")}}
	rq.labels = map[string]string{"phone": "recover.text_number"}
	if err := rq.formLimit("login_id"); err != nil {
		return rq.renderForm("recover_login_id", pg, err)
	}
	to := pg.Form["email"]
	if channel == delivery.SMS {
		to = pg.Form["phone"]
	}
	if err := p.Engine.SendLoginIDReminder(rq.ctx(), rq.caller, channel, to); err != nil {
		return rq.renderForm("recover_login_id", pg, err)
	}
	// The same page whether or not an account matched (G4).
	return rq.renderForm("recover_login_id_sent", &Page{Title: "recover.login_id.sent_title",
		Data: map[string]string{"Channel": channel, "To": to}}, nil)
}

// --- Forgot password, change password while locked, re-enable (C10, C13) ---

// recoverKind is one of the code-by-message recoveries. Name is its path
// below /recover and its catalogue prefix.
type recoverKind struct {
	Name    string
	Purpose string
	// Confirm is where its code form posts.
	Confirm string
}

var recoverKinds = []recoverKind{
	{"password", flow.PurposeResetPassword, "/recover/password/reset"},
	{"locked", flow.PurposeResetPassword, "/recover/password/reset"},
	{"reenable", flow.PurposeReenable, "/recover/reenable/confirm"},
}

func recoverKindNamed(name string) recoverKind {
	for _, k := range recoverKinds {
		if k.Name == name {
			return k
		}
	}
	return recoverKinds[0]
}

func (p *Portal) codeRequestForm(k recoverKind) handlerFunc {
	return func(rq *request) error {
		pg := &Page{Title: "recover." + k.Name + ".title", Data: k, Form: map[string]string{}}
		if rq.user != nil {
			// Signed in (a disabled person sent here after sign-in): nothing
			// to look up again.
			pg.Form["login_id"] = rq.user.LoginID
		}
		return rq.renderForm("recover_request", pg, nil)
	}
}

// codeRequest sends a code, or a new one ("Send a new code" posts here
// too), and shows the code form. It says "if": nothing tells whether the
// login ID exists or has a verified email or number (G4).
func (p *Portal) codeRequest(k recoverKind) handlerFunc {
	return func(rq *request) error {
		loginID, channel := rq.form("login_id"), rq.form("channel")
		pg := &Page{Title: "recover." + k.Name + ".title", Data: k, Form: map[string]string{"login_id": loginID, "channel": channel}}
		err := rq.formLimit("recover_" + k.Name)
		if err == nil {
			err = p.Engine.SendRecoveryCode(rq.ctx(), rq.caller, k.Purpose, loginID, channel)
		}
		if err != nil {
			return rq.renderForm("recover_request", pg, err)
		}
		return rq.renderForm("recover_code", rq.codePage(k, loginID, channel), nil)
	}
}

type codeView struct {
	Kind recoverKind
	// Reset asks for a new password, within the policy's lengths.
	Reset    bool
	Min, Max int
	TTL      int // minutes
}

// codePage is the form for the code; the login ID and channel travel in
// hidden fields (neither is a secret).
func (rq *request) codePage(k recoverKind, loginID, channel string) *Page {
	if channel != delivery.SMS {
		channel = delivery.Email
	}
	pw := rq.policy.Password
	return &Page{Title: "recover." + k.Name + ".code_title",
		Form: map[string]string{"kind": k.Name, "login_id": loginID, "channel": channel},
		Data: &codeView{Kind: k, Reset: k.Purpose == flow.PurposeResetPassword, Min: pw.MinLength, Max: pw.MaxLength,
			TTL: int(time.Duration(rq.policy.Portal.RecoveryTTL).Minutes())}}
}

// codeFailed shows the code form again; a wrong code gets this page's
// wording.
func (rq *request) codeFailed(pg *Page, err error) error {
	if errors.Is(err, flow.ErrWrongVerificationCode) {
		return rq.renderWorded("recover_code", pg, err, "recover.code.wrong")
	}
	return rq.renderForm("recover_code", pg, err)
}

// recoveryCode is the submitted code without the spaces people type in groups.
func (rq *request) recoveryCode() string { return strings.ReplaceAll(rq.form("code"), " ", "") }

func (p *Portal) resetPassword(rq *request) error {
	loginID := rq.form("login_id")
	pg := rq.codePage(recoverKindNamed(rq.form("kind")), loginID, rq.form("channel"))
	if err := rq.formLimit("password_reset"); err != nil {
		return rq.codeFailed(pg, err)
	}
	code, pw := rq.recoveryCode(), rq.r.PostFormValue("password")
	// Every problem at once, and no code spent on a form that cannot succeed.
	var errs validate.Errors
	validate.Code(&errs, "code", code)
	if pw == "" {
		errs.Add("password", "required", rq.text.T("rule.password.required"))
	} else {
		for _, pr := range rq.policy.Password.Check(pw, loginID) {
			errs.AddLimit("password", pr.Code, pr.Message, pr.Limit)
		}
	}
	if pw != rq.r.PostFormValue("password_confirm") {
		errs.Add("password_confirm", "mismatch", rq.text.T("recover.reset.mismatch"))
	}
	if err := errs.Err(); err != nil {
		return rq.codeFailed(pg, err)
	}
	if err := p.Engine.ResetPasswordWithCode(rq.ctx(), rq.caller, loginID, code, pw); err != nil {
		return rq.codeFailed(pg, err)
	}
	rq.redirect("/signin?done=password_reset")
	return nil
}

func (p *Portal) reenable(rq *request) error {
	loginID := rq.form("login_id")
	pg := rq.codePage(recoverKindNamed("reenable"), loginID, rq.form("channel"))
	err := rq.formLimit("reenable")
	if err == nil {
		err = p.Engine.ReenableWithCode(rq.ctx(), rq.caller, loginID, rq.recoveryCode())
	}
	if err != nil {
		return rq.codeFailed(pg, err)
	}
	rq.redirect("/signin?done=reenabled")
	return nil
}
