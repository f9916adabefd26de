-- +goose Up
-- Administrators are people of the tenant: their console role lets them
-- into the admin console ('' none, 'support' help desk, 'admin').
ALTER TABLE users ADD COLUMN console_role TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE users DROP COLUMN console_role;
