-- +goose Up
-- The Mobile App method (A9, X3). A push factor's phone polls for its open
-- challenges and answers them; options is a JSON array of strings, every
-- time microseconds. A person has at most one open challenge: creating one
-- ends the others (state expired).
CREATE TABLE push_challenges (
    nonce       TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    user_id     TEXT NOT NULL REFERENCES users (id),
    factor_id   TEXT NOT NULL REFERENCES factors (id),
    txn_id      TEXT NOT NULL DEFAULT '',
    purpose     TEXT NOT NULL,
    title       TEXT NOT NULL DEFAULT '',
    question    TEXT NOT NULL DEFAULT '',
    options     TEXT NOT NULL DEFAULT '[]',
    answer      TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    answered_at BIGINT
);
CREATE INDEX push_challenges_factor ON push_challenges (factor_id, state);
CREATE INDEX push_challenges_user ON push_challenges (user_id, created_at);
CREATE INDEX push_challenges_txn ON push_challenges (txn_id);
CREATE INDEX push_challenges_expires ON push_challenges (expires_at);

-- The timestamp of the newest poll seen from a push factor's phone: an
-- older or repeated one is refused.
ALTER TABLE factors ADD COLUMN push_polled_at BIGINT;

-- +goose Down
ALTER TABLE factors DROP COLUMN push_polled_at;
DROP TABLE push_challenges;
