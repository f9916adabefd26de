package sqlstore

import (
	"path/filepath"
	"testing"
)

// Every SQLite connection, the writer's and the readers', reads the file
// with the larger page cache.
func TestSQLiteConnectionsPageCache(t *testing.T) {
	s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "cs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got int64
	if err := s.w.QueryRowContext(t.Context(), "PRAGMA cache_size").Scan(&got); err != nil || got != -sqliteCacheKiB {
		t.Errorf("writer cache_size = %d, %v; want %d", got, err, -sqliteCacheKiB)
	}
	if err := s.r.QueryRowContext(t.Context(), "PRAGMA cache_size").Scan(&got); err != nil || got != -sqliteCacheKiB {
		t.Errorf("reader cache_size = %d, %v; want %d", got, err, -sqliteCacheKiB)
	}
	if err := s.w.QueryRowContext(t.Context(), "PRAGMA wal_autocheckpoint").Scan(&got); err != nil || got != sqliteCheckpointPages {
		t.Errorf("writer wal_autocheckpoint = %d, %v; want %d", got, err, sqliteCheckpointPages)
	}
}
