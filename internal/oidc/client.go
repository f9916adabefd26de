package oidc

import (
	"net/url"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/countersign/countersign/internal/store"
)

// client is a registered application as the protocol library sees it.
// Redirect URIs match exactly; public clients authenticate with nothing
// but PKCE.
type client struct {
	cl    *store.OIDCClient
	login string // the hosted login's address, without the request id
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string                    { return c.cl.ID }
func (c *client) RedirectURIs() []string           { return c.cl.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.cl.PostLogoutURIs }

// ApplicationType: a confidential client is a web application; a public
// one is treated as native, which admits its private-scheme and loopback
// redirect URIs (registered exactly, like every other).
func (c *client) ApplicationType() op.ApplicationType {
	if c.cl.SecretHash == nil {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

func (c *client) AuthMethod() oidc.AuthMethod {
	if c.cl.SecretHash == nil {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c *client) GrantTypes() []oidc.GrantType {
	g := []oidc.GrantType{oidc.GrantTypeCode}
	if c.cl.RefreshTTL > 0 {
		g = append(g, oidc.GrantTypeRefreshToken)
	}
	return g
}

func (c *client) LoginURL(id string) string { return c.login + "?request=" + url.QueryEscape(id) }

func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return c.cl.IDTokenTTL }
func (c *client) DevMode() bool                       { return false }

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) IsScopeAllowed(scope string) bool { return slices.Contains(c.cl.Scopes, scope) }

// IDTokenUserinfoClaimsAssertion puts the granted profile, email and phone
// claims in the ID token too, so an application need not call userinfo.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }

func (c *client) ClockSkew() time.Duration { return 0 }
