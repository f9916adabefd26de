package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// KeyChecks returns the check value recorded for each master key id.
func (s *Store) KeyChecks(ctx context.Context) (map[string][]byte, error) {
	rows, err := s.rows(ctx, true, `SELECT key_id, check_value FROM key_checks`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var id string
		var check []byte
		if err := rows.Scan(&id, &check); err != nil {
			return nil, err
		}
		out[id] = check
	}
	return out, rows.Err()
}

// RecordKeyCheck keeps the first check value recorded for a key id: when two
// servers start at once with different keys under one id, the one that loses
// reads the winner's value and refuses to start.
func (s *Store) RecordKeyCheck(ctx context.Context, keyID string, check []byte, at time.Time) error {
	_, err := s.exec(ctx, `INSERT INTO key_checks (key_id, check_value, created_at) VALUES (?, ?, ?)
		ON CONFLICT (key_id) DO NOTHING`, keyID, check, micros(at))
	return err
}

// HoldsSealedData reports whether anything in the database was sealed or
// hashed with the master keys, so that losing them would lose it: factor
// secrets, queued messages, identity details, or a key check value.
func (s *Store) HoldsSealedData(ctx context.Context) (bool, error) {
	var held bool
	err := s.row(ctx, true, `SELECT EXISTS (SELECT 1 FROM key_checks)
		OR EXISTS (SELECT 1 FROM factors WHERE secret IS NOT NULL)
		OR EXISTS (SELECT 1 FROM outbox WHERE payload IS NOT NULL)
		OR EXISTS (SELECT 1 FROM users WHERE dob_hash IS NOT NULL OR ssn_hash IS NOT NULL)`).Scan(&held)
	return held, mapErr(err)
}

// SealedSample returns one value sealed with the master keys and the
// associated data it was sealed with — an authenticator's secret (its
// factor id) or a queued message's payload (its message id) — so that keys
// can be tried on a database from before check values; ok is false when
// the database holds no such value.
func (s *Store) SealedSample(ctx context.Context) (sealed, aad []byte, ok bool, err error) {
	var id string
	err = s.row(ctx, false, `SELECT id, secret FROM factors WHERE kind = 'totp' AND secret IS NOT NULL LIMIT 1`).Scan(&id, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		err = s.row(ctx, false, `SELECT id, payload FROM outbox WHERE payload IS NOT NULL LIMIT 1`).Scan(&id, &sealed)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, mapErr(err)
	}
	return sealed, []byte(id), true, nil
}
