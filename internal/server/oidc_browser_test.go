package server_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/server"
	chromebrowser "github.com/countersign/countersign/internal/testutil/browser"
	"github.com/countersign/countersign/internal/testutil/pgtest"
)

// These tests drive the hosted login (X2) with Debian's Chromium as the
// person's browser and go-oidc with x/oauth2 as the application: the
// application's redirect URI is a real page (landing), so the browser ends
// where an application would receive the code.

// allFactors allows every factor the hosted login offers and raises the
// send limits so that a test that sends several codes is not cut short.
const allFactors = `{"allowed_factors":["totp","sms","email","voice"],
	"send_limits":{"per_user":{"count":30,"window":"15m"},"per_destination":{"count":30,"window":"1h"},"per_tenant":{"count":1000,"window":"1h"}}}`

// landing is the application's callback and post-logout page: it records
// each query it receives and shows "done".
type landing struct {
	t   *testing.T
	srv *httptest.Server
	mu  sync.Mutex
	got map[string][]url.Values
}

func newLanding(t *testing.T) *landing {
	l := &landing{t: t, got: map[string][]url.Values{}}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.got[r.URL.Path] = append(l.got[r.URL.Path], r.URL.Query())
		l.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><html lang="en"><title>Records</title><main><p>done</p></main></html>`)
	}))
	t.Cleanup(l.srv.Close)
	return l
}

func (l *landing) url(path string) string { return l.srv.URL + path }

func (l *landing) count(path string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.got[path])
}

// wait returns the query of the (n+1)-th request to path.
func (l *landing) wait(path string, n int) url.Values {
	l.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		got := l.got[path]
		l.mu.Unlock()
		if len(got) > n {
			return got[n]
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.t.Fatalf("the application's %s was not reached", path)
	return nil
}

// chromeStart starts one headless Chromium for the test with a fresh
// profile, 375 CSS pixels wide like a small phone; it stops with the test.
func chromeStart(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel, err := chromebrowser.Launch(chromebrowser.Path(t), t.TempDir(), 375, 812)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return ctx
}

// window is one private browser window (its own cookies), 375 CSS pixels
// wide like a small phone.
type window struct {
	t   *testing.T
	ctx context.Context
}

func openWindow(t *testing.T, browser context.Context) *window {
	t.Helper()
	ctx, cancel, err := chromebrowser.Open(browser, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	w := &window{t: t, ctx: ctx}
	w.do("phone-sized viewport", chromedp.EmulateViewport(375, 812))
	return w
}

func (w *window) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		w.t.Fatalf("%s: %v\n%s", what, err, w.where())
	}
}

// where describes the page for a failure message.
func (w *window) where() string {
	ctx, cancel := context.WithTimeout(w.ctx, 3*time.Second)
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

// result runs one bounded step that has a result.
func result[T any](w *window, what string, a chromedp.Action[T]) T {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		w.t.Fatalf("%s: %v\n%s", what, err, w.where())
	}
	return v
}

func evalJS[T any](w *window, js string) T {
	w.t.Helper()
	return result(w, "evaluate "+js, chromedp.Evaluate[T](js))
}

func (w *window) href() string { return evalJS[string](w, `location.href`) }

func (w *window) text() string {
	return evalJS[string](w, `document.body ? document.body.innerText : ""`)
}

func (w *window) exists(sel string) bool {
	return evalJS[bool](w, `document.querySelector(`+jsQuote(sel)+`) !== null`)
}

func jsQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func (w *window) navigate(u string) {
	w.t.Helper()
	w.do("open "+u, chromedp.Navigate(u))
}

// fill types into a field as a person would.
func (w *window) fill(sel, value string) {
	w.t.Helper()
	w.do("fill "+sel, chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](`(() => { const el = document.querySelector(`+jsQuote(sel)+`);
			el.focus(); el.value = `+jsQuote(value)+`;
			el.dispatchEvent(new Event("input", {bubbles: true})); el.dispatchEvent(new Event("change", {bubbles: true})); })()`))
}

// click presses a button that loads a page and waits for the next page.
func (w *window) click(sel string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		w.t.Fatalf("click %s: %v\n%s", sel, err, w.where())
	}
}

// waitURL waits until the window is on an address starting with prefix.
func (w *window) waitURL(prefix string) {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(w.ctx, 2*time.Second)
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState === "complete" ? location.href : ""`))
		cancel()
		if err == nil && strings.HasPrefix(s, prefix) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.t.Fatalf("the browser did not reach %s\n%s", prefix, w.where())
}

// shot saves a full-page screenshot under COUNTERSIGN_SCREENSHOTS (the
// portal tests' directory) and, with audit, runs the axe-core audit.
func (w *window) shot(name string, audit bool) {
	w.t.Helper()
	if audit {
		if load, check := chromebrowser.Audit(w.t); load != nil {
			w.do("load axe-core", load)
			chromebrowser.Report(w.t, name, result(w, "axe "+name, check))
		}
	}
	if chromebrowser.ScreenshotDir() != "" {
		chromebrowser.Save(w.t, name, result(w, "screenshot "+name, chromedp.FullScreenshot(100)))
	}
}

// signon is one authorization request of an application, as go-oidc and
// x/oauth2 make it.
type signon struct {
	url, state, nonce, verifier string
}

func (r *rp) request(extra ...oauth2.AuthCodeOption) signon {
	s := signon{state: oauth2.GenerateVerifier()[:20], nonce: oauth2.GenerateVerifier()[:20], verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{gooidc.Nonce(s.nonce), oauth2.S256ChallengeOption(s.verifier)}, extra...)
	s.url = r.conf.AuthCodeURL(s.state, opts...)
	return s
}

// codeAt reads the (n+1)-th authorization response at the application's
// callback.
func codeAt(t *testing.T, l *landing, n int, s signon) string {
	t.Helper()
	q := l.wait("/callback", n)
	if q.Get("state") != s.state || q.Get("code") == "" || q.Get("error") != "" {
		t.Fatalf("authorization response %v, want a code and state %q", q, s.state)
	}
	return q.Get("code")
}

// checkMFA checks an ID token's authentication claims for a second factor
// of amr value want.
func checkMFA(t *testing.T, claims map[string]any, want string) {
	t.Helper()
	got := amr(claims)
	for _, v := range []string{want, "pwd", "mfa"} {
		if !slices.Contains(got, v) {
			t.Errorf("amr %v lacks %q", got, v)
		}
	}
	if claims["acr"] != flow.ACRMFA {
		t.Errorf("acr %v, want %q", claims["acr"], flow.ACRMFA)
	}
}

// factorOf is the id of the person's factor of kind.
func factorOf(t *testing.T, ts *testServer, login, kind string) string {
	t.Helper()
	r := ts.do("GET", "/api/v1/admin/users/"+login+"/factors", ts.adminKey, nil)
	if id := factorID(r, kind); id != "" {
		return id
	}
	t.Fatalf("%s has no %s factor: %s", login, kind, r.raw)
	return ""
}

// totpStep gives the authenticator's code for a step after *used (a step
// is accepted once; one step of drift is tolerated).
func totpStep(t *testing.T, secret string, used *int64) string {
	t.Helper()
	step := max(time.Now().Unix()/30, *used+1)
	*used = step
	return oathtool(t, secret, time.Unix(step*30, 0))
}

// codeSince waits for a 6-digit code delivered to to after since.
func codeSince(ts *testServer, to string, since time.Time) string {
	ts.t.Helper()
	m := ts.waitFor(func(m map[string]any) bool {
		at, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(m["received"]))
		text, _ := m["Text"].(string)
		return m["To"] == to && !at.Before(since) && sixDigits.MatchString(text)
	})
	return sixDigits.FindString(m["Text"].(string))
}

// password fills the hosted login's first page with standard markup only.
func (w *window) password(login string) {
	w.t.Helper()
	w.waitURL("")
	if !w.exists(`input[autocomplete="username"]`) || !w.exists(`input[type="password"]`) {
		w.t.Fatalf("no sign-in form\n%s", w.where())
	}
	w.fill(`input[autocomplete="username"]`, login)
	w.fill(`input[type="password"]`, "Correct-Horse-42")
	w.click(`form[action$="/login"] button[type=submit]`)
}

// enterCode types a code into the factor's form on the verify page.
func (w *window) enterCode(factor, code string, remember bool) {
	w.t.Helper()
	form := `form[action$="/signin/verify"]:has(input[name=factor][value="` + factor + `"])`
	w.fill(form+` input[autocomplete="one-time-code"]`, code)
	if remember {
		w.do("remember this device", chromedp.Click(chromedp.CSS(form+` input[name=remember]`)))
	}
	w.click(form + ` button[type=submit]`)
}

// TestBrowserHostedLoginEachFactor signs a person in through the hosted
// login with each second factor in a real browser: authenticator app, text
// message, email and phone call; the application verifies the ID token and
// its amr. The pages are photographed in English and Spanish (X2, X8).
func TestBrowserHostedLoginEachFactor(t *testing.T) {
	browser := chromeStart(t)
	ts := startIssuer(t, nil)
	ts.running()
	ts.policy(allFactors)
	l := newLanding(t)
	r := newRP(t, ts, flow.ClientInput{RedirectURIs: []string{l.url("/callback")}})

	secret := enrolAuthenticator(t, ts, "alice")
	var used int64 = time.Now().Unix()/30 - 1
	for _, p := range []struct{ login, contact string }{{"sam", "phone"}, {"emma", "email"}} {
		if c := ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": p.login, "password": "Correct-Horse-42", "display_name": "Test " + p.login}); c.status != 201 {
			t.Fatalf("create %s: %d %s", p.login, c.status, c.raw)
		}
	}
	if c := ts.do("POST", "/api/v1/admin/users/sam/contact", ts.adminKey, map[string]any{"phone": "(555) 555-0170"}); c.status != 200 {
		t.Fatalf("contact: %d %s", c.status, c.raw)
	}
	if c := ts.do("POST", "/api/v1/admin/users/emma/contact", ts.adminKey, map[string]any{"email": "emma@example.org"}); c.status != 200 {
		t.Fatalf("contact: %d %s", c.status, c.raw)
	}
	ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "vic", "password": "Correct-Horse-42"})
	en := ts.do("POST", "/api/v1/admin/users/vic/enrolments/voice", ts.adminKey, map[string]any{"primary": "5555550171"})
	if en.status != 201 {
		t.Fatalf("voice enrolment: %d %s", en.status, en.raw)
	}
	press(t, ts, en.str("call", "id"), "#")

	callbacks := 0
	finish := func(s signon, want string) {
		t.Helper()
		code := codeAt(t, l, callbacks, s)
		callbacks++
		_, _, claims := r.exchange(code, s.verifier, s.nonce)
		checkMFA(t, claims, want)
	}

	// Authenticator app, with the pages photographed in English and a wrong
	// code first.
	w := openWindow(t, browser)
	s := r.request()
	w.navigate(s.url)
	w.shot("hosted-login-en", true)
	w.password("alice")
	w.waitURL(ts.http.URL + "/portal/acme/signin/verify")
	w.shot("hosted-verify-totp-en", true)
	totp := factorOf(t, ts, "alice", "totp")
	w.enterCode(totp, "000000", false)
	if txt := w.text(); !strings.Contains(txt, "E02") && !strings.Contains(txt, "E39") {
		t.Errorf("a wrong code does not show the engine's error\n%s", w.where())
	}
	w.shot("hosted-wrong-code-en", false)
	w.enterCode(totp, totpStep(t, secret, &used), false)
	w.waitURL(l.url("/callback"))
	finish(s, "otp")

	// Text message and email codes, read off the development outbox.
	for _, c := range []struct{ login, kind, to, amr string }{{"sam", "sms", "+15555550170", "sms"}, {"emma", "email", "emma@example.org", "email"}} {
		w := openWindow(t, browser)
		s := r.request()
		w.navigate(s.url)
		w.password(c.login)
		w.waitURL(ts.http.URL + "/portal/acme/signin/verify")
		f := factorOf(t, ts, c.login, c.kind)
		since := time.Now().Add(-time.Second)
		w.click(`form[action$="/signin/send"]:has(input[name=factor][value="` + f + `"]) button[type=submit]`)
		code := codeSince(ts, c.to, since)
		w.shot("hosted-verify-"+c.kind+"-en", true)
		w.enterCode(f, code, false)
		w.waitURL(l.url("/callback"))
		finish(s, c.amr)
	}

	// A phone call answered on the development page, in a second window.
	w = openWindow(t, browser)
	s = r.request()
	w.navigate(s.url)
	w.password("vic")
	w.waitURL(ts.http.URL + "/portal/acme/signin/verify")
	voice := factorOf(t, ts, "vic", "voice")
	since := time.Now().Add(-time.Second)
	w.click(`form[action$="/signin/call"]:has(input[name=factor][value="` + voice + `"]) button[type=submit]`)
	w.waitURL(ts.http.URL + "/portal/acme/signin/call")
	w.shot("hosted-call-en", true)
	call := ts.waitFor(func(m map[string]any) bool {
		at, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(m["received"]))
		return m["To"] == "+15555550171" && m["CallID"] != "" && m["CallID"] != nil && !at.Before(since)
	})["CallID"].(string)
	phone := openWindow(t, browser)
	phone.navigate(ts.http.URL + "/dev/outbox")
	form := `form[action="/dev/calls/` + call + `/press"]`
	phone.fill(form+` input[name=keys]`, "#")
	phone.click(form + ` button`)
	w.waitURL(l.url("/callback"))
	finish(s, "tel")

	// Spanish (ui_locales=es): the sign-in, the text message page and a
	// wrong code.
	w = openWindow(t, browser)
	s = r.request(oauth2.SetAuthURLParam("ui_locales", "es"))
	w.navigate(s.url)
	lang := evalJS[string](w, `document.documentElement.lang`)
	if lang != "es" {
		t.Errorf("ui_locales=es: the page's language is %q", lang)
	}
	w.shot("hosted-login-es", true)
	w.password("sam")
	w.waitURL(ts.http.URL + "/portal/acme/signin/verify")
	f := factorOf(t, ts, "sam", "sms")
	since = time.Now().Add(-time.Second)
	w.click(`form[action$="/signin/send"]:has(input[name=factor][value="` + f + `"]) button[type=submit]`)
	code := codeSince(ts, "+15555550170", since)
	w.shot("hosted-verify-sms-es", true)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	w.enterCode(f, wrong, false)
	if txt := w.text(); !strings.Contains(txt, "E02") && !strings.Contains(txt, "E39") {
		t.Errorf("a wrong code does not show the engine's error in Spanish\n%s", w.where())
	}
	w.shot("hosted-wrong-code-es", false)
	w.enterCode(f, code, false)
	w.waitURL(l.url("/callback"))
	finish(s, "sms")
}

// press answers a simulated call on the development page over HTTP.
func press(t *testing.T, ts *testServer, call, keys string) {
	t.Helper()
	ts.waitFor(func(m map[string]any) bool { return m["CallID"] == call })
	req, _ := http.NewRequest("POST", ts.http.URL+"/dev/calls/"+call+"/press", strings.NewReader(url.Values{"keys": {keys}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("dev page press: %v %v", err, resp)
	}
	resp.Body.Close()
}

// endSessionURL is the provider's end_session_endpoint from discovery.
func endSessionURL(t *testing.T, r *rp) string {
	t.Helper()
	var d struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := r.provider.Claims(&d); err != nil || d.EndSession == "" {
		t.Fatalf("discovery has no end_session_endpoint: %v", err)
	}
	return d.EndSession
}

// logout is RP-initiated logout in the browser.
func logout(t *testing.T, w *window, r *rp, idToken, to, state string) {
	t.Helper()
	q := url.Values{"id_token_hint": {idToken}}
	if to != "" {
		q.Set("post_logout_redirect_uri", to)
		q.Set("state", state)
	}
	w.navigate(endSessionURL(t, r) + "?" + q.Encode())
}

// TestBrowserSingleSignOnAndLogout: a second application's sign-in is
// answered from the browser's session without a page; prompt=login asks the
// password again; RP-initiated logout returns to the registered address with
// state, and prompt=none then answers login_required (X2).
func TestBrowserSingleSignOnAndLogout(t *testing.T) {
	browser := chromeStart(t)
	ts := startIssuer(t, nil)
	ts.running()
	la, lb := newLanding(t), newLanding(t)
	a := newRP(t, ts, flow.ClientInput{Name: "Records", RedirectURIs: []string{la.url("/callback")}, PostLogoutURIs: []string{la.url("/signed-out")}})
	b := newRP(t, ts, flow.ClientInput{Name: "Billing", RedirectURIs: []string{lb.url("/callback")}})
	secret := enrolAuthenticator(t, ts, "alice")
	var used int64 = time.Now().Unix()/30 - 1
	w := openWindow(t, browser)

	s := a.request()
	w.navigate(s.url)
	w.password("alice")
	w.waitURL(ts.http.URL + "/portal/acme/signin/verify")
	w.enterCode(factorOf(t, ts, "alice", "totp"), totpStep(t, secret, &used), false)
	w.waitURL(la.url("/callback"))
	tok, _, claims := a.exchange(codeAt(t, la, 0, s), s.verifier, s.nonce)
	checkMFA(t, claims, "otp")
	idToken, _ := tok.Extra("id_token").(string)

	// Single sign-on: B's request lands on B's callback with no page between.
	s = b.request()
	w.navigate(s.url)
	if got := w.href(); !strings.HasPrefix(got, lb.url("/callback")) {
		t.Fatalf("single sign-on showed a page: %s", w.where())
	}
	_, idB, claimsB := b.exchange(codeAt(t, lb, 0, s), s.verifier, s.nonce)
	checkMFA(t, claimsB, "otp")
	if idB.Subject == "" {
		t.Error("no subject")
	}

	// prompt=login: the password page again.
	s = b.request(oauth2.SetAuthURLParam("prompt", "login"))
	w.navigate(s.url)
	if !w.exists(`input[type="password"]`) || !strings.HasPrefix(w.href(), ts.http.URL+"/portal/acme/login") {
		t.Fatalf("prompt=login did not ask the password\n%s", w.where())
	}
	if lb.count("/callback") != 1 {
		t.Fatal("prompt=login answered the application without a sign-in")
	}

	// RP-initiated logout.
	logout(t, w, a, idToken, la.url("/signed-out"), "bye-123")
	w.waitURL(la.url("/signed-out"))
	if q := la.wait("/signed-out", 0); q.Get("state") != "bye-123" {
		t.Errorf("post-logout state %v", q)
	}

	// An unregistered redirect URI: a page that says what happened, never
	// a redirect, in English and in Spanish.
	for _, lang := range []string{"en", "es"} {
		w.navigate(ts.http.URL + "/oidc/acme/authorize?response_type=code&scope=openid&state=x&ui_locales=" + lang +
			"&client_id=" + a.conf.ClientID + "&redirect_uri=" + url.QueryEscape("https://elsewhere.example/cb"))
		if !strings.HasPrefix(w.href(), ts.http.URL+"/oidc/acme/authorize") || !w.exists(`div.alert[role="alert"]`) {
			t.Fatalf("unregistered redirect URI (%s)\n%s", lang, w.where())
		}
		if want := map[string]string{"en": "does not work", "es": "no funciona"}[lang]; !strings.Contains(w.text(), want) {
			t.Errorf("refusal page in %s does not say %q", lang, want)
		}
		w.shot("hosted-refused-"+lang, true)
	}

	// prompt=none after logout: login_required, with state.
	s = a.request(oauth2.SetAuthURLParam("prompt", "none"))
	w.navigate(s.url)
	w.waitURL(la.url("/callback"))
	q := la.wait("/callback", 1)
	if q.Get("error") != "login_required" || q.Get("state") != s.state || q.Get("code") != "" {
		t.Errorf("prompt=none after logout: %v", q)
	}
}

// TestBrowserRememberDevice (B4): "Remember this device" on the verify page
// lets the next sign-in through with the password only; acr_values=mfa
// asks the second factor anyway.
func TestBrowserRememberDevice(t *testing.T) {
	browser := chromeStart(t)
	ts := startIssuer(t, nil)
	ts.running()
	ts.policy(`{"allowed_factors":["totp"],"trusted_device_ttl":"720h"}`)
	l := newLanding(t)
	r := newRP(t, ts, flow.ClientInput{RedirectURIs: []string{l.url("/callback")}})
	secret := enrolAuthenticator(t, ts, "alice")
	var used int64 = time.Now().Unix()/30 - 1
	totp := factorOf(t, ts, "alice", "totp")
	w := openWindow(t, browser)

	s := r.request()
	w.navigate(s.url)
	w.password("alice")
	w.waitURL(ts.http.URL + "/portal/acme/signin/verify")
	if !w.exists(`input[name=remember]`) {
		t.Fatalf("no \"remember this device\" box\n%s", w.where())
	}
	w.shot("hosted-verify-remember-en", true)
	w.enterCode(totp, totpStep(t, secret, &used), true)
	w.waitURL(l.url("/callback"))
	tok, _, claims := r.exchange(codeAt(t, l, 0, s), s.verifier, s.nonce)
	checkMFA(t, claims, "otp")
	idToken, _ := tok.Extra("id_token").(string)
	logout(t, w, r, idToken, "", "")
	w.waitURL(ts.http.URL + "/portal/acme/")

	// The remembered device: the password only.
	s = r.request()
	w.navigate(s.url)
	w.password("alice")
	w.waitURL(l.url("/callback"))
	tok, _, claims = r.exchange(codeAt(t, l, 1, s), s.verifier, s.nonce)
	t.Logf("remembered device: amr %v acr %v", amr(claims), claims["acr"])
	idToken, _ = tok.Extra("id_token").(string)
	logout(t, w, r, idToken, "", "")
	w.waitURL(ts.http.URL + "/portal/acme/")

	// acr_values=mfa: the second factor anyway.
	s = r.request(oauth2.SetAuthURLParam("acr_values", "mfa"))
	w.navigate(s.url)
	w.password("alice")
	w.waitURL(ts.http.URL + "/portal/acme/signin/verify")
	w.enterCode(totp, totpStep(t, secret, &used), false)
	w.waitURL(l.url("/callback"))
	_, _, claims = r.exchange(codeAt(t, l, 2, s), s.verifier, s.nonce)
	checkMFA(t, claims, "otp")
}

// balancer sends requests to the servers in turn, or all to one when
// pinned (index+1), and records which server answered each.
type balancer struct {
	backends []*httputil.ReverseProxy
	next     atomic.Int64
	pinned   atomic.Int64
	mu       sync.Mutex
	served   []int
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := int(b.next.Add(1)) % len(b.backends)
	if p := b.pinned.Load(); p > 0 {
		i = int(p - 1)
	}
	b.mu.Lock()
	b.served = append(b.served, i)
	b.mu.Unlock()
	b.backends[i].ServeHTTP(w, r)
}

// twoServersOnPostgres starts two servers sharing one PostgreSQL database
// and master key behind a balancer whose address is both servers' public
// URL; it returns the tenant set up through server 1, the balancer and each
// server's own address.
func twoServersOnPostgres(t *testing.T) (*testServer, *balancer, []string) {
	t.Helper()
	dbURL := pgtest.URL(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.Addr().String()
	lb := &balancer{}
	var srvs []*server.Server
	var direct []string
	for range 2 {
		srv := newServer(t, discard(), func(c *config.Config) {
			c.DatabaseURL, c.MasterKey, c.PublicURL = dbURL, base64.StdEncoding.EncodeToString(key), public
		})
		hs := httptest.NewServer(srv.Handler)
		t.Cleanup(hs.Close)
		u, _ := url.Parse(hs.URL)
		lb.backends = append(lb.backends, httputil.NewSingleHostReverseProxy(u))
		srvs = append(srvs, srv)
		direct = append(direct, hs.URL)
	}
	front := httptest.NewUnstartedServer(lb)
	_ = front.Listener.Close()
	front.Listener = ln
	front.Start()
	t.Cleanup(front.Close)
	return setupTenant(t, srvs[0], front), lb, direct
}

// at is endpoint (from discovery) on the server at base instead.
func at(base, endpoint string) string {
	return base + strings.TrimPrefix(endpoint, regexp.MustCompile(`^https?://[^/]+`).FindString(endpoint))
}

// TestHostedLoginTwoServersOnPostgres: two servers share one PostgreSQL
// behind a balancer whose address is the public URL (so one issuer). A
// sign-in on server 1 is redeemed at server 2; one code presented
// concurrently to both servers 20 times is accepted exactly once (X2, X7).
func TestHostedLoginTwoServersOnPostgres(t *testing.T) {
	ts, lb, direct := twoServersOnPostgres(t)
	secret := enrolAuthenticator(t, ts, "alice")
	var used int64 = time.Now().Unix()/30 - 1
	r := newRP(t, ts, flow.ClientInput{})

	// The sign-in on server 1.
	lb.pinned.Store(1)
	lb.mu.Lock()
	lb.served = nil
	lb.mu.Unlock()
	pg, state, nonce, verifier := r.authorize()
	pg = r.post("/portal/acme/login", url.Values{"request": {hidden(pg.body, "request")}, "login_id": {"alice"}, "password": {"Correct-Horse-42"}})
	factor := hidden(pg.body, "factor")
	if factor == "" {
		t.Fatalf("verify page at %s: %.500s", pg.url, pg.body)
	}
	pg = r.post("/portal/acme/signin/verify", url.Values{"factor": {factor}, "code": {totpStep(t, secret, &used)}})
	code := r.codeFrom(pg, state)
	lb.mu.Lock()
	for _, i := range lb.served {
		if i != 0 {
			t.Fatal("the sign-in was not all on server 1")
		}
	}
	lb.mu.Unlock()

	// Redeemed at server 2; the ID token is checked with the JWKS as the
	// balancer serves it from either server.
	lb.pinned.Store(0)
	at2 := r.conf
	at2.Endpoint.TokenURL = at(direct[1], r.conf.Endpoint.TokenURL)
	tok, err := at2.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange at server 2: %v", err)
	}
	for range 2 {
		id, err := r.verifier.Verify(t.Context(), tok.Extra("id_token").(string))
		if err != nil || id.Nonce != nonce || id.Issuer != ts.http.URL+"/oidc/acme" {
			t.Fatalf("ID token from server 2: %v %+v", err, id)
		}
	}

	// One code, 20 concurrent presentations split between the servers.
	pg, state, _, verifier = r.authorize()
	code = r.codeFrom(pg, state) // single sign-on: no page
	var wins, refused atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 20 {
		conf := r.conf
		conf.Endpoint.TokenURL = at(direct[i%2], r.conf.Endpoint.TokenURL)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err == nil {
				wins.Add(1)
			} else if isOAuthError(err, "invalid_grant") {
				refused.Add(1)
			} else {
				t.Errorf("presentation %d: %v", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || refused.Load() != 19 {
		t.Fatalf("one code presented 20 times: %d accepted, %d refused", wins.Load(), refused.Load())
	}
}
