package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// likePrefix escapes s for a LIKE pattern that matches its start.
func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s) + "%"
}

// phoneDigits returns the digits of a query that looks like a phone number
// (digits and the separators people type, at least 4 digits), else "".
func phoneDigits(query string) string {
	var b strings.Builder
	for _, r := range query {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case strings.ContainsRune(" -.()+", r):
		default:
			return ""
		}
	}
	if b.Len() < 4 {
		return ""
	}
	return b.String()
}

// SearchUsers matches the login ID and email by their start (both columns
// are stored lower-cased), the display name by the start of any of its
// words, and a phone-looking query by the whole number or its last digits.
// LIKE with a pattern parameter uses no index on either database, so a
// search reads the tenant's rows in login ID order (the tenant's unique
// login ID index) until the page is full: fine for the thousands of people
// a tenant has, and it keeps one spelling of the query for both databases.
func (q *queries) SearchUsers(ctx context.Context, f store.UserFilter) ([]store.User, error) {
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	where := []string{`tenant_id = ?`, `login_id_norm > ?`}
	args := []any{f.TenantID, strings.ToLower(f.After)}
	if f.Status != "" {
		where = append(where, `status = ?`)
		args = append(args, f.Status)
	}
	if query := strings.ToLower(strings.TrimSpace(f.Query)); query != "" {
		prefix := likePrefix(query)
		or := []string{
			`login_id_norm LIKE ? ESCAPE '\'`,
			`email_norm LIKE ? ESCAPE '\'`,
			`lower(display_name) LIKE ? ESCAPE '\'`,
			`lower(display_name) LIKE ? ESCAPE '\'`,
		}
		args = append(args, prefix, prefix, prefix, "% "+prefix)
		if digits := phoneDigits(query); digits != "" {
			var errs validate.Errors
			if full := validate.Phone(&errs, "q", query, false); full != "" {
				or = append(or, `phone = ?`)
				args = append(args, full)
			} else {
				or = append(or, `phone LIKE ? ESCAPE '\'`)
				args = append(args, "%"+digits)
			}
		}
		where = append(where, `(`+strings.Join(or, ` OR `)+`)`)
	}
	args = append(args, limit)
	rows, err := q.query(ctx, `SELECT `+userCols+q.memberships()+` FROM users WHERE `+strings.Join(where, ` AND `)+
		` ORDER BY login_id_norm LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanUserWithMemberships)
}

// TerminateUser changes the user's row first: on PostgreSQL that waits for
// any login holding the row and makes later ones wait for this transaction,
// which then ends everything the account could still use.
func (q *queries) TerminateUser(ctx context.Context, tenantID, userID, by, reason string, now time.Time) (store.Termination, error) {
	var t store.Termination
	err := q.atomic(ctx, func(q *queries) error {
		at := micros(now)
		n, err := q.exec(ctx, `UPDATE users SET status = '`+store.StatusTerminated+`', status_at = ?, updated_at = ?,
			terminated_at = ?, terminated_by = ?, terminated_reason = ?
			WHERE tenant_id = ? AND id = ? AND status <> '`+store.StatusTerminated+`'`, at, at, at, by, reason, tenantID, userID)
		if err != nil {
			return err
		}
		if n == 0 {
			return q.whyNoUser(ctx, tenantID, userID)
		}
		steps := []struct {
			count *int
			query string
			args  []any
		}{
			{&t.Factors, `UPDATE factors SET state = '` + store.FactorRevoked + `', revoked_at = ?
				WHERE user_id = ? AND state <> '` + store.FactorRevoked + `'`, []any{at, userID}},
			{&t.PortalSessions, `UPDATE portal_sessions SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL AND expires_at > ?`, []any{at, userID, at}},
			{&t.TrustedDevices, `UPDATE trusted_devices SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?`, []any{at, userID, at}},
			{&t.LoginTxns, `UPDATE login_txns SET state = '` + store.TxnDenied + `', completed_at = ?
				WHERE user_id = ? AND state = '` + store.TxnPending + `' AND expires_at > ?`, []any{at, userID, at}},
			{&t.OutboxMessages, `UPDATE outbox SET state = '` + store.OutboxDead + `', payload = NULL, lease_until = NULL,
				last_error = 'cancelled: account terminated'
				WHERE tenant_id = ? AND user_id = ? AND state IN ('` + store.OutboxPending + `', '` + store.OutboxRetry + `', '` + store.OutboxSending + `')`,
				[]any{tenantID, userID}},
			{&t.PushChallenges, `UPDATE push_challenges SET state = '` + store.PushExpired + `', answered_at = ?
				WHERE user_id = ? AND state = '` + store.PushOpen + `'`, []any{at, userID}},
			{&t.Challenges, `UPDATE challenges SET consumed_at = ? WHERE user_id = ? AND consumed_at IS NULL AND expires_at > ?`, []any{at, userID, at}},
			{&t.OIDCTokens, `UPDATE oidc_tokens SET revoked_at = ? WHERE tenant_id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?`,
				[]any{at, tenantID, userID, at}},
			{&t.OIDCCodes, `UPDATE oidc_auth_requests SET code_expires_at = ?
				WHERE tenant_id = ? AND user_id = ? AND code_hash IS NOT NULL AND code_used_at IS NULL AND code_expires_at > ?`,
				[]any{at, tenantID, userID, at}},
		}
		for _, s := range steps {
			n, err := q.exec(ctx, s.query, s.args...)
			if err != nil {
				return err
			}
			*s.count = int(n)
		}
		return nil
	})
	return t, err
}

// ---- the help desk's queue ----

const supportQueueCols = supportCols + `, assignee, updated_at`

func scanSupportQueue(sc interface{ Scan(...any) error }) (*store.SupportRequest, error) {
	var r store.SupportRequest
	var created, updated int64
	if err := sc.Scan(&r.ID, &r.TenantID, &r.Tracking, &r.UserID, &r.LoginID, &r.Name, &r.Phone, &r.Email, &r.Subject, &r.Message,
		&r.IP, &r.State, &created, &r.Assignee, &updated); err != nil {
		return nil, mapErr(err)
	}
	r.CreatedAt = fromMicros(created)
	r.UpdatedAt = fromMicros(updated)
	return &r, nil
}

// SearchSupportRequests pages like ListSupportRequests, on (created_at,
// tracking) newest first.
func (q *queries) SearchSupportRequests(ctx context.Context, f store.SupportFilter) ([]store.SupportRequest, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	where := []string{`r.tenant_id = ?`}
	args := []any{f.TenantID}
	if f.State != "" {
		where = append(where, `r.state = ?`)
		args = append(args, f.State)
	}
	if f.Assignee != "" {
		where = append(where, `r.assignee = ?`)
		args = append(args, f.Assignee)
	}
	if query := strings.TrimSpace(f.Query); query != "" {
		prefix := likePrefix(strings.ToLower(query))
		where = append(where, `(r.tracking = ? OR lower(r.tracking) LIKE ? ESCAPE '\' OR lower(r.login_id) LIKE ? ESCAPE '\'
			OR lower(r.email) LIKE ? ESCAPE '\' OR lower(r.name) LIKE ? ESCAPE '\' OR lower(r.name) LIKE ? ESCAPE '\')`)
		args = append(args, query, prefix, prefix, prefix, prefix, "% "+prefix)
	}
	if f.Before != "" {
		where = append(where, `EXISTS (SELECT 1 FROM support_requests b WHERE b.tenant_id = r.tenant_id AND b.tracking = ?
			AND (r.created_at < b.created_at OR (r.created_at = b.created_at AND r.tracking < b.tracking)))`)
		args = append(args, f.Before)
	}
	args = append(args, limit)
	rows, err := q.query(ctx, `SELECT `+prefixed("r.", supportQueueCols)+` FROM support_requests r WHERE `+strings.Join(where, ` AND `)+`
		ORDER BY r.created_at DESC, r.tracking DESC LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanSupportQueue)
}

// UpdateSupportRequest is one UPDATE, so two people changing one request at
// once each see the other's change or are refused by From.
func (q *queries) UpdateSupportRequest(ctx context.Context, tenantID, tracking string, u store.SupportUpdate, now time.Time) (*store.SupportRequest, error) {
	set := []string{`updated_at = ?`}
	args := []any{micros(now)}
	if u.State != nil {
		set = append(set, `state = ?`)
		args = append(args, *u.State)
	}
	if u.Assignee != nil {
		set = append(set, `assignee = ?`)
		args = append(args, *u.Assignee)
	}
	where := `tenant_id = ? AND tracking = ?`
	args = append(args, tenantID, tracking)
	if u.From != "" {
		where += ` AND state = ?`
		args = append(args, u.From)
	}
	rows, err := q.rows(ctx, true, `UPDATE support_requests SET `+strings.Join(set, ", ")+` WHERE `+where+` RETURNING `+supportQueueCols, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	got, err := collect(rows, scanSupportQueue)
	if err != nil {
		return nil, err
	}
	if len(got) == 0 {
		if _, err := q.SupportRequestByTracking(ctx, tenantID, tracking); err != nil {
			return nil, err
		}
		return nil, store.ErrConflict
	}
	return &got[0], nil
}

func (q *queries) AddSupportNote(ctx context.Context, n *store.SupportNote) error {
	return q.atomic(ctx, func(q *queries) error {
		c, err := q.exec(ctx, `UPDATE support_requests SET updated_at = ? WHERE tenant_id = ? AND id = ?`, micros(n.CreatedAt), n.TenantID, n.RequestID)
		if err := oneRow(c, err); err != nil {
			return err
		}
		_, err = q.exec(ctx, `INSERT INTO support_notes (id, tenant_id, request_id, author, body, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			n.ID, n.TenantID, n.RequestID, n.Author, n.Body, micros(n.CreatedAt))
		return err
	})
}

func (q *queries) SupportNotes(ctx context.Context, tenantID, requestID string) ([]store.SupportNote, error) {
	rows, err := q.query(ctx, `SELECT id, tenant_id, request_id, author, body, created_at FROM support_notes
		WHERE tenant_id = ? AND request_id = ? ORDER BY created_at, id`, tenantID, requestID)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(sc interface{ Scan(...any) error }) (*store.SupportNote, error) {
		var n store.SupportNote
		var created int64
		if err := sc.Scan(&n.ID, &n.TenantID, &n.RequestID, &n.Author, &n.Body, &created); err != nil {
			return nil, err
		}
		n.CreatedAt = fromMicros(created)
		return &n, nil
	})
}
