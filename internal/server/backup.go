package server

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/store/sqlstore"
)

// The archive's entries are named as the data directory's files, so that it
// can also be unpacked by hand (tar -x) into a data directory.
const (
	databaseEntry = "countersign.db"
	keyringEntry  = "keyring.json"
)

// Backed is what a backup or a restore covered.
type Backed struct {
	Path     string `json:"path"`
	Database bool   `json:"database"` // the SQLite database
	Keyring  bool   `json:"keyring"`  // the keyring file
}

// Backup writes to path one tar archive of the SQLite database, copied
// consistently while servers keep serving, and the keyring file, which the
// database cannot be read without. On PostgreSQL it holds the keyring only:
// the database is backed up with pg_dump. The archive is created 0600 beside
// its final name and renamed into place, and only where no other user could
// replace it (see checkBackupPath).
func Backup(ctx context.Context, cfg config.Config, path string) (*Backed, error) {
	sqlite := cfg.Dialect() == sqlstore.DialectSQLite
	keyFile := cfg.MasterKey == ""
	if !sqlite && !keyFile {
		return nil, errors.New("nothing to back up here: the database is PostgreSQL (back it up with pg_dump) and the master key " +
			"comes from COUNTERSIGN_MASTER_KEY (keep it with the dump); see docs/operations.md")
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if inside(cfg.DataDir, path) {
		// A backup there would replace the keyring or the database it copies,
		// and would be lost with the directory it is meant to survive.
		return nil, fmt.Errorf("backup: %s is inside the data directory %s; write the backup somewhere else, "+
			"ideally on another disk", path, cfg.DataDir)
	}
	if err := checkBackupPath(path); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	work, err := os.MkdirTemp(dir, ".countersign-backup-")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(work)

	var entries []string
	if sqlite {
		copied := filepath.Join(work, databaseEntry)
		if err := sqlstore.SnapshotSQLite(ctx, cfg.SQLitePath(), copied); err != nil {
			return nil, fmt.Errorf("backup of %s: %w", cfg.SQLitePath(), err)
		}
		entries = append(entries, copied)
	}
	if keyFile {
		// Read after the copy: a rotation only adds keys, so the keyring
		// read now holds every key that sealed the copied data.
		if _, err := os.Stat(cfg.KeyringPath()); err != nil {
			return nil, fmt.Errorf("backup: keyring file %s: %w; a database is useless without the keyring it was sealed with", cfg.KeyringPath(), err)
		}
		entries = append(entries, cfg.KeyringPath())
	}

	tmp, err := os.CreateTemp(dir, ".countersign-backup-*.tar")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = writeArchive(tmp, entries)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: write %s: %w", path, err)
	}
	return &Backed{Path: path, Database: sqlite, Keyring: keyFile}, nil
}

// checkBackupPath refuses a place where the archive could be read or
// replaced by another user. The archive itself is always created 0600,
// whatever the umask; its directory must not be writable by group or others
// (/tmp is refused: another user could swap the archive for their own); and
// an existing file there, which the backup replaces, must be a regular file
// granting group and others nothing.
// inside reports whether path is dir or below it.
func inside(dir, path string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(abs, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func checkBackupPath(path string) error {
	dir := filepath.Dir(path)
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("backup: directory %s: %w", dir, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("backup: %s is not a directory", dir)
	}
	if perm := info.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("backup: directory %s is writable by other users (mode %04o), who could replace or remove the backup; "+
			"write it to a directory only its owner can write to, such as one made with mkdir -m 700", dir, perm)
	}
	existing, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if !existing.Mode().IsRegular() {
		return fmt.Errorf("backup: %s exists and is not a regular file; give another file name", path)
	}
	if perm := existing.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("backup: %s exists and is readable or writable by other users (mode %04o); "+
			"a backup holds the keys to every secret, so remove that file or give another name", path, perm)
	}
	return nil
}

func writeArchive(w io.Writer, files []string) error {
	tw := tar.NewWriter(w)
	for _, name := range files {
		if err := addFile(tw, name); err != nil {
			return err
		}
	}
	return tw.Close()
}

func addFile(tw *tar.Writer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: filepath.Base(name), Mode: 0o600, Size: info.Size(), ModTime: info.ModTime()}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Restore unpacks an archive from Backup into the configured data directory,
// which must be empty or absent: a restore never mixes with, or overwrites,
// another database. On SQLite it then opens the restored database as a start
// would, migrating it and checking its keys, and removes what it unpacked if
// that fails, so the directory can be used again.
func Restore(ctx context.Context, cfg config.Config, log *slog.Logger, path string) (*Backed, error) {
	sqlite := cfg.Dialect() == sqlstore.DialectSQLite
	dir := cfg.DataDir
	switch present, err := os.ReadDir(dir); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("restore: data directory: %w", err)
	case len(present) > 0:
		return nil, fmt.Errorf("restore: data directory %s is not empty; restore only into an empty or new data directory "+
			"(set COUNTERSIGN_DATA_DIR or data_dir to one), so that no database or keyring is overwritten", dir)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("restore: create data directory: %w", err)
	}
	got, err := unpack(f, dir, sqlite)
	if err == nil {
		err = complete(got, cfg, sqlite)
	}
	if err == nil && sqlite {
		var srv *Server
		if srv, err = core(ctx, cfg, log, true); err == nil {
			err = srv.Close()
		}
	}
	if err != nil {
		emptyDir(dir)
		return nil, fmt.Errorf("restore: %s was not restored: %w", path, err)
	}
	got.Path = dir
	return got, nil
}

// unpack writes the archive's two known files into dir and nothing else: an
// archive is data from elsewhere, so no name it gives becomes a path.
func unpack(r io.Reader, dir string, sqlite bool) (*Backed, error) {
	got := &Backed{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return nil, fmt.Errorf("not a backup archive: %w", err)
		}
		var seen *bool
		switch hdr.Name {
		case databaseEntry:
			if !sqlite {
				return nil, errors.New("the archive holds an SQLite database, but database_url names PostgreSQL; " +
					"restore it with database_url empty, or restore PostgreSQL with pg_restore")
			}
			seen = &got.Database
		case keyringEntry:
			seen = &got.Keyring
		default:
			return nil, fmt.Errorf("the archive holds %q, which no backup holds", hdr.Name)
		}
		if *seen || hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("the archive's %s is not one regular file", hdr.Name)
		}
		*seen = true
		if err := writeNew(filepath.Join(dir, hdr.Name), tr); err != nil {
			return nil, err
		}
	}
}

// complete refuses a restore that could not start: an SQLite archive
// without its database, or keys neither in the archive nor in configuration.
func complete(got *Backed, cfg config.Config, sqlite bool) error {
	if sqlite && !got.Database {
		return errors.New("the archive holds no database (it is a PostgreSQL installation's keyring); " +
			"restore the database with pg_restore and set database_url, as docs/operations.md describes")
	}
	if !got.Keyring && cfg.MasterKey == "" {
		return errors.New("the archive holds no keyring.json: the database was sealed with COUNTERSIGN_MASTER_KEY, so set it to that key")
	}
	return nil
}

func writeNew(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// emptyDir removes what a failed restore left in a directory it found empty.
func emptyDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
