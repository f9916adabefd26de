package server_test

import (
	"context"
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
	"github.com/countersign/countersign/internal/server"
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
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.PublicURL = "http://" + ln.Addr().String()
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(t.Context(), cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
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
	return r.read(resp)
}

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

var _ = context.Background
