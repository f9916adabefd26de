-- +goose Up
-- A fixed text sealed by each master key, so that a start can tell whether the
-- keys it was given are the ones that sealed the data (G6). Never the key.
CREATE TABLE key_checks (
    key_id      TEXT PRIMARY KEY,
    check_value BLOB NOT NULL,
    created_at  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE key_checks;
