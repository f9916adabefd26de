package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// EnvURL names the variable holding a postgres:// URL to an existing database
// in which tests may create and drop schemas.
const EnvURL = "COUNTERSIGN_TEST_POSTGRES"

// Available reports whether PostgreSQL tests can run here.
func Available() bool { return os.Getenv(EnvURL) != "" }

// Require skips t when no database is configured, or fails it in CI, where a
// silently skipped PostgreSQL run would hide a broken dialect. Call it at the
// top of a test whose subtests each call URL, to skip once instead of in
// every subtest.
func Require(t testing.TB) {
	t.Helper()
	if Available() {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("PostgreSQL required in CI: set " + EnvURL)
	}
	t.Skip("PostgreSQL tests skipped: run scripts/test, or set " + EnvURL + " to a postgres:// URL")
}

// URL creates a fresh schema for t and returns a URL whose connections use it
// as their search_path, so unqualified tables (goose's version table
// included) land there. The schema is dropped when t ends. Without a database
// it behaves as Require.
func URL(t testing.TB) string {
	t.Helper()
	Require(t)
	base := os.Getenv(EnvURL)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL", EnvURL)
	}

	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)

	exec(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { exec(t, base, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })

	// pgx sends parameters it does not know as run-time settings on every
	// connection it opens, so each pooled connection starts in the schema.
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// exec runs one statement on its own short-lived connection. It does not use
// t.Context because that is already cancelled when cleanups run.
func exec(t testing.TB, dsn, stmt string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		t.Fatalf("pgtest: %s: %v", stmt, err)
	}
}
