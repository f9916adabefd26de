package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/flow"
)

// The relying party in these tests is go-oidc with x/oauth2, written to
// the OpenID Connect and OAuth specifications, not to Countersign (X2).

// rpRedirect is the relying party's callback; nothing listens there: the
// browser stops at the redirect and the test reads the code from it.
const rpRedirect = "http://127.0.0.1:9/callback"

// startIssuer starts a server whose public URL is its own address, so its
// issuers are reachable as they name themselves.
func startIssuer(t *testing.T, mutate func(c *config.Config)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, discard(), func(c *config.Config) {
		c.PublicURL = "http://" + ln.Addr().String()
		if mutate != nil {
			mutate(c)
		}
	})
	hs := httptest.NewUnstartedServer(srv.Handler)
	_ = hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	return setupTenant(t, srv, hs)
}

// rp is one relying party: a registered client and its go-oidc provider.
type rp struct {
	t        *testing.T
	ts       *testServer
	provider *gooidc.Provider
	conf     oauth2.Config
	verifier *gooidc.IDTokenVerifier
	browser  *http.Client
}

func newRP(t *testing.T, ts *testServer, in flow.ClientInput) *rp {
	t.Helper()
	ctx := t.Context()
	tn, err := ts.srv.Engine.TenantBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if in.Name == "" {
		in.Name = "Records"
	}
	if in.RedirectURIs == nil {
		in.RedirectURIs = []string{rpRedirect}
	}
	cl, secret, err := ts.srv.Engine.RegisterClient(ctx, flow.Caller{TenantID: tn.ID, Actor: "test"}, in)
	if err != nil {
		t.Fatal(err)
	}
	issuer := ts.http.URL + "/oidc/acme"
	p, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), "http://127.0.0.1:9/") {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return &rp{t: t, ts: ts, provider: p, browser: browser,
		conf:     oauth2.Config{ClientID: cl.ID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: in.RedirectURIs[0], Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "offline_access"}},
		verifier: p.Verifier(&gooidc.Config{ClientID: cl.ID})}
}

// page is a fetched page: where it ended and its body.
type page struct {
	status int
	url    *url.URL
	body   string
}

func (r *rp) get(u string) page {
	r.t.Helper()
	resp, err := r.browser.Get(u)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.read(resp)
}

func (r *rp) post(path string, form url.Values) page {
	r.t.Helper()
	resp, err := r.browser.PostForm(r.ts.http.URL+path, form)
	if err != nil {
		r.t.Fatal(err)
	}
	pg := r.read(resp)
	// A form that completes the sign-in answers with a page that moves on
	// by itself (a refresh), as a browser follows it.
	if m := refreshRe.FindStringSubmatch(pg.body); m != nil {
		return r.get(r.ts.http.URL + m[1])
	}
	return pg
}

var refreshRe = regexp.MustCompile(`<meta http-equiv="refresh" content="0; url=([^"]+)">`)

func (r *rp) read(resp *http.Response) page {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	u := resp.Request.URL
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
		u, _ = resp.Request.URL.Parse(loc)
	}
	return page{status: resp.StatusCode, url: u, body: string(b)}
}

var hiddenRe = regexp.MustCompile(`name="(request|factor)" value="([^"]+)"`)

func hidden(body, name string) string {
	for _, m := range hiddenRe.FindAllStringSubmatch(body, -1) {
		if m[1] == name {
			return m[2]
		}
	}
	return ""
}

// authorize starts a sign-in as the application would and returns the
// first page the person sees, with the state, nonce and PKCE verifier.
func (r *rp) authorize(extra ...oauth2.AuthCodeOption) (page, string, string, string) {
	state, nonce, verifier := oauth2.GenerateVerifier()[:20], oauth2.GenerateVerifier()[:20], oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}, extra...)
	return r.get(r.conf.AuthCodeURL(state, opts...)), state, nonce, verifier
}

// codeFrom reads the authorization response at the application's callback.
func (r *rp) codeFrom(pg page, state string) string {
	r.t.Helper()
	if !strings.HasPrefix(pg.url.String(), "http://127.0.0.1:9/callback") {
		r.t.Fatalf("expected the callback, at %s (%d): %.400s", pg.url, pg.status, pg.body)
	}
	q := pg.url.Query()
	if q.Get("state") != state {
		r.t.Fatalf("state %q, want %q", q.Get("state"), state)
	}
	if q.Get("code") == "" {
		r.t.Fatalf("no code: %s", pg.url)
	}
	return q.Get("code")
}

// exchange redeems a code and verifies the ID token against the JWKS.
func (r *rp) exchange(code, verifier, nonce string) (*oauth2.Token, *gooidc.IDToken, map[string]any) {
	r.t.Helper()
	tok, err := r.conf.Exchange(r.t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		r.t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := r.verifier.Verify(r.t.Context(), raw)
	if err != nil {
		r.t.Fatalf("ID token: %v", err)
	}
	if id.Nonce != nonce {
		r.t.Fatalf("nonce %q, want %q", id.Nonce, nonce)
	}
	var claims map[string]any
	if err := id.Claims(&claims); err != nil {
		r.t.Fatal(err)
	}
	return tok, id, claims
}

// enrolAuthenticator gives a person an authenticator through the REST API and returns
// its secret.
func enrolAuthenticator(t *testing.T, ts *testServer, login string) string {
	t.Helper()
	r := ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": login, "email": login + "@example.org", "display_name": "Alice Example", "password": "Correct-Horse-42"})
	if r.status != 201 {
		t.Fatalf("create user: %d %s", r.status, r.raw)
	}
	r = ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": login, "password": "Correct-Horse-42"})
	r = ts.do("POST", "/api/v1/enrolments/totp", ts.appKey, map[string]any{"transaction_id": r.str("transaction_id")})
	secret, enrolment := r.str("secret"), r.str("enrolment_id")
	r = ts.do("POST", "/api/v1/enrolments/"+enrolment+"/confirm", ts.appKey, map[string]any{"code": oathtool(t, secret, time.Now().Add(-30*time.Second))})
	if r.status != 200 {
		t.Fatalf("confirm: %d %s", r.status, r.raw)
	}
	return secret
}

func amr(claims map[string]any) []string {
	var out []string
	l, _ := claims["amr"].([]any)
	for _, v := range l {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// TestHostedLoginWithAuthenticator runs the authorization code flow with
// PKCE through the hosted login's password and authenticator pages, then
// checks the tokens, userinfo and a replayed code (X2, RFC 6749 §4.1.2).
func TestHostedLoginWithAuthenticator(t *testing.T) {
	ts := startIssuer(t, nil)
	secret := enrolAuthenticator(t, ts, "alice")
	r := newRP(t, ts, flow.ClientInput{})

	pg, state, nonce, verifier := r.authorize()
	req := hidden(pg.body, "request")
	if pg.status != 200 || req == "" || !strings.Contains(pg.body, `autocomplete="username"`) {
		t.Fatalf("login page %d at %s: %.300s", pg.status, pg.url, pg.body)
	}
	// A wrong password is the engine's E01, on the page.
	pg = r.post("/portal/acme/login", url.Values{"request": {req}, "login_id": {"alice"}, "password": {"wrong-password-1"}})
	if !strings.Contains(pg.body, "E01") {
		t.Fatalf("wrong password: %d %.500s", pg.status, pg.body)
	}
	pg = r.post("/portal/acme/login", url.Values{"request": {req}, "login_id": {"alice"}, "password": {"Correct-Horse-42"}})
	factor := hidden(pg.body, "factor")
	if !strings.HasSuffix(pg.url.Path, "/signin/verify") || factor == "" || !strings.Contains(pg.body, `autocomplete="one-time-code"`) {
		t.Fatalf("verify page at %s: %.500s", pg.url, pg.body)
	}
	pg = r.post("/portal/acme/signin/verify", url.Values{"factor": {factor}, "code": {oathtool(t, secret, time.Now())}})
	code := r.codeFrom(pg, state)
	tok, id, claims := r.exchange(code, verifier, nonce)
	if got := amr(claims); !slices.Contains(got, "otp") || !slices.Contains(got, "mfa") || !slices.Contains(got, "pwd") {
		t.Errorf("amr %v", got)
	}
	if claims["acr"] != flow.ACRMFA || claims["auth_time"] == nil || claims["preferred_username"] != "alice" || claims["email"] != "alice@example.org" {
		t.Errorf("claims %v", claims)
	}
	if id.Issuer != ts.http.URL+"/oidc/acme" {
		t.Errorf("issuer %q", id.Issuer)
	}
	if tok.RefreshToken == "" {
		t.Error("no refresh token with offline_access")
	}
	info, err := r.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
	if err != nil || info.Email != "alice@example.org" || info.Subject != id.Subject {
		t.Fatalf("userinfo: %v %+v", err, info)
	}

	// The code again: refused, and the tokens it gave are revoked.
	if _, err := r.conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("replayed code: %v", err)
	}
	if _, err := r.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Fatal("userinfo answered with a token of a replayed code")
	}
	if _, err := r.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("refresh of a replayed code's grant: %v", err)
	}
}

func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}

// signIn runs a whole sign-in with the authenticator and returns the tokens.
func (r *rp) signIn(secret string, at time.Time, extra ...oauth2.AuthCodeOption) (*oauth2.Token, map[string]any) {
	r.t.Helper()
	pg, state, nonce, verifier := r.authorize(extra...)
	if req := hidden(pg.body, "request"); req != "" {
		pg = r.post("/portal/acme/login", url.Values{"request": {req}, "login_id": {"alice"}, "password": {"Correct-Horse-42"}})
		if f := hidden(pg.body, "factor"); f != "" {
			pg = r.post("/portal/acme/signin/verify", url.Values{"factor": {f}, "code": {oathtool(r.t, secret, at)}})
		}
	}
	tok, _, claims := r.exchange(r.codeFrom(pg, state), verifier, nonce)
	return tok, claims
}

// TestRefreshRotationAndReuse: a refresh token works once; presenting a
// rotated one revokes the whole grant (OAuth 2.0 Security BCP).
func TestRefreshRotationAndReuse(t *testing.T) {
	ts := startIssuer(t, nil)
	secret := enrolAuthenticator(t, ts, "alice")
	r := newRP(t, ts, flow.ClientInput{})
	tok, _ := r.signIn(secret, time.Now())
	if tok.Extra("id_token") == nil {
		t.Fatal("no ID token")
	}
	next, err := r.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %v %+v", err, next)
	}
	if _, err := r.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(next)); err != nil {
		t.Fatalf("userinfo with the refreshed token: %v", err)
	}
	// The first refresh token again: a reuse.
	if _, err := r.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("reused refresh token: %v", err)
	}
	// Its whole family is gone: the rotated token and the access tokens.
	if _, err := r.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: next.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("refresh after reuse: %v", err)
	}
	resp := bearer(t, ts.http.URL+"/oidc/acme/userinfo", next.AccessToken)
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("userinfo after reuse: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// TestParallelRefreshOneWinner: one refresh token presented 20 times at
// once rotates at most once; the race itself is a reuse.
func TestParallelRefreshOneWinner(t *testing.T) {
	ts := startIssuer(t, nil)
	secret := enrolAuthenticator(t, ts, "alice")
	r := newRP(t, ts, flow.ClientInput{})
	tok, _ := r.signIn(secret, time.Now())
	const n = 20
	ok := make(chan bool, n)
	for range n {
		go func() {
			_, err := r.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
			ok <- err == nil
		}()
	}
	wins := 0
	for range n {
		if <-ok {
			wins++
		}
	}
	if wins > 1 {
		t.Fatalf("%d parallel refreshes succeeded, want at most 1", wins)
	}
}

func bearer(t *testing.T, u, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestPromptMaxAgeAndSingleSignOn: a second application signs in from the
// session; prompt=none without one answers login_required; prompt=login
// and max_age ask again; acr_values=mfa is honoured.
func TestPromptMaxAgeAndSingleSignOn(t *testing.T) {
	ts := startIssuer(t, func(c *config.Config) {})
	secret := enrolAuthenticator(t, ts, "alice")
	a := newRP(t, ts, flow.ClientInput{Name: "A"})

	// No session yet: prompt=none returns at once with login_required.
	pg, state, _, _ := a.authorize(oauth2.SetAuthURLParam("prompt", "none"))
	if q := pg.url.Query(); q.Get("error") != "login_required" || q.Get("state") != state || !strings.HasPrefix(pg.url.String(), rpRedirect) {
		t.Fatalf("prompt=none without a session: %s", pg.url)
	}
	first := time.Now()
	_, claims := a.signIn(secret, first)
	t1 := claims["auth_time"].(float64)

	// B shares A's browser: no page at all, same auth_time.
	b := newRP(t, ts, flow.ClientInput{Name: "B"})
	b.browser.Jar = a.browser.Jar
	pg, state, nonce, verifier := b.authorize(oauth2.SetAuthURLParam("prompt", "none"))
	_, _, claimsB := b.exchange(b.codeFrom(pg, state), verifier, nonce)
	if claimsB["auth_time"].(float64) != t1 || claimsB["acr"] != flow.ACRMFA {
		t.Fatalf("single sign-on claims %v, first auth_time %v", claimsB, t1)
	}
	// max_age in the future of the sign-in: still from the session.
	pg, state, _, _ = b.authorize(oauth2.SetAuthURLParam("max_age", "3600"))
	b.codeFrom(pg, state)
	// prompt=login: the password page again, and a newer auth_time after.
	pg, _, _, _ = b.authorize(oauth2.SetAuthURLParam("prompt", "login"))
	if hidden(pg.body, "request") == "" {
		t.Fatalf("prompt=login did not ask to sign in: %s", pg.url)
	}
	time.Sleep(1100 * time.Millisecond)
	_, claims2 := b.signIn(secret, first.Add(30*time.Second), oauth2.SetAuthURLParam("prompt", "login"))
	if claims2["auth_time"].(float64) <= t1 {
		t.Fatalf("auth_time after prompt=login %v, first %v", claims2["auth_time"], t1)
	}
}

// TestRegisteredRedirectsOnly: an unregistered redirect URI, an unknown
// client and another tenant's client get a page, never a redirect; a
// public client must use PKCE.
func TestRegisteredRedirectsOnly(t *testing.T) {
	ts := startIssuer(t, nil)
	r := newRP(t, ts, flow.ClientInput{})
	ctx := t.Context()
	other, err := ts.srv.Directory.CreateTenant(ctx, "globex", "Globex")
	if err != nil {
		t.Fatal(err)
	}
	foreign, _, err := ts.srv.Engine.RegisterClient(ctx, flow.Caller{TenantID: other.ID, Actor: "test"}, flow.ClientInput{Name: "G", RedirectURIs: []string{rpRedirect}})
	if err != nil {
		t.Fatal(err)
	}
	base := ts.http.URL + "/oidc/acme/authorize?response_type=code&scope=openid&state=s1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
	for name, u := range map[string]string{
		"foreign redirect": base + "&client_id=" + r.conf.ClientID + "&redirect_uri=" + url.QueryEscape("https://evil.example/cb"),
		"prefix redirect":  base + "&client_id=" + r.conf.ClientID + "&redirect_uri=" + url.QueryEscape(rpRedirect+"/more"),
		"unknown client":   base + "&client_id=nobody&redirect_uri=" + url.QueryEscape(rpRedirect),
		"other tenant":     base + "&client_id=" + foreign.ID + "&redirect_uri=" + url.QueryEscape(rpRedirect),
		"NUL in state":     base + "&client_id=" + r.conf.ClientID + "&redirect_uri=" + url.QueryEscape(rpRedirect) + "&nonce=%00",
		"100 kB state":     ts.http.URL + "/oidc/acme/authorize?client_id=" + r.conf.ClientID + "&redirect_uri=" + url.QueryEscape(rpRedirect) + "&state=" + strings.Repeat("a", 100<<10),
	} {
		pg := r.get(u)
		if pg.status != 400 || !strings.HasPrefix(pg.url.String(), ts.http.URL+"/oidc/acme/authorize") || !strings.Contains(pg.body, "<html") {
			t.Errorf("%s: %d at %s: %.200s", name, pg.status, pg.url, pg.body)
		}
	}
	// A public client without PKCE: an error, at the registered URI.
	pub := newRP(t, ts, flow.ClientInput{Name: "SPA", Public: true})
	pg := pub.get(ts.http.URL + "/oidc/acme/authorize?response_type=code&scope=openid&state=s2&client_id=" + pub.conf.ClientID + "&redirect_uri=" + url.QueryEscape(rpRedirect))
	if q := pg.url.Query(); q.Get("error") != "invalid_request" || q.Get("state") != "s2" {
		t.Fatalf("public client without PKCE: %s", pg.url)
	}
	// A client of another tenant at this issuer's token endpoint.
	req, _ := http.NewRequest("POST", ts.http.URL+"/oidc/acme/oauth/token", strings.NewReader("grant_type=authorization_code&code=x&redirect_uri="+url.QueryEscape(rpRedirect)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(foreign.ID, "whatever")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 4 {
		t.Fatalf("foreign client at the token endpoint: %d", resp.StatusCode)
	}
}

// TestProviderBadInputNever500: malformed requests at every endpoint get
// the error the specifications name, with no-store on token answers and
// WWW-Authenticate on bearer endpoints (oidc-notes).
func TestProviderBadInputNever500(t *testing.T) {
	ts := startIssuer(t, nil)
	r := newRP(t, ts, flow.ClientInput{})
	iss := ts.http.URL + "/oidc/acme"
	do := func(method, path, ctype, body string) *http.Response {
		req, _ := http.NewRequest(method, iss+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	form := "application/x-www-form-urlencoded"
	cases := []struct {
		method, path, ctype, body string
		want                      int
	}{
		{"POST", "/oauth/token", form, "grant_type=authorization_code&code=nothing&client_id=" + r.conf.ClientID + "&client_secret=" + r.conf.ClientSecret, 400},
		{"POST", "/oauth/token", form, "grant_type=authorization_code&code=%00", 400},
		{"POST", "/oauth/token", form, "%zz", 400},
		{"POST", "/oauth/token", "application/json", "{", 400},
		{"POST", "/oauth/token", form, "grant_type=refresh_token&refresh_token=csr_nothing&client_id=" + r.conf.ClientID + "&client_secret=" + r.conf.ClientSecret, 400},
		{"POST", "/oauth/token", form, "grant_type=password&username=a&password=b&client_id=" + r.conf.ClientID + "&client_secret=" + r.conf.ClientSecret, 400},
		{"POST", "/oauth/token", form, "grant_type=refresh_token&refresh_token=x&client_id=nobody&client_secret=x", 401},
		{"POST", "/oauth/token", form, strings.Repeat("a=b&", 40<<10), 400},
		{"GET", "/userinfo", "", "", 401},
		{"GET", "/end_session?client_id=nobody", "", "", 400},
		{"GET", "/end_session?id_token_hint=garbage", "", "", 400},
		{"GET", "/end_session?client_id=" + r.conf.ClientID + "&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F", "", "", 400},
		{"POST", "/end_session", form, "%zz", 400},
		{"POST", "/revoke", form, "token=nothing&client_id=nobody", 401},
		{"POST", "/oauth/introspect", form, "token=%00", 400},
		{"GET", "/nothing-here", "", "", 404},
	}
	for _, c := range cases {
		resp := do(c.method, c.path, c.ctype, c.body)
		if resp.StatusCode >= 500 || (c.want != 0 && resp.StatusCode != c.want) {
			t.Errorf("%s %s %.40q: %d, want %d", c.method, c.path, c.body, resp.StatusCode, c.want)
		}
		if strings.HasPrefix(c.path, "/oauth/token") && resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %.40q: Cache-Control %q", c.path, c.body, resp.Header.Get("Cache-Control"))
		}
		if c.path == "/userinfo" && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("userinfo without a token: no WWW-Authenticate")
		}
	}
	// Discovery says what relying parties need.
	var doc map[string]any
	resp, err := http.Get(iss + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if doc["issuer"] != iss || !contains(doc["code_challenge_methods_supported"], "S256") || !contains(doc["claims_supported"], "amr") ||
		!contains(doc["claims_supported"], "acr") || !contains(doc["id_token_signing_alg_values_supported"], "ES256") || doc["end_session_endpoint"] == nil {
		t.Fatalf("discovery: %v", doc)
	}
	if resp := do("GET", "/.well-known/openid-configuration", "", ""); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	if resp, _ := http.Get(ts.http.URL + "/oidc/nobody/.well-known/openid-configuration"); resp.StatusCode != 404 {
		t.Fatalf("unknown tenant's discovery: %d", resp.StatusCode)
	}
}

func contains(v any, s string) bool {
	l, _ := v.([]any)
	return slices.Contains(l, any(s))
}

// TestEnrolmentOnTheWay: a person who must use MFA but has none is taken
// through the portal's enrolment (email code, then security questions)
// and brought back to finish the application's sign-in (X2, A10).
func TestEnrolmentOnTheWay(t *testing.T) {
	ts := startIssuer(t, nil)
	ts.running()
	ts.policy(`{"allowed_factors":["totp","email"]}`)
	if r := ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "carol", "password": "Correct-Horse-42"}); r.status != 201 {
		t.Fatalf("create user: %d %s", r.status, r.raw)
	}
	r := newRP(t, ts, flow.ClientInput{})
	pg, state, nonce, verifier := r.authorize()
	pg = r.post("/portal/acme/login", url.Values{"request": {hidden(pg.body, "request")}, "login_id": {"carol"}, "password": {"Correct-Horse-42"}})
	if !strings.HasSuffix(pg.url.Path, "/enrol") {
		t.Fatalf("no enrolment: %s", pg.url)
	}
	pg = r.post("/portal/acme/enrol", url.Values{"method": {"email"}})
	pg = r.post("/portal/acme/enrol/email", url.Values{"email": {"carol@example.org"}})
	msg := ts.waitFor(func(m map[string]any) bool { return m["To"] == "carol@example.org" })
	code := sixDigits.FindString(msg["Text"].(string))
	pg = r.post("/portal/acme/enrol/verify", url.Values{"code": {code}})
	if !strings.HasSuffix(pg.url.Path, "/enrol/questions") {
		t.Fatalf("after the email code: %s %.300s", pg.url, pg.body)
	}
	qs := regexp.MustCompile(`<option value="([a-z_]+)"`).FindAllStringSubmatch(pg.body, -1)
	form := url.Values{}
	seen := map[string]bool{}
	n := 1
	for _, m := range qs {
		if !seen[m[1]] && n <= 4 {
			seen[m[1]] = true
			form.Set("question_"+itoa(int64(n)), m[1])
			form.Set("answer_"+itoa(int64(n)), "answer number "+itoa(int64(n)))
			n++
		}
	}
	pg = r.post("/portal/acme/enrol/questions", form)
	if !strings.HasSuffix(pg.url.Path, "/enrol/welcome") || !strings.Contains(pg.body, "/login/continue") {
		t.Fatalf("welcome: %s %.300s", pg.url, pg.body)
	}
	pg = r.get(ts.http.URL + "/portal/acme/login/continue")
	_, _, claims := r.exchange(r.codeFrom(pg, state), verifier, nonce)
	if got := amr(claims); !slices.Contains(got, "email") || claims["acr"] != flow.ACRMFA {
		t.Fatalf("claims %v", claims)
	}
}

// TestHostedLoginOneTimeToken (C8): a person without their authenticator
// finishes an application's sign-in with a one-time access token sent to
// their verified email, from the verify page's lost-device link.
func TestHostedLoginOneTimeToken(t *testing.T) {
	ts := startIssuer(t, nil)
	ts.running()
	enrolAuthenticator(t, ts, "alice")
	tn, err := ts.srv.Engine.TenantBySlug(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	u, err := ts.srv.Store.UserByLoginID(t.Context(), tn.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if r := ts.do("POST", "/api/v1/admin/users/"+u.ID+"/contact", ts.adminKey, map[string]any{"email": "alice@example.org"}); r.status/100 != 2 {
		t.Fatalf("contact: %d %s", r.status, r.raw)
	}
	r := newRP(t, ts, flow.ClientInput{})
	pg, state, nonce, verifier := r.authorize()
	pg = r.post("/portal/acme/login", url.Values{"request": {hidden(pg.body, "request")}, "login_id": {"alice"}, "password": {"Correct-Horse-42"}})
	if !strings.Contains(pg.body, `href="/portal/acme/recover/lost/token"`) {
		t.Fatalf("no one-time token link on the verify page: %s", pg.url)
	}
	pg = r.get(ts.http.URL + "/portal/acme/recover/lost/token")
	if pg.status != 200 || !strings.Contains(pg.body, `value="email"`) {
		t.Fatalf("token page %d at %s: %.400s", pg.status, pg.url, pg.body)
	}
	pg = r.post("/portal/acme/recover/lost/token", url.Values{"channel": {"email"}})
	msg := ts.waitFor(func(m map[string]any) bool {
		text, _ := m["Text"].(string)
		return m["To"] == "alice@example.org" && strings.Contains(text, "one-time access token")
	})
	token := regexp.MustCompile(`token is (\S+ \S+)`).FindStringSubmatch(msg["Text"].(string))
	if token == nil {
		t.Fatalf("no token in %q", msg["Text"])
	}
	// A wrong token first: the engine's E42, on the page.
	pg = r.post("/portal/acme/recover/lost/token/verify", url.Values{"token": {"AAAAA-BBBBB"}})
	if !strings.Contains(pg.body, "E42") {
		t.Fatalf("wrong token: %.600s", pg.body)
	}
	pg = r.post("/portal/acme/recover/lost/token/verify", url.Values{"token": {token[1]}})
	_, _, claims := r.exchange(r.codeFrom(pg, state), verifier, nonce)
	if got := amr(claims); !slices.Contains(got, "otp") || !slices.Contains(got, "mfa") || claims["acr"] != flow.ACRMFA {
		t.Fatalf("claims after a one-time token: %v", claims)
	}
}
