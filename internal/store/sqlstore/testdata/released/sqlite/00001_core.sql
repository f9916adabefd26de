-- +goose Up
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    slug       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    policy     TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

CREATE TABLE units (
    id        TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name      TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE tenant_groups (
    id        TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name      TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE applications (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    key_hash   BLOB NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    UNIQUE (tenant_id, name)
);

CREATE TABLE admin_keys (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    key_hash   BLOB NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    UNIQUE (tenant_id, name)
);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants (id),
    login_id           TEXT NOT NULL,
    login_id_norm      TEXT NOT NULL,
    email              TEXT NOT NULL DEFAULT '',
    email_norm         TEXT,
    phone              TEXT NOT NULL DEFAULT '',
    display_name       TEXT NOT NULL DEFAULT '',
    status             TEXT NOT NULL,
    password_hash      TEXT NOT NULL DEFAULT '',
    password_failures  INTEGER NOT NULL DEFAULT 0,
    password_locked_at BIGINT,
    mfa_failures       INTEGER NOT NULL DEFAULT 0,
    mfa_locked_at      BIGINT,
    last_login_at      BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    UNIQUE (tenant_id, login_id_norm),
    UNIQUE (tenant_id, email_norm)
);

CREATE TABLE user_memberships (
    user_id TEXT NOT NULL REFERENCES users (id),
    kind    TEXT NOT NULL,
    name    TEXT NOT NULL,
    PRIMARY KEY (user_id, kind, name)
);

CREATE TABLE factors (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    user_id      TEXT NOT NULL REFERENCES users (id),
    kind         TEXT NOT NULL,
    state        TEXT NOT NULL,
    secret       BLOB,
    last_step    BIGINT NOT NULL DEFAULT -1,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    confirmed_at BIGINT,
    revoked_at   BIGINT,
    expires_at   BIGINT
);
CREATE INDEX factors_user ON factors (user_id, state, created_at, id);
CREATE UNIQUE INDEX factors_one_active ON factors (user_id, kind) WHERE state = 'active';
CREATE UNIQUE INDEX factors_one_pending ON factors (user_id, kind) WHERE state = 'pending';

CREATE TABLE login_txns (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    user_id        TEXT NOT NULL REFERENCES users (id),
    application_id TEXT NOT NULL,
    mode           TEXT NOT NULL,
    state          TEXT NOT NULL,
    ip             TEXT NOT NULL DEFAULT '',
    factor_id      TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    completed_at   BIGINT,
    enrol_used_at  BIGINT
);
CREATE INDEX login_txns_expires ON login_txns (expires_at);

CREATE TABLE audit_events (
    id             INTEGER PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL DEFAULT '',
    application_id TEXT NOT NULL DEFAULT '',
    actor          TEXT NOT NULL DEFAULT '',
    event          TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    ip             TEXT NOT NULL DEFAULT '',
    detail         TEXT NOT NULL DEFAULT '{}',
    created_at     BIGINT NOT NULL
);
CREATE INDEX audit_tenant ON audit_events (tenant_id, id);
CREATE INDEX audit_user ON audit_events (tenant_id, user_id, id);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE login_txns;
DROP TABLE factors;
DROP TABLE user_memberships;
DROP TABLE users;
DROP TABLE admin_keys;
DROP TABLE applications;
DROP TABLE tenant_groups;
DROP TABLE units;
DROP TABLE tenants;
