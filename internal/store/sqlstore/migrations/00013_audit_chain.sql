-- +goose Up
-- The tamper-evident audit log (X6, G5). Every event is stamped at insert
-- with the SHA-256 of its canonical content and an HMAC under the master
-- key (content_hash, mac, key_id, nonce: see internal/auditchain). A sealer
-- later gives each tenant's events, in order, a sequence number and a chain
-- hash over the previous one (seq, prev_hash, hash); genesis marks the
-- events that existed before this migration, MACed when they were sealed.
ALTER TABLE audit_events ADD COLUMN nonce BLOB;
ALTER TABLE audit_events ADD COLUMN content_hash BLOB;
ALTER TABLE audit_events ADD COLUMN mac BLOB;
ALTER TABLE audit_events ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN genesis INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_events ADD COLUMN seq BIGINT;
ALTER TABLE audit_events ADD COLUMN prev_hash BLOB;
ALTER TABLE audit_events ADD COLUMN hash BLOB;
-- Partial, so an insert (seq still NULL) touches only the small index of
-- events waiting for the sealer.
CREATE UNIQUE INDEX audit_chain ON audit_events (tenant_id, seq) WHERE seq IS NOT NULL;
CREATE INDEX audit_unsealed ON audit_events (tenant_id, id) WHERE seq IS NULL;

-- One chain head per tenant: the sealer locks it (FOR UPDATE on
-- PostgreSQL) so that servers sealing at once extend one chain.
-- legacy_until is the newest event id that existed at the upgrade: those
-- events, and only while it is set, are sealed as the chain's genesis.
CREATE TABLE audit_heads (
    tenant_id    TEXT PRIMARY KEY,
    seq          BIGINT NOT NULL DEFAULT 0,
    hash         BLOB,
    legacy_until BIGINT NOT NULL DEFAULT 0,
    updated_at   BIGINT NOT NULL
);
INSERT INTO audit_heads (tenant_id, seq, legacy_until, updated_at)
SELECT tenant_id, 0, MAX(id), CAST(strftime('%s', 'now') AS INTEGER) * 1000000 FROM audit_events GROUP BY tenant_id;

-- Signed checkpoints of a chain head (Ed25519, a key per tenant derived
-- from the master key).
CREATE TABLE audit_checkpoints (
    tenant_id  TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    hash       BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  BLOB NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

-- +goose Down
DROP TABLE audit_checkpoints;
DROP TABLE audit_heads;
DROP INDEX audit_unsealed;
DROP INDEX audit_chain;
ALTER TABLE audit_events DROP COLUMN hash;
ALTER TABLE audit_events DROP COLUMN prev_hash;
ALTER TABLE audit_events DROP COLUMN seq;
ALTER TABLE audit_events DROP COLUMN genesis;
ALTER TABLE audit_events DROP COLUMN key_id;
ALTER TABLE audit_events DROP COLUMN mac;
ALTER TABLE audit_events DROP COLUMN content_hash;
ALTER TABLE audit_events DROP COLUMN nonce;
