package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/countersign/countersign/internal/store"
)

const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Store is the SQL implementation of store.Store.
type Store struct {
	queries
	dialect string
	now     func() time.Time // stamps updated_at where the caller passes no time
	w       *sql.DB          // every write; on SQLite a single connection
	r       *sql.DB          // reads; the same pool as w on PostgreSQL

	noMigrate bool // check that the schema is current instead of migrating it

	writeStmts, readStmts sync.Map // SQLite prepared statements by query text

	// SQLite group commit (batch.go).
	batch         chan *txReq
	stop, stopped chan struct{}
	stopOnce      sync.Once
}

var _ store.Store = (*Store)(nil)

// ErrMigrationsPending means a database opened WithoutMigrating needs
// migrations.
var ErrMigrationsPending = errors.New("the database needs migrations")

// WithoutMigrating opens a database another process is serving: it applies
// no migration and refuses a database that needs one, so that a newer
// command never changes the schema under a running server.
func WithoutMigrating() Option {
	return func(s *Store) { s.noMigrate = true }
}

// Option configures a Store as it opens.
type Option func(*Store)

// WithClock makes the store read the time from now, the clock the engine
// decides with, rather than the system's.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// sqliteCacheKiB is each connection's page cache (five connections: the
// writer and four readers). Reading through a memory map instead measured
// slower: every page is set up again on each read, and the map is remade as
// the file grows.
const sqliteCacheKiB = 16 * 1024

// sqliteCheckpointPages is the write-ahead log's length, in pages, that makes
// the writer checkpoint it itself (SQLite's default).
const sqliteCheckpointPages = 1000

// OpenSQLite opens (creating if needed) the database file at path.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	dsn := func(txlock string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(ON)")
		// Each connection keeps its own page cache; a larger one holds the
		// hot pages of a check (the users and factors indexes and rows),
		// so a check reads no page from the file. A negative size is KiB.
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", sqliteCacheKiB))
		// The log is copied back into the file by checkpoint (batch.go) from
		// a reader connection; the writer does it only when that falls behind.
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", sqliteCheckpointPages))
		q.Set("_txlock", txlock)
		return "file:" + path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn("immediate"))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", dsn("deferred"))
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	s := newStore(DialectSQLite, w, r, opts)
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.startBatches()
	return s, nil
}

// OpenPostgres connects to url (postgres://…) and applies migrations under an
// advisory lock, so several servers starting at once migrate exactly once.
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := newStore(DialectPostgres, db, db, opts)
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Open picks the dialect from the URL: empty means SQLite at sqlitePath.
func Open(ctx context.Context, databaseURL, sqlitePath string, opts ...Option) (*Store, error) {
	if databaseURL == "" {
		return OpenSQLite(ctx, sqlitePath, opts...)
	}
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		return OpenPostgres(ctx, databaseURL, opts...)
	}
	return nil, errors.New("database URL must start with postgres:// or postgresql://")
}

func newStore(dialect string, w, r *sql.DB, opts []Option) *Store {
	s := &Store{dialect: dialect, now: time.Now, w: w, r: r}
	for _, o := range opts {
		o(s)
	}
	s.queries = queries{s: s}
	return s
}

func (s *Store) Dialect() string { return s.dialect }

func (s *Store) Ping(ctx context.Context) error {
	var one int
	return unavailable(s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one))
}

func (s *Store) Close() error {
	if s.stop != nil {
		s.stopOnce.Do(func() { close(s.stop) })
		<-s.stopped
	}
	for _, m := range []*sync.Map{&s.writeStmts, &s.readStmts} {
		m.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	}
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// InTx runs fn in one write transaction.
func (s *Store) InTx(ctx context.Context, fn func(q store.Queries) error) error {
	return s.inTx(ctx, func(q *queries) error { return fn(q) })
}

// inTx classifies whatever ends the transaction, since a connection lost
// at BEGIN or COMMIT, or a full disk at COMMIT, is no statement's failure.
func (s *Store) inTx(ctx context.Context, fn func(q *queries) error) error {
	if s.batch != nil {
		return unavailable(s.batchTx(ctx, fn))
	}
	if s.dialect == DialectPostgres {
		return unavailable(s.pgTx(ctx, fn))
	}
	return unavailable(s.tx(ctx, fn))
}

func (s *Store) tx(ctx context.Context, fn func(q *queries) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var missed []string
	q := &queries{s: s, tx: tx, missed: &missed}
	// Runs last, once the transaction released the writer connection.
	defer func() {
		for _, query := range missed {
			_, _ = s.prepare(ctx, s.w, &s.writeStmts, query)
		}
	}()
	// Roll back on a panic too: on SQLite the transaction holds the only
	// writer connection, and with a context that is never cancelled nothing
	// else would ever release it. After Commit this is a harmless no-op.
	defer func() { _ = tx.Rollback() }()
	if err := fn(q); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// DB exposes the write pool to tests that need to inspect rows directly.
func (s *Store) DB() *sql.DB { return s.w }
