package portal

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/requestid"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
	lang "golang.org/x/text/language"
)

//go:embed static
var staticFS embed.FS

// Portal serves the self-service pages under /portal/{tenant}/.
type Portal struct {
	Engine *flow.Engine
	// Directory carries out the admin console's changes.
	Directory *directory.Service
	Log       *slog.Logger
	// ClientIP returns the address of the person (behind trusted proxies).
	ClientIP func(*http.Request) string
	// Secure marks cookies Secure and sends HSTS; set when people reach the
	// portal over https.
	Secure bool
	// Base is the server's public address without a trailing slash; the
	// hosted login names its issuer with it.
	Base string

	langs []*language // the first is the default
	match lang.Matcher
	// postOnly are the paths with a form handler and no page.
	postOnly map[string]bool
}

// language is one translation of the portal: its strings and its pages.
type language struct {
	text  *Catalogue
	pages map[string]*pageTemplate
	name  string // the language's own name, for the switch
}

// New loads the strings and parses every page; a missing or broken template
// fails here, at start, not on a request.
func New(eng *flow.Engine, log *slog.Logger, clientIP func(*http.Request) string, secure bool) (*Portal, error) {
	p := &Portal{Engine: eng, Log: log, ClientIP: clientIP, Secure: secure}
	codes, err := Languages()
	if err != nil {
		return nil, err
	}
	var tags []lang.Tag
	for _, code := range codes {
		cat, err := LoadCatalogue(code)
		if err != nil {
			return nil, err
		}
		pages, err := parsePages(cat)
		if err != nil {
			return nil, err
		}
		p.langs = append(p.langs, &language{text: cat, pages: pages, name: cat.T("lang.name")})
		tags = append(tags, lang.MustParse(code))
	}
	p.match = lang.NewMatcher(tags)
	return p, nil
}

// access is what a page needs of the session.
type access int

const (
	public   access = iota // anyone; a session is loaded when there is one
	verify                 // password proven, second factor pending
	enrol                  // enrolment wizard (no factor yet) or full
	full                   // password and second factor proven
	recovery               // identity validated in the lost-device path
)

// handlerFunc is a page handler; an error it returns is shown as a page.
type handlerFunc func(rq *request) error

// Register mounts the portal on mux.
func (p *Portal) Register(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/portal/", http.FileServerFS(static))
	mux.Handle("GET /static/portal/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.headers(w)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = fmt.Fprintln(w, p.language(r).text.T("error.cross_origin"))
	}))
	routes := p.routes()
	p.postOnly = map[string]bool{}
	for _, rt := range routes {
		if rt.method == http.MethodPost {
			p.postOnly[rt.path] = true
		}
	}
	for _, rt := range routes {
		if rt.method == http.MethodGet {
			delete(p.postOnly, rt.path)
		}
		h := p.wrap(rt.access, rt.handler)
		mux.Handle(rt.method+" /portal/{tenant}"+rt.path, cop.Handler(h))
	}
	p.registerConsole(mux, cop.Handler)
}

type route struct {
	method, path string
	access       access
	handler      handlerFunc
}

func (p *Portal) routes() []route {
	var rs []route
	add := func(method, path string, a access, h handlerFunc) {
		rs = append(rs, route{method, path, a, h})
	}
	add("GET", "/{$}", public, p.home)
	add("POST", "/language", public, p.setLanguage)
	add("GET", "/{rest...}", public, p.notFound)
	p.signInRoutes(add)
	p.hostedRoutes(add)
	p.accountRoutes(add)
	p.enrolRoutes(add)
	p.pushRoutes(add)
	p.recoveryRoutes(add)
	p.reportRoutes(add)
	add("GET", "/console", full, p.openConsole)
	return rs
}

// headers are the portal's security headers: scripts and styles only from
// the portal itself, no framing, no caching of pages that show secrets.
func (p *Portal) headers(w http.ResponseWriter) { Headers(w, p.Secure) }

// Headers sets the portal pages' security headers on w; secure adds HSTS.
// Other server-rendered pages of Countersign use them too.
func Headers(w http.ResponseWriter, secure bool) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if secure {
		h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	}
}

// wrap resolves the tenant and the session, enforces access and renders
// whatever error the handler returns.
func (p *Portal) wrap(a access, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq, ok := p.begin(w, r, false)
		if !ok {
			return
		}
		if err := rq.loadSession(); err != nil {
			p.fail(rq, err)
			return
		}
		if rq.data.App != "" {
			// The session's login transaction is an application's sign-in
			// on the hosted login: its steps are that application's.
			rq.caller.ApplicationID, rq.caller.Hosted = rq.data.App, true
		}
		if err := rq.useLanguage(); err != nil {
			p.fail(rq, err)
			return
		}
		if !rq.allowed(a) {
			if rq.sess != nil && rq.sess.Level == store.SessionEnrol && a == full {
				rq.redirect("/enrol")
				return
			}
			rq.redirect("/signin?ended=1")
			return
		}
		if a == verify && rq.mfaLocked() {
			// Nothing on the second step can succeed now (E03).
			_ = rq.lockedPage(rq.user)
			return
		}
		rq.serve(h)
	})
}

// begin sets the security headers and the language, and resolves the
// tenant of the path and its policy: every page of the portal and of the
// admin console starts here. False means the answer was given.
func (p *Portal) begin(w http.ResponseWriter, r *http.Request, console bool) (*request, bool) {
	p.headers(w)
	l := p.language(r)
	rq := &request{w: w, r: r, p: p, lang: l, text: l.text, console: console}
	var t *store.Tenant
	err := store.ErrNotFound // text the database cannot hold names no tenant
	if slug := r.PathValue("tenant"); validate.Usable(slug) {
		t, err = p.Engine.TenantBySlug(r.Context(), slug)
	}
	if errors.Is(err, store.ErrNotFound) {
		rq.status = http.StatusNotFound
		rq.render("notfound", &Page{Title: "notfound.title"})
		return nil, false
	}
	if err != nil {
		// An outage is not a missing portal: say so, and when to return.
		p.fail(rq, err)
		return nil, false
	}
	requestid.SetTenant(r.Context(), t.ID)
	_, pol, err := p.Engine.Policy(r.Context(), t.ID)
	if err != nil {
		p.fail(rq, err)
		return nil, false
	}
	rq.tenant, rq.policy = t, pol
	rq.caller = flow.Caller{TenantID: t.ID, ApplicationID: flow.PortalApplication, Actor: "user", IP: p.ClientIP(r), Lang: l.text.Lang}
	return rq, true
}

// serve reads a form's fields, refuses input no page can use, and runs the
// page's handler, showing the error it returns.
func (rq *request) serve(h handlerFunc) {
	r := rq.r
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(rq.w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			rq.status = http.StatusBadRequest
			rq.render("error", &Page{Title: "error.title", Alert: &Alert{Code: "E18", Message: rq.text.T("error.bad_form")}})
			return
		}
	}
	if errs := unusableInput(r); len(errs) > 0 {
		rq.refuseInput(errs)
		return
	}
	if err := h(rq); err != nil {
		rq.p.fail(rq, err)
	}
}

func (rq *request) allowed(a access) bool {
	level := ""
	if rq.sess != nil {
		level = rq.sess.Level
	}
	switch a {
	case public:
		return true
	case verify:
		return level == levelVerify
	case enrol:
		return level == store.SessionEnrol || level == store.SessionFull
	case full:
		return level == store.SessionFull
	case recovery:
		return level == store.SessionRecovery
	}
	return false
}

// fail shows an error as a page. A stale authentication sends the person
// to sign in again and come back; anything unexpected is logged and shown
// as E99 without its cause.
func (p *Portal) fail(rq *request, err error) {
	if errors.Is(err, flow.ErrFreshAuthRequired) && rq.console {
		rq.consoleSignIn(true)
		return
	}
	if errors.Is(err, flow.ErrFreshAuthRequired) {
		next := rq.r.URL.Path
		if p.postOnly[strings.TrimPrefix(next, rq.base())] {
			// A form's address has no page to come back to.
			next = rq.base() + "/account"
		}
		rq.redirect("/signin?next=" + url.QueryEscape(next) + "&fresh=1")
		return
	}
	pe := rq.problem(err)
	id := requestid.ID(rq.ctx())
	switch {
	case pe.Status >= 500 && pe.RetryAfter == 0:
		p.Log.Error("portal request failed", "path", rq.r.URL.Path, "request_id", id, "err", err)
	case pe.Status >= 500:
		p.Log.Warn("portal request refused for now", "path", rq.r.URL.Path, "code", pe.Code, "request_id", id, "err", err)
	}
	if pe.RetryAfter > 0 {
		rq.w.Header().Set("Retry-After", strconv.Itoa(pe.RetryAfter))
	}
	rq.status = pe.Status
	rq.render("error", &Page{Title: "error.title", Alert: rq.problemAlert(pe)})
}

// notFound answers a path the portal does not have with a page in the
// person's language and a way back.
func (p *Portal) notFound(rq *request) error {
	if p.postOnly["/"+rq.r.PathValue("rest")] {
		// A form's address opened as a link changes nothing.
		rq.w.Header().Set("Allow", http.MethodPost)
		http.Error(rq.w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return nil
	}
	rq.status = http.StatusNotFound
	rq.render("notfound", &Page{Title: "notfound.title"})
	return nil
}

// home sends a signed-in person to their account and anyone else to sign in.
func (p *Portal) home(rq *request) error {
	switch {
	case rq.allowed(full):
		rq.redirect("/account")
	case rq.allowed(enrol):
		rq.redirect("/enrol")
	default:
		rq.redirect("/signin")
	}
	return nil
}

// request is one page request with what every handler needs.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	p      *Portal
	lang   *language
	text   *Catalogue
	status int

	tenant *store.Tenant
	policy policy.Policy
	caller flow.Caller

	sess *store.PortalSession
	data sessionData
	user *store.User
	// labels maps a field to the catalogue key of its label on this page,
	// where it differs from fieldLabels.
	labels map[string]string
	// console marks a page of the admin console: its paths are under
	// /admin/{tenant}, its session is the console's.
	console bool
}

func (rq *request) ctx() context.Context { return rq.r.Context() }

// base is the portal root of the tenant (or the console's, on a console
// page), without the trailing slash.
func (rq *request) base() string {
	if rq.console {
		return consoleRoot + rq.tenant.Slug
	}
	return "/portal/" + rq.tenant.Slug
}

// redirect answers a POST or GET with 303 to a path below the tenant root.
func (rq *request) redirect(path string) {
	http.Redirect(rq.w, rq.r, rq.base()+path, http.StatusSeeOther)
}

// form returns a trimmed form value.
func (rq *request) form(name string) string { return strings.TrimSpace(rq.r.PostFormValue(name)) }

// limit counts one submission of a form that sends a message or checks a
// secret against the person's address; false means they must wait.
func (rq *request) limit(form string) (bool, error) {
	perWindow := 30
	if form == hostedForm {
		// Applications' sign-ins come from whole offices behind one
		// address; each login ID keeps its own lockout (B5).
		perWindow = hostedPerWindow
	}
	return rq.p.Engine.FormAttempt(rq.ctx(), "portal:"+form+":"+rq.tenant.ID+":"+rq.caller.IP, 10*time.Minute, perWindow)
}

// The hosted login's password form has its own, larger count per address.
const (
	hostedForm      = "login"
	hostedPerWindow = 600
)

// errTooMany is returned by handlers whose form limit is spent.
var errTooMany = &flow.RateLimitedError{Scope: "client", Wait: 10 * time.Minute}

// formLimit counts one submission of a form (rq.limit) as an error to show.
// A count that could not be taken is its own error, not "too many": during
// an outage the person is told to come back in a moment, not in ten minutes.
func (rq *request) formLimit(form string) error {
	ok, err := rq.limit(form)
	if err != nil {
		return err
	}
	if !ok {
		return errTooMany
	}
	return nil
}

func (p *Portal) now() time.Time { return p.Engine.CurrentTime() }
