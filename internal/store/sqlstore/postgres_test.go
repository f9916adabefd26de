package sqlstore_test

import (
	"sync"
	"testing"

	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/sqlstore"
	"github.com/countersign/countersign/internal/store/storetest"
	"github.com/countersign/countersign/internal/testutil/pgtest"
)

func TestPostgres(t *testing.T) {
	pgtest.Require(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlstore.OpenPostgres(t.Context(), pgtest.URL(t))
		if err != nil {
			t.Fatalf("OpenPostgres: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// Several servers starting together against a new database must migrate it
// once between them, not fail on each other's half-created tables.
func TestPostgresConcurrentMigrate(t *testing.T) {
	url := pgtest.URL(t)
	const servers = 4
	start := make(chan struct{})
	errs := make([]error, servers)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Go(func() {
			<-start
			s, err := sqlstore.OpenPostgres(t.Context(), url)
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = s.Ping(t.Context())
			s.Close()
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("server %d: %v", i, err)
		}
	}

	s, err := sqlstore.OpenPostgres(t.Context(), url)
	if err != nil {
		t.Fatalf("OpenPostgres after migration: %v", err)
	}
	defer s.Close()
	var schema string
	var repeated int
	if err := s.DB().QueryRowContext(t.Context(), `SELECT current_schema(), (SELECT count(*) - count(DISTINCT version_id) FROM goose_db_version)`).Scan(&schema, &repeated); err != nil {
		t.Fatalf("read migration state: %v", err)
	}
	if repeated != 0 {
		t.Errorf("goose_db_version records %d migrations applied more than once", repeated)
	}
	var where string
	if err := s.DB().QueryRowContext(t.Context(), `SELECT schemaname FROM pg_tables WHERE tablename = 'goose_db_version' AND schemaname = current_schema()`).Scan(&where); err != nil || where != schema {
		t.Errorf("goose version table not in the test schema %q: %q, %v", schema, where, err)
	}
}
