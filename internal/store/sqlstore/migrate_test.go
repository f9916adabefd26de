package sqlstore

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/auditchain"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/testutil/pgtest"
	"github.com/pressly/goose/v3"
)

// released holds the per-dialect migrations as the releases before issue 9
// shipped them: the schema that existing databases have.
const released = "testdata/released"

func TestTranslate(t *testing.T) {
	for _, tc := range []struct{ name, in, postgres string }{
		{"binary column", "key_hash   BLOB NOT NULL UNIQUE,", "key_hash   BYTEA NOT NULL UNIQUE,"},
		{"added binary column", "ALTER TABLE users ADD COLUMN dob_hash BLOB;", "ALTER TABLE users ADD COLUMN dob_hash BYTEA;"},
		{"row id", "id             INTEGER PRIMARY KEY,", "id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"},
		{"current time", "UPDATE users SET status_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000000;",
			"UPDATE users SET status_at = (EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT;"},
		{"integer column", "attempts INTEGER NOT NULL DEFAULT 0,", "attempts INTEGER NOT NULL DEFAULT 0,"},
		{"composite key", "count INTEGER NOT NULL,\n    PRIMARY KEY (key, window_start)", "count INTEGER NOT NULL,\n    PRIMARY KEY (key, window_start)"},
		{"names containing a type", "blob_ref TEXT, BLOBS TEXT, payload_BLOB TEXT", "blob_ref TEXT, BLOBS TEXT, payload_BLOB TEXT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(translate(DialectSQLite, []byte(tc.in))); got != tc.in {
				t.Errorf("sqlite: %q, want it unchanged", got)
			}
			if got := string(translate(DialectPostgres, []byte(tc.in))); got != tc.postgres {
				t.Errorf("postgres: %q, want %q", got, tc.postgres)
			}
		})
	}
}

// Once translated, each migration is the text the releases before issue 9
// applied, so the versions an existing database records mean what they did.
func TestMigrationsReadAsReleased(t *testing.T) {
	for _, dialect := range []string{DialectSQLite, DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			want := os.DirFS(filepath.Join(released, dialect))
			got := migrationFS(dialect)
			wantNames, err := fs.Glob(want, "*.sql")
			if err != nil {
				t.Fatal(err)
			}
			gotNames, err := fs.Glob(got, "*.sql")
			if err != nil {
				t.Fatal(err)
			}
			if len(gotNames) < len(wantNames) || !slices.Equal(gotNames[:len(wantNames)], wantNames) {
				t.Fatalf("migrations %v do not begin with the released %v", gotNames, wantNames)
			}
			for _, name := range wantNames {
				w, err := fs.ReadFile(want, name)
				if err != nil {
					t.Fatal(err)
				}
				g, err := fs.ReadFile(got, name)
				if err != nil {
					t.Fatal(err)
				}
				gl, wl := strings.Split(string(g), "\n"), strings.Split(string(w), "\n")
				for i := range max(len(gl), len(wl)) {
					if i >= len(gl) || i >= len(wl) || gl[i] != wl[i] {
						t.Errorf("%s:%d translated for %s differs from the release:\n got %q\nwant %q", name, i+1, dialect, at(gl, i), at(wl, i))
						break
					}
				}
			}
		})
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end of file)"
}

// A database created by the release before issue 9 opens with today's code:
// nothing is applied again, its rows are intact, and its schema is the one a
// new database gets.
func TestUpgradeFromRelease(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		old := filepath.Join(dir, "old.sqlite")
		upgradeFromRelease(t, DialectSQLite,
			func() (*sql.DB, error) { return sql.Open("sqlite", "file:"+old) },
			func() (*Store, error) { return OpenSQLite(t.Context(), old) },
			func() (*Store, error) { return OpenSQLite(t.Context(), filepath.Join(dir, "new.sqlite")) })
	})
	t.Run("postgres", func(t *testing.T) {
		old, fresh := pgtest.URL(t), pgtest.URL(t)
		upgradeFromRelease(t, DialectPostgres,
			func() (*sql.DB, error) { return sql.Open("pgx", old) },
			func() (*Store, error) { return OpenPostgres(t.Context(), old) },
			func() (*Store, error) { return OpenPostgres(t.Context(), fresh) })
	})
}

func upgradeFromRelease(t *testing.T, dialect string, openRaw func() (*sql.DB, error), upgrade, fresh func() (*Store, error)) {
	ctx := t.Context()
	raw, err := openRaw()
	if err != nil {
		t.Fatal(err)
	}
	gd := goose.DialectSQLite3
	if dialect == DialectPostgres {
		gd = goose.DialectPostgres
	}
	p, err := goose.NewProvider(gd, raw, os.DirFS(filepath.Join(released, dialect)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("apply the released migrations: %v", err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	us := at.UnixMicro()
	bind := (&queries{s: &Store{dialect: dialect}}).bind
	for _, row := range []struct {
		q    string
		args []any
	}{
		{`INSERT INTO tenants (id, slug, name, policy, created_at) VALUES ('ten_a', 'acme', 'Acme', '{"mfa_attempts":4}', ?)`, []any{us}},
		{`INSERT INTO applications (id, tenant_id, name, key_hash, created_at) VALUES ('app_a', 'ten_a', 'VPN', ?, ?)`, []any{[]byte{1, 2, 0xff}, us}},
		{`INSERT INTO users (id, tenant_id, login_id, login_id_norm, status, created_at, updated_at, status_at, locale, dob_hash)
			VALUES ('usr_a', 'ten_a', 'Ana', 'ana', 'active', ?, ?, ?, 'es', ?)`, []any{us, us, us, []byte{0xaa, 0xbb}}},
		{`INSERT INTO audit_events (tenant_id, user_id, event, outcome, created_at) VALUES ('ten_a', 'usr_a', 'user.created', 'ok', ?)`, []any{us}},
		{`INSERT INTO audit_events (tenant_id, user_id, event, outcome, created_at) VALUES ('ten_a', 'usr_a', 'login', 'ok', ?)`, []any{us}},
	} {
		if _, err := raw.ExecContext(ctx, bind(row.q), row.args...); err != nil {
			t.Fatalf("%s: %v", row.q, err)
		}
	}
	applied := versions(t, raw)
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := upgrade()
	if err != nil {
		t.Fatalf("open the released database: %v", err)
	}
	defer s.Close()
	after := versions(t, s.DB())
	if len(after) < len(applied) || !slices.Equal(after[:len(applied)], applied) {
		t.Errorf("goose_db_version changed on upgrade:\nbefore %v\nafter  %v", applied, after)
	}

	u, err := s.UserByID(ctx, "ten_a", "usr_a")
	if err != nil {
		t.Fatal(err)
	}
	if u.LoginID != "Ana" || u.Locale != "es" || !bytes.Equal(u.DOBHash, []byte{0xaa, 0xbb}) || !u.CreatedAt.Equal(at) {
		t.Errorf("user after upgrade: %+v", u)
	}
	if a, err := s.ApplicationByKeyHash(ctx, []byte{1, 2, 0xff}); err != nil || a.ID != "app_a" {
		t.Errorf("application by key hash after upgrade: %+v, %v", a, err)
	}
	// The audit numbering carries on after the rows already there.
	keys := auditKeys(t)
	logout := &store.AuditEvent{TenantID: "ten_a", UserID: "usr_a", Event: "logout", Outcome: "ok", CreatedAt: at}
	if err := auditchain.Stamp(keys, logout); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, logout); err != nil {
		t.Fatal(err)
	}
	events, err := s.ListAudit(ctx, store.AuditFilter{TenantID: "ten_a", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		got = append(got, fmt.Sprintf("%d %s", e.ID, e.Event))
	}
	if want := []string{"3 logout", "2 login", "1 user.created"}; !slices.Equal(got, want) {
		t.Errorf("audit after upgrade: %q, want %q", got, want)
	}
	upgradeStartsTheAuditChain(t, s, keys)

	f, err := fresh()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, want := schema(t, dialect, s.DB()), schema(t, dialect, f.DB()); !slices.Equal(got, want) {
		t.Errorf("upgraded schema differs from a new database's:\nonly upgraded: %q\nonly new:      %q",
			without(got, want), without(want, got))
	}
}

// X6 on upgrade: the events that existed before migration 13 have no MAC;
// the migration records the newest of them, and the first sealing MACs
// and chains them as the genesis segment, signing a checkpoint at once.
// An event without a MAC written after the upgrade is not one of them.
func upgradeStartsTheAuditChain(t *testing.T, s *Store, keys *keyring.Keyring) {
	ctx := t.Context()
	head, err := s.AuditHeadOf(ctx, "ten_a")
	if err != nil || head.Seq != 0 || head.LegacyUntil != 2 {
		t.Fatalf("audit head after the upgrade: %+v, %v; want seq 0, legacy until event 2", head, err)
	}
	if err := s.AppendAudit(ctx, &store.AuditEvent{TenantID: "ten_a", Event: "forged", Outcome: "ok", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	sealedAt := time.Now().Truncate(time.Microsecond)
	sl := &auditchain.Sealer{Store: s, Keys: keys, Now: func() time.Time { return sealedAt }, CheckpointEvery: time.Hour}
	if n, err := sl.Seal(ctx); err != nil || n != 3 {
		t.Fatalf("first sealing after the upgrade: %d, %v; want the 2 old events and the logout", n, err)
	}
	r, err := auditchain.Verify(ctx, s, keys, "ten_a", auditchain.Options{Now: sealedAt})
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != 3 || r.Genesis != 2 || r.ChainStart.EventID != 1 || r.GenesisSealedAt == nil || !r.GenesisSealedAt.Equal(sealedAt) {
		t.Errorf("report after the upgrade: %+v", r)
	}
	if r.Problem == nil || r.Problem.Kind != auditchain.Inserted || r.Problem.EventID != 4 {
		t.Errorf("the event without a MAC written after the upgrade: problem %+v, want inserted event 4", r.Problem)
	}
	if head, err := s.AuditHeadOf(ctx, "ten_a"); err != nil || head.LegacyUntil != 0 || head.Seq != 3 {
		t.Errorf("audit head after sealing: %+v, %v; want seq 3, no legacy events left", head, err)
	}
}

func auditKeys(t *testing.T) *keyring.Keyring {
	t.Helper()
	k, err := keyring.New(map[string][]byte{"k1": make([]byte, keyring.KeySize)}, "k1", make([]byte, keyring.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func without(lines, others []string) []string {
	var out []string
	for _, l := range lines {
		if !slices.Contains(others, l) {
			out = append(out, l)
		}
	}
	return out
}

// versions lists goose's record of applied migrations with when each was
// applied, so that one applied again shows as a change.
func versions(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT version_id, is_applied, tstamp FROM goose_db_version ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v int64
		var ok bool
		var at any
		if err := rows.Scan(&v, &ok, &at); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d %t %v", v, ok, at))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// schema describes every table's columns, every index and every constraint,
// in a form that does not depend on the PostgreSQL schema a test runs in.
func schema(t *testing.T, dialect string, db *sql.DB) []string {
	t.Helper()
	queries := []string{
		`SELECT type || ' ' || name || ' ON ' || tbl_name || ': ' || COALESCE(sql, '')
		   FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name`,
		`SELECT 'column ' || m.name || '.' || c.name || ' ' || c.type || ' notnull=' || c."notnull" ||
		        ' default=' || COALESCE(c.dflt_value, 'NULL') || ' pk=' || c.pk
		   FROM sqlite_master m, pragma_table_info(m.name) c
		  WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, c.cid`,
	}
	if dialect == DialectPostgres {
		queries = []string{
			`SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type ||
			        ' nullable=' || is_nullable || ' default=' || COALESCE(column_default, 'NULL') ||
			        ' identity=' || COALESCE(identity_generation, 'NO')
			   FROM information_schema.columns WHERE table_schema = current_schema()
			  ORDER BY table_name, ordinal_position`,
			`SELECT 'index ' || indexname || ': ' || replace(indexdef, current_schema() || '.', '')
			   FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname`,
			`SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ': ' || pg_get_constraintdef(oid)
			   FROM pg_constraint WHERE connamespace = current_schema()::regnamespace ORDER BY conrelid::regclass::text, conname`,
		}
	}
	var out []string
	for _, q := range queries {
		rows, err := db.QueryContext(t.Context(), q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			out = append(out, line)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	if len(out) == 0 {
		t.Fatal("no schema read")
	}
	return out
}

// A command beside a running server opens its database WithoutMigrating: an
// up-to-date one opens, one that needs migrations is refused unchanged.
func TestWithoutMigrating(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.sqlite")
	raw, err := sql.Open("sqlite", "file:"+old)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, raw, os.DirFS(filepath.Join(released, DialectSQLite)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := versions(t, raw)
	raw.Close()
	if s, err := OpenSQLite(t.Context(), old, WithoutMigrating()); !errors.Is(err, ErrMigrationsPending) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("a database that needs migrations opened WithoutMigrating: %v, want ErrMigrationsPending", err)
	}
	raw, err = sql.Open("sqlite", "file:"+old)
	if err != nil {
		t.Fatal(err)
	}
	if after := versions(t, raw); !slices.Equal(after, before) {
		t.Errorf("migrations applied WithoutMigrating: %v, want %v", after, before)
	}
	raw.Close()

	current := filepath.Join(dir, "current.sqlite")
	s, err := OpenSQLite(t.Context(), current)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = OpenSQLite(t.Context(), current, WithoutMigrating()); err != nil {
		t.Fatalf("an up-to-date database WithoutMigrating: %v", err)
	}
	s.Close()
}
