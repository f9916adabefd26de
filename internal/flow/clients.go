package flow

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// The applications registered with a tenant's OpenID Connect provider
// (X2): confidential ones authenticate with a secret shown once and kept
// as a keyed hash; public ones (single-page and native applications) have
// none and must use PKCE.

// Scopes an application may be allowed.
var Scopes = []string{"openid", "profile", "email", "phone", "offline_access"}

// Token lifetimes: defaults and bounds.
const (
	DefaultAccessTTL  = 10 * time.Minute
	DefaultIDTokenTTL = time.Hour
	DefaultRefreshTTL = 30 * 24 * time.Hour
	maxAccessTTL      = 24 * time.Hour
	maxRefreshTTL     = 365 * 24 * time.Hour
	minTokenTTL       = time.Minute
	maxClientURIs     = 20
	maxURILength      = 2000
)

// ClientInput is an application's registration. Zero lifetimes take the
// defaults; a negative RefreshTTL issues no refresh tokens.
type ClientInput struct {
	Name           string
	Public         bool
	RedirectURIs   []string
	PostLogoutURIs []string
	Scopes         []string
	SigningAlg     string
	AccessTTL      time.Duration
	IDTokenTTL     time.Duration
	RefreshTTL     time.Duration
}

func (in *ClientInput) check() (*store.OIDCClient, error) {
	var errs validate.Errors
	c := &store.OIDCClient{Name: validate.Text(&errs, "name", in.Name, true, 100)}
	c.RedirectURIs = checkURIs(&errs, "redirect_uris", in.RedirectURIs, true)
	c.PostLogoutURIs = checkURIs(&errs, "post_logout_redirect_uris", in.PostLogoutURIs, false)
	c.Scopes = in.Scopes
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"openid", "profile", "email", "phone", "offline_access"}
	}
	for _, s := range c.Scopes {
		if !slices.Contains(Scopes, s) {
			errs.Add("scopes", "invalid", fmt.Sprintf("Scope %q is not offered. Use any of: %s.", s, strings.Join(Scopes, ", ")))
			break
		}
	}
	if !slices.Contains(c.Scopes, "openid") {
		errs.Add("scopes", "invalid", "Scopes must include openid.")
	}
	c.SigningAlg = in.SigningAlg
	if c.SigningAlg == "" {
		c.SigningAlg = store.AlgES256
	}
	if c.SigningAlg != store.AlgES256 && c.SigningAlg != store.AlgRS256 {
		errs.Add("signing_alg", "invalid", "Signing algorithm must be ES256 or RS256.")
	}
	ttl := func(field string, v, def, max time.Duration) time.Duration {
		if v == 0 {
			return def
		}
		if v < minTokenTTL || v > max {
			errs.Add(field, "invalid", fmt.Sprintf("%s must be between %s and %s.", validate.Label(field), minTokenTTL, max))
		}
		return v
	}
	c.AccessTTL = ttl("access_token_ttl", in.AccessTTL, DefaultAccessTTL, maxAccessTTL)
	c.IDTokenTTL = ttl("id_token_ttl", in.IDTokenTTL, DefaultIDTokenTTL, MaxIDTokenTTL)
	if in.RefreshTTL < 0 {
		c.RefreshTTL = 0
	} else {
		c.RefreshTTL = ttl("refresh_token_ttl", in.RefreshTTL, DefaultRefreshTTL, maxRefreshTTL)
	}
	return c, errs.Err()
}

// checkURIs keeps absolute URIs without fragments: https, or http to this
// machine only (development and native applications), or a private scheme
// of a native application (com.example.app:/callback).
func checkURIs(errs *validate.Errors, field string, uris []string, req bool) []string {
	if len(uris) == 0 {
		if req {
			errs.Add(field, "required", "Add at least one redirect URI, for example https://app.example.org/callback.")
		}
		return []string{}
	}
	if len(uris) > maxClientURIs {
		errs.AddLimit(field, "too_long", fmt.Sprintf("At most %d URIs may be registered.", maxClientURIs), maxClientURIs)
		return nil
	}
	out := make([]string, 0, len(uris))
	for _, raw := range uris {
		if msg := uriProblem(raw); msg != "" {
			errs.Add(field, "invalid", fmt.Sprintf("%q %s", truncate(raw, 100), msg))
			continue
		}
		if !slices.Contains(out, raw) {
			out = append(out, raw)
		}
	}
	return out
}

func uriProblem(raw string) string {
	if len(raw) > maxURILength || !validate.Usable(raw) || strings.ContainsAny(raw, " \t\r\n") {
		return "is not a usable URI."
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return "must be an absolute URI such as https://app.example.org/callback."
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "must not have a fragment (#…)."
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return "must name a host."
		}
	case "http":
		if !loopback(u.Hostname()) {
			return "uses http, which is allowed only for 127.0.0.1, [::1] or localhost: use https."
		}
	case "javascript", "data", "file", "vbscript":
		return "uses a scheme that cannot receive a redirect."
	default:
		if !strings.Contains(u.Scheme, ".") {
			return "must use https (or a native application's reverse-domain scheme such as com.example.app)."
		}
	}
	return ""
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func newClientSecret() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return "css_" + base64.RawURLEncoding.EncodeToString(raw), nil
}

func (e *Engine) secretHash(secret string) []byte {
	return e.Keys.MAC("oidc-client-secret", []byte(secret))
}

// RegisterClient registers an application with the caller's tenant and
// returns its secret (empty for a public client), shown this once.
func (e *Engine) RegisterClient(ctx context.Context, c Caller, in ClientInput) (*store.OIDCClient, string, error) {
	cl, err := in.check()
	if err != nil {
		return nil, "", err
	}
	now := e.now()
	cl.ID, cl.TenantID, cl.CreatedAt, cl.UpdatedAt = "csc_"+strings.TrimPrefix(store.NewID("x"), "x_"), c.TenantID, now, now
	var secret string
	if !in.Public {
		if secret, err = newClientSecret(); err != nil {
			return nil, "", err
		}
		cl.SecretHash = e.secretHash(secret)
	}
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		if err := q.CreateOIDCClient(ctx, cl); err != nil {
			return err
		}
		return e.Audit(ctx, q, c, Event{Event: "oidc.client_created", Outcome: "success", Detail: map[string]any{"client": cl.ID, "name": cl.Name, "public": in.Public}})
	})
	if err != nil {
		return nil, "", err
	}
	return cl, secret, nil
}

// UpdateClient replaces an application's registration; its secret (or its
// being public) stays as it is.
func (e *Engine) UpdateClient(ctx context.Context, c Caller, id string, in ClientInput) (*store.OIDCClient, error) {
	old, err := e.Store.OIDCClientByID(ctx, c.TenantID, id)
	if err != nil {
		return nil, err
	}
	cl, err := in.check()
	if err != nil {
		return nil, err
	}
	cl.ID, cl.TenantID, cl.SecretHash, cl.CreatedAt, cl.UpdatedAt = old.ID, old.TenantID, old.SecretHash, old.CreatedAt, e.now()
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		if err := q.UpdateOIDCClient(ctx, cl); err != nil {
			return err
		}
		return e.Audit(ctx, q, c, Event{Event: "oidc.client_updated", Outcome: "success", Detail: map[string]any{"client": cl.ID}})
	})
	if err != nil {
		return nil, err
	}
	return cl, nil
}

// NewClientSecret replaces a confidential application's secret and
// returns the new one, shown this once; the old one stops working at once.
func (e *Engine) NewClientSecret(ctx context.Context, c Caller, id string) (string, error) {
	cl, err := e.Store.OIDCClientByID(ctx, c.TenantID, id)
	if err != nil {
		return "", err
	}
	if cl.SecretHash == nil {
		var errs validate.Errors
		errs.Add("client_id", "invalid", "A public client has no secret: register a confidential client instead.")
		return "", errs
	}
	secret, err := newClientSecret()
	if err != nil {
		return "", err
	}
	cl.SecretHash, cl.UpdatedAt = e.secretHash(secret), e.now()
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		if err := q.UpdateOIDCClient(ctx, cl); err != nil {
			return err
		}
		return e.Audit(ctx, q, c, Event{Event: "oidc.client_secret_changed", Outcome: "success", Detail: map[string]any{"client": cl.ID}})
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// RemoveClient removes an application and revokes its tokens.
func (e *Engine) RemoveClient(ctx context.Context, c Caller, id string) error {
	if _, err := e.Store.OIDCClientByID(ctx, c.TenantID, id); err != nil {
		return err
	}
	return e.Store.InTx(ctx, func(q store.Queries) error {
		if err := q.DeleteOIDCClient(ctx, c.TenantID, id, e.now()); err != nil {
			return err
		}
		return e.Audit(ctx, q, c, Event{Event: "oidc.client_removed", Outcome: "success", Detail: map[string]any{"client": id}})
	})
}

// Client returns an application registered with the tenant.
func (e *Engine) Client(ctx context.Context, tenantID, id string) (*store.OIDCClient, error) {
	if id == "" || len(id) > 100 {
		return nil, store.ErrNotFound
	}
	return e.Store.OIDCClientByID(ctx, tenantID, id)
}

// Clients lists the tenant's applications.
func (e *Engine) Clients(ctx context.Context, tenantID string) ([]store.OIDCClient, error) {
	return e.Store.ListOIDCClients(ctx, tenantID)
}

// ClientSecretMatches compares a presented secret with a confidential
// client's, in constant time.
func (e *Engine) ClientSecretMatches(cl *store.OIDCClient, secret string) bool {
	if cl.SecretHash == nil || secret == "" || len(secret) > 200 {
		return false
	}
	return subtle.ConstantTimeCompare(cl.SecretHash, e.secretHash(secret)) == 1
}
