package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// ---- OpenID Connect provider (X2) ----
//
// String lists are stored as JSON arrays and durations as microseconds.
// Each single-use rule is one conditional UPDATE whose row count decides,
// so servers sharing the database agree on which call won.

// jsonList encodes a list for a JSON text column; nil is stored as [].
func jsonList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, err := json.Marshal(l)
	if err != nil {
		panic(err) // a []string always encodes
	}
	return string(b)
}

// parseList decodes a JSON text column; an empty list reads as nil.
func parseList(s, column string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("%s: %w", column, err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// nullBytes stores an empty hash as NULL, so that UNIQUE columns hold any
// number of rows without one.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// ---- signing keys ----

const oidcKeyCols = `id, tenant_id, alg, private_key, public_key, created_at, retired_at`

func scanOIDCKey(sc interface{ Scan(...any) error }) (*store.OIDCKey, error) {
	var k store.OIDCKey
	var created int64
	var retired sql.NullInt64
	if err := sc.Scan(&k.ID, &k.TenantID, &k.Alg, &k.Private, &k.Public, &created, &retired); err != nil {
		return nil, mapErr(err)
	}
	k.CreatedAt, k.RetiredAt = fromMicros(created), timePtr(retired)
	return &k, nil
}

func (q *queries) CreateOIDCKey(ctx context.Context, k *store.OIDCKey) error {
	_, err := q.exec(ctx, `INSERT INTO oidc_keys (`+oidcKeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.TenantID, k.Alg, k.Private, k.Public, micros(k.CreatedAt), nullMicros(k.RetiredAt))
	return err
}

func (q *queries) RetireOIDCKeys(ctx context.Context, tenantID, alg string, now time.Time) error {
	_, err := q.exec(ctx, `UPDATE oidc_keys SET retired_at = ? WHERE tenant_id = ? AND alg = ? AND retired_at IS NULL`,
		micros(now), tenantID, alg)
	return err
}

func (q *queries) ListOIDCKeys(ctx context.Context, tenantID string) ([]store.OIDCKey, error) {
	rows, err := q.query(ctx, `SELECT `+oidcKeyCols+` FROM oidc_keys WHERE tenant_id = ? ORDER BY created_at DESC, id DESC`, tenantID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanOIDCKey)
}

func (q *queries) DeleteOIDCKeysRetiredBefore(ctx context.Context, tenantID string, t time.Time) error {
	_, err := q.exec(ctx, `DELETE FROM oidc_keys WHERE tenant_id = ? AND retired_at IS NOT NULL AND retired_at < ?`, tenantID, micros(t))
	return err
}

// ---- clients ----

const oidcClientCols = `id, tenant_id, name, secret_hash, redirect_uris, post_logout_uris, scopes, signing_alg,
	access_ttl, id_token_ttl, refresh_ttl, created_at, updated_at`

func scanOIDCClient(sc interface{ Scan(...any) error }) (*store.OIDCClient, error) {
	var c store.OIDCClient
	var redirects, logouts, scopes string
	var access, idToken, refresh, created, updated int64
	if err := sc.Scan(&c.ID, &c.TenantID, &c.Name, &c.SecretHash, &redirects, &logouts, &scopes, &c.SigningAlg,
		&access, &idToken, &refresh, &created, &updated); err != nil {
		return nil, mapErr(err)
	}
	var err error
	if c.RedirectURIs, err = parseList(redirects, "redirect_uris"); err != nil {
		return nil, err
	}
	if c.PostLogoutURIs, err = parseList(logouts, "post_logout_uris"); err != nil {
		return nil, err
	}
	if c.Scopes, err = parseList(scopes, "scopes"); err != nil {
		return nil, err
	}
	c.AccessTTL, c.IDTokenTTL, c.RefreshTTL = time.Duration(access)*time.Microsecond,
		time.Duration(idToken)*time.Microsecond, time.Duration(refresh)*time.Microsecond
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &c, nil
}

func (q *queries) CreateOIDCClient(ctx context.Context, c *store.OIDCClient) error {
	_, err := q.exec(ctx, `INSERT INTO oidc_clients (`+oidcClientCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.TenantID, c.Name, nullBytes(c.SecretHash), jsonList(c.RedirectURIs), jsonList(c.PostLogoutURIs), jsonList(c.Scopes),
		c.SigningAlg, c.AccessTTL.Microseconds(), c.IDTokenTTL.Microseconds(), c.RefreshTTL.Microseconds(),
		micros(c.CreatedAt), micros(c.UpdatedAt))
	return err
}

func (q *queries) UpdateOIDCClient(ctx context.Context, c *store.OIDCClient) error {
	n, err := q.exec(ctx, `UPDATE oidc_clients SET name = ?, secret_hash = ?, redirect_uris = ?, post_logout_uris = ?, scopes = ?,
		signing_alg = ?, access_ttl = ?, id_token_ttl = ?, refresh_ttl = ?, updated_at = ?
		WHERE tenant_id = ? AND id = ?`,
		c.Name, nullBytes(c.SecretHash), jsonList(c.RedirectURIs), jsonList(c.PostLogoutURIs), jsonList(c.Scopes),
		c.SigningAlg, c.AccessTTL.Microseconds(), c.IDTokenTTL.Microseconds(), c.RefreshTTL.Microseconds(), micros(c.UpdatedAt),
		c.TenantID, c.ID)
	return oneRow(n, err)
}

func (q *queries) OIDCClientByID(ctx context.Context, tenantID, id string) (*store.OIDCClient, error) {
	return scanOIDCClient(q.queryRow(ctx, `SELECT `+oidcClientCols+` FROM oidc_clients WHERE tenant_id = ? AND id = ?`, tenantID, id))
}

func (q *queries) ListOIDCClients(ctx context.Context, tenantID string) ([]store.OIDCClient, error) {
	rows, err := q.query(ctx, `SELECT `+oidcClientCols+` FROM oidc_clients WHERE tenant_id = ? ORDER BY name, id`, tenantID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanOIDCClient)
}

// DeleteOIDCClient removes the client and revokes its unrevoked tokens in
// one transaction (the caller's, when it runs inside InTx); ErrNotFound when
// the tenant has no such client, and then nothing is revoked.
func (q *queries) DeleteOIDCClient(ctx context.Context, tenantID, id string, now time.Time) error {
	return q.atomic(ctx, func(q *queries) error {
		n, err := q.exec(ctx, `DELETE FROM oidc_clients WHERE tenant_id = ? AND id = ?`, tenantID, id)
		if err := oneRow(n, err); err != nil {
			return err
		}
		_, err = q.exec(ctx, `UPDATE oidc_tokens SET revoked_at = ? WHERE tenant_id = ? AND client_id = ? AND revoked_at IS NULL`,
			micros(now), tenantID, id)
		return err
	})
}

// ---- authorization requests ----

const oidcAuthRequestCols = `id, tenant_id, client_id, request, user_id, auth_time, amr, acr, created_at, expires_at,
	done_at, code_hash, code_expires_at, code_used_at`

func scanOIDCAuthRequest(sc interface{ Scan(...any) error }) (*store.OIDCAuthRequest, error) {
	var r store.OIDCAuthRequest
	var amr string
	var created, expires int64
	var authTime, done, codeExpires, codeUsed sql.NullInt64
	if err := sc.Scan(&r.ID, &r.TenantID, &r.ClientID, &r.Request, &r.UserID, &authTime, &amr, &r.ACR, &created, &expires,
		&done, &r.CodeHash, &codeExpires, &codeUsed); err != nil {
		return nil, mapErr(err)
	}
	var err error
	if r.AMR, err = parseList(amr, "amr"); err != nil {
		return nil, err
	}
	r.AuthTime, r.DoneAt, r.CodeExpiresAt, r.CodeUsedAt = timePtr(authTime), timePtr(done), timePtr(codeExpires), timePtr(codeUsed)
	r.CreatedAt, r.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &r, nil
}

func (q *queries) CreateOIDCAuthRequest(ctx context.Context, r *store.OIDCAuthRequest) error {
	if r.Request == "" {
		r.Request = "{}"
	}
	_, err := q.exec(ctx, `INSERT INTO oidc_auth_requests (`+oidcAuthRequestCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.TenantID, r.ClientID, r.Request, r.UserID, nullMicros(r.AuthTime), jsonList(r.AMR), r.ACR,
		micros(r.CreatedAt), micros(r.ExpiresAt), nullMicros(r.DoneAt), nullBytes(r.CodeHash), nullMicros(r.CodeExpiresAt),
		nullMicros(r.CodeUsedAt))
	return err
}

func (q *queries) OIDCAuthRequestByID(ctx context.Context, tenantID, id string) (*store.OIDCAuthRequest, error) {
	return scanOIDCAuthRequest(q.queryRow(ctx, `SELECT `+oidcAuthRequestCols+` FROM oidc_auth_requests WHERE tenant_id = ? AND id = ?`,
		tenantID, id))
}

func (q *queries) CompleteOIDCAuthRequest(ctx context.Context, tenantID, id, userID string, authTime time.Time, amr []string, acr string, now time.Time) (bool, error) {
	n, err := q.exec(ctx, `UPDATE oidc_auth_requests SET user_id = ?, auth_time = ?, amr = ?, acr = ?, done_at = ?
		WHERE tenant_id = ? AND id = ? AND done_at IS NULL AND expires_at > ?`,
		userID, micros(authTime), jsonList(amr), acr, micros(now), tenantID, id, micros(now))
	return n == 1, err
}

func (q *queries) SetOIDCCode(ctx context.Context, tenantID, id string, hash []byte, expires, now time.Time) (bool, error) {
	if len(hash) == 0 {
		return false, fmt.Errorf("SetOIDCCode: empty code hash")
	}
	n, err := q.exec(ctx, `UPDATE oidc_auth_requests SET code_hash = ?, code_expires_at = ?
		WHERE tenant_id = ? AND id = ? AND done_at IS NOT NULL AND code_hash IS NULL AND expires_at > ?`,
		hash, micros(expires), tenantID, id, micros(now))
	return n == 1, err
}

// UseOIDCCode decides by the UPDATE's row count alone; the request is read
// afterwards, on the writer's side, only to return it (and to tell a
// replayed code from an unknown one).
func (q *queries) UseOIDCCode(ctx context.Context, tenantID string, hash []byte, now time.Time) (*store.OIDCAuthRequest, bool, error) {
	if len(hash) == 0 {
		return nil, false, store.ErrNotFound
	}
	n, err := q.exec(ctx, `UPDATE oidc_auth_requests SET code_used_at = ?
		WHERE tenant_id = ? AND code_hash = ? AND code_used_at IS NULL AND code_expires_at > ?`,
		micros(now), tenantID, hash, micros(now))
	if err != nil {
		return nil, false, err
	}
	r, err := scanOIDCAuthRequest(q.row(ctx, true, `SELECT `+oidcAuthRequestCols+` FROM oidc_auth_requests
		WHERE tenant_id = ? AND code_hash = ?`, tenantID, hash))
	if err != nil {
		return nil, false, err
	}
	return r, n == 1, nil
}

// DeleteOIDCAuthRequestsBefore also keeps a request while its code is
// unexpired, so that a replayed code is still recognised as one.
func (q *queries) DeleteOIDCAuthRequestsBefore(ctx context.Context, t time.Time) (int, error) {
	n, err := q.exec(ctx, `DELETE FROM oidc_auth_requests WHERE expires_at < ?
		AND (code_expires_at IS NULL OR code_expires_at < ?)
		AND NOT EXISTS (SELECT 1 FROM oidc_tokens k WHERE k.auth_request_id = oidc_auth_requests.id AND k.expires_at >= ?)`,
		micros(t), micros(t), micros(t))
	return int(n), err
}

// ---- tokens ----

const oidcTokenCols = `id, tenant_id, client_id, user_id, kind, hash, auth_request_id, scopes, amr, acr, auth_time,
	created_at, expires_at, used_at, revoked_at`

func scanOIDCToken(sc interface{ Scan(...any) error }) (*store.OIDCToken, error) {
	var k store.OIDCToken
	var scopes, amr string
	var authTime, created, expires int64
	var used, revoked sql.NullInt64
	if err := sc.Scan(&k.ID, &k.TenantID, &k.ClientID, &k.UserID, &k.Kind, &k.Hash, &k.AuthRequestID, &scopes, &amr, &k.ACR,
		&authTime, &created, &expires, &used, &revoked); err != nil {
		return nil, mapErr(err)
	}
	var err error
	if k.Scopes, err = parseList(scopes, "scopes"); err != nil {
		return nil, err
	}
	if k.AMR, err = parseList(amr, "amr"); err != nil {
		return nil, err
	}
	k.AuthTime, k.CreatedAt, k.ExpiresAt = fromMicros(authTime), fromMicros(created), fromMicros(expires)
	k.UsedAt, k.RevokedAt = timePtr(used), timePtr(revoked)
	return &k, nil
}

func (q *queries) CreateOIDCToken(ctx context.Context, k *store.OIDCToken) error {
	_, err := q.exec(ctx, `INSERT INTO oidc_tokens (`+oidcTokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.TenantID, k.ClientID, k.UserID, k.Kind, nullBytes(k.Hash), k.AuthRequestID, jsonList(k.Scopes), jsonList(k.AMR), k.ACR,
		micros(k.AuthTime), micros(k.CreatedAt), micros(k.ExpiresAt), nullMicros(k.UsedAt), nullMicros(k.RevokedAt))
	return err
}

func (q *queries) OIDCTokenByID(ctx context.Context, tenantID, id string) (*store.OIDCToken, error) {
	return scanOIDCToken(q.queryRow(ctx, `SELECT `+oidcTokenCols+` FROM oidc_tokens WHERE tenant_id = ? AND id = ?`, tenantID, id))
}

func (q *queries) OIDCRefreshByHash(ctx context.Context, tenantID string, hash []byte) (*store.OIDCToken, error) {
	if len(hash) == 0 {
		return nil, store.ErrNotFound
	}
	return scanOIDCToken(q.queryRow(ctx, `SELECT `+oidcTokenCols+` FROM oidc_tokens
		WHERE tenant_id = ? AND hash = ? AND kind = '`+store.TokenRefresh+`'`, tenantID, hash))
}

func (q *queries) UseOIDCRefresh(ctx context.Context, tenantID, id string, now time.Time) (bool, error) {
	n, err := q.exec(ctx, `UPDATE oidc_tokens SET used_at = ?
		WHERE tenant_id = ? AND id = ? AND kind = '`+store.TokenRefresh+`' AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?`,
		micros(now), tenantID, id, micros(now))
	return n == 1, err
}

func (q *queries) RevokeOIDCToken(ctx context.Context, tenantID, id string, now time.Time) (bool, error) {
	n, err := q.exec(ctx, `UPDATE oidc_tokens SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL`,
		micros(now), tenantID, id)
	return n == 1, err
}

func (q *queries) RevokeOIDCGrant(ctx context.Context, tenantID, authRequestID string, now time.Time) (int, error) {
	n, err := q.exec(ctx, `UPDATE oidc_tokens SET revoked_at = ? WHERE tenant_id = ? AND auth_request_id = ? AND revoked_at IS NULL`,
		micros(now), tenantID, authRequestID)
	return int(n), err
}

func (q *queries) RevokeOIDCUser(ctx context.Context, tenantID, userID, clientID string, now time.Time) (int, error) {
	var n int64
	var err error
	if clientID == "" {
		n, err = q.exec(ctx, `UPDATE oidc_tokens SET revoked_at = ? WHERE tenant_id = ? AND user_id = ? AND revoked_at IS NULL`,
			micros(now), tenantID, userID)
	} else {
		n, err = q.exec(ctx, `UPDATE oidc_tokens SET revoked_at = ?
			WHERE tenant_id = ? AND user_id = ? AND client_id = ? AND revoked_at IS NULL`,
			micros(now), tenantID, userID, clientID)
	}
	return int(n), err
}

func (q *queries) DeleteOIDCTokensBefore(ctx context.Context, t time.Time) (int, error) {
	n, err := q.exec(ctx, `DELETE FROM oidc_tokens WHERE expires_at < ?`, micros(t))
	return int(n), err
}
