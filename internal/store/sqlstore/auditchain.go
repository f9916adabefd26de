package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/countersign/countersign/internal/store"
)

// The audit chain's storage (X6): the sealer's locked head and the rows it
// chains, and the reads of verification, in pages so that a chain of
// millions of events is walked in bounded memory.

const auditColumns = `id, tenant_id, user_id, application_id, actor, event, outcome, ip, detail, created_at,
	nonce, content_hash, mac, key_id, genesis, seq, prev_hash, hash`

func scanAuditEvent(sc interface{ Scan(...any) error }) (*store.AuditEvent, error) {
	var e store.AuditEvent
	var created int64
	var genesis int64
	var seq sql.NullInt64
	if err := sc.Scan(&e.ID, &e.TenantID, &e.UserID, &e.ApplicationID, &e.Actor, &e.Event, &e.Outcome, &e.IP, &e.Detail, &created,
		&e.Nonce, &e.ContentHash, &e.MAC, &e.KeyID, &genesis, &seq, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.CreatedAt = fromMicros(created)
	e.Genesis = genesis != 0
	e.Seq = seq.Int64
	return &e, nil
}

func (q *queries) UnsealedAuditTenants(ctx context.Context, limit int) ([]string, error) {
	rows, err := q.query(ctx, `SELECT DISTINCT tenant_id FROM audit_events WHERE seq IS NULL ORDER BY tenant_id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	return collectStrings(rows)
}

func collectStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, unavailable(err)
		}
		out = append(out, v)
	}
	return out, unavailable(rows.Err())
}

func (q *queries) LockAuditHead(ctx context.Context, tenantID string) (*store.AuditHead, error) {
	if !q.inTx() {
		return nil, errors.New("LockAuditHead outside a transaction")
	}
	// A new tenant's chain starts empty; a tenant whose events are already
	// chained but whose head is gone does not silently start again.
	if _, err := q.exec(ctx, `INSERT INTO audit_heads (tenant_id, seq, legacy_until, updated_at)
		SELECT ?, 0, 0, ? WHERE NOT EXISTS (SELECT 1 FROM audit_events WHERE tenant_id = ? AND seq IS NOT NULL)
		ON CONFLICT (tenant_id) DO NOTHING`, tenantID, micros(q.s.now()), tenantID); err != nil {
		return nil, err
	}
	query := `SELECT tenant_id, seq, hash, legacy_until, updated_at FROM audit_heads WHERE tenant_id = ?`
	if q.s.dialect == DialectPostgres {
		query += ` FOR UPDATE`
	}
	h, err := scanAuditHead(q.row(ctx, true, query, tenantID))
	if err != nil {
		return nil, fmt.Errorf("audit head of %s: %w", tenantID, err)
	}
	return h, nil
}

func scanAuditHead(r row) (*store.AuditHead, error) {
	var h store.AuditHead
	var updated int64
	if err := r.Scan(&h.TenantID, &h.Seq, &h.Hash, &h.LegacyUntil, &updated); err != nil {
		return nil, mapErr(err)
	}
	h.UpdatedAt = fromMicros(updated)
	return &h, nil
}

func (q *queries) AuditHeadOf(ctx context.Context, tenantID string) (*store.AuditHead, error) {
	return scanAuditHead(q.queryRow(ctx, `SELECT tenant_id, seq, hash, legacy_until, updated_at FROM audit_heads WHERE tenant_id = ?`, tenantID))
}

func (q *queries) SetAuditHead(ctx context.Context, h *store.AuditHead) error {
	return oneRow(q.exec(ctx, `UPDATE audit_heads SET seq = ?, hash = ?, legacy_until = ?, updated_at = ? WHERE tenant_id = ?`,
		h.Seq, h.Hash, h.LegacyUntil, micros(h.UpdatedAt), h.TenantID))
}

func (q *queries) UnsealedAudit(ctx context.Context, tenantID string, afterID int64, limit int) ([]store.AuditEvent, error) {
	rows, err := q.rows(ctx, q.inTx(), `SELECT `+auditColumns+` FROM audit_events
		WHERE tenant_id = ? AND seq IS NULL AND id > ? ORDER BY id LIMIT ?`, tenantID, afterID, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanAuditEvent)
}

func (q *queries) SealAuditEvent(ctx context.Context, e *store.AuditEvent) error {
	genesis := 0
	if e.Genesis {
		genesis = 1
	}
	n, err := q.exec(ctx, `UPDATE audit_events SET seq = ?, prev_hash = ?, hash = ?, content_hash = ?, mac = ?, key_id = ?, genesis = ?
		WHERE id = ? AND tenant_id = ? AND seq IS NULL`,
		e.Seq, e.PrevHash, e.Hash, e.ContentHash, e.MAC, e.KeyID, genesis, e.ID, e.TenantID)
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%w: audit event %d is sealed already", store.ErrConflict, e.ID)
	}
	return nil
}

func (q *queries) SealedAudit(ctx context.Context, tenantID string, afterSeq int64, limit int) ([]store.AuditEvent, error) {
	rows, err := q.query(ctx, `SELECT `+auditColumns+` FROM audit_events
		WHERE tenant_id = ? AND seq IS NOT NULL AND seq > ? ORDER BY seq LIMIT ?`, tenantID, afterSeq, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanAuditEvent)
}

func (q *queries) DuplicateAuditMAC(ctx context.Context, tenantID string) ([]store.AuditEvent, error) {
	var mac []byte
	err := q.queryRow(ctx, `SELECT mac FROM audit_events WHERE tenant_id = ? AND mac IS NOT NULL
		GROUP BY mac HAVING COUNT(*) > 1 ORDER BY MIN(id) LIMIT 1`, tenantID).Scan(&mac)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rows, err := q.query(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE tenant_id = ? AND mac = ? ORDER BY id LIMIT 2`, tenantID, mac)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanAuditEvent)
}

func (q *queries) AppendAuditCheckpoint(ctx context.Context, c *store.AuditCheckpoint) error {
	_, err := q.exec(ctx, `INSERT INTO audit_checkpoints (tenant_id, seq, hash, created_at, key_id, signature) VALUES (?, ?, ?, ?, ?, ?)`,
		c.TenantID, c.Seq, c.Hash, micros(c.CreatedAt), c.KeyID, c.Signature)
	return err
}

func scanAuditCheckpoint(sc interface{ Scan(...any) error }) (*store.AuditCheckpoint, error) {
	var c store.AuditCheckpoint
	var created int64
	if err := sc.Scan(&c.TenantID, &c.Seq, &c.Hash, &created, &c.KeyID, &c.Signature); err != nil {
		return nil, mapErr(err)
	}
	c.CreatedAt = fromMicros(created)
	return &c, nil
}

func (q *queries) LastAuditCheckpoint(ctx context.Context, tenantID string) (*store.AuditCheckpoint, error) {
	return scanAuditCheckpoint(q.row(ctx, q.inTx(), `SELECT tenant_id, seq, hash, created_at, key_id, signature FROM audit_checkpoints
		WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1`, tenantID))
}

func (q *queries) AuditCheckpoints(ctx context.Context, tenantID string, afterSeq int64, limit int) ([]store.AuditCheckpoint, error) {
	rows, err := q.query(ctx, `SELECT tenant_id, seq, hash, created_at, key_id, signature FROM audit_checkpoints
		WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`, tenantID, afterSeq, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanAuditCheckpoint)
}
