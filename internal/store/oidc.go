package store

import (
	"context"
	"time"
)

// The OpenID Connect provider's records (X2): each tenant's signing keys,
// its registered clients (relying parties), the authorization requests the
// hosted login completes, and the tokens issued from them. Codes and
// refresh tokens are single-use by one conditional UPDATE, so servers
// sharing a database behave as one.

// Signing algorithms of OIDC keys.
const (
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
)

// OIDC token kinds.
const (
	TokenAccess  = "access"
	TokenRefresh = "refresh"
)

// OIDCKey is a tenant's token-signing key pair.
type OIDCKey struct {
	ID       string // the JWS "kid"
	TenantID string
	Alg      string // AlgES256 or AlgRS256
	// Private is the PKCS #8 private key sealed under the master key.
	Private []byte
	// Public is the PKIX public key (DER), published in the JWKS.
	Public    []byte
	CreatedAt time.Time
	// RetiredAt is when a newer key of the same algorithm took over; the
	// key is still published until the tokens it signed have expired.
	RetiredAt *time.Time
}

// OIDCClient is a relying party registered with a tenant.
type OIDCClient struct {
	ID       string // client_id, unique across tenants
	TenantID string
	Name     string
	// SecretHash is the keyed hash of a confidential client's secret; nil
	// for a public client, which must use PKCE.
	SecretHash     []byte
	RedirectURIs   []string // exact match
	PostLogoutURIs []string // exact match
	Scopes         []string // scopes the client may ask for
	SigningAlg     string   // of its ID tokens
	AccessTTL      time.Duration
	IDTokenTTL     time.Duration
	RefreshTTL     time.Duration // zero: no refresh tokens
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// OIDCAuthRequest is one authorization request, from /authorize until its
// code is redeemed. Request holds the validated parameters as JSON (never
// a secret). UserID, AuthTime, AMR and ACR are set once by the hosted
// login when the person has signed in; the code is set once after that.
type OIDCAuthRequest struct {
	ID            string
	TenantID      string
	ClientID      string
	Request       string
	UserID        string
	AuthTime      *time.Time
	AMR           []string
	ACR           string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	DoneAt        *time.Time
	CodeHash      []byte
	CodeExpiresAt *time.Time
	CodeUsedAt    *time.Time
}

// OIDCToken is an access or refresh token. Every token issued from one
// authorization request shares its AuthRequestID (the grant): a replayed
// code or a reused refresh token revokes the grant's tokens together.
type OIDCToken struct {
	ID            string
	TenantID      string
	ClientID      string
	UserID        string
	Kind          string // TokenAccess or TokenRefresh
	Hash          []byte // keyed hash of a refresh token; nil for access tokens
	AuthRequestID string
	Scopes        []string
	AMR           []string
	ACR           string
	AuthTime      time.Time
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        *time.Time // a refresh token rotated
	RevokedAt     *time.Time
}

// OIDC stores the provider's records.
type OIDC interface {
	CreateOIDCKey(ctx context.Context, k *OIDCKey) error
	// RetireOIDCKeys marks every unretired key of the tenant with alg
	// retired at now.
	RetireOIDCKeys(ctx context.Context, tenantID, alg string, now time.Time) error
	// ListOIDCKeys returns the tenant's keys, newest first.
	ListOIDCKeys(ctx context.Context, tenantID string) ([]OIDCKey, error)
	// DeleteOIDCKeysRetiredBefore removes keys retired before t.
	DeleteOIDCKeysRetiredBefore(ctx context.Context, tenantID string, t time.Time) error

	// CreateOIDCClient answers ErrConflict for a client id in use.
	CreateOIDCClient(ctx context.Context, c *OIDCClient) error
	// UpdateOIDCClient writes every field but ID, TenantID and CreatedAt;
	// ErrNotFound when the tenant has no such client.
	UpdateOIDCClient(ctx context.Context, c *OIDCClient) error
	OIDCClientByID(ctx context.Context, tenantID, id string) (*OIDCClient, error)
	ListOIDCClients(ctx context.Context, tenantID string) ([]OIDCClient, error)
	// DeleteOIDCClient removes the client and revokes its tokens at now.
	DeleteOIDCClient(ctx context.Context, tenantID, id string, now time.Time) error

	CreateOIDCAuthRequest(ctx context.Context, r *OIDCAuthRequest) error
	OIDCAuthRequestByID(ctx context.Context, tenantID, id string) (*OIDCAuthRequest, error)
	// CompleteOIDCAuthRequest records who signed in, once: only a request
	// not yet done and not expired at now; false otherwise.
	CompleteOIDCAuthRequest(ctx context.Context, tenantID, id, userID string, authTime time.Time, amr []string, acr string, now time.Time) (bool, error)
	// SetOIDCCode gives a done request its code, once; false when it is not
	// done, has a code already, or expired at now.
	SetOIDCCode(ctx context.Context, tenantID, id string, hash []byte, expires, now time.Time) (bool, error)
	// UseOIDCCode redeems a code by one conditional UPDATE: the request
	// and true when this call used it; the request and false when the code
	// was used before or has expired (a replay); ErrNotFound when no
	// request of the tenant has it.
	UseOIDCCode(ctx context.Context, tenantID string, hash []byte, now time.Time) (*OIDCAuthRequest, bool, error)
	// DeleteOIDCAuthRequestsBefore removes requests that expired before t
	// and whose tokens have all expired.
	DeleteOIDCAuthRequestsBefore(ctx context.Context, t time.Time) (int, error)

	CreateOIDCToken(ctx context.Context, t *OIDCToken) error
	OIDCTokenByID(ctx context.Context, tenantID, id string) (*OIDCToken, error)
	OIDCRefreshByHash(ctx context.Context, tenantID string, hash []byte) (*OIDCToken, error)
	// UseOIDCRefresh marks a refresh token rotated by one conditional
	// UPDATE: true only for the call that used an unused, unrevoked,
	// unexpired token.
	UseOIDCRefresh(ctx context.Context, tenantID, id string, now time.Time) (bool, error)
	// RevokeOIDCToken revokes one token; false when there was none to revoke.
	RevokeOIDCToken(ctx context.Context, tenantID, id string, now time.Time) (bool, error)
	// RevokeOIDCGrant revokes every token issued from an authorization
	// request and returns how many it revoked.
	RevokeOIDCGrant(ctx context.Context, tenantID, authRequestID string, now time.Time) (int, error)
	// RevokeOIDCUser revokes every token of a user at one client (every
	// client when clientID is empty).
	RevokeOIDCUser(ctx context.Context, tenantID, userID, clientID string, now time.Time) (int, error)
	// DeleteOIDCTokensBefore removes tokens that expired before t.
	DeleteOIDCTokensBefore(ctx context.Context, t time.Time) (int, error)
}
