package portal

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/store"
)

// The admin console: the help desk and administrators in the browser
// (issue 13). It is served by the portal's machinery — the same look,
// languages, security headers, form handling and cross-origin protection —
// under /admin/{tenant}/. Administrators are people of the tenant with a
// console role: they sign in on the portal with their password and their
// own second factor, and the portal hands them a console session of its
// own (a separate cookie scoped to the console's paths, shorter-lived).
// Every page names the action it performs; flow.Permits decides, for the
// console as for the admin API and the command line.

// consoleRoot is the console's path prefix; the tenant's slug follows.
const consoleRoot = "/admin/"

// levelConsole is the level of a console session.
const levelConsole = "console"

// consoleMax bounds a console session however long the portal's may last:
// an administrator's authority is renewed by signing in again.
const consoleMax = 8 * time.Hour

func (p *Portal) consoleCookieName() string {
	if p.Secure {
		return "__Secure-cs_console"
	}
	return "cs_console"
}

// consoleRoute is one console page or form and the action it performs.
type consoleRoute struct {
	method, path string
	action       flow.Action
	handler      handlerFunc
}

func (p *Portal) consoleRoutes() []consoleRoute {
	var rs []consoleRoute
	add := func(method, path string, a flow.Action, h handlerFunc) {
		rs = append(rs, consoleRoute{method, path, a, h})
	}
	add("GET", "/{$}", flow.ReadPeople, p.consoleHome)
	add("GET", "/{rest...}", flow.ReadPeople, p.notFound)
	add("POST", "/language", flow.ReadPeople, p.setLanguage)
	add("POST", "/signout", flow.ReadPeople, p.consoleSignOut)
	p.consolePeopleRoutes(add)
	p.consoleAuditRoutes(add)
	p.consolePolicyRoutes(add)
	p.consoleEnablementRoutes(add)
	p.consoleReportRoutes(add)
	p.consoleTerminateRoutes(add)
	return rs
}

// ConsoleRoute is a console page or form as tests and documents list them.
type ConsoleRoute struct {
	Method, Path string
	Action       flow.Action
}

// ConsoleRoutes lists every page and form of the console with the action
// it performs.
func (p *Portal) ConsoleRoutes() []ConsoleRoute {
	var out []ConsoleRoute
	for _, rt := range p.consoleRoutes() {
		out = append(out, ConsoleRoute{rt.method, consoleRoot + "{tenant}" + rt.path, rt.action})
	}
	return out
}

// registerConsole mounts the console's pages, each behind protect (the
// cross-origin protection of every form).
func (p *Portal) registerConsole(mux *http.ServeMux, protect func(http.Handler) http.Handler) {
	for _, rt := range p.consoleRoutes() {
		mux.Handle(rt.method+" "+consoleRoot+"{tenant}"+rt.path, protect(p.consoleWrap(rt.action, rt.handler)))
	}
	mux.Handle("GET "+consoleRoot+"{tenant}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
	}))
}

// consoleWrap resolves the tenant and the console session, sends whoever
// has none to sign in, checks the page's action against the person's role
// and renders whatever error the handler returns.
func (p *Portal) consoleWrap(a flow.Action, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq, ok := p.begin(w, r, true)
		if !ok {
			return
		}
		if err := rq.loadConsole(); err != nil {
			p.fail(rq, err)
			return
		}
		if rq.user == nil {
			rq.consoleSignIn(false)
			return
		}
		if err := rq.useLanguage(); err != nil {
			p.fail(rq, err)
			return
		}
		if !flow.Permits(rq.user.ConsoleRole, rq.policy, a) {
			rq.status = http.StatusForbidden
			rq.render("error", &Page{Title: "console.forbidden.title", Alert: rq.problemAlert(rq.problem(flow.ErrForbidden))})
			return
		}
		rq.serve(h)
	})
}

// consoleSignIn sends the browser to the portal's sign-in, which comes
// back to the console once the second factor is proven.
func (rq *request) consoleSignIn(fresh bool) {
	portal := "/portal/" + rq.tenant.Slug
	to := portal + "/signin?next=" + url.QueryEscape(portal+"/console")
	if fresh {
		to += "&fresh=1"
	} else {
		to += "&console=1"
	}
	http.Redirect(rq.w, rq.r, to, http.StatusSeeOther)
}

// loadConsole finds the console session of the request's cookie. A session
// whose person lost their role, is no longer active or is locked is ended.
func (rq *request) loadConsole() error {
	c, err := rq.r.Cookie(rq.p.consoleCookieName())
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil
	}
	s, u, err := rq.p.Engine.Session(rq.ctx(), rq.tenant.ID, rq.p.tokenHash(c.Value), time.Duration(rq.policy.Portal.SessionIdle))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if s.Level != levelConsole {
		return nil
	}
	if u.ConsoleRole == "" || u.Status != store.StatusActive || flow.MFALocked(u, rq.policy, rq.p.now()) {
		return rq.p.Engine.ChangeSession(rq.ctx(), &flow.SessionChange{End: s.ID})
	}
	var d sessionData
	if s.Data != "" {
		if err := json.Unmarshal([]byte(s.Data), &d); err != nil {
			return err
		}
	}
	rq.sess, rq.user, rq.data = s, u, d
	rq.caller.Actor, rq.caller.Role = "console:"+u.ID, u.ConsoleRole
	rq.caller.ApplicationID = flow.ConsoleApplication
	return rq.touch()
}

// touch keeps a session alive on activity, writing at most every 30
// seconds so that page loads do not each cost a write.
func (rq *request) touch() error {
	now := rq.p.now()
	if now.Sub(rq.sess.LastSeenAt) > 30*time.Second {
		rq.sess.LastSeenAt = now
		return rq.saveSession()
	}
	return nil
}

// openConsole is the portal's door to the console: a person signed in
// with their second factor and holding a console role gets a console
// session and goes there.
func (p *Portal) openConsole(rq *request) error {
	err := p.Engine.OpenConsole(rq.ctx(), rq.caller, rq.user, rq.sess.TxnID, rq.sess.AuthAt)
	if errors.Is(err, flow.ErrNoConsoleRole) || errors.Is(err, flow.ErrConsoleNeedsFactor) {
		return rq.renderForm("console_closed", &Page{Title: "console.closed.title"}, err)
	}
	if err != nil {
		return err
	}
	token, err := newToken()
	if err != nil {
		return err
	}
	now := p.now()
	life := min(time.Duration(rq.policy.Portal.SessionMax), consoleMax)
	s := &store.PortalSession{
		ID: store.NewID("pss"), TokenHash: p.tokenHash(token), TenantID: rq.tenant.ID, UserID: rq.user.ID, Level: levelConsole,
		TxnID: rq.sess.TxnID, AuthAt: rq.sess.AuthAt, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(life),
		IP: rq.caller.IP, UserAgent: storableHeader(rq.r.UserAgent(), 200), Data: "{}",
	}
	if err := p.Engine.ChangeSession(rq.ctx(), &flow.SessionChange{Start: s}); err != nil {
		return err
	}
	root := consoleRoot + rq.tenant.Slug + "/"
	http.SetCookie(rq.w, &http.Cookie{Name: p.consoleCookieName(), Value: token, Path: root,
		HttpOnly: true, Secure: p.Secure, SameSite: http.SameSiteStrictMode, MaxAge: int(life.Seconds())})
	http.Redirect(rq.w, rq.r, root, http.StatusSeeOther)
	return nil
}

// consoleSignOut ends the console session; the portal's stays, and the
// page says so and offers to end it too.
func (p *Portal) consoleSignOut(rq *request) error {
	if err := p.Engine.ChangeSession(rq.ctx(), &flow.SessionChange{End: rq.sess.ID}); err != nil {
		return err
	}
	http.SetCookie(rq.w, &http.Cookie{Name: p.consoleCookieName(), Value: "", Path: consoleRoot + rq.tenant.Slug + "/", MaxAge: -1,
		HttpOnly: true, Secure: p.Secure, SameSite: http.SameSiteStrictMode})
	rq.user, rq.sess = nil, nil
	rq.render("console_closed", &Page{Title: "console.signed_out.title", Notice: rq.text.T("console.signed_out.text"), Data: "signed_out"})
	return nil
}

// consoleNotice is shown once on the next console page.
func (rq *request) consoleNotice(key string) error {
	rq.data.Notice = key
	return rq.saveSession()
}
