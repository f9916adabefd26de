-- +goose Up
-- A terminated account (C14) records when, by whom and why; its status is
-- final and its login ID stays taken.
ALTER TABLE users ADD COLUMN terminated_at BIGINT;
ALTER TABLE users ADD COLUMN terminated_by TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN terminated_reason TEXT NOT NULL DEFAULT '';
-- The help desk's search by the start of an email address.
CREATE INDEX users_email_search ON users (tenant_id, email_norm);

-- The help desk works reported issues (A13): who has one, and when it last
-- changed. Existing requests count as changed when they were filed.
ALTER TABLE support_requests ADD COLUMN assignee TEXT NOT NULL DEFAULT '';
ALTER TABLE support_requests ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE support_requests SET updated_at = created_at;
CREATE INDEX support_requests_state ON support_requests (tenant_id, state, created_at);

-- Internal notes on a reported issue; only inserted, so two people writing
-- at once both keep theirs.
CREATE TABLE support_notes (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    request_id TEXT NOT NULL REFERENCES support_requests (id),
    author     TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX support_notes_request ON support_notes (request_id, created_at);

-- +goose Down
DROP TABLE support_notes;
DROP INDEX support_requests_state;
ALTER TABLE support_requests DROP COLUMN updated_at;
ALTER TABLE support_requests DROP COLUMN assignee;
DROP INDEX users_email_search;
ALTER TABLE users DROP COLUMN terminated_reason;
ALTER TABLE users DROP COLUMN terminated_by;
ALTER TABLE users DROP COLUMN terminated_at;
