package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFile is the file in an SQLite data directory that a process locks while
// it uses the database.
const LockFile = "countersign.lock"

// ErrDataDirInUse means another process holds the data directory's lock.
var ErrDataDirInUse = errors.New("data directory in use by another countersign process")

// lockDataDir takes the data directory's lock, exclusive for a server and
// shared for a command. The single-writer guarantees of SQLite (one writer
// connection, group commit) hold only within one process, so a server must
// be alone; commands, short and few, may run beside it and each other, as
// the quick start does, but a server does not start while one runs. The lock
// is an open file description's flock, so it ends with the process however
// the process ends, and a second open in the same process is refused like
// another process. A shared lock is refused only while a server runs.
func lockDataDir(dir string, exclusive bool) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err == nil {
		return f, nil
	}
	f.Close()
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, fmt.Errorf("lock data directory: %s: %w", path, err)
	}
	return nil, fmt.Errorf("%w: %s (%s is locked). One SQLite database is served by one process: "+
		"stop the other server or command first, or give this server its own data directory (COUNTERSIGN_DATA_DIR); "+
		"to run several servers, point them all at one PostgreSQL database (COUNTERSIGN_DATABASE_URL)",
		ErrDataDirInUse, dir, path)
}
