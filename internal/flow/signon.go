package flow

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/flow/factor/onetime"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
)

// Application sign-on (X2): a web application sends a person to the hosted
// login through OpenID Connect. The protocol is the front door's (package
// oidc); who may sign in, with which factors, and the single use of codes
// and refresh tokens are decided here, with the same counters and audit as
// every other front door.

// Authentication context classes an application may ask for (acr_values)
// and that ID tokens carry (acr).
const (
	// ACRPassword: the password alone (policy asked for no second factor,
	// or the device is remembered).
	ACRPassword = "password"
	// ACRMFA: the password and a second factor, both proven.
	ACRMFA = "mfa"
)

const (
	// signOnTTL bounds how long a person may take on the hosted login.
	signOnTTL = 30 * time.Minute
	// codeTTL bounds how long an authorization code may wait for redemption.
	codeTTL = time.Minute
)

var (
	// ErrSignOnGone: the authorization request expired, was completed or
	// never existed. The person starts again from the application.
	ErrSignOnGone = problem.Domain("sign_on_gone", "authorization request expired, completed or unknown")
	// ErrGrantInvalid: a code or refresh token that is unknown, used,
	// expired or revoked (OAuth invalid_grant).
	ErrGrantInvalid = errors.New("authorization code or refresh token invalid, used, expired or revoked")
	// ErrTokenInvalid: an access token that is unknown, expired or revoked,
	// or whose person may no longer sign in.
	ErrTokenInvalid = errors.New("access token invalid, expired or revoked")
	// ErrLoginRequired: the browser's session cannot answer this request
	// (none, too old, or weaker than the application asked for).
	ErrLoginRequired = errors.New("a new sign-in is required")
)

// SignOnRequest is an application's validated authorization request, kept
// while the person signs in.
type SignOnRequest struct {
	ClientID            string   `json:"client_id"`
	RedirectURI         string   `json:"redirect_uri"`
	State               string   `json:"state,omitempty"`
	Nonce               string   `json:"nonce,omitempty"`
	Scopes              []string `json:"scopes"`
	ResponseType        string   `json:"response_type"`
	ResponseMode        string   `json:"response_mode,omitempty"`
	CodeChallenge       string   `json:"code_challenge,omitempty"`
	CodeChallengeMethod string   `json:"code_challenge_method,omitempty"`
	Prompt              []string `json:"prompt,omitempty"`
	// MaxAge in seconds, when the application set one (prompt=login sets 0).
	MaxAge    *uint    `json:"max_age,omitempty"`
	ACRValues []string `json:"acr_values,omitempty"`
	UILocales []string `json:"ui_locales,omitempty"`
	LoginHint string   `json:"login_hint,omitempty"`
	// HintSubject is the subject of a valid id_token_hint.
	HintSubject string `json:"hint_subject,omitempty"`
}

// WantsMFA reports whether the application demands a second factor now.
func (r SignOnRequest) WantsMFA() bool { return slices.Contains(r.ACRValues, ACRMFA) }

// PromptNone reports prompt=none: answer from the session or fail.
func (r SignOnRequest) PromptNone() bool { return slices.Contains(r.Prompt, "none") }

// SignOn is an authorization request and where it stands.
type SignOn struct {
	store.OIDCAuthRequest
	Req SignOnRequest
}

// BeginSignOn records an application's validated authorization request.
func (e *Engine) BeginSignOn(ctx context.Context, tenantID string, r SignOnRequest) (*SignOn, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	now := e.now()
	ar := store.OIDCAuthRequest{ID: store.NewID("arq"), TenantID: tenantID, ClientID: r.ClientID, Request: string(b), CreatedAt: now, ExpiresAt: now.Add(signOnTTL)}
	err = e.Store.InTx(ctx, func(q store.Queries) error { return q.CreateOIDCAuthRequest(ctx, &ar) })
	if err != nil {
		return nil, err
	}
	return &SignOn{OIDCAuthRequest: ar, Req: r}, nil
}

// SignOn returns an authorization request of the tenant, done or not;
// ErrSignOnGone when there is none.
func (e *Engine) SignOn(ctx context.Context, tenantID, id string) (*SignOn, error) {
	ar, err := e.Store.OIDCAuthRequestByID(ctx, tenantID, id)
	if err != nil {
		return nil, notFoundAs(err, ErrSignOnGone)
	}
	return decodeSignOn(ar)
}

func decodeSignOn(ar *store.OIDCAuthRequest) (*SignOn, error) {
	so := &SignOn{OIDCAuthRequest: *ar}
	if err := json.Unmarshal([]byte(ar.Request), &so.Req); err != nil {
		return nil, err
	}
	return so, nil
}

// PendingSignOn returns an authorization request the person may still
// complete: not done and not expired.
func (e *Engine) PendingSignOn(ctx context.Context, tenantID, id string) (*SignOn, error) {
	so, err := e.SignOn(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if so.DoneAt != nil || !e.now().Before(so.ExpiresAt) {
		return nil, ErrSignOnGone
	}
	return so, nil
}

// SignOnPassword proves the login ID and password on the hosted login for
// the request's application, then decides like any application login what
// comes next: allowed, a second factor, or enrolment. An application that
// asks for acr "mfa" gets a second factor even where policy or a
// remembered device would skip it.
func (e *Engine) SignOnPassword(ctx context.Context, c Caller, id, loginID, pw string) (*Result, error) {
	so, err := e.PendingSignOn(ctx, c.TenantID, id)
	if err != nil {
		return nil, err
	}
	c.ApplicationID = so.ClientID
	t, p, u, err := e.passwordStep(ctx, c, loginID, pw, statusErr, "login.password")
	if err != nil {
		return nil, err
	}
	return e.afterPrimary(ctx, c, t, p, u, ModePassword, so.Req.WantsMFA())
}

// CompleteSignOn answers an authorization request with the sign-in of a
// login transaction: one the hosted login just completed, or the one
// behind the browser's session (single sign-on). The transaction must be an
// application sign-in (a portal sign-in, which may end with security
// questions, opens no application: A8), its person must still be active,
// and it must meet what the application asked: max_age, prompt=login and
// acr "mfa". ErrLoginRequired otherwise.
func (e *Engine) CompleteSignOn(ctx context.Context, c Caller, id, txnID string, single bool) (*SignOn, error) {
	so, err := e.PendingSignOn(ctx, c.TenantID, id)
	if err != nil {
		return nil, err
	}
	c.ApplicationID = so.ClientID
	txn, err := e.Store.LoginTxnByID(ctx, c.TenantID, txnID)
	if err != nil {
		return nil, notFoundAs(err, ErrLoginRequired)
	}
	if txn.State != store.TxnAllowed || txn.Mode != ModePassword || txn.CompletedAt == nil || txn.ApplicationID == PortalApplication {
		return nil, ErrLoginRequired
	}
	u, err := e.Store.UserByID(ctx, c.TenantID, txn.UserID)
	if err != nil {
		return nil, notFoundAs(err, ErrLoginRequired)
	}
	if err := statusErr(u.Status); err != nil {
		return nil, inLanguage(err, c, u)
	}
	if so.Req.HintSubject != "" && so.Req.HintSubject != u.ID {
		// The application expected someone else in this browser.
		return nil, ErrLoginRequired
	}
	authTime := *txn.CompletedAt
	amr, acr, err := e.txnAMR(ctx, c.TenantID, txn)
	if err != nil {
		return nil, err
	}
	if so.Req.WantsMFA() && acr != ACRMFA {
		return nil, ErrLoginRequired
	}
	if m := so.Req.MaxAge; m != nil {
		if *m == 0 {
			// prompt=login or max_age=0: a sign-in made for this request.
			if authTime.Before(so.CreatedAt) {
				return nil, ErrLoginRequired
			}
		} else if e.now().Sub(authTime) > time.Duration(*m)*time.Second {
			return nil, ErrLoginRequired
		}
	}
	now := e.now()
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		ok, err := q.CompleteOIDCAuthRequest(ctx, c.TenantID, so.ID, u.ID, authTime, amr, acr, now)
		if err != nil {
			return err
		}
		if !ok {
			return ErrSignOnGone
		}
		return e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "sign_on", Outcome: "success", Detail: map[string]any{"client": so.ClientID, "txn": txn.ID, "acr": acr, "single_sign_on": single}})
	})
	if err != nil {
		return nil, err
	}
	so.UserID, so.AuthTime, so.AMR, so.ACR, so.DoneAt = u.ID, &authTime, amr, acr, &now
	return so, nil
}

// txnAMR names how a completed transaction authenticated (RFC 8176).
func (e *Engine) txnAMR(ctx context.Context, tenantID string, txn *store.LoginTxn) ([]string, string, error) {
	if txn.FactorID == "" {
		return []string{"pwd"}, ACRPassword, nil
	}
	kind := txn.FactorID
	if txn.FactorID != onetime.Kind {
		f, err := e.Store.FactorByID(ctx, tenantID, txn.FactorID)
		if err != nil {
			return nil, "", notFoundAs(err, ErrLoginRequired)
		}
		kind = f.Kind
	}
	method, ok := amrOf[kind]
	if !ok {
		return nil, "", ErrLoginRequired
	}
	return []string{"pwd", method, "mfa"}, ACRMFA, nil
}

// amrOf is the RFC 8176 method of each second factor that opens
// applications. A code sent by email has no registered value; "email"
// tells it apart as the RFC allows.
var amrOf = map[string]string{
	policy.FactorTOTP:  "otp",
	policy.FactorSMS:   "sms",
	policy.FactorEmail: "email",
	policy.FactorVoice: "tel",
	// A push approved in the phone app: a signature by a key the app keeps.
	policy.FactorPush: "swk",
	onetime.Kind:      "otp",
}

// RefuseSignOn ends an authorization request that cannot be answered
// (prompt=none without a usable session) so it can never be completed.
func (e *Engine) RefuseSignOn(ctx context.Context, c Caller, id, reason string) (*SignOn, error) {
	so, err := e.PendingSignOn(ctx, c.TenantID, id)
	if err != nil {
		return nil, err
	}
	c.ApplicationID = so.ClientID
	now := e.now()
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		// Done with nobody: no code can ever be issued for it.
		ok, err := q.CompleteOIDCAuthRequest(ctx, c.TenantID, so.ID, "", now, nil, "", now)
		if err != nil || !ok {
			return errors.Join(err, ErrSignOnGone)
		}
		return e.Audit(ctx, q, c, Event{Event: "sign_on", Outcome: "refused", Detail: map[string]any{"client": so.ClientID, "reason": reason}})
	})
	if err != nil {
		return nil, err
	}
	return so, nil
}

// IssueSignOnCode gives a completed request its authorization code, once.
func (e *Engine) IssueSignOnCode(ctx context.Context, tenantID, id, code string) error {
	so, err := e.SignOn(ctx, tenantID, id)
	if err != nil {
		return err
	}
	if so.UserID == "" {
		// Refused (prompt=none): no code, ever.
		return ErrSignOnGone
	}
	now := e.now()
	return e.Store.InTx(ctx, func(q store.Queries) error {
		ok, err := q.SetOIDCCode(ctx, tenantID, id, e.Keys.MAC("oidc-code", []byte(code)), now.Add(codeTTL), now)
		if err != nil {
			return err
		}
		if !ok {
			return ErrSignOnGone
		}
		return nil
	})
}

// RedeemSignOnCode uses an authorization code once, by one conditional
// UPDATE. A code presented again is refused and every token issued from it
// is revoked (RFC 6749 §4.1.2).
func (e *Engine) RedeemSignOnCode(ctx context.Context, c Caller, code string) (*SignOn, error) {
	if code == "" || len(code) > 512 {
		return nil, ErrGrantInvalid
	}
	now := e.now()
	var ar *store.OIDCAuthRequest
	var fresh bool
	err := e.Store.InTx(ctx, func(q store.Queries) error {
		var err error
		ar, fresh, err = q.UseOIDCCode(ctx, c.TenantID, e.Keys.MAC("oidc-code", []byte(code)), now)
		if err != nil {
			return err
		}
		if fresh || ar.UserID == "" {
			return nil
		}
		n, err := q.RevokeOIDCGrant(ctx, c.TenantID, ar.ID, now)
		if err != nil {
			return err
		}
		c.ApplicationID = ar.ClientID
		return e.Audit(ctx, q, c, Event{UserID: ar.UserID, Event: "sign_on.code_replayed", Outcome: "refused", Detail: map[string]any{"client": ar.ClientID, "tokens_revoked": n}})
	})
	if errors.Is(err, store.ErrNotFound) || (err == nil && (!fresh || ar.UserID == "")) {
		return nil, ErrGrantInvalid
	}
	if err != nil {
		return nil, err
	}
	return decodeSignOn(ar)
}

// Grant is what tokens are issued for: a person, an application, the
// scopes granted and how the person authenticated.
type Grant struct {
	ClientID      string
	UserID        string
	AuthRequestID string
	Scopes        []string
	AMR           []string
	ACR           string
	AuthTime      time.Time
}

// GrantOf is the grant of a redeemed request.
func GrantOf(so *SignOn) Grant {
	var at time.Time
	if so.AuthTime != nil {
		at = *so.AuthTime
	}
	return Grant{ClientID: so.ClientID, UserID: so.UserID, AuthRequestID: so.ID, Scopes: so.Req.Scopes, AMR: so.AMR, ACR: so.ACR, AuthTime: at}
}

// GrantOfToken is the grant a token was issued for.
func GrantOfToken(t *store.OIDCToken) Grant {
	return Grant{ClientID: t.ClientID, UserID: t.UserID, AuthRequestID: t.AuthRequestID, Scopes: t.Scopes, AMR: t.AMR, ACR: t.ACR, AuthTime: t.AuthTime}
}

// Issued is an access token record and, when one was asked for, a
// refresh token (its only copy: the store keeps a keyed hash).
type Issued struct {
	Access  *store.OIDCToken
	Refresh string
}

// IssueTokens issues an access token and, when refreshTTL is positive, a
// refresh token for g. With rotate set, the refresh token being exchanged
// is used first by one conditional UPDATE: a token used before is a reuse,
// which revokes every token of its grant.
func (e *Engine) IssueTokens(ctx context.Context, c Caller, g Grant, accessTTL, refreshTTL time.Duration, rotate *store.OIDCToken) (*Issued, error) {
	now := e.now()
	out := &Issued{}
	c.ApplicationID = g.ClientID
	token := func(kind string, ttl time.Duration) *store.OIDCToken {
		return &store.OIDCToken{ID: store.NewID("tok"), TenantID: c.TenantID, ClientID: g.ClientID, UserID: g.UserID, Kind: kind, AuthRequestID: g.AuthRequestID,
			Scopes: g.Scopes, AMR: g.AMR, ACR: g.ACR, AuthTime: g.AuthTime, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	}
	reused := false
	err := e.Store.InTx(ctx, func(q store.Queries) error {
		if rotate != nil {
			ok, err := q.UseOIDCRefresh(ctx, c.TenantID, rotate.ID, now)
			if err != nil {
				return err
			}
			if !ok {
				reused = true
				return nil
			}
		}
		out.Access = token(store.TokenAccess, accessTTL)
		if err := q.CreateOIDCToken(ctx, out.Access); err != nil {
			return err
		}
		if refreshTTL > 0 {
			raw := make([]byte, 32)
			if _, err := rand.Read(raw); err != nil {
				return err
			}
			out.Refresh = "csr_" + base64.RawURLEncoding.EncodeToString(raw)
			rt := token(store.TokenRefresh, refreshTTL)
			rt.Hash = e.Keys.MAC("oidc-refresh", []byte(out.Refresh))
			if err := q.CreateOIDCToken(ctx, rt); err != nil {
				return err
			}
		}
		event := "token.issued"
		if rotate != nil {
			event = "token.refreshed"
		}
		return e.Audit(ctx, q, c, Event{UserID: g.UserID, Event: event, Outcome: "success", Detail: map[string]any{"client": g.ClientID, "refresh": refreshTTL > 0}})
	})
	if err != nil {
		return nil, err
	}
	if reused {
		return nil, e.refreshReused(ctx, c, rotate)
	}
	return out, nil
}

// refreshReused revokes the grant of a refresh token presented after it
// was rotated (OAuth 2.0 Security BCP): one of the two presenters is not
// the application.
func (e *Engine) refreshReused(ctx context.Context, c Caller, t *store.OIDCToken) error {
	c.ApplicationID = t.ClientID
	err := e.Store.InTx(ctx, func(q store.Queries) error {
		n, err := q.RevokeOIDCGrant(ctx, c.TenantID, t.AuthRequestID, e.now())
		if err != nil {
			return err
		}
		return e.Audit(ctx, q, c, Event{UserID: t.UserID, Event: "token.refresh_reused", Outcome: "refused", Detail: map[string]any{"client": t.ClientID, "tokens_revoked": n}})
	})
	return errors.Join(ErrGrantInvalid, err)
}

// RefreshToken returns the live refresh token of clientID with this value.
// A rotated one is a reuse and revokes its grant; the person must still be
// active.
func (e *Engine) RefreshToken(ctx context.Context, c Caller, clientID, token string) (*store.OIDCToken, error) {
	if token == "" || len(token) > 512 {
		return nil, ErrGrantInvalid
	}
	t, err := e.Store.OIDCRefreshByHash(ctx, c.TenantID, e.Keys.MAC("oidc-refresh", []byte(token)))
	if err != nil {
		return nil, notFoundAs(err, ErrGrantInvalid)
	}
	if t.Kind != store.TokenRefresh || (clientID != "" && t.ClientID != clientID) {
		return nil, ErrGrantInvalid
	}
	if t.UsedAt != nil && t.RevokedAt == nil {
		return nil, e.refreshReused(ctx, c, t)
	}
	if t.RevokedAt != nil || !e.now().Before(t.ExpiresAt) {
		return nil, ErrGrantInvalid
	}
	if err := e.activeUser(ctx, c.TenantID, t.UserID); err != nil {
		return nil, ErrGrantInvalid
	}
	return t, nil
}

// AccessToken returns the live access token with this id and its person,
// who must still be active.
func (e *Engine) AccessToken(ctx context.Context, tenantID, id string) (*store.OIDCToken, *store.User, error) {
	t, err := e.Store.OIDCTokenByID(ctx, tenantID, id)
	if err != nil {
		return nil, nil, notFoundAs(err, ErrTokenInvalid)
	}
	if t.Kind != store.TokenAccess || t.RevokedAt != nil || !e.now().Before(t.ExpiresAt) {
		return nil, nil, ErrTokenInvalid
	}
	u, err := e.Store.UserByID(ctx, tenantID, t.UserID)
	if err != nil {
		return nil, nil, notFoundAs(err, ErrTokenInvalid)
	}
	if statusErr(u.Status) != nil {
		return nil, nil, ErrTokenInvalid
	}
	return t, u, nil
}

func (e *Engine) activeUser(ctx context.Context, tenantID, userID string) error {
	u, err := e.Store.UserByID(ctx, tenantID, userID)
	if err != nil {
		return err
	}
	return statusErr(u.Status)
}

// SignOnUser returns the person a token names, for the claims about them.
func (e *Engine) SignOnUser(ctx context.Context, tenantID, userID string) (*store.User, error) {
	u, err := e.Store.UserByID(ctx, tenantID, userID)
	if err != nil {
		return nil, notFoundAs(err, ErrTokenInvalid)
	}
	return u, nil
}

// RevokeSignOnToken revokes an access token by id or a refresh token by
// value, of clientID only (RFC 7009): an unknown token is no error.
func (e *Engine) RevokeSignOnToken(ctx context.Context, c Caller, clientID, accessID, refresh string) error {
	var t *store.OIDCToken
	var err error
	switch {
	case accessID != "":
		t, err = e.Store.OIDCTokenByID(ctx, c.TenantID, accessID)
	case refresh != "" && len(refresh) <= 512:
		t, err = e.Store.OIDCRefreshByHash(ctx, c.TenantID, e.Keys.MAC("oidc-refresh", []byte(refresh)))
	default:
		return nil
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.ClientID != clientID) {
		return nil
	}
	if err != nil {
		return err
	}
	c.ApplicationID = clientID
	return e.Store.InTx(ctx, func(q store.Queries) error {
		var n int
		var err error
		if t.Kind == store.TokenRefresh {
			// A refresh token's grant goes with it.
			n, err = q.RevokeOIDCGrant(ctx, c.TenantID, t.AuthRequestID, e.now())
		} else {
			var ok bool
			ok, err = q.RevokeOIDCToken(ctx, c.TenantID, t.ID, e.now())
			if ok {
				n = 1
			}
		}
		if err != nil || n == 0 {
			return err
		}
		return e.Audit(ctx, q, c, Event{UserID: t.UserID, Event: "token.revoked", Outcome: "success", Detail: map[string]any{"client": clientID, "kind": t.Kind, "tokens_revoked": n}})
	})
}

// SignedOut records an application's logout of a person (RP-initiated
// logout); the browser's session is ended by the front door.
func (e *Engine) SignedOut(ctx context.Context, c Caller, clientID, userID string) error {
	c.ApplicationID = clientID
	return e.Audit(ctx, e.Store, c, Event{UserID: userID, Event: "sign_on.logout", Outcome: "success", Detail: map[string]any{"client": clientID}})
}

// CleanSignOn removes authorization requests and tokens long expired.
func (e *Engine) CleanSignOn(ctx context.Context) (int, error) {
	before := e.now().Add(-24 * time.Hour)
	var total int
	err := e.Store.InTx(ctx, func(q store.Queries) error {
		n, err := q.DeleteOIDCTokensBefore(ctx, before)
		if err != nil {
			return err
		}
		m, err := q.DeleteOIDCAuthRequestsBefore(ctx, before)
		total = n + m
		return err
	})
	return total, err
}

// SealLogout makes the token that carries a validated post-logout
// address from the logout endpoint to the hosted login's sign-out page,
// which ends the browser's session there (where its cookie is) and goes on.
// It is worth nothing after five minutes or for any other address.
func (e *Engine) SealLogout(tenantID, redirect string) string {
	exp := strconv.FormatInt(e.now().Add(5*time.Minute).Unix(), 10)
	payload := base64.RawURLEncoding.EncodeToString([]byte(exp + "\x00" + redirect))
	mac := e.Keys.MAC("oidc-logout", []byte(tenantID+"\x00"+payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(mac)
}

// OpenLogout returns the address a SealLogout token carries ("" for none),
// or false for a token that is not the tenant's, altered or expired.
func (e *Engine) OpenLogout(tenantID, token string) (string, bool) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 8<<10 {
		return "", false
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, e.Keys.MAC("oidc-logout", []byte(tenantID+"\x00"+payload))) {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", false
	}
	exp, redirect, ok := strings.Cut(string(raw), "\x00")
	n, err := strconv.ParseInt(exp, 10, 64)
	if !ok || err != nil || e.now().Unix() > n {
		return "", false
	}
	return redirect, true
}
