package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
)

// SnapshotSQLite writes a consistent copy of the SQLite database at src to
// dest, a path that must not exist, while other connections — a running
// server's — keep reading and writing. VACUUM INTO copies one read
// transaction's view, so the copy is the database as of one moment, and it
// opens src read-only, so it neither creates nor migrates a database.
func SnapshotSQLite(ctx context.Context, src, dest string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+src+"?"+q.Encode())
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dest); err != nil {
		return fmt.Errorf("copy database: %w", err)
	}
	return nil
}
