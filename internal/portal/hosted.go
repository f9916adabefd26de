package portal

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/store"
)

// The hosted login (X2): an application sends the person here through
// OpenID Connect (package oidc) with an authorization request. It is the
// portal's own sign-in — the same pages, look, languages and engine rules
// — on a login transaction of that application: the second-factor step,
// calls, codes and enrolment are the portal's pages, and the session they
// end in is the single sign-on session a second application can use.
// Security questions are never offered here: they open the portal only (A8).

func (p *Portal) hostedRoutes(add func(string, string, access, handlerFunc)) {
	add("GET", "/login", public, p.hostedLogin)
	add("POST", "/login", public, p.hostedPassword)
	add("GET", "/login/continue", public, p.hostedContinue)
	add("GET", "/logout", public, p.hostedLogout)
}

// deviceCookie remembers a device for applications' sign-ins (B4).
func (p *Portal) deviceCookie() string {
	if p.Secure {
		return "__Secure-cs_device"
	}
	return "cs_device"
}

// hostedView is what the hosted login's pages show of the request.
type hostedView struct {
	Request string
	Client  string // the application's name
}

// signOn loads the pending authorization request a page works for; a gone
// one is a page that sends the person back to the application.
func (rq *request) signOn(id string) (*flow.SignOn, *store.OIDCClient, error) {
	if id == "" || len(id) > 100 {
		return nil, nil, flow.ErrSignOnGone
	}
	so, err := rq.p.Engine.PendingSignOn(rq.ctx(), rq.tenant.ID, id)
	if err != nil {
		return nil, nil, err
	}
	cl, err := rq.p.Engine.Client(rq.ctx(), rq.tenant.ID, so.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, flow.ErrSignOnGone
	}
	return so, cl, err
}

// callback is where the protocol side issues the code for a completed
// request and returns the person to the application.
func (rq *request) callback(so *flow.SignOn) {
	http.Redirect(rq.w, rq.r, "/oidc/"+rq.tenant.Slug+"/authorize/callback?id="+url.QueryEscape(so.ID), http.StatusSeeOther)
}

// useRequestedLanguage shows the pages in the first of the application's
// ui_locales the portal speaks, unless the person chose one with the switch.
func (rq *request) useRequestedLanguage(so *flow.SignOn) {
	if chosenLanguage(rq.r) != "" {
		return
	}
	for _, code := range so.Req.UILocales {
		if len(code) >= 2 {
			if l := rq.p.byCode(code[:2]); l != nil {
				rq.lang, rq.text, rq.caller.Lang = l, l.text, l.text.Lang
				http.SetCookie(rq.w, &http.Cookie{Name: langCookie, Value: l.text.Lang, Path: "/", MaxAge: int(365 * 24 * time.Hour / time.Second),
					HttpOnly: true, Secure: rq.p.Secure, SameSite: http.SameSiteLaxMode})
				return
			}
		}
	}
}

// hostedLogin answers an authorization request: from the browser's session
// when it can (single sign-on), with login_required for prompt=none when it
// cannot, else with the sign-in form.
func (p *Portal) hostedLogin(rq *request) error {
	so, cl, err := rq.signOn(rq.r.URL.Query().Get("request"))
	if err != nil {
		return err
	}
	rq.useRequestedLanguage(so)
	if rq.allowed(full) && rq.sess.TxnID != "" {
		done, err := p.Engine.CompleteSignOn(rq.ctx(), rq.caller, so.ID, rq.sess.TxnID, true)
		switch {
		case err == nil:
			rq.callback(done)
			return nil
		case !errors.Is(err, flow.ErrLoginRequired) && !errors.Is(err, flow.ErrAccountDisabled) && !isStatusErr(err):
			return err
		}
	}
	if so.Req.PromptNone() {
		return rq.refuseSignOn(so, "login_required")
	}
	pg := &Page{Title: "login.title", Form: map[string]string{"request": so.ID, "login_id": so.Req.LoginHint}, Data: hostedView{Request: so.ID, Client: cl.Name}}
	return rq.renderForm("login", pg, nil)
}

func isStatusErr(err error) bool {
	for _, e := range []error{flow.ErrAccountDisabled, flow.ErrAccountInactive, flow.ErrAccountPending, flow.ErrAccountExpired, flow.ErrAccountLocked} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// refuseSignOn returns the person to the application with an error, for
// the request's registered (validated) redirect URI only.
func (rq *request) refuseSignOn(so *flow.SignOn, code string) error {
	if _, err := rq.p.Engine.RefuseSignOn(rq.ctx(), rq.caller, so.ID, code); err != nil {
		return err
	}
	u, err := url.Parse(so.Req.RedirectURI)
	if err != nil {
		return flow.ErrSignOnGone
	}
	q := u.Query()
	q.Set("error", code)
	if so.Req.State != "" {
		q.Set("state", so.Req.State)
	}
	q.Set("iss", rq.issuer())
	u.RawQuery = q.Encode()
	http.Redirect(rq.w, rq.r, u.String(), http.StatusFound)
	return nil
}

func (rq *request) issuer() string {
	return rq.p.Base + "/oidc/" + rq.tenant.Slug
}

// hostedPassword is the password step of an application's sign-in.
func (p *Portal) hostedPassword(rq *request) error {
	so, cl, err := rq.signOn(rq.form("request"))
	if err != nil {
		return err
	}
	pg := &Page{Title: "login.title", Form: map[string]string{"request": so.ID, "login_id": rq.form("login_id")}, Data: hostedView{Request: so.ID, Client: cl.Name}}
	if err := rq.formLimit(hostedForm); err != nil {
		return rq.renderForm("login", pg, err)
	}
	c := rq.caller
	if ck, err := rq.r.Cookie(p.deviceCookie()); err == nil {
		c.TrustedDevice = ck.Value
	}
	res, err := p.Engine.SignOnPassword(rq.ctx(), c, so.ID, rq.form("login_id"), rq.r.PostFormValue("password"))
	if errors.Is(err, flow.ErrMFALocked) {
		return rq.lockedPage(nil)
	}
	if err != nil {
		return rq.renderForm("login", pg, err)
	}
	d := sessionData{App: so.ClientID, SignOn: so.ID}
	switch res.Status {
	case flow.Allowed:
		// No second factor asked (policy, or a remembered device): the
		// sign-in is complete and the browser's session begins with it.
		if err := rq.startSession(res.User, store.SessionFull, res.Txn.ID, d); err != nil {
			return err
		}
		return rq.continueToApp()
	case flow.EnrolmentRequired:
		// A person who must use MFA but has none enrols first, in the
		// portal's wizard, and comes back here at its end.
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
	rq.redirect("/signin/verify")
	return nil
}

// hostedContinue finishes the application's sign-in the session carries
// once its second step (or enrolment) is done.
func (p *Portal) hostedContinue(rq *request) error {
	if rq.sess == nil || rq.data.SignOn == "" {
		rq.redirect("/")
		return nil
	}
	if !rq.allowed(full) {
		rq.redirect("/signin/verify")
		return nil
	}
	return rq.finishSignOn()
}

// finishSignOn answers the session's authorization request with its
// completed login and sends the person back to the application.
func (rq *request) finishSignOn() error {
	id := rq.data.SignOn
	done, err := rq.p.Engine.CompleteSignOn(rq.ctx(), rq.caller, id, rq.sess.TxnID, false)
	if errors.Is(err, flow.ErrLoginRequired) {
		// Enrolled only what opens the portal (security questions): the
		// application still needs a factor that opens it.
		return errNeedsAppFactor
	}
	if err != nil {
		return err
	}
	rq.data.SignOn = ""
	if err := rq.saveSession(); err != nil {
		return err
	}
	rq.callback(done)
	return nil
}

var errNeedsAppFactor = flow.ErrFactorNotAllowed

// hostedLogout ends the browser's session after an application's logout
// and returns to the address the provider validated, or says it is done.
func (p *Portal) hostedLogout(rq *request) error {
	to, ok := p.Engine.OpenLogout(rq.tenant.ID, rq.r.URL.Query().Get("to"))
	if !ok {
		rq.status = http.StatusBadRequest
		rq.render("error", &Page{Title: "error.title", Alert: &Alert{Code: "E46", Message: rq.text.T("logout.link_invalid")}})
		return nil
	}
	if err := rq.endSession(); err != nil {
		return err
	}
	if to != "" {
		http.Redirect(rq.w, rq.r, to, http.StatusFound)
		return nil
	}
	rq.redirect("/signin?done=signed_out")
	return nil
}

// rememberDevice reads the verify form's "remember this device" box: only
// for an application's sign-in, and only when policy allows (B4).
func (rq *request) rememberDevice() bool {
	return rq.data.App != "" && rq.policy.TrustedDeviceTTL > 0 && rq.r.PostFormValue("remember") == "1"
}

// keepDevice hands the browser a remembered-device token.
func (rq *request) keepDevice(token string) {
	if token == "" {
		return
	}
	http.SetCookie(rq.w, &http.Cookie{Name: rq.p.deviceCookie(), Value: token, Path: "/portal/" + rq.tenant.Slug + "/",
		HttpOnly: true, Secure: rq.p.Secure, SameSite: http.SameSiteLaxMode, MaxAge: int(time.Duration(rq.policy.TrustedDeviceTTL).Seconds())})
}

// SignOnError shows a refusal of the OpenID Connect provider that must not
// redirect (an unknown client or redirect URI, a bad sign-out link) as a
// page in the portal's look and the person's language.
func (p *Portal) SignOnError(w http.ResponseWriter, r *http.Request, slug string, status int, cause error) {
	p.headers(w)
	l := p.language(r)
	if chosenLanguage(r) == "" {
		// The application's ui_locales, as on the hosted login's pages.
		for _, code := range strings.Fields(r.Form.Get("ui_locales")) {
			if c := p.byCode(strings.ToLower(code[:min(2, len(code))])); c != nil {
				l = c
				break
			}
		}
	}
	rq := &request{w: w, r: r, p: p, lang: l, text: l.text, status: status}
	t, err := p.Engine.TenantBySlug(r.Context(), slug)
	if err != nil {
		rq.status = http.StatusNotFound
		rq.render("notfound", &Page{Title: "notfound.title"})
		return
	}
	rq.tenant = t
	if _, pol, err := p.Engine.Policy(r.Context(), t.ID); err == nil {
		rq.policy = pol
	}
	p.Log.Info("hosted login refused a request", "reason", cause)
	rq.render("signon_error", &Page{Title: "signon_error.title", Data: cause.Error()})
}
