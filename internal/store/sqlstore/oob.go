package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// ---- challenges ----

const challengeCols = `id, tenant_id, user_id, purpose, channel, destination, code_hash, txn_id, created_at, expires_at, consumed_at`

func scanChallenge(sc interface{ Scan(...any) error }) (*store.Challenge, error) {
	var c store.Challenge
	var created, expires int64
	var consumed sql.NullInt64
	if err := sc.Scan(&c.ID, &c.TenantID, &c.UserID, &c.Purpose, &c.Channel, &c.Destination, &c.CodeHash, &c.TxnID, &created, &expires, &consumed); err != nil {
		return nil, mapErr(err)
	}
	c.CreatedAt, c.ExpiresAt, c.ConsumedAt = fromMicros(created), fromMicros(expires), timePtr(consumed)
	return &c, nil
}

func (q *queries) CreateChallenge(ctx context.Context, c *store.Challenge) error {
	_, err := q.exec(ctx, `INSERT INTO challenges (`+challengeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
		c.ID, c.TenantID, c.UserID, c.Purpose, c.Channel, c.Destination, c.CodeHash, c.TxnID, micros(c.CreatedAt), micros(c.ExpiresAt))
	return err
}

func (q *queries) ConsumeChallenge(ctx context.Context, userID, purpose string, codeHash []byte, now time.Time) (*store.Challenge, error) {
	// Two live challenges could share a code by chance; consume just one.
	query := `UPDATE challenges SET consumed_at = ? WHERE id = (SELECT id FROM challenges
		WHERE user_id = ? AND purpose = ? AND code_hash = ? AND consumed_at IS NULL AND expires_at > ? ORDER BY created_at DESC LIMIT 1)
		AND consumed_at IS NULL RETURNING ` + challengeCols
	c, err := scanChallenge(q.row(ctx, true, query, micros(now), userID, purpose, codeHash, micros(now)))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return c, err
}

func (q *queries) ConsumeAllChallenges(ctx context.Context, userID, purpose string, now time.Time) (int, error) {
	n, err := q.exec(ctx, `UPDATE challenges SET consumed_at = ? WHERE user_id = ? AND purpose = ? AND consumed_at IS NULL`, micros(now), userID, purpose)
	return int(n), err
}

func (q *queries) LiveChallenge(ctx context.Context, tenantID, id string, now time.Time) (*store.Challenge, error) {
	return scanChallenge(q.queryRow(ctx, `SELECT `+challengeCols+` FROM challenges WHERE tenant_id = ? AND id = ? AND consumed_at IS NULL AND expires_at > ?`,
		tenantID, id, micros(now)))
}

// ---- rate limits ----

func (q *queries) TakeRate(ctx context.Context, key string, windowStart time.Time, limit int) (bool, error) {
	// One statement: the insert-or-increment is bounded, so parallel sends
	// never pass the limit (X4).
	query := `INSERT INTO rate_counters (key, window_start, count) VALUES (?, ?, 1)
		ON CONFLICT (key, window_start) DO UPDATE SET count = rate_counters.count + 1 WHERE rate_counters.count < ?
		RETURNING count`
	var n int
	err := q.row(ctx, true, query, key, micros(windowStart), limit).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return n <= limit, nil
}

func (q *queries) DeleteRateWindows(ctx context.Context, before time.Time) (int, error) {
	n, err := q.exec(ctx, `DELETE FROM rate_counters WHERE window_start < ?`, micros(before))
	return int(n), err
}

// ---- trusted devices ----

const deviceCols = `id, tenant_id, user_id, token_hash, ip, label, created_at, expires_at, last_used_at, revoked_at`

func scanDevice(sc interface{ Scan(...any) error }) (*store.TrustedDevice, error) {
	var d store.TrustedDevice
	var created, expires int64
	var used, revoked sql.NullInt64
	if err := sc.Scan(&d.ID, &d.TenantID, &d.UserID, &d.TokenHash, &d.IP, &d.Label, &created, &expires, &used, &revoked); err != nil {
		return nil, mapErr(err)
	}
	d.CreatedAt, d.ExpiresAt, d.LastUsedAt, d.RevokedAt = fromMicros(created), fromMicros(expires), timePtr(used), timePtr(revoked)
	return &d, nil
}

func (q *queries) CreateTrustedDevice(ctx context.Context, d *store.TrustedDevice) error {
	_, err := q.exec(ctx, `INSERT INTO trusted_devices (id, tenant_id, user_id, token_hash, ip, label, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.TenantID, d.UserID, d.TokenHash, d.IP, d.Label, micros(d.CreatedAt), micros(d.ExpiresAt))
	return err
}

func (q *queries) TrustedDeviceByHash(ctx context.Context, tenantID string, hash []byte) (*store.TrustedDevice, error) {
	return scanDevice(q.queryRow(ctx, `SELECT `+deviceCols+` FROM trusted_devices WHERE tenant_id = ? AND token_hash = ?`, tenantID, hash))
}

func (q *queries) ListTrustedDevices(ctx context.Context, userID string) ([]store.TrustedDevice, error) {
	rows, err := q.query(ctx, `SELECT `+deviceCols+` FROM trusted_devices WHERE user_id = ? ORDER BY created_at DESC`, userID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanDevice)
}

func (q *queries) TouchTrustedDevice(ctx context.Context, id string, now time.Time) error {
	_, err := q.exec(ctx, `UPDATE trusted_devices SET last_used_at = ? WHERE id = ?`, micros(now), id)
	return err
}

func (q *queries) RevokeTrustedDevice(ctx context.Context, userID, id string, now time.Time) (bool, error) {
	n, err := q.exec(ctx, `UPDATE trusted_devices SET revoked_at = ? WHERE user_id = ? AND id = ? AND revoked_at IS NULL`, micros(now), userID, id)
	return n == 1, err
}

func (q *queries) RevokeAllTrustedDevices(ctx context.Context, userID string, now time.Time) (int, error) {
	n, err := q.exec(ctx, `UPDATE trusted_devices SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, micros(now), userID)
	return int(n), err
}

// ---- contacts ----

func (q *queries) SetPhone(ctx context.Context, tenantID, userID, phone string, verifiedAt *time.Time) error {
	n, err := q.exec(ctx, `UPDATE users SET phone = ?, phone_verified_at = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
		phone, nullMicros(verifiedAt), micros(q.s.now()), tenantID, userID)
	return oneRow(n, err)
}

func (q *queries) SetEmail(ctx context.Context, tenantID, userID, email string, verifiedAt *time.Time) error {
	n, err := q.exec(ctx, `UPDATE users SET email = ?, email_norm = ?, email_verified_at = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
		email, nullString(strings.ToLower(email)), nullMicros(verifiedAt), micros(q.s.now()), tenantID, userID)
	return oneRow(n, err)
}

func (q *queries) TakeOTA(ctx context.Context, userID string, limit int) (bool, error) {
	n, err := q.exec(ctx, `UPDATE users SET ota_consecutive = ota_consecutive + 1 WHERE id = ? AND ota_consecutive < ?`, userID, limit)
	return n == 1, err
}

func (q *queries) ResetOTA(ctx context.Context, userID string) error {
	_, err := q.exec(ctx, `UPDATE users SET ota_consecutive = 0 WHERE id = ? AND ota_consecutive <> 0`, userID)
	return err
}

func (q *queries) UpsertFactor(ctx context.Context, f *store.Factor, now time.Time) error {
	return q.atomic(ctx, func(q *queries) error {
		if f.Config == "" {
			f.Config = "{}"
		}
		var id string
		err := q.queryRow(ctx, `SELECT id FROM factors WHERE user_id = ? AND kind = ? AND state = 'active'`, f.UserID, f.Kind).Scan(&id)
		if err == nil {
			f.ID, f.State = id, store.FactorActive
			_, err = q.exec(ctx, `UPDATE factors SET config = ?, secret = ? WHERE id = ?`, f.Config, f.Secret, id)
			return err
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		f.State, f.LastStep, f.CreatedAt, f.ConfirmedAt = store.FactorActive, -1, now, &now
		_, err = q.exec(ctx, `INSERT INTO factors (id, tenant_id, user_id, kind, state, secret, last_step, attempts, created_at, confirmed_at, config)
			VALUES (?, ?, ?, ?, ?, ?, -1, 0, ?, ?, ?)`, f.ID, f.TenantID, f.UserID, f.Kind, f.State, f.Secret, micros(now), micros(now), f.Config)
		return err
	})
}
