package portal_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/delivery/devbox"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/server"
	chromebrowser "github.com/countersign/countersign/internal/testutil/browser"
	"github.com/countersign/countersign/internal/totp"
)

// The harness starts a whole Countersign in the test process, the way
// cmd/countersign does: SQLite in a temporary directory, the development
// delivery provider with its page on loopback, outbox workers running, one
// tenant "acme" whose policy allows every factor the portal offers.

const (
	tenantSlug = "acme"
	password   = "Correct-Horse-42"
	// testPolicy allows every factor, raises the per-user send limit so
	// that a flow that sends several codes is not cut short, and keeps the
	// security questions on (A8).
	testPolicy = `{"allowed_factors":["totp","sms","email","voice"],
		"send_limits":{"per_user":{"count":30,"window":"15m"},"per_destination":{"count":30,"window":"1h"},"per_tenant":{"count":1000,"window":"1h"}}}`
)

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// env is one running server with its tenant and an administrator key.
type env struct {
	t        *testing.T
	srv      *server.Server
	url      string
	adminKey string
	tenantID string
	// offset shifts the engine's clock (nanoseconds); tests that need
	// time to pass move it rather than sleep. Keep it at or below zero while
	// messages are expected: the outbox workers use the real clock and do
	// not deliver a message enqueued in their future.
	offset atomic.Int64
}

type envOption func(*config.Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	// Loopback: the development page is served (as on a developer's machine).
	cfg.Addr = "127.0.0.1:0"
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if srv.DevBox == nil {
		t.Fatal("the development provider is not configured")
	}
	e := &env{t: t, srv: srv}
	srv.Engine.Now = e.now
	hs := httptest.NewServer(srv.Handler)
	t.Cleanup(hs.Close)
	e.url = hs.URL
	// Phone apps register, poll and answer at this server (A9).
	srv.Engine.PushBase = hs.URL
	srv.Start(t.Context())

	ctx := t.Context()
	tn, err := srv.Directory.CreateTenant(ctx, tenantSlug, "Acme Health")
	if err != nil {
		t.Fatal(err)
	}
	e.tenantID = tn.ID
	if _, e.adminKey, err = srv.Directory.CreateAdminKey(ctx, flow.Caller{TenantID: tn.ID, Actor: "test"}, "ops", "admin"); err != nil {
		t.Fatal(err)
	}
	e.setPolicy(testPolicy)
	return e
}

func (e *env) now() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }

// shift moves the engine's clock by d.
func (e *env) shift(d time.Duration) { e.offset.Add(int64(d)) }

// base is the tenant's portal root.
func (e *env) base() string { return e.url + "/portal/" + tenantSlug }

// apiReply is the answer of the admin API.
type apiReply struct {
	status int
	body   map[string]any
	raw    []byte
}

func (r apiReply) str(path ...string) string {
	var v any = r.body
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

// api calls the admin API with the tenant administrator's key.
func (e *env) api(method, path string, body any) apiReply {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.adminKey)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := apiReply{status: resp.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (e *env) setPolicy(doc string) {
	e.t.Helper()
	if r := e.api("PUT", "/api/v1/admin/policy", doc); r.status != 200 {
		e.t.Fatalf("policy: %d %s", r.status, r.raw)
	}
}

// person is a user of the tenant as the tests know them.
type person struct {
	LoginID, Email, Phone, DOB, SSN, Password string
}

// newPerson creates a user with every contact point and identity detail
// (C6), and no factor yet.
func (e *env) newPerson(loginID, phone string) person {
	e.t.Helper()
	p := person{LoginID: loginID, Email: loginID + "@example.org", Phone: phone, DOB: "1984-05-17", SSN: "123456789", Password: password}
	r := e.api("POST", "/api/v1/admin/users", map[string]any{
		"login_id": p.LoginID, "email": p.Email, "phone": p.Phone, "password": p.Password,
		"date_of_birth": p.DOB, "ssn": p.SSN, "display_name": "Test " + loginID,
	})
	if r.status != 201 {
		e.t.Fatalf("create user %s: %d %s", loginID, r.status, r.raw)
	}
	return p
}

// withCodeFactors registers the person's email and phone as sign-in methods
// the way an administrator vouches for them (B2).
func (e *env) withCodeFactors(p person) {
	e.t.Helper()
	if r := e.api("POST", "/api/v1/admin/users/"+p.LoginID+"/contact", map[string]any{"phone": p.Phone, "email": p.Email}); r.status != 200 {
		e.t.Fatalf("contact: %d %s", r.status, r.raw)
	}
}

// withTOTP enrols an authenticator app through the admin API and returns
// its secret and the step its confirming code used.
func (e *env) withTOTP(p person) (secret []byte, used int64) {
	e.t.Helper()
	r := e.api("POST", "/api/v1/admin/users/"+p.LoginID+"/enrolments/totp", map[string]any{})
	if r.status != 201 {
		e.t.Fatalf("totp enrolment: %d %s", r.status, r.raw)
	}
	secret = decodeKey(e.t, r.str("secret"))
	step := totp.Step(e.now())
	if c := e.api("POST", "/api/v1/admin/enrolments/"+r.str("enrolment_id")+"/confirm", map[string]any{"code": totp.CodeAt(secret, step)}); c.status != 200 {
		e.t.Fatalf("confirm totp: %d %s", c.status, c.raw)
	}
	return secret, step
}

// factorID is the id of the person's active factor of kind.
func (e *env) factorID(p person, kind string) string {
	e.t.Helper()
	r := e.api("GET", "/api/v1/admin/users/"+p.LoginID+"/factors", nil)
	list, _ := r.body["factors"].([]any)
	for _, f := range list {
		m, _ := f.(map[string]any)
		if m["kind"] == kind && m["state"] == "active" {
			id, _ := m["id"].(string)
			return id
		}
	}
	e.t.Fatalf("%s has no active %s factor: %s", p.LoginID, kind, r.raw)
	return ""
}

// decodeKey reads an authenticator key as the page or API shows it.
func decodeKey(t *testing.T, shown string) []byte {
	t.Helper()
	s := strings.ToUpper(strings.Join(strings.Fields(shown), ""))
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil || len(b) == 0 {
		t.Fatalf("authenticator key %q does not decode: %v", shown, err)
	}
	return b
}

// totpCode is a code the authenticator app would show, for a step after
// used (a step is accepted at most once: invariant 2). Policy tolerates one
// step of drift, so the next step works at once.
func (e *env) totpCode(secret []byte, used int64) (string, int64) {
	step := max(totp.Step(e.now()), used+1)
	return totp.CodeAt(secret, step), step
}

// messages are what the development provider received, newest first.
func (e *env) messages() []devbox.Entry { return e.srv.DevBox.Entries() }

// waitMessage polls the development outbox until a message delivered to to
// after since satisfies match; it returns the newest such message.
func (e *env) waitMessage(to string, since time.Time, match func(devbox.Entry) bool) devbox.Entry {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range e.messages() {
			if strings.EqualFold(m.To, to) && !m.Received.Before(since) && (match == nil || match(m)) {
				return m
			}
		}
		time.Sleep(40 * time.Millisecond)
	}
	e.t.Fatalf("no message to %s arrived in the development outbox (have %d messages)", to, len(e.messages()))
	return devbox.Entry{}
}

// waitCode returns the 6-digit code of the newest message to to since since.
func (e *env) waitCode(to string, since time.Time) string {
	e.t.Helper()
	m := e.waitMessage(to, since, func(m devbox.Entry) bool { return sixDigits.MatchString(m.Text) })
	return sixDigits.FindString(m.Text)
}

// e164 is how the delivery layer writes a 10-digit US number.
func e164(phone string) string {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, phone)
	return "+1" + digits
}

func noRedirects() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}
}

// client is a browser without JavaScript: a cookie jar and no automatic
// redirects, so each answer can be inspected.
type client struct {
	t    *testing.T
	e    *env
	http *http.Client
	// header is added to every request.
	header http.Header
}

func (e *env) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	c := noRedirects()
	c.Jar = jar
	return &client{t: t, e: e, http: c, header: http.Header{}}
}

// page is one answer of the portal.
type page struct {
	status int
	header http.Header
	body   string
	// location is the redirect target, relative to the tenant's portal.
	location string
}

func (c *client) do(method, path string, form url.Values) page {
	c.t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	target := path
	if !strings.HasPrefix(path, "http") {
		target = c.e.base() + path
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pg := page{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if loc := resp.Header.Get("Location"); loc != "" {
		u, _ := url.Parse(loc)
		pg.location = strings.TrimPrefix(u.Path, "/portal/"+tenantSlug)
		if u.RawQuery != "" {
			pg.location += "?" + u.RawQuery
		}
	}
	return pg
}

func (c *client) get(path string) page { c.t.Helper(); return c.do("GET", path, nil) }

func (c *client) post(path string, form url.Values) page {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	return c.do("POST", path, form)
}

// cookie is the value of the portal's session cookie in the jar.
func (c *client) cookie() string {
	u, _ := url.Parse(c.e.base() + "/")
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == "cs_portal" {
			return ck.Value
		}
	}
	return ""
}

// signIn proves the password and finishes with the authenticator app; it
// returns the step the code used.
func (c *client) signIn(p person, secret []byte, used int64) int64 {
	c.t.Helper()
	pg := c.post("/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}})
	if pg.status != http.StatusSeeOther || pg.location != "/signin/verify" {
		c.t.Fatalf("password step: %d %s %.300s", pg.status, pg.location, pg.body)
	}
	code, step := c.e.totpCode(secret, used)
	pg = c.post("/signin/verify", url.Values{"factor": {c.e.factorID(p, "totp")}, "code": {code}})
	if pg.status != http.StatusSeeOther || pg.location != "/account" {
		c.t.Fatalf("second step: %d %s %.500s", pg.status, pg.location, pg.body)
	}
	return step
}

// The browser: one headless Chromium (Debian's) for the whole package, a
// fresh browser context (its own cookies, like a private window) per tab.

// stepTimeout bounds every browser step, so a hang fails the test instead
// of stalling the suite.
const stepTimeout = 30 * time.Second

var shared struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	dir    string
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cancel != nil {
		shared.cancel()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromebrowser.Path(t)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "countersign-chromium-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dir = dir
		var cancel context.CancelFunc
		shared.ctx, cancel, shared.err = chromebrowser.Launch(path, dir, 1280, 900)
		if shared.err == nil {
			shared.cancel = cancel
		}
	})
	if shared.err != nil {
		t.Fatalf("start chromium: %v", shared.err)
	}
	return shared.ctx
}

// tab is one browser window in a private browser context.
type tab struct {
	t   *testing.T
	e   *env
	ctx context.Context
}

func (e *env) tab(t *testing.T) *tab {
	t.Helper()
	ctx, cancel, err := chromebrowser.Open(browser(t), stepTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return &tab{t: t, e: e, ctx: ctx}
}

// run performs one bounded step; on failure the test stops with where the
// browser was and what it showed.
func run[T any](b *tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v\n%s", what, err, b.where())
	}
	return v
}

func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	run(b, what, chromedp.Steps(steps...))
}

// where describes the page for a failure message, without failing itself.
func (b *tab) where() string {
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + (document.body ? document.body.innerText : "")`))
	if err != nil {
		return "(page unreadable: " + err.Error() + ")"
	}
	if len(s) > 1500 {
		s = s[:1500] + "…"
	}
	return "page: " + s
}

// eval runs JavaScript in the page and decodes its result.
func eval[T any](b *tab, js string) T {
	b.t.Helper()
	return run(b, "evaluate "+js, chromedp.Evaluate[T](js))
}

func jsString(s string) string {
	j, _ := json.Marshal(s)
	return string(j)
}

// open loads a path below the tenant's portal (or an absolute URL) and
// returns the HTTP status of the document.
func (b *tab) open(path string) int64 {
	b.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = b.e.base() + path
	}
	resp := run(b, "open "+path, chromedp.NavigateResponse(u))
	if resp == nil {
		return 0
	}
	return resp.Status
}

// fill types a value into a field as a person would, firing the events
// the page's script listens to.
func (b *tab) fill(sel, value string) {
	b.t.Helper()
	b.do("fill "+sel,
		chromedp.WaitReady(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](`(() => { const el = document.querySelector(`+jsString(sel)+`);
			el.focus(); el.value = `+jsString(value)+`;
			el.dispatchEvent(new Event("input", {bubbles: true})); el.dispatchEvent(new Event("change", {bubbles: true})); })()`))
}

// check ticks a checkbox or picks a radio button.
func (b *tab) check(sel string) {
	b.t.Helper()
	b.do("check "+sel, chromedp.WaitReady(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](`(() => { const el = document.querySelector(`+jsString(sel)+`); el.checked = true;
			el.dispatchEvent(new Event("change", {bubbles: true})); })()`))
}

// choose selects an option of a select element by value.
func (b *tab) choose(sel, value string) {
	b.t.Helper()
	b.do("choose "+sel, chromedp.WaitReady(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](`(() => { const el = document.querySelector(`+jsString(sel)+`); el.value = `+jsString(value)+`;
			el.dispatchEvent(new Event("change", {bubbles: true})); })()`))
}

// click presses a button or link that loads a page and waits for it,
// returning the status of the document it ends on.
func (b *tab) click(sel string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("click %s: %v\n%s", sel, err, b.where())
	}
	if resp == nil {
		return 0
	}
	return resp.Status
}

// exists reports whether an element matches sel now.
func (b *tab) exists(sel string) bool {
	b.t.Helper()
	return eval[bool](b, `document.querySelector(`+jsString(sel)+`) !== null`)
}

// text is the visible text of the first element matching sel, "" if none.
func (b *tab) text(sel string) string {
	b.t.Helper()
	return eval[string](b, `(() => { const el = document.querySelector(`+jsString(sel)+`); return el ? el.innerText : ""; })()`)
}

// attr is an attribute of the first element matching sel.
func (b *tab) attr(sel, name string) string {
	b.t.Helper()
	return eval[string](b, `(() => { const el = document.querySelector(`+jsString(sel)+`); return el ? (el.getAttribute(`+jsString(name)+`) || "") : ""; })()`)
}

// path is the current location below the tenant's portal.
func (b *tab) path() string {
	b.t.Helper()
	p := eval[string](b, `location.pathname + location.search`)
	return strings.TrimPrefix(p, "/portal/"+tenantSlug)
}

// expectPath fails unless the browser is on a path starting with want.
func (b *tab) expectPath(want string) {
	b.t.Helper()
	if got := b.path(); !strings.HasPrefix(got, want) {
		b.t.Fatalf("on %s, want %s\n%s", got, want, b.where())
	}
}

// waitPath waits until the browser arrives on a path starting with want:
// for pages that move on by themselves (refresh, auto-submit).
func (b *tab) waitPath(want string) {
	b.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		p, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState === "complete" ? location.pathname + location.search : ""`))
		cancel()
		if err == nil && strings.HasPrefix(strings.TrimPrefix(p, "/portal/"+tenantSlug), want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("the browser did not reach %s\n%s", want, b.where())
}

// contains fails unless the page's visible text contains every want.
func (b *tab) contains(want ...string) {
	b.t.Helper()
	body := b.text("body")
	for _, w := range want {
		if !strings.Contains(body, w) {
			b.t.Fatalf("page lacks %q\n%s", w, b.where())
		}
	}
}

// shot checks a main page against WCAG 2.1 A and AA with axe-core (X8)
// and saves a full-page screenshot of it when COUNTERSIGN_SCREENSHOTS names
// a directory (docs/portal is made this way).
func (b *tab) shot(name string) {
	b.t.Helper()
	b.audit(name)
	if chromebrowser.ScreenshotDir() == "" {
		return
	}
	shot, err := palettePNG(run(b, "screenshot "+name, chromedp.FullScreenshot(100)))
	if err != nil {
		b.t.Fatal(err)
	}
	chromebrowser.Save(b.t, name, shot)
}

// audit runs axe-core's WCAG 2.0/2.1 A and AA rules on the page and fails
// the test on any violation, naming the rule and the elements.
func (b *tab) audit(name string) {
	b.t.Helper()
	load, check := chromebrowser.Audit(b.t)
	if load == nil {
		return
	}
	b.do("load axe-core", load)
	chromebrowser.Report(b.t, name, run(b, "axe "+name, check))
}

// phoneTab is a tab with a phone-sized viewport (390 by 844 CSS pixels).
func (e *env) phoneTab(t *testing.T) *tab {
	t.Helper()
	b := e.tab(t)
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	return b
}

// questionAnswers are the security answers the tests give (A8).
var questionAnswers = map[string]string{"first_pet": "Rex", "birth_city": "Springfield", "first_school": "Lincoln Elementary", "first_car": "Volvo"}

// withQuestions answers four security questions through the engine, as
// the enrolment wizard does; it must run before the person has any other
// factor (a first enrolment is its own fresh authentication).
func (e *env) withQuestions(p person) {
	e.t.Helper()
	ctx := e.t.Context()
	c := flow.Caller{TenantID: e.tenantID, IP: "127.0.0.1", Actor: "user"}
	res, err := e.srv.Engine.PortalSignIn(ctx, c, p.LoginID, p.Password)
	if err != nil {
		e.t.Fatal(err)
	}
	var answers []flow.Answer
	for _, id := range []string{"first_pet", "birth_city", "first_school", "first_car"} {
		answers = append(answers, flow.Answer{QuestionID: id, Text: questionAnswers[id]})
	}
	if err := e.srv.Engine.SetSecurityAnswers(ctx, c, res.Txn.ID, answers, nil); err != nil {
		e.t.Fatal(err)
	}
}

// palettePNG re-encodes a screenshot with the 256 colours it uses most,
// which keeps the pictures in docs/ small: the pages are a few flat colours
// and the shades of anti-aliased text.
func palettePNG(shot []byte) ([]byte, error) {
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		return nil, err
	}
	bounds := img.Bounds()
	counts := map[color.RGBA]int{}
	pixel := func(x, y int) color.RGBA {
		r, g, b, _ := img.At(x, y).RGBA()
		return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 0xff}
	}
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			counts[pixel(x, y)]++
		}
	}
	byUse := make([]color.RGBA, 0, len(counts))
	for c := range counts {
		byUse = append(byUse, c)
	}
	slices.SortFunc(byUse, func(a, b color.RGBA) int {
		if d := counts[b] - counts[a]; d != 0 {
			return d
		}
		return int(a.R)<<16 | int(a.G)<<8 | int(a.B) - (int(b.R)<<16 | int(b.G)<<8 | int(b.B))
	})
	pal := make(color.Palette, 0, 256)
	for _, c := range byUse[:min(256, len(byUse))] {
		pal = append(pal, c)
	}
	out := image.NewPaletted(bounds, pal)
	index := map[color.RGBA]uint8{}
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			c := pixel(x, y)
			i, ok := index[c]
			if !ok {
				i = uint8(pal.Index(c))
				index[c] = i
			}
			out.SetColorIndex(x, y, i)
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
