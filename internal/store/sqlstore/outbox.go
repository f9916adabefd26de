package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/store"
)

const outboxCols = `id, tenant_id, user_id, channel, purpose, destination, payload, state, attempts, next_attempt_at,
	lease_until, claimed_by, last_error, provider, provider_ref, created_at, delivered_at`

func scanOutbox(sc interface{ Scan(...any) error }) (*store.OutboxMessage, error) {
	var m store.OutboxMessage
	var next, created int64
	var lease, delivered sql.NullInt64
	err := sc.Scan(&m.ID, &m.TenantID, &m.UserID, &m.Channel, &m.Purpose, &m.Destination, &m.Payload, &m.State, &m.Attempts, &next,
		&lease, &m.ClaimedBy, &m.LastError, &m.Provider, &m.ProviderRef, &created, &delivered)
	if err != nil {
		return nil, mapErr(err)
	}
	m.NextAttemptAt = fromMicros(next)
	m.LeaseUntil = timePtr(lease)
	m.CreatedAt = fromMicros(created)
	m.DeliveredAt = timePtr(delivered)
	return &m, nil
}

func (q *queries) EnqueueOutbox(ctx context.Context, m *store.OutboxMessage) error {
	if m.State == "" {
		m.State = store.OutboxPending
	}
	_, err := q.exec(ctx, `INSERT INTO outbox (id, tenant_id, user_id, channel, purpose, destination, payload, state, next_attempt_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.TenantID, m.UserID, m.Channel, m.Purpose, m.Destination, m.Payload, m.State, micros(m.NextAttemptAt), micros(m.CreatedAt))
	return err
}

func (q *queries) ClaimOutbox(ctx context.Context, worker string, now, leaseUntil time.Time, limit int) ([]store.OutboxMessage, error) {
	lock := ""
	if q.s.dialect == DialectPostgres {
		// Rows another worker is claiming are skipped, not waited for.
		lock = " FOR UPDATE SKIP LOCKED"
	}
	query := `UPDATE outbox SET state = ?, claimed_by = ?, lease_until = ?, attempts = attempts + 1
		WHERE id IN (SELECT id FROM outbox
			WHERE (state IN (?, ?) AND next_attempt_at <= ?) OR (state = ? AND lease_until < ?)
			ORDER BY next_attempt_at LIMIT ?` + lock + `)
		RETURNING ` + outboxCols
	rows, err := q.rows(ctx, true, query, store.OutboxSending, worker, micros(leaseUntil),
		store.OutboxPending, store.OutboxRetry, micros(now), store.OutboxSending, micros(now), limit)
	if err != nil {
		return nil, mapErr(err)
	}
	return collect(rows, scanOutbox)
}

func (q *queries) MarkOutboxDelivered(ctx context.Context, id, worker, provider, ref string, now time.Time) (bool, error) {
	n, err := q.exec(ctx, `UPDATE outbox SET state = ?, payload = NULL, provider = ?, provider_ref = ?, delivered_at = ?, lease_until = NULL, last_error = ''
		WHERE id = ? AND claimed_by = ? AND state = ?`, store.OutboxDelivered, provider, ref, micros(now), id, worker, store.OutboxSending)
	return n == 1, err
}

func (q *queries) MarkOutboxFailed(ctx context.Context, id, worker, provider, reason string, next time.Time, dead bool) (bool, error) {
	state := store.OutboxRetry
	if dead {
		state = store.OutboxDead
	}
	if len(reason) > 500 {
		reason = reason[:500]
	}
	query := `UPDATE outbox SET state = ?, provider = ?, last_error = ?, next_attempt_at = ?, lease_until = NULL`
	if dead {
		// A message that will never be sent keeps no secret.
		query += `, payload = NULL`
	}
	n, err := q.exec(ctx, query+` WHERE id = ? AND claimed_by = ? AND state = ?`, state, provider, reason, micros(next), id, worker, store.OutboxSending)
	return n == 1, err
}

func (q *queries) RenewOutboxLeases(ctx context.Context, worker string, ids []string, until time.Time) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := append([]any{micros(until), worker, store.OutboxSending}, anys(ids)...)
	rows, err := q.rows(ctx, true, `UPDATE outbox SET lease_until = ?
		WHERE claimed_by = ? AND state = ? AND id IN (`+marks(len(ids))+`) RETURNING id`, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var held []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		held = append(held, id)
	}
	return held, rows.Err()
}

func (q *queries) ReleaseOutbox(ctx context.Context, worker string, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	// The claim counted an attempt and forgot whether the message was pending
	// or waiting for a retry; both are told by the count before the claim.
	args := append([]any{store.OutboxPending, store.OutboxRetry, worker, store.OutboxSending}, anys(ids)...)
	n, err := q.exec(ctx, `UPDATE outbox SET state = CASE WHEN attempts <= 1 THEN ? ELSE ? END, attempts = attempts - 1,
		lease_until = NULL, claimed_by = ''
		WHERE claimed_by = ? AND state = ? AND id IN (`+marks(len(ids))+`)`, args...)
	return int(n), err
}

func marks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func (q *queries) ListOutbox(ctx context.Context, f store.OutboxFilter) ([]store.OutboxMessage, error) {
	where := []string{"tenant_id = ?"}
	args := []any{f.TenantID}
	if f.State != "" {
		where = append(where, "state = ?")
		args = append(args, f.State)
	}
	if f.UserID != "" {
		where = append(where, "user_id = ?")
		args = append(args, f.UserID)
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	args = append(args, limit)
	rows, err := q.query(ctx, `SELECT `+outboxCols+` FROM outbox WHERE `+strings.Join(where, " AND ")+` ORDER BY created_at DESC, id LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanOutbox)
}

func (q *queries) CountOutbox(ctx context.Context) (map[string]int, error) {
	rows, err := q.query(ctx, `SELECT state, COUNT(*) FROM outbox GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, unavailable(err)
		}
		out[s] = n
	}
	return out, unavailable(rows.Err())
}
