-- +goose Up
ALTER TABLE users ADD COLUMN dob_hash BLOB;
ALTER TABLE users ADD COLUMN ssn_hash BLOB;

CREATE TABLE portal_sessions (
    id           TEXT PRIMARY KEY,
    token_hash   BLOB NOT NULL UNIQUE,
    tenant_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id),
    level        TEXT NOT NULL,
    txn_id       TEXT NOT NULL DEFAULT '',
    auth_at      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    data         TEXT NOT NULL DEFAULT '{}',
    ended_at     BIGINT
);
CREATE INDEX portal_sessions_user ON portal_sessions (user_id);
CREATE INDEX portal_sessions_expires ON portal_sessions (expires_at);

CREATE TABLE support_requests (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    tracking   TEXT NOT NULL,
    user_id    TEXT NOT NULL DEFAULT '',
    login_id   TEXT NOT NULL DEFAULT '',
    name       TEXT NOT NULL DEFAULT '',
    phone      TEXT NOT NULL DEFAULT '',
    email      TEXT NOT NULL DEFAULT '',
    subject    TEXT NOT NULL DEFAULT '',
    message    TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT '',
    state      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, tracking)
);
CREATE INDEX support_requests_tenant ON support_requests (tenant_id, created_at, tracking);

-- +goose Down
DROP TABLE support_requests;
DROP TABLE portal_sessions;
ALTER TABLE users DROP COLUMN ssn_hash;
ALTER TABLE users DROP COLUMN dob_hash;
