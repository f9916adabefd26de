package sqlstore

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"regexp"
	"strings"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// The migrations are written once, in the spelling the queries use (SQLite's),
// and rewritten for PostgreSQL as they are read, the way queries have their ?
// rebound to $n. Their numbers and, once rewritten, their text are those of
// the per-dialect files earlier releases applied, so goose finds an existing
// database up to date.
//
//go:embed migrations/*.sql
var migrations embed.FS

// postgresRewrites are the only spellings the two databases do not share.
// Each matches upper-case SQL as the migrations write it, whole words only.
var postgresRewrites = []struct {
	from *regexp.Regexp
	to   string
}{
	{regexp.MustCompile(`\bBLOB\b`), "BYTEA"},
	// SQLite's INTEGER PRIMARY KEY is the row id, numbered by the database.
	{regexp.MustCompile(`\bINTEGER PRIMARY KEY\b`), "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"},
	// The current time in Unix microseconds, the unit of every time column.
	{regexp.MustCompile(`CAST\(strftime\('%s', 'now'\) AS INTEGER\) \* 1000000`), "(EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT"},
}

// translate returns a migration's text for dialect.
func translate(dialect string, sql []byte) []byte {
	if dialect != DialectPostgres {
		return sql
	}
	for _, r := range postgresRewrites {
		sql = r.from.ReplaceAllLiteral(sql, []byte(r.to))
	}
	return sql
}

// migrationFS serves the embedded migrations as dialect reads them.
func migrationFS(dialect string) fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the directory is embedded, so this cannot happen at run time
	}
	return translatedFS{sub, dialect}
}

type translatedFS struct {
	fs.FS
	dialect string
}

func (t translatedFS) Open(name string) (fs.File, error) {
	f, err := t.FS.Open(name)
	if err != nil || !strings.HasSuffix(name, ".sql") {
		return f, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	b = translate(t.dialect, b)
	return &translatedFile{Reader: bytes.NewReader(b), info: sizedInfo{info, int64(len(b))}}, nil
}

type translatedFile struct {
	*bytes.Reader
	info fs.FileInfo
}

func (f *translatedFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *translatedFile) Close() error               { return nil }

type sizedInfo struct {
	fs.FileInfo
	size int64
}

func (i sizedInfo) Size() int64 { return i.size }

func (s *Store) migrate(ctx context.Context) error {
	var opts []goose.ProviderOption
	dialect := goose.DialectSQLite3
	if s.dialect == DialectPostgres {
		dialect = goose.DialectPostgres
		// One advisory lock per schema, so installations (and tests) sharing
		// a database in different schemas do not queue behind each other.
		var schema string
		if err := s.w.QueryRowContext(ctx, "SELECT current_database() || '.' || current_schema()").Scan(&schema); err != nil {
			return fmt.Errorf("read schema: %w", err)
		}
		h := fnv.New64a()
		h.Write([]byte(schema))
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64() >> 1)))
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, s.w, migrationFS(s.dialect), opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if s.noMigrate {
		pending, err := p.HasPending(ctx)
		if err != nil {
			return fmt.Errorf("read migrations: %w", err)
		}
		if pending {
			return ErrMigrationsPending
		}
		return nil
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}
