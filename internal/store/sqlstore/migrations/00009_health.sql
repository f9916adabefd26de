-- +goose Up
-- One row that readiness rewrites: only a committed write proves the
-- database can take writes, since a rolled-back one never leaves SQLite's
-- page cache and so cannot meet a full disk (issue 10, item 5).
CREATE TABLE health (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    checked_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE health;
