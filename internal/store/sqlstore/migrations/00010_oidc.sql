-- +goose Up
-- The OpenID Connect provider (X2). Lists are JSON arrays of strings,
-- durations microseconds like every time column. Authorization requests and
-- tokens keep their client_id without a foreign key: deleting a client
-- leaves its revoked tokens, and its requests, to expire and be removed.

-- Each tenant's token-signing keys; the private key is sealed under the
-- master key.
CREATE TABLE oidc_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    alg         TEXT NOT NULL,
    private_key BLOB NOT NULL,
    public_key  BLOB NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);
CREATE INDEX oidc_keys_tenant ON oidc_keys (tenant_id, created_at);

-- Relying parties. The id is the client_id, unique across tenants; a public
-- client has no secret_hash.
CREATE TABLE oidc_clients (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    name             TEXT NOT NULL,
    secret_hash      BLOB,
    redirect_uris    TEXT NOT NULL DEFAULT '[]',
    post_logout_uris TEXT NOT NULL DEFAULT '[]',
    scopes           TEXT NOT NULL DEFAULT '[]',
    signing_alg      TEXT NOT NULL,
    access_ttl       BIGINT NOT NULL,
    id_token_ttl     BIGINT NOT NULL,
    refresh_ttl      BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX oidc_clients_tenant ON oidc_clients (tenant_id, name);

-- Authorization requests, from /authorize until their code is redeemed.
-- user_id is empty until the hosted login completes the request (done_at).
CREATE TABLE oidc_auth_requests (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    client_id       TEXT NOT NULL,
    request         TEXT NOT NULL DEFAULT '{}',
    user_id         TEXT NOT NULL DEFAULT '',
    auth_time       BIGINT,
    amr             TEXT NOT NULL DEFAULT '[]',
    acr             TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    done_at         BIGINT,
    code_hash       BLOB UNIQUE,
    code_expires_at BIGINT,
    code_used_at    BIGINT
);
CREATE INDEX oidc_auth_requests_expires ON oidc_auth_requests (expires_at);

-- Access and refresh tokens. Only a refresh token has a hash; every token
-- of one grant shares its auth_request_id.
CREATE TABLE oidc_tokens (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    client_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id),
    kind            TEXT NOT NULL,
    hash            BLOB UNIQUE,
    auth_request_id TEXT NOT NULL,
    scopes          TEXT NOT NULL DEFAULT '[]',
    amr             TEXT NOT NULL DEFAULT '[]',
    acr             TEXT NOT NULL DEFAULT '',
    auth_time       BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT,
    revoked_at      BIGINT
);
CREATE INDEX oidc_tokens_grant ON oidc_tokens (auth_request_id);
CREATE INDEX oidc_tokens_user ON oidc_tokens (tenant_id, user_id);
CREATE INDEX oidc_tokens_client ON oidc_tokens (client_id);
CREATE INDEX oidc_tokens_expires ON oidc_tokens (expires_at);

-- +goose Down
DROP TABLE oidc_tokens;
DROP TABLE oidc_auth_requests;
DROP TABLE oidc_clients;
DROP TABLE oidc_keys;
