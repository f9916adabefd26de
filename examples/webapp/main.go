// Command webapp is a small web application protected by Countersign's
// OpenID Connect provider: people sign in with Countersign's hosted login
// (password, then a second factor) and come back with an ID token that says
// who they are and how they proved it.
//
// It uses two libraries, github.com/coreos/go-oidc/v3 (discovery, ID token
// verification) and golang.org/x/oauth2 (the authorization code flow with
// PKCE). See README.md beside this file for how to run it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"html/template"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const (
	loginCookie   = "webapp_login"   // state, nonce and PKCE verifier of a sign-in under way
	sessionCookie = "webapp_session" // the random key of a signed-in session
	sessionLife   = 8 * time.Hour
)

func main() {
	issuer := flag.String("issuer", env("COUNTERSIGN_ISSUER", "http://127.0.0.1:8080/oidc/acme"), "Countersign issuer URL: {base}/oidc/{tenant}")
	clientID := flag.String("client-id", os.Getenv("WEBAPP_CLIENT_ID"), "client ID from 'countersign oidc client create'")
	secret := flag.String("client-secret", os.Getenv("WEBAPP_CLIENT_SECRET"), "client secret (empty for a public client)")
	addr := flag.String("addr", "127.0.0.1:9090", "address to listen on")
	redirect := flag.String("redirect", "http://127.0.0.1:9090/callback", "redirect URI registered for the client")
	flag.Parse()
	if *clientID == "" {
		log.Fatal("webapp: -client-id (or WEBAPP_CLIENT_ID) is required; see examples/webapp/README.md")
	}
	if u, err := url.Parse(*redirect); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		log.Fatalf("webapp: -redirect %q must be an absolute http or https URL", *redirect)
	}

	// Discovery: read {issuer}/.well-known/openid-configuration. Retry for a
	// few seconds so that the application can start alongside the server.
	var provider *oidc.Provider
	var err error
	for try := 0; try < 20; try++ {
		if provider, err = oidc.NewProvider(context.Background(), *issuer); err == nil {
			break
		}
		log.Printf("webapp: waiting for %s: %v", *issuer, err)
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		log.Fatalf("webapp: discovery failed: %v", err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = provider.Claims(&meta) // an absent end_session_endpoint only disables RP-initiated logout

	oauth := oauth2.Config{ClientID: *clientID, ClientSecret: *secret, RedirectURL: *redirect,
		Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	a := newApp(oauth, provider.Verifier(&oidc.Config{ClientID: *clientID}), meta.EndSession)
	log.Printf("webapp: open http://%s/ (issuer %s)", *addr, *issuer)
	srv := &http.Server{Addr: *addr, Handler: a.routes(), ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// app is the web application: its OAuth 2.0 client, the ID token verifier
// and the signed-in sessions, kept in memory.
type app struct {
	oauth      oauth2.Config
	verifier   *oidc.IDTokenVerifier
	endSession string // the provider's RP-initiated logout endpoint
	postLogout string // where the provider sends people after logout: our /
	secure     bool   // cookies only over https

	mu       sync.Mutex
	sessions map[string]*session
}

// session is what we keep of a signed-in person.
type session struct {
	IDToken  string // raw, for id_token_hint at logout
	Claims   claims
	Expires  time.Time
	AuthTime time.Time
}

// claims are the ID token claims the home page shows.
type claims struct {
	Name     string   `json:"name"`
	LoginID  string   `json:"preferred_username"`
	Email    string   `json:"email"`
	AMR      []string `json:"amr"` // how the person proved it: pwd, otp, sms, tel, mfa…
	ACR      string   `json:"acr"` // "password" or "mfa"
	AuthTime int64    `json:"auth_time"`
}

// pending is a sign-in under way, kept in the short-lived login cookie.
type pending struct {
	State, Nonce, Verifier string
}

func newApp(oauth oauth2.Config, verifier *oidc.IDTokenVerifier, endSession string) *app {
	u, err := url.Parse(oauth.RedirectURL)
	if err != nil {
		u = &url.URL{} // main checks -redirect; this keeps a bad one from panicking
	}
	return &app{oauth: oauth, verifier: verifier, endSession: endSession,
		postLogout: u.Scheme + "://" + u.Host + "/", secure: u.Scheme == "https", sessions: map[string]*session{}}
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux
}

// random returns an unguessable string (128 bits): state, nonce, session keys.
func random() string { return rand.Text() }

func (a *app) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode})
}

// login starts a sign-in: it remembers state, nonce and PKCE verifier in a
// cookie and sends the browser to Countersign's authorization endpoint.
// SameSite=Lax lets the cookie come back with the redirect to /callback.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	p := pending{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier()}
	j, _ := json.Marshal(p)
	a.setCookie(w, loginCookie, base64.RawURLEncoding.EncodeToString(j), 600)
	http.Redirect(w, r, a.oauth.AuthCodeURL(p.State, oidc.Nonce(p.Nonce), oauth2.S256ChallengeOption(p.Verifier)), http.StatusFound)
}

// readPending reads back the login cookie; ok is false when it is absent
// or not ours.
func readPending(r *http.Request) (p pending, ok bool) {
	c, err := r.Cookie(loginCookie)
	if err != nil {
		return p, false
	}
	j, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || json.Unmarshal(j, &p) != nil || p.State == "" || p.Nonce == "" || p.Verifier == "" {
		return p, false
	}
	return p, true
}

// callback finishes a sign-in: Countersign sends the browser back here with
// a code (or an error), which we exchange for tokens and verify.
func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a.setCookie(w, loginCookie, "", -1) // one use only
	if e := q.Get("error"); e != "" {
		// The provider refused or the person cancelled: show why.
		a.fail(w, http.StatusBadRequest, "Sign-in did not complete: "+e, q.Get("error_description"))
		return
	}
	p, ok := readPending(r)
	if !ok || q.Get("state") != p.State {
		// Not the answer to a sign-in this browser started (or it expired):
		// refuse, as a forged callback would look the same.
		a.fail(w, http.StatusBadRequest, "This sign-in is not one this browser started, or it took too long.", "Please sign in again.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	tok, err := a.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		a.fail(w, http.StatusBadGateway, "The code could not be exchanged for tokens.", err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		a.fail(w, http.StatusBadGateway, "The provider sent no ID token.", "")
		return
	}
	// Verify signature, issuer, audience and expiry, then our nonce.
	idt, err := a.verifier.Verify(ctx, raw)
	if err == nil && idt.Nonce != p.Nonce {
		err = errors.New("the ID token's nonce is not the one this sign-in sent")
	}
	if err == nil && idt.AccessTokenHash != "" {
		err = idt.VerifyAccessToken(tok.AccessToken)
	}
	var c claims
	if err == nil {
		err = idt.Claims(&c)
	}
	if err != nil {
		a.fail(w, http.StatusBadGateway, "The ID token is not valid.", err.Error())
		return
	}
	key := random()
	a.mu.Lock()
	a.sessions[key] = &session{IDToken: raw, Claims: c, Expires: time.Now().Add(sessionLife), AuthTime: time.Unix(c.AuthTime, 0)}
	a.mu.Unlock()
	a.setCookie(w, sessionCookie, key, int(sessionLife.Seconds()))
	http.Redirect(w, r, "/", http.StatusFound)
}

// current returns the request's session and its key, or nil.
func (a *app) current(r *http.Request) (*session, string) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[c.Value]
	if s != nil && time.Now().After(s.Expires) {
		delete(a.sessions, c.Value)
		s = nil
	}
	return s, c.Value
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	s, _ := a.current(r)
	render(w, http.StatusOK, page{Title: "Sample application", Session: s})
}

// logout ends our session, then Countersign's (RP-initiated logout), which
// sends the browser back to postLogout with the state we gave it.
func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	s, key := a.current(r)
	a.mu.Lock()
	delete(a.sessions, key)
	a.mu.Unlock()
	a.setCookie(w, sessionCookie, "", -1)
	if s == nil || a.endSession == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	// Countersign checks post_logout_redirect_uri against the client's
	// registered ones and returns state with the browser; this small
	// application does not need to check it.
	v := url.Values{"id_token_hint": {s.IDToken}, "post_logout_redirect_uri": {a.postLogout},
		"client_id": {a.oauth.ClientID}, "state": {random()}}
	sep := "?"
	if strings.Contains(a.endSession, "?") {
		sep = "&"
	}
	http.Redirect(w, r, a.endSession+sep+v.Encode(), http.StatusSeeOther)
}

func (a *app) fail(w http.ResponseWriter, status int, msg, detail string) {
	log.Printf("webapp: %s %q", msg, detail) // %q: detail may come from the query string
	render(w, status, page{Title: "Sign-in problem", Error: msg, Detail: detail})
}

type page struct {
	Title, Error, Detail string
	Session              *session
}

func render(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = tmpl.Execute(w, p)
}

var tmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body><main><h1>{{.Title}}</h1>
{{- if .Error}}
<p role="alert">{{.Error}}</p>{{if .Detail}}<p>{{.Detail}}</p>{{end}}
<p><a href="/">Back to the start</a></p>
{{- else if .Session}}{{with .Session}}
<p>Signed in with Countersign as <strong>{{or .Claims.Name .Claims.LoginID}}</strong>.</p>
<dl>
<dt>Login ID</dt><dd>{{.Claims.LoginID}}</dd>
<dt>Email</dt><dd>{{.Claims.Email}}</dd>
<dt>Methods (amr)</dt><dd>{{range $i, $m := .Claims.AMR}}{{if $i}}, {{end}}{{$m}}{{end}}</dd>
<dt>Assurance (acr)</dt><dd>{{.Claims.ACR}}</dd>
<dt>Signed in at (auth_time)</dt><dd>{{.AuthTime.Format "2006-01-02 15:04:05 MST"}}</dd>
</dl>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>
{{- end}}{{else}}
<p>You are not signed in.</p>
<form method="get" action="/login"><button type="submit">Sign in</button></form>
{{- end}}
</main></body></html>
`))
