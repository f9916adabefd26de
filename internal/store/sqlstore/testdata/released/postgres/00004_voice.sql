-- +goose Up
CREATE TABLE voice_calls (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    txn_id       TEXT NOT NULL DEFAULT '',
    factor_id    TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    leg          TEXT NOT NULL,
    number       TEXT NOT NULL,
    extension    TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL,
    digits       TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX voice_calls_txn ON voice_calls (txn_id, created_at);
CREATE INDEX voice_calls_factor ON voice_calls (factor_id, created_at);

-- +goose Down
DROP TABLE voice_calls;
