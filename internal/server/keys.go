package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/keyring"
)

// keyChecks is what the start needs of the database to tell whether the keys
// it was given are those that sealed the data (G6).
type keyChecks interface {
	KeyChecks(ctx context.Context) (map[string][]byte, error)
	RecordKeyCheck(ctx context.Context, keyID string, check []byte, at time.Time) error
	HoldsSealedData(ctx context.Context) (bool, error)
	SealedSample(ctx context.Context) (sealed, aad []byte, ok bool, err error)
}

// openKeys loads the master keys and checks them against the database.
// A key is generated only for a database that holds nothing sealed: a fresh
// key over existing data would start a server on which every authenticator
// fails, and the lost key could never be recovered from the database.
func openKeys(ctx context.Context, cfg config.Config, db keyChecks, now func() time.Time) (*keyring.Keyring, error) {
	var keys *keyring.Keyring
	var err error
	source := "the master key setting (COUNTERSIGN_MASTER_KEY or master_key)"
	if cfg.MasterKey != "" {
		keys, err = keyring.FromBase64(cfg.MasterKey)
	} else {
		source = cfg.KeyringPath()
		keys, err = keyring.LoadFile(source)
		if errors.Is(err, fs.ErrNotExist) {
			var held bool
			if held, err = db.HoldsSealedData(ctx); err != nil {
				return nil, fmt.Errorf("read the database's key checks: %w", err)
			}
			if held {
				return nil, fmt.Errorf("keyring file %s is missing, but the database holds data sealed with its keys. "+
					"Restore keyring.json from the backup taken with this database (the keyring must be kept with the database), "+
					"or set COUNTERSIGN_MASTER_KEY if the key was given there. No new key was generated: it could not open the existing secrets", source)
			}
			keys, err = keyring.LoadOrCreate(source)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if err := checkKeys(ctx, keys, source, db, now); err != nil {
		return nil, err
	}
	return keys, nil
}

// checkKeys verifies every recorded check value with the ring, then records
// one for each key of the ring that has none (a new database, a rotation, or
// a database from before check values). It reads the checks again after
// recording, so that of two servers starting at once with different keys
// under one id, the one whose value was not kept refuses.
func checkKeys(ctx context.Context, keys *keyring.Keyring, source string, db keyChecks, now func() time.Time) error {
	checks, err := db.KeyChecks(ctx)
	if err != nil {
		return fmt.Errorf("read the database's key checks: %w", err)
	}
	if err := verifyChecks(keys, source, checks); err != nil {
		return err
	}
	if len(checks) == 0 {
		// A database from before check values: before trusting the ring
		// with its first ones, it must open what the database already
		// holds, or a wrong key would be recorded as the right one.
		sealed, aad, ok, err := db.SealedSample(ctx)
		if err != nil {
			return fmt.Errorf("read a sealed value to check the keys: %w", err)
		}
		if ok {
			if _, err := keys.Open(sealed, aad); err != nil {
				return fmt.Errorf("the keys from %s do not open this database's sealed data (%v). "+
					"Use the keyring (or COUNTERSIGN_MASTER_KEY) that goes with this database, for example the one backed up with it; "+
					"nothing was changed", source, err)
			}
		}
	}
	recorded := false
	for _, id := range keys.IDs() {
		if _, ok := checks[id]; ok {
			continue
		}
		check, err := keys.CheckValue(id)
		if err != nil {
			return err
		}
		if err := db.RecordKeyCheck(ctx, id, check, now()); err != nil {
			return fmt.Errorf("record the check value of key %q: %w", id, err)
		}
		recorded = true
	}
	if !recorded {
		return nil
	}
	if checks, err = db.KeyChecks(ctx); err != nil {
		return fmt.Errorf("read the database's key checks: %w", err)
	}
	return verifyChecks(keys, source, checks)
}

func verifyChecks(keys *keyring.Keyring, source string, checks map[string][]byte) error {
	for _, id := range sortedKeys(checks) {
		switch err := keys.Check(id, checks[id]); {
		case errors.Is(err, keyring.ErrUnknownKey):
			return fmt.Errorf("the database holds data sealed with master key %q, which %s does not hold. "+
				"Use the keyring (or COUNTERSIGN_MASTER_KEY) that goes with this database, for example the one backed up with it; "+
				"every server of one database needs the same keys", id, source)
		case err != nil:
			return fmt.Errorf("master key %q from %s is not the key that sealed this database's data: its check value does not open. "+
				"Use the keyring (or COUNTERSIGN_MASTER_KEY) that goes with this database, for example the one backed up with it; "+
				"nothing was changed", id, source)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
