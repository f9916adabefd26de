package sqlstore

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/testutil/pgtest"
	"github.com/pressly/goose/v3"
)

// C10 on upgrade: accounts that existed before migration 6 count their
// inactivity period from the upgrade, so an upgrade does not disable
// everyone whose last login is old at the first check; the period still
// runs out afterwards.
func TestUpgradeStartsTheInactivityClock(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "db.sqlite")
		raw, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		upgradeFrom5(t, DialectSQLite, raw, func() (*Store, error) { return OpenSQLite(t.Context(), path) })
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		raw, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		upgradeFrom5(t, DialectPostgres, raw, func() (*Store, error) { return OpenPostgres(t.Context(), url) })
	})
}

func upgradeFrom5(t *testing.T, dialect string, raw *sql.DB, reopen func() (*Store, error)) {
	ctx := t.Context()
	gd := goose.DialectSQLite3
	if dialect == DialectPostgres {
		gd = goose.DialectPostgres
	}
	p, err := goose.NewProvider(gd, raw, migrationFS(dialect))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 5); err != nil {
		t.Fatalf("migrate to 5: %v", err)
	}
	long := time.Now().Add(-400 * 24 * time.Hour).UnixMicro()
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO tenants (id, slug, name, created_at) VALUES ('ten_a', 'acme', 'Acme', %d)`, long),
		fmt.Sprintf(`INSERT INTO users (id, tenant_id, login_id, login_id_norm, status, created_at, updated_at, last_login_at)
			VALUES ('usr_old', 'ten_a', 'old', 'old', 'active', %d, %d, %d)`, long, long, long),
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := reopen()
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	defer s.Close()
	now := time.Now()
	// 180 days of inactivity: last login 400 days ago, but upgraded just now.
	if ids, err := s.DisableInactiveUsers(ctx, "ten_a", now.Add(-180*24*time.Hour), now, 10); err != nil || len(ids) != 0 {
		t.Fatalf("right after the upgrade: disabled %v, %v; want none", ids, err)
	}
	// 180 days after the upgrade (a cutoff later than the upgrade).
	later := now.Add(180*24*time.Hour + time.Minute)
	if ids, err := s.DisableInactiveUsers(ctx, "ten_a", later.Add(-180*24*time.Hour), later, 10); err != nil || !slices.Equal(ids, []string{"usr_old"}) {
		t.Fatalf("a period after the upgrade: disabled %v, %v; want usr_old", ids, err)
	}
}
