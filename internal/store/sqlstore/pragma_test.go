package sqlstore

import (
	"path/filepath"
	"testing"
)

// Every SQLite connection, the writer's and the readers', reads the file
// through the memory map.
func TestSQLiteConnectionsUseMemoryMap(t *testing.T) {
	s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "cs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got int64
	if err := s.w.QueryRowContext(t.Context(), "PRAGMA mmap_size").Scan(&got); err != nil || got != sqliteMmapBytes {
		t.Errorf("writer mmap_size = %d, %v; want %d", got, err, sqliteMmapBytes)
	}
	if err := s.r.QueryRowContext(t.Context(), "PRAGMA mmap_size").Scan(&got); err != nil || got != sqliteMmapBytes {
		t.Errorf("reader mmap_size = %d, %v; want %d", got, err, sqliteMmapBytes)
	}
}
