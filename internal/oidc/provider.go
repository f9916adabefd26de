package oidc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/requestid"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// Limits on what a request may carry. A request past them is refused
// before the protocol library sees it.
const (
	maxQuery   = 8 << 10  // bytes of query string
	maxBody    = 64 << 10 // bytes of form body
	maxValue   = 4 << 10  // bytes of any one parameter
	maxParams  = 64       // parameters, counting repeats
	retryAfter = 5        // seconds, with temporarily_unavailable
)

// Provider is the OpenID Connect provider: one issuer per tenant at
// {base}/oidc/{tenant}. The protocol is the library's; sign-in is the
// hosted login's (package portal); every decision is the engine's.
type Provider struct {
	Engine *flow.Engine
	// Base is the public address of the server, without a trailing slash.
	Base string
	Log  *slog.Logger
	// ErrorPage shows a failure the browser must not be redirected with (an
	// unregistered redirect URI, an unknown client) as a page in the
	// portal's look and the person's language.
	ErrorPage func(w http.ResponseWriter, r *http.Request, slug string, status int, err error)
	// ClientIP returns the address of the request's sender.
	ClientIP func(*http.Request) string

	op *op.Provider
}

// New makes the provider. base is where people reach Countersign; http is
// accepted for development.
func New(eng *flow.Engine, base string, log *slog.Logger, clientIP func(*http.Request) string) (*Provider, error) {
	p := &Provider{Engine: eng, Base: strings.TrimRight(base, "/"), Log: log, ClientIP: clientIP}
	var key [32]byte
	copy(key[:], eng.Keys.MAC("oidc-token-crypto", nil))
	keyID := fmt.Sprintf("%x", sha256.Sum256(key[:]))[:8]
	cfg := &op.Config{
		CryptoKey: key, CryptoKeyId: keyID,
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		SupportedUILocales:    []language.Tag{language.English, language.Spanish},
		SupportedScopes:       flow.Scopes,
		SupportedClaims: []string{"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash",
			"name", "preferred_username", "locale", "updated_at", "email", "email_verified", "phone_number", "phone_number_verified"},
	}
	var opts []op.Option
	if strings.HasPrefix(p.Base, "http://") {
		opts = append(opts, op.WithAllowInsecure())
	}
	issuer := func(bool) (op.IssuerFromRequest, error) {
		return func(r *http.Request) string { return p.issuer(r.Context()) }, nil
	}
	var err error
	p.op, err = op.NewProvider(cfg, &storage{p: p}, issuer, opts...)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Issuer is a tenant's issuer identifier.
func (p *Provider) Issuer(slug string) string { return p.Base + "/oidc/" + slug }

func (p *Provider) issuer(ctx context.Context) string {
	if st := stateOf(ctx); st != nil {
		return p.Issuer(st.tenant.Slug)
	}
	return p.Base
}

func (p *Provider) loginURL(slug string) string { return p.Base + "/portal/" + slug + "/login" }

// Register mounts the provider on mux.
func (p *Provider) Register(mux *http.ServeMux) {
	mux.Handle("/oidc/{tenant}/{rest...}", p)
}

type stateKey struct{}

// reqState is what one request's storage calls share.
type reqState struct {
	tenant   *store.Tenant
	ip       string
	clientID string
	fault    error
}

func stateOf(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

func (st *reqState) caller() flow.Caller {
	return flow.Caller{TenantID: st.tenant.ID, ApplicationID: st.clientID, Actor: "app:" + st.clientID, IP: st.ip}
}

func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("rest")
	browser := rest == "authorize" || rest == "authorize/callback" || rest == "end_session"
	defer func() {
		if v := recover(); v != nil {
			p.Log.Error("oidc: panic", "path", rest, "request_id", requestid.ID(r.Context()), "panic", v)
			oauthError(w, http.StatusInternalServerError, "server_error", "An unexpected error occurred; quote the request ID "+requestid.ID(r.Context())+" to the administrator.")
		}
	}()
	slug := r.PathValue("tenant")
	var t *store.Tenant
	err := store.ErrNotFound
	if validate.Usable(slug) && len(slug) <= 100 {
		t, err = p.Engine.TenantBySlug(r.Context(), slug)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		oauthError(w, http.StatusNotFound, "invalid_request", "There is no issuer at this address: check the tenant in the issuer URL.")
		return
	case err != nil:
		p.unavailable(w, r, err)
		return
	}
	requestid.SetTenant(r.Context(), t.ID)
	if msg := p.badInput(w, r); msg != "" {
		if browser && p.ErrorPage != nil {
			p.ErrorPage(w, r, t.Slug, http.StatusBadRequest, errors.New(msg))
			return
		}
		oauthError(w, http.StatusBadRequest, "invalid_request", msg)
		return
	}
	st := &reqState{tenant: t, ip: p.ClientIP(r), clientID: peekClientID(r)}
	ctx := context.WithValue(r.Context(), stateKey{}, st)
	ctx = op.ContextWithIssuer(ctx, p.Issuer(t.Slug))
	r = r.WithContext(ctx)
	if rest == "end_session" {
		p.endSession(w, r, st)
		return
	}
	inner := r.Clone(ctx)
	inner.URL.Path, inner.URL.RawPath = "/"+rest, ""
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	p.op.ServeHTTP(rec, inner)
	p.finish(w, r, rest, rec, st)
}

// badInput bounds and checks the request before anything reads it.
func (p *Provider) badInput(w http.ResponseWriter, r *http.Request) string {
	if len(r.URL.RawQuery) > maxQuery {
		return fmt.Sprintf("The request is too long: its query string may have at most %d bytes.", maxQuery)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return "The request could not be read: send parameters as application/x-www-form-urlencoded, at most 64 KiB."
	}
	n := 0
	for k, vs := range r.Form {
		if !validate.Usable(k) {
			return "A parameter name contains characters that are not allowed (NUL or invalid UTF-8)."
		}
		for _, v := range vs {
			n++
			if len(v) > maxValue {
				return fmt.Sprintf("Parameter %s is too long: at most %d bytes.", truncate(k, 40), maxValue)
			}
			if !validate.Usable(v) {
				return fmt.Sprintf("Parameter %s contains characters that are not allowed (NUL or invalid UTF-8).", truncate(k, 40))
			}
		}
	}
	if n > maxParams {
		return fmt.Sprintf("The request has too many parameters: at most %d.", maxParams)
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// peekClientID names the client a token request authenticates as, so the
// ID token is signed with the algorithm it registered.
func peekClientID(r *http.Request) string {
	if id, _, ok := r.BasicAuth(); ok {
		if u, err := url.QueryUnescape(id); err == nil {
			return u
		}
		return id
	}
	return r.Form.Get("client_id")
}

// finish sends what the library wrote, filling what the specifications ask
// and it leaves out, and never a 500 for a fault that is an outage.
func (p *Provider) finish(w http.ResponseWriter, r *http.Request, rest string, rec *recorder, st *reqState) {
	h := w.Header()
	for k, v := range rec.header {
		h[k] = v
	}
	status, body := rec.status, rec.body.Bytes()
	if status >= 500 {
		if st.fault != nil && errors.Is(st.fault, store.ErrUnavailable) {
			p.unavailable(w, r, st.fault)
			return
		}
		p.Log.Error("oidc request failed", "path", rest, "request_id", requestid.ID(r.Context()), "err", st.fault)
		delete(h, "Content-Length")
		oauthError(w, http.StatusInternalServerError, "server_error", "An unexpected error occurred; quote the request ID "+requestid.ID(r.Context())+" to the administrator.")
		return
	}
	switch rest {
	case "oauth/token", "revoke", "oauth/introspect":
		// RFC 6749 §5.1: token responses are never cached.
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
	case "userinfo":
		h.Set("Cache-Control", "no-store")
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			// RFC 6750 §3: say how to authenticate, and that the token was bad.
			delete(h, "Content-Length")
			if bearerSent(r) {
				h.Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="The access token is invalid, expired or revoked."`)
				oauthError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid, expired or revoked.")
				return
			}
			h.Set("WWW-Authenticate", `Bearer realm="`+p.Issuer(st.tenant.Slug)+`"`)
			oauthError(w, http.StatusUnauthorized, "invalid_request", "Send the access token in the Authorization header: Bearer <token>.")
			return
		}
	case "authorize", "authorize/callback":
		if status == http.StatusBadRequest && p.ErrorPage != nil {
			// The library refused without redirecting: an unknown client or
			// redirect URI, where a redirect would be an open redirect.
			delete(h, "Content-Length")
			delete(h, "Content-Type")
			p.ErrorPage(w, r, st.tenant.Slug, http.StatusBadRequest, errors.New(strings.TrimSpace(string(body))))
			return
		}
	}
	if status == http.StatusNotFound && len(body) <= len("404 page not found\n") {
		delete(h, "Content-Length")
		oauthError(w, http.StatusNotFound, "invalid_request", "This issuer has no endpoint at this address: see its discovery document.")
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func bearerSent(r *http.Request) bool {
	a := r.Header.Get("Authorization")
	return (len(a) > 7 && strings.EqualFold(a[:7], "bearer ")) || r.Form.Get("access_token") != ""
}

func (p *Provider) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	p.Log.Warn("oidc request refused for now", "request_id", requestid.ID(r.Context()), "err", err)
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Countersign cannot reach its database right now; try again in a moment.")
}

// oauthError writes an error body of RFC 6749 §5.2.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// recorder holds a response of the library until finish has looked at it.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (rc *recorder) Header() http.Header { return rc.header }
func (rc *recorder) WriteHeader(s int) {
	if !rc.wrote {
		rc.status, rc.wrote = s, true
	}
}
func (rc *recorder) Write(b []byte) (int, error) {
	rc.wrote = true
	return rc.body.Write(b)
}
