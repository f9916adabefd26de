package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/sqlstore"
	"github.com/countersign/countersign/internal/testutil/pgtest"
)

// writeTenant is a write that needs new pages: a tenant whose policy
// document is larger than a page.
func writeTenant(ctx context.Context, s *sqlstore.Store, slug string) error {
	return s.CreateTenant(ctx, &store.Tenant{ID: store.NewID("ten"), Slug: slug, Name: slug,
		Policy: []byte(`{"help_desk":{"name":"` + strings.Repeat("x", 16<<10) + `"}}`), CreatedAt: time.Now()})
}

// SQLite's own answers for a full disk and a read-only database are
// ErrUnavailable, for writes in and out of transactions and for the
// readiness probe; reads go on, and everything works again afterwards.
func TestSQLiteUnavailable(t *testing.T) {
	ctx := t.Context()
	s, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := writeTenant(ctx, s, "before"); err != nil {
		t.Fatal(err)
	}
	// The store has one writer connection, so a pragma on it holds for
	// every write.
	pragma := func(p string) {
		t.Helper()
		if _, err := s.DB().ExecContext(ctx, "PRAGMA "+p); err != nil {
			t.Fatalf("PRAGMA %s: %v", p, err)
		}
	}
	unavailable := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", what, err)
		}
	}
	t.Run("full", func(t *testing.T) {
		var pages int
		if err := s.DB().QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
			t.Fatal(err)
		}
		// SQLite answers SQLITE_FULL when the file may not grow, as it
		// does when the disk may not.
		pragma(fmt.Sprintf("max_page_count = %d", pages))
		err := writeTenant(ctx, s, "full")
		unavailable("insert", err)
		if err == nil || !strings.Contains(err.Error(), "full") {
			t.Errorf("insert: %v, want SQLite's own words for a full database", err)
		}
		unavailable("insert in a transaction", s.InTx(ctx, func(q store.Queries) error {
			return q.CreateTenant(ctx, &store.Tenant{ID: store.NewID("ten"), Slug: "full-tx", Name: strings.Repeat("y", 16<<10), CreatedAt: time.Now()})
		}))
		if _, err := s.TenantBySlug(ctx, "before"); err != nil {
			t.Errorf("a read while full: %v", err)
		}
		pragma("max_page_count = 1073741823")
		if err := writeTenant(ctx, s, "after-full"); err != nil {
			t.Errorf("with room again: %v", err)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		// query_only makes SQLite answer SQLITE_READONLY, its answer for a
		// file it may not write.
		pragma("query_only = ON")
		unavailable("insert", writeTenant(ctx, s, "read-only"))
		unavailable("probe", s.ProbeWrite(ctx, time.Now()))
		if _, err := s.TenantBySlug(ctx, "before"); err != nil {
			t.Errorf("a read while read-only: %v", err)
		}
		if _, err := s.TenantBySlug(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("a missing row while read-only: %v, want only ErrNotFound", err)
		}
		pragma("query_only = OFF")
		if err := s.ProbeWrite(ctx, time.Now()); err != nil {
			t.Errorf("probe when writable: %v", err)
		}
	})
	if err := writeTenant(ctx, s, "before"); !errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a duplicate: %v, want only ErrConflict", err)
	}
}

// PostgreSQL's answer for a read-only server (a standby, or a database
// set read-only to stop its disk filling) is ErrUnavailable; the same
// schema through a writable connection takes the write.
func TestPostgresUnavailable(t *testing.T) {
	url := pgtest.URL(t)
	ctx := t.Context()
	s, err := sqlstore.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	// pgx sends unknown URL parameters as settings of every connection.
	ro, err := sqlstore.OpenPostgres(ctx, url+"&default_transaction_read_only=on")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ro.Close() })
	for name, err := range map[string]error{
		"insert":                  writeTenant(ctx, ro, "ro"),
		"probe":                   ro.ProbeWrite(ctx, time.Now()),
		"insert in a transaction": ro.InTx(ctx, func(q store.Queries) error { return writeTenantQ(ctx, q, "ro-tx") }),
	} {
		if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "25006") {
			t.Errorf("%s: %v, want ErrUnavailable from SQLSTATE 25006", name, err)
		}
	}
	if err := s.ProbeWrite(ctx, time.Now()); err != nil {
		t.Errorf("probe when writable: %v", err)
	}
}

func writeTenantQ(ctx context.Context, q store.Queries, slug string) error {
	return q.CreateTenant(ctx, &store.Tenant{ID: store.NewID("ten"), Slug: slug, Name: slug, CreatedAt: time.Now()})
}
