-- +goose Up
ALTER TABLE users ADD COLUMN phone_verified_at BIGINT;
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
ALTER TABLE users ADD COLUMN ota_consecutive INTEGER NOT NULL DEFAULT 0;

ALTER TABLE factors ADD COLUMN config TEXT NOT NULL DEFAULT '{}';

CREATE TABLE challenges (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    destination TEXT NOT NULL,
    code_hash   BYTEA NOT NULL,
    txn_id      TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    consumed_at BIGINT
);
CREATE INDEX challenges_live ON challenges (user_id, purpose, code_hash);

CREATE TABLE rate_counters (
    key          TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);

CREATE TABLE trusted_devices (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    token_hash   BYTEA NOT NULL UNIQUE,
    ip           TEXT NOT NULL DEFAULT '',
    label        TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX trusted_devices_user ON trusted_devices (user_id);

-- +goose Down
DROP TABLE trusted_devices;
DROP TABLE rate_counters;
DROP TABLE challenges;
ALTER TABLE factors DROP COLUMN config;
ALTER TABLE users DROP COLUMN ota_consecutive;
ALTER TABLE users DROP COLUMN email_verified_at;
ALTER TABLE users DROP COLUMN phone_verified_at;
