package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/store"
)

// storage is the protocol library's view of Countersign: every decision is
// the engine's, this only translates. Errors the library shows a client
// are *oidc.Error values; anything else is a fault, which the handler
// answers as server_error (or temporarily_unavailable during an outage).
type storage struct {
	p *Provider
}

var (
	_ op.Storage                                       = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest                     = (*storage)(nil)
	_ op.CanTerminateSessionFromRequest                = (*storage)(nil)
	_ op.AuthRequest                                   = (*authRequest)(nil)
	_ op.RefreshTokenRequest                           = (*refreshRequest)(nil)
	_ op.SigningKey                                    = signingKey{}
	_ op.Key                                           = publicKey{}
	_ op.CanGetPrivateClaimsFromRequest                = (*storage)(nil)
	_ interface{ GetResponseMode() oidc.ResponseMode } = (*authRequest)(nil)
)

// fault keeps a fault for the handler, which decides how to answer it.
func fault(ctx context.Context, err error) error {
	if st := stateOf(ctx); st != nil && st.fault == nil {
		st.fault = err
	}
	return err
}

// ---- authorization requests ----

func (s *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, userID string) (op.AuthRequest, error) {
	st := stateOf(ctx)
	cl, err := s.p.Engine.Client(ctx, st.tenant.ID, req.ClientID)
	if err != nil {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("unknown client")
	}
	if req.ResponseType != oidc.ResponseTypeCode {
		return nil, oidc.ErrInvalidRequest().WithDescription("only the authorization code flow (response_type=code) is offered")
	}
	switch {
	case req.CodeChallenge == "" && cl.SecretHash == nil:
		return nil, oidc.ErrInvalidRequest().WithDescription("a public client must use PKCE: send code_challenge with code_challenge_method=S256")
	case req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	case len(req.CodeChallenge) > 128:
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge is too long")
	}
	r := flow.SignOnRequest{
		ClientID: req.ClientID, RedirectURI: req.RedirectURI, State: req.State, Nonce: req.Nonce,
		Scopes: req.Scopes, ResponseType: string(req.ResponseType), ResponseMode: string(req.ResponseMode),
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: string(req.CodeChallengeMethod),
		Prompt: req.Prompt, MaxAge: req.MaxAge, ACRValues: req.ACRValues, LoginHint: req.LoginHint, HintSubject: userID,
	}
	for _, t := range req.UILocales {
		r.UILocales = append(r.UILocales, language.Tag(t).String())
	}
	so, err := s.p.Engine.BeginSignOn(ctx, st.tenant.ID, r)
	if err != nil {
		return nil, fault(ctx, err)
	}
	return &authRequest{so}, nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	so, err := s.p.Engine.SignOn(ctx, stateOf(ctx).tenant.ID, id)
	if errors.Is(err, flow.ErrSignOnGone) {
		return nil, oidc.ErrInvalidRequest().WithDescription("sign-in request unknown or expired")
	}
	if err != nil {
		return nil, fault(ctx, err)
	}
	return &authRequest{so}, nil
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	st := stateOf(ctx)
	so, err := s.p.Engine.RedeemSignOnCode(ctx, st.caller(), code)
	if errors.Is(err, flow.ErrGrantInvalid) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the code is invalid, expired or already used")
	}
	if err != nil {
		return nil, fault(ctx, err)
	}
	return &authRequest{so}, nil
}

func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	err := s.p.Engine.IssueSignOnCode(ctx, stateOf(ctx).tenant.ID, id, code)
	if errors.Is(err, flow.ErrSignOnGone) {
		return oidc.ErrInvalidRequest().WithDescription("sign-in request already answered or expired")
	}
	if err != nil {
		return fault(ctx, err)
	}
	return nil
}

// DeleteAuthRequest keeps the request: a code presented again must still
// be recognised to revoke what it issued. Expired requests are removed by
// the server's clean-up.
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

// ---- tokens ----

func (s *storage) grant(ctx context.Context, req op.TokenRequest) (flow.Grant, *store.OIDCToken, error) {
	switch r := req.(type) {
	case *authRequest:
		return flow.GrantOf(r.so), nil, nil
	case *refreshRequest:
		g := flow.GrantOfToken(r.t)
		g.Scopes = r.scopes
		return g, r.t, nil
	}
	return flow.Grant{}, nil, oidc.ErrUnsupportedGrantType()
}

func (s *storage) client(ctx context.Context, id string) (*store.OIDCClient, error) {
	cl, err := s.p.Engine.Client(ctx, stateOf(ctx).tenant.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	if err != nil {
		return nil, fault(ctx, err)
	}
	return cl, nil
}

func (s *storage) issue(ctx context.Context, req op.TokenRequest, refresh bool) (*flow.Issued, error) {
	g, rotate, err := s.grant(ctx, req)
	if err != nil {
		return nil, err
	}
	cl, err := s.client(ctx, g.ClientID)
	if err != nil {
		return nil, err
	}
	refreshTTL := time.Duration(0)
	if refresh {
		refreshTTL = cl.RefreshTTL
	}
	out, err := s.p.Engine.IssueTokens(ctx, stateOf(ctx).caller(), g, cl.AccessTTL, refreshTTL, rotate)
	if errors.Is(err, flow.ErrGrantInvalid) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token was already used: every token of this sign-in is revoked")
	}
	if err != nil {
		return nil, fault(ctx, err)
	}
	return out, nil
}

func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	out, err := s.issue(ctx, req, false)
	if err != nil {
		return "", time.Time{}, err
	}
	return out.Access.ID, out.Access.ExpiresAt, nil
}

func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, _ string) (string, string, time.Time, error) {
	out, err := s.issue(ctx, req, true)
	if err != nil {
		return "", "", time.Time{}, err
	}
	return out.Access.ID, out.Refresh, out.Access.ExpiresAt, nil
}

func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	st := stateOf(ctx)
	t, err := s.p.Engine.RefreshToken(ctx, st.caller(), st.clientID, token)
	if errors.Is(err, flow.ErrGrantInvalid) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token is invalid, expired, revoked or already used")
	}
	if err != nil {
		return nil, fault(ctx, err)
	}
	return &refreshRequest{t: t, scopes: t.Scopes}, nil
}

// TerminateSession is not reached: end_session is answered by the
// handler itself (logout.go), which ends the browser's session.
func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

func (s *storage) TerminateSessionFromRequest(_ context.Context, req *op.EndSessionRequest) (string, error) {
	return req.RedirectURI, nil
}

func (s *storage) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	st := stateOf(ctx)
	var err error
	if userID != "" {
		err = s.p.Engine.RevokeSignOnToken(ctx, st.caller(), clientID, tokenOrID, "")
	} else {
		err = s.p.Engine.RevokeSignOnToken(ctx, st.caller(), clientID, "", tokenOrID)
	}
	if err != nil {
		_ = fault(ctx, err)
		return oidc.ErrServerError()
	}
	return nil
}

// GetRefreshTokenInfo tells refresh tokens (csr_…) from anything else;
// RevokeToken then finds and checks the token itself.
func (s *storage) GetRefreshTokenInfo(_ context.Context, _ string, token string) (string, string, error) {
	if !strings.HasPrefix(token, "csr_") {
		return "", "", op.ErrInvalidRefreshToken
	}
	return "", token, nil
}

// ---- keys ----

type signingKey struct{ k *flow.SigningKey }

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm {
	return jose.SignatureAlgorithm(k.k.Alg)
}
func (k signingKey) Key() any   { return k.k.Private }
func (k signingKey) ID() string { return k.k.ID }

type publicKey struct{ k flow.SigningKey }

func (k publicKey) ID() string                         { return k.k.ID }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.SignatureAlgorithm(k.k.Alg) }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any {
	switch pub := k.k.Public.(type) {
	case *ecdsa.PublicKey:
		return pub
	case *rsa.PublicKey:
		return pub
	}
	return k.k.Public
}

// SigningKey is the tenant's key of the algorithm the client asked for.
func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	st := stateOf(ctx)
	alg := store.AlgES256
	if st.clientID != "" {
		if cl, err := s.p.Engine.Client(ctx, st.tenant.ID, st.clientID); err == nil {
			alg = cl.SigningAlg
		}
	}
	k, err := s.p.Engine.Signer(ctx, st.tenant.ID, alg)
	if err != nil {
		return nil, fault(ctx, err)
	}
	return signingKey{k}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.ES256, jose.RS256}, nil
}

func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	keys, err := s.p.Engine.PublishedKeys(ctx, stateOf(ctx).tenant.ID)
	if err != nil {
		return nil, fault(ctx, err)
	}
	out := make([]op.Key, len(keys))
	for i, k := range keys {
		out[i] = publicKey{k}
	}
	return out, nil
}

// ---- clients ----

func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	cl, err := s.client(ctx, id)
	if err != nil {
		return nil, err
	}
	return &client{cl: cl, login: s.p.loginURL(stateOf(ctx).tenant.Slug)}, nil
}

func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	cl, err := s.client(ctx, id)
	if err != nil {
		return err
	}
	if !s.p.Engine.ClientSecretMatches(cl, secret) {
		return oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	return nil
}

// ---- claims ----

// SetUserinfoFromScopes is the library's deprecated hook; claims come from
// SetUserinfoFromRequest.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (s *storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	u, err := s.p.Engine.SignOnUser(ctx, stateOf(ctx).tenant.ID, req.GetSubject())
	if err != nil {
		return fault(ctx, err)
	}
	setClaims(info, u, scopes)
	return nil
}

func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	t, u, err := s.p.Engine.AccessToken(ctx, stateOf(ctx).tenant.ID, tokenID)
	if errors.Is(err, flow.ErrTokenInvalid) || (err == nil && t.UserID != subject) {
		return oidc.ErrAccessDenied().WithDescription("the access token is invalid, expired or revoked")
	}
	if err != nil {
		return fault(ctx, err)
	}
	setClaims(info, u, t.Scopes)
	return nil
}

func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	t, u, err := s.p.Engine.AccessToken(ctx, stateOf(ctx).tenant.ID, tokenID)
	if errors.Is(err, flow.ErrTokenInvalid) || (err == nil && (t.UserID != subject || t.ClientID != clientID)) {
		return nil // inactive
	}
	if err != nil {
		return fault(ctx, err)
	}
	info := new(oidc.UserInfo)
	setClaims(info, u, t.Scopes)
	resp.SetUserInfo(info)
	resp.Active = true
	resp.Scope = t.Scopes
	resp.ClientID = t.ClientID
	resp.TokenType = oidc.BearerToken
	resp.Expiration = oidc.FromTime(t.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(t.CreatedAt)
	resp.AuthTime = oidc.FromTime(t.AuthTime)
	resp.Audience = []string{t.ClientID}
	resp.Issuer = s.p.issuer(ctx)
	resp.JWTID = t.ID
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetPrivateClaimsFromRequest(context.Context, op.TokenRequest, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, oidc.ErrInvalidClient().WithDescription("private_key_jwt is not offered")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnsupportedGrantType()
}

func (s *storage) Health(context.Context) error { return nil }

// setClaims puts the standard claims of the granted scopes (OpenID Connect
// Core §5.4) from the user record.
func setClaims(info *oidc.UserInfo, u *store.User, scopes []string) {
	info.Subject = u.ID
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.Name = u.DisplayName
		info.PreferredUsername = u.LoginID
		info.UpdatedAt = oidc.FromTime(u.UpdatedAt)
		if tag, err := language.Parse(u.Locale); err == nil && u.Locale != "" {
			info.Locale = oidc.NewLocale(tag)
		}
	}
	if slices.Contains(scopes, oidc.ScopeEmail) && u.Email != "" {
		info.Email = u.Email
		info.EmailVerified = oidc.Bool(u.EmailVerifiedAt != nil)
	}
	if slices.Contains(scopes, oidc.ScopePhone) && u.Phone != "" {
		info.PhoneNumber = "+1" + u.Phone
		info.PhoneNumberVerified = u.PhoneVerifiedAt != nil
	}
}

// ---- requests as the library sees them ----

type authRequest struct{ so *flow.SignOn }

func (a *authRequest) GetID() string         { return a.so.ID }
func (a *authRequest) GetACR() string        { return a.so.ACR }
func (a *authRequest) GetAMR() []string      { return a.so.AMR }
func (a *authRequest) GetAudience() []string { return []string{a.so.ClientID} }
func (a *authRequest) GetAuthTime() time.Time {
	if a.so.AuthTime == nil {
		return time.Time{}
	}
	return *a.so.AuthTime
}
func (a *authRequest) GetClientID() string { return a.so.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.so.Req.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.so.Req.CodeChallenge, Method: oidc.CodeChallengeMethod(a.so.Req.CodeChallengeMethod)}
}
func (a *authRequest) GetNonce() string       { return a.so.Req.Nonce }
func (a *authRequest) GetRedirectURI() string { return a.so.Req.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType {
	return oidc.ResponseType(a.so.Req.ResponseType)
}
func (a *authRequest) GetResponseMode() oidc.ResponseMode {
	return oidc.ResponseMode(a.so.Req.ResponseMode)
}
func (a *authRequest) GetScopes() []string { return a.so.Req.Scopes }
func (a *authRequest) GetState() string    { return a.so.Req.State }
func (a *authRequest) GetSubject() string  { return a.so.UserID }
func (a *authRequest) Done() bool          { return a.so.DoneAt != nil && a.so.UserID != "" }

type refreshRequest struct {
	t      *store.OIDCToken
	scopes []string
}

func (r *refreshRequest) GetAMR() []string            { return r.t.AMR }
func (r *refreshRequest) GetAudience() []string       { return []string{r.t.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.t.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.t.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return r.t.UserID }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }
