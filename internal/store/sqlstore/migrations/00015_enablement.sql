-- +goose Up
-- Tenant-wide enablement (B1): once set, a tenant's MFA covers everyone and
-- cannot be turned off. Times are microseconds.
ALTER TABLE tenants ADD COLUMN mfa_enabled_at BIGINT;
ALTER TABLE tenants ADD COLUMN mfa_enabled_by TEXT NOT NULL DEFAULT '';

-- Phased enforcement (A1): from starts_at, members of the named groups or
-- units (JSON arrays of names) must present a second factor.
CREATE TABLE enforcement_phases (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL REFERENCES tenants (id),
    name                  TEXT NOT NULL,
    groups                TEXT NOT NULL DEFAULT '[]',
    units                 TEXT NOT NULL DEFAULT '[]',
    starts_at             BIGINT NOT NULL,
    created_at            BIGINT NOT NULL,
    created_by            TEXT NOT NULL DEFAULT '',
    scheduled_notified_at BIGINT,
    started_notified_at   BIGINT
);
CREATE INDEX enforcement_phases_tenant ON enforcement_phases (tenant_id, starts_at);

-- One row per person, phase and notice kind ('scheduled', 'started'):
-- inserted only if absent, in the transaction that enqueues the message, so
-- a person hears of a phase once however many servers sweep.
CREATE TABLE phase_notices (
    phase_id   TEXT NOT NULL REFERENCES enforcement_phases (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id),
    kind       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (phase_id, user_id, kind)
);

-- +goose Down
DROP TABLE phase_notices;
DROP TABLE enforcement_phases;
ALTER TABLE tenants DROP COLUMN mfa_enabled_by;
ALTER TABLE tenants DROP COLUMN mfa_enabled_at;
