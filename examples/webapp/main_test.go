package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	"golang.org/x/oauth2"
)

// testApp is the application with a provider that is never called: these
// tests cover what happens before the code exchange.
func testApp() *app {
	return newApp(oauth2.Config{
		ClientID:    "cli_test",
		RedirectURL: "http://127.0.0.1:9090/callback",
		Endpoint:    oauth2.Endpoint{AuthURL: "http://provider.invalid/oidc/acme/authorize", TokenURL: "http://provider.invalid/oidc/acme/token"},
		Scopes:      []string{"openid", "profile", "email"},
	}, nil, "http://provider.invalid/oidc/acme/end_session")
}

func get(t *testing.T, h http.Handler, target string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func cookie(t *testing.T, w *httptest.ResponseRecorder, name string) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie set", name)
	return nil
}

// /login remembers state, nonce and the PKCE verifier in a short-lived
// HttpOnly cookie and sends them (the verifier as its S256 challenge) to
// the provider; the cookie reads back to the same values.
func TestLoginCookieRoundTrip(t *testing.T) {
	h := testApp().routes()
	w := get(t, h, "/login")
	if w.Code != http.StatusFound {
		t.Fatalf("GET /login: %d", w.Code)
	}
	c := cookie(t, w, loginCookie)
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.MaxAge <= 0 || c.MaxAge > 900 || c.Path != "/" {
		t.Errorf("login cookie %+v: want HttpOnly, SameSite=Lax, short MaxAge, Path /", c)
	}
	loc, err := url.Parse(w.Header().Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), "http://provider.invalid/oidc/acme/authorize?") {
		t.Fatalf("redirect to %q", w.Header().Get("Location"))
	}
	q := loc.Query()
	req := httptest.NewRequest("GET", "/callback", nil)
	req.AddCookie(c)
	p, ok := readPending(req)
	if !ok {
		t.Fatal("login cookie does not read back")
	}
	sum := sha256.Sum256([]byte(p.Verifier))
	for k, want := range map[string]string{
		"state": p.State, "nonce": p.Nonce, "client_id": "cli_test", "response_type": "code",
		"redirect_uri": "http://127.0.0.1:9090/callback", "scope": "openid profile email",
		"code_challenge_method": "S256", "code_challenge": base64.RawURLEncoding.EncodeToString(sum[:]),
	} {
		if got := q.Get(k); got != want || want == "" {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if strings.Contains(loc.RawQuery, p.Verifier) {
		t.Error("the PKCE verifier itself left the browser's cookie")
	}
	// Two sign-ins never share state or nonce.
	p2, _ := readPending(func() *http.Request {
		r := httptest.NewRequest("GET", "/callback", nil)
		r.AddCookie(cookie(t, get(t, h, "/login"), loginCookie))
		return r
	}())
	if p2.State == p.State || p2.Nonce == p.Nonce || p2.Verifier == p.Verifier {
		t.Error("a second sign-in reused state, nonce or verifier")
	}
}

// A callback whose state is not the cookie's, or with no cookie at all, is
// refused with a page, before any code exchange.
func TestCallbackRefusesMismatchedState(t *testing.T) {
	h := testApp().routes()
	c := cookie(t, get(t, h, "/login"), loginCookie)
	for name, w := range map[string]*httptest.ResponseRecorder{
		"wrong state": get(t, h, "/callback?code=abc&state=forged", c),
		"no cookie":   get(t, h, "/callback?code=abc&state=forged"),
		"bad cookie":  get(t, h, "/callback?code=abc&state=forged", &http.Cookie{Name: loginCookie, Value: "%%%"}),
	} {
		body := w.Body.String()
		if w.Code != http.StatusBadRequest || !strings.Contains(body, "not one this browser started") || !strings.Contains(body, `<html lang="en">`) {
			t.Errorf("%s: %d %s", name, w.Code, body)
		}
		if strings.Contains(w.Header().Get("Set-Cookie"), sessionCookie) {
			t.Errorf("%s: a session cookie was set", name)
		}
	}
}

// error and error_description from the provider are shown, escaped.
func TestCallbackShowsProviderError(t *testing.T) {
	h := testApp().routes()
	w := get(t, h, "/callback?state=x&error=access_denied&error_description="+url.QueryEscape("The person cancelled <b>sign-in</b>"))
	body := w.Body.String()
	if w.Code != http.StatusBadRequest || !strings.Contains(body, "access_denied") ||
		!strings.Contains(body, "The person cancelled &lt;b&gt;sign-in&lt;/b&gt;") {
		t.Errorf("error callback: %d %s", w.Code, body)
	}
}

func TestHomeSignedOutAndHealth(t *testing.T) {
	h := testApp().routes()
	if w := get(t, h, "/"); w.Code != 200 || !strings.Contains(w.Body.String(), "Sign in") {
		t.Errorf("GET /: %d %s", w.Code, w.Body)
	}
	// An unknown session cookie is simply signed out.
	if w := get(t, h, "/", &http.Cookie{Name: sessionCookie, Value: "nope"}); w.Code != 200 || !strings.Contains(w.Body.String(), "Sign in") {
		t.Errorf("GET / with an unknown session: %d %s", w.Code, w.Body)
	}
	if w := get(t, h, "/healthz"); w.Code != 200 {
		t.Errorf("GET /healthz: %d", w.Code)
	}
}

// A signed-in person sees their claims; signing out ends the session and
// sends the browser to the provider's end-session endpoint.
func TestSignedInAndLogout(t *testing.T) {
	a := testApp()
	a.sessions["k"] = &session{IDToken: "eyJ.test.token", Expires: time.Now().Add(time.Hour), AuthTime: time.Unix(1700000000, 0),
		Claims: claims{Name: "Alice", LoginID: "alice", Email: "alice@example.org", AMR: []string{"pwd", "otp", "mfa"}, ACR: "mfa"}}
	h := a.routes()
	sc := &http.Cookie{Name: sessionCookie, Value: "k"}
	body := get(t, h, "/", sc).Body.String()
	for _, want := range []string{"Alice", "alice@example.org", "pwd, otp, mfa", "<dd>mfa</dd>", "Sign out"} {
		if !strings.Contains(body, want) {
			t.Errorf("signed-in page lacks %q:\n%s", want, body)
		}
	}
	req := httptest.NewRequest("POST", "/logout", nil)
	req.AddCookie(sc)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	loc, _ := url.Parse(w.Header().Get("Location"))
	q := loc.Query()
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc.String(), "http://provider.invalid/oidc/acme/end_session?") ||
		q.Get("id_token_hint") != "eyJ.test.token" || q.Get("post_logout_redirect_uri") != "http://127.0.0.1:9090/" || q.Get("state") == "" {
		t.Errorf("logout: %d %s", w.Code, loc)
	}
	if len(a.sessions) != 0 {
		t.Error("session kept after logout")
	}
}

// The whole sign-in against a stand-in provider (go-oidc's oidctest serves
// discovery and keys; the token endpoint here checks the PKCE verifier and
// signs an ID token with the nonce it is given): the code is exchanged,
// the ID token verified, and a wrong nonce refused.
func TestSignInAgainstStandInProvider(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var challenge, nonce string // what the last /login sent
	tokenNonce := func() string { return nonce }
	stand := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k1", Algorithm: "ES256"}}, Algorithms: []string{"ES256"}}
	mux := http.NewServeMux()
	mux.Handle("/", stand)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	stand.SetIssuer(srv.URL)
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		sum := sha256.Sum256([]byte(r.FormValue("code_verifier")))
		if r.FormValue("code") != "good-code" || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		claims, _ := json.Marshal(map[string]any{"iss": srv.URL, "aud": "cli_test", "sub": "usr_1", "exp": time.Now().Add(time.Hour).Unix(),
			"iat": time.Now().Unix(), "nonce": tokenNonce(), "preferred_username": "alice", "email": "alice@example.org",
			"amr": []string{"pwd", "otp", "mfa"}, "acr": "mfa", "auth_time": time.Now().Unix()})
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 300,
			"id_token": oidctest.SignIDToken(key, "k1", "ES256", string(claims))})
	})
	provider, err := oidc.NewProvider(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(oauth2.Config{ClientID: "cli_test", ClientSecret: "s", RedirectURL: "http://127.0.0.1:9090/callback",
		Endpoint: provider.Endpoint(), Scopes: []string{"openid"}}, provider.Verifier(&oidc.Config{ClientID: "cli_test"}), "")
	h := a.routes()

	signIn := func(forgeNonce bool) *httptest.ResponseRecorder {
		w := get(t, h, "/login")
		loc, _ := url.Parse(w.Header().Get("Location"))
		challenge, nonce = loc.Query().Get("code_challenge"), loc.Query().Get("nonce")
		if forgeNonce {
			nonce = "someone-elses"
		}
		return get(t, h, "/callback?code=good-code&state="+url.QueryEscape(loc.Query().Get("state")), cookie(t, w, loginCookie))
	}
	w := signIn(false)
	if w.Code != http.StatusFound || w.Header().Get("Location") != "/" {
		t.Fatalf("callback: %d %s", w.Code, w.Body)
	}
	body := get(t, h, "/", cookie(t, w, sessionCookie)).Body.String()
	if !strings.Contains(body, "alice@example.org") || !strings.Contains(body, "pwd, otp, mfa") {
		t.Errorf("signed-in page:\n%s", body)
	}
	if w := signIn(true); w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), "nonce") {
		t.Errorf("wrong nonce: %d %s", w.Code, w.Body)
	}
}
