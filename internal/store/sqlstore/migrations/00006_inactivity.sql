-- +goose Up
-- When the status last changed: an account an administrator or the person
-- re-enabled is not disabled again for inactivity straight away (C10).
ALTER TABLE users ADD COLUMN status_at BIGINT;
-- Accounts that exist already get a whole period from this upgrade before
-- they can be disabled for inactivity, not a surprise at the first check.
UPDATE users SET status_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000000;
-- Finds Active users with no login for a while without a full scan.
CREATE INDEX users_activity ON users (tenant_id, status, (COALESCE(last_login_at, created_at)));

-- +goose Down
DROP INDEX users_activity;
ALTER TABLE users DROP COLUMN status_at;
