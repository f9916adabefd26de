package sqlstore

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/countersign/countersign/internal/store"
)

// unavailable marks err with store.ErrUnavailable when it says the database
// cannot be used for now rather than that this request was wrong, so every
// front door can ask the caller to come back instead of reporting a fault.
// It keeps the cause for the log and is safe to apply more than once.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) || !isUnavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

func isUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgUnavailable(pgErr.Code)
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqliteUnavailable(sqErr.Code())
	}
	var connect *pgconn.ConnectError
	var netErr *net.OpError
	return errors.As(err, &connect) || errors.As(err, &netErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		// A server that goes away mid-answer leaves a half-read message.
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone)
}

// pgUnavailable reports the SQLSTATEs of a server that cannot take the
// statement now but may later: lost or refused connections (class 08),
// exhausted resources such as a full disk or too many connections (class
// 53), a server shutting down or starting (57P01–57P03), and a read-only
// server such as a standby (25006).
func pgUnavailable(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"):
		return true
	}
	switch code {
	case "57P01", "57P02", "57P03", "25006":
		return true
	}
	return false
}

// sqliteUnavailable reports SQLite's result codes for a file that cannot
// be written now: a full disk, a read-only file, an I/O error, a file that
// cannot be opened, and a lock held past the busy timeout (the driver
// waits for that long before it answers SQLITE_BUSY).
func sqliteUnavailable(code int) bool {
	switch code & 0xff {
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
		return true
	}
	return false
}

// row is a one-row result whose failure is classified like any other;
// callers still see sql.ErrNoRows as it is.
type row struct{ *sql.Row }

func (r row) Scan(dest ...any) error { return unavailable(r.Row.Scan(dest...)) }
