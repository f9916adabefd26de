package sqlstore

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/countersign/countersign/internal/store"
)

// Errors the tests cannot provoke on a live database (a server shutting
// down, a disk filling under PostgreSQL, a lock held past the busy
// timeout) are classified by their codes.
func TestUnavailableCodes(t *testing.T) {
	for code, want := range map[string]bool{
		"08000": true, "08006": true, "08003": true, "53100": true, "53300": true, "53200": true,
		"57P01": true, "57P02": true, "57P03": true, "25006": true,
		"23505": false, "22021": false, "40001": false, "42P01": false, "57014": false, "25P02": false,
	} {
		if got := pgUnavailable(code); got != want {
			t.Errorf("SQLSTATE %s: unavailable %t, want %t", code, got, want)
		}
	}
	for code, want := range map[int]bool{
		sqlite3.SQLITE_FULL: true, sqlite3.SQLITE_READONLY: true, sqlite3.SQLITE_READONLY_DBMOVED: true,
		sqlite3.SQLITE_BUSY: true, sqlite3.SQLITE_BUSY_SNAPSHOT: true, sqlite3.SQLITE_IOERR: true,
		sqlite3.SQLITE_IOERR_WRITE: true, sqlite3.SQLITE_IOERR_FSYNC: true, sqlite3.SQLITE_CANTOPEN: true,
		sqlite3.SQLITE_CONSTRAINT_UNIQUE: false, sqlite3.SQLITE_ERROR: false, sqlite3.SQLITE_MISMATCH: false,
	} {
		if got := sqliteUnavailable(code); got != want {
			t.Errorf("SQLite code %d: unavailable %t, want %t", code, got, want)
		}
	}
	for name, tc := range map[string]struct {
		err  error
		want bool
	}{
		"refused":        {&pgconn.ConnectError{}, true},
		"reset":          {fmt.Errorf("read: %w", &net.OpError{Op: "read", Err: syscall.ECONNRESET}), true},
		"broken pipe":    {fmt.Errorf("write: %w", syscall.EPIPE), true},
		"cut off":        {fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		"pg read-only":   {&pgconn.PgError{Code: "25006"}, true},
		"pg duplicate":   {&pgconn.PgError{Code: "23505"}, false},
		"anything else":  {errors.New("boom"), false},
		"already marked": {fmt.Errorf("%w: x", store.ErrUnavailable), true},
	} {
		err := unavailable(tc.err)
		if got := errors.Is(err, store.ErrUnavailable); got != tc.want {
			t.Errorf("%s: %v is unavailable %t, want %t", name, err, got, tc.want)
		}
		if tc.want && !errors.Is(err, tc.err) && !errors.Is(tc.err, store.ErrUnavailable) {
			t.Errorf("%s: the cause is lost: %v", name, err)
		}
	}
}
