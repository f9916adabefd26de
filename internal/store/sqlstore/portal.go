package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// ---- users: portal additions ----

func (q *queries) UnlockPassword(ctx context.Context, tenantID, userID string) error {
	n, err := q.exec(ctx, `UPDATE users SET password_failures = 0, password_locked_at = NULL WHERE tenant_id = ? AND id = ?`, tenantID, userID)
	return oneRow(n, err)
}

func (q *queries) SetConsoleRole(ctx context.Context, tenantID, userID, role string) error {
	n, err := q.exec(ctx, `UPDATE users SET console_role = ? WHERE tenant_id = ? AND id = ?`, role, tenantID, userID)
	return oneRow(n, err)
}

func (q *queries) SetUserLocale(ctx context.Context, tenantID, userID, locale string) error {
	n, err := q.exec(ctx, `UPDATE users SET locale = ? WHERE tenant_id = ? AND id = ?`, locale, tenantID, userID)
	return oneRow(n, err)
}

func (q *queries) SetIdentity(ctx context.Context, tenantID, userID string, dobHash, ssnHash []byte) error {
	n, err := q.exec(ctx, `UPDATE users SET dob_hash = ?, ssn_hash = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
		dobHash, ssnHash, micros(q.s.now()), tenantID, userID)
	return oneRow(n, err)
}

func (q *queries) UsersByPhone(ctx context.Context, tenantID, phone string, limit int) ([]store.User, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := q.query(ctx, `SELECT `+userCols+q.memberships()+` FROM users
		WHERE tenant_id = ? AND phone = ? AND phone_verified_at IS NOT NULL ORDER BY login_id_norm, id LIMIT ?`, tenantID, phone, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanUserWithMemberships)
}

// ---- portal sessions ----

const portalSessionCols = `id, token_hash, tenant_id, user_id, level, txn_id, auth_at, created_at, last_seen_at, expires_at, ip, user_agent, data, ended_at`

func scanPortalSession(sc interface{ Scan(...any) error }) (*store.PortalSession, error) {
	var s store.PortalSession
	var auth, created, seen, expires int64
	var ended sql.NullInt64
	if err := sc.Scan(&s.ID, &s.TokenHash, &s.TenantID, &s.UserID, &s.Level, &s.TxnID, &auth, &created, &seen, &expires,
		&s.IP, &s.UserAgent, &s.Data, &ended); err != nil {
		return nil, mapErr(err)
	}
	s.AuthAt, s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMicros(auth), fromMicros(created), fromMicros(seen), fromMicros(expires)
	s.EndedAt = timePtr(ended)
	return &s, nil
}

func (q *queries) CreatePortalSession(ctx context.Context, s *store.PortalSession) error {
	if s.Data == "" {
		s.Data = "{}"
	}
	_, err := q.exec(ctx, `INSERT INTO portal_sessions (`+portalSessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.TokenHash, s.TenantID, s.UserID, s.Level, s.TxnID, micros(s.AuthAt), micros(s.CreatedAt), micros(s.LastSeenAt),
		micros(s.ExpiresAt), s.IP, s.UserAgent, s.Data, nullMicros(s.EndedAt))
	return err
}

// PortalSessionByHash decides liveness in the one statement that reads the
// session, so a factor revoked on another server ends it here too.
func (q *queries) PortalSessionByHash(ctx context.Context, hash []byte, now time.Time, idle time.Duration) (*store.PortalSession, error) {
	return scanPortalSession(q.queryRow(ctx, `SELECT `+portalSessionCols+` FROM portal_sessions s
		WHERE s.token_hash = ? AND s.ended_at IS NULL AND s.expires_at > ? AND s.last_seen_at > ?
		AND NOT EXISTS (SELECT 1 FROM factors f WHERE f.user_id = s.user_id
			AND f.confirmed_at IS NOT NULL AND f.revoked_at IS NOT NULL AND f.revoked_at > s.auth_at)`,
		hash, micros(now), micros(now.Add(-idle))))
}

func (q *queries) UpdatePortalSession(ctx context.Context, s *store.PortalSession) (bool, error) {
	if s.Data == "" {
		s.Data = "{}"
	}
	n, err := q.exec(ctx, `UPDATE portal_sessions SET level = ?, user_id = ?, txn_id = ?, auth_at = ?, last_seen_at = ?, data = ?
		WHERE id = ? AND ended_at IS NULL`,
		s.Level, s.UserID, s.TxnID, micros(s.AuthAt), micros(s.LastSeenAt), s.Data, s.ID)
	return n == 1, err
}

func (q *queries) EndPortalSession(ctx context.Context, id string, now time.Time) error {
	_, err := q.exec(ctx, `UPDATE portal_sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL`, micros(now), id)
	return err
}

func (q *queries) EndUserPortalSessions(ctx context.Context, userID, keep string, now time.Time) (int, error) {
	n, err := q.exec(ctx, `UPDATE portal_sessions SET ended_at = ? WHERE user_id = ? AND id <> ? AND ended_at IS NULL`, micros(now), userID, keep)
	return int(n), err
}

func (q *queries) DeleteExpiredPortalSessions(ctx context.Context, before time.Time) (int, error) {
	n, err := q.exec(ctx, `DELETE FROM portal_sessions WHERE expires_at < ? OR ended_at < ?`, micros(before), micros(before))
	return int(n), err
}

// ---- support requests ----

const supportCols = `id, tenant_id, tracking, user_id, login_id, name, phone, email, subject, message, ip, state, created_at`

func (q *queries) CreateSupportRequest(ctx context.Context, r *store.SupportRequest) error {
	if r.State == "" {
		r.State = store.SupportOpen
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	_, err := q.exec(ctx, `INSERT INTO support_requests (`+supportQueueCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.TenantID, r.Tracking, r.UserID, r.LoginID, r.Name, r.Phone, r.Email, r.Subject, r.Message, r.IP, r.State, micros(r.CreatedAt),
		r.Assignee, micros(r.UpdatedAt))
	return err
}

// ListSupportRequests pages on (created_at, tracking), the listing's order:
// beforeTracking names the last row of the previous page, and a tracking
// number unknown in the tenant yields no rows.
func (q *queries) ListSupportRequests(ctx context.Context, tenantID, beforeTracking string, limit int) ([]store.SupportRequest, error) {
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	var rows *sql.Rows
	var err error
	if beforeTracking == "" {
		rows, err = q.query(ctx, `SELECT `+supportQueueCols+` FROM support_requests WHERE tenant_id = ?
			ORDER BY created_at DESC, tracking DESC LIMIT ?`, tenantID, limit)
	} else {
		rows, err = q.query(ctx, `SELECT `+prefixed("r.", supportQueueCols)+` FROM support_requests r WHERE r.tenant_id = ?
			AND EXISTS (SELECT 1 FROM support_requests b WHERE b.tenant_id = r.tenant_id AND b.tracking = ?
				AND (r.created_at < b.created_at OR (r.created_at = b.created_at AND r.tracking < b.tracking)))
			ORDER BY r.created_at DESC, r.tracking DESC LIMIT ?`, tenantID, beforeTracking, limit)
	}
	if err != nil {
		return nil, err
	}
	return collect(rows, scanSupportQueue)
}

func (q *queries) SupportRequestByTracking(ctx context.Context, tenantID, tracking string) (*store.SupportRequest, error) {
	return scanSupportQueue(q.queryRow(ctx, `SELECT `+supportQueueCols+` FROM support_requests WHERE tenant_id = ? AND tracking = ?`, tenantID, tracking))
}
