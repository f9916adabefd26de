package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/store"
)

const callCols = `id, tenant_id, user_id, txn_id, factor_id, purpose, leg, number, extension, state, digits, created_at, updated_at, completed_at`

func scanCall(sc interface{ Scan(...any) error }) (*store.VoiceCall, error) {
	var c store.VoiceCall
	var created, updated int64
	var completed sql.NullInt64
	if err := sc.Scan(&c.ID, &c.TenantID, &c.UserID, &c.TxnID, &c.FactorID, &c.Purpose, &c.Leg, &c.Number, &c.Extension, &c.State, &c.Digits,
		&created, &updated, &completed); err != nil {
		return nil, mapErr(err)
	}
	c.CreatedAt, c.UpdatedAt, c.CompletedAt = fromMicros(created), fromMicros(updated), timePtr(completed)
	return &c, nil
}

func (q *queries) CreateCall(ctx context.Context, c *store.VoiceCall) error {
	_, err := q.exec(ctx, `INSERT INTO voice_calls (`+callCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
		c.ID, c.TenantID, c.UserID, c.TxnID, c.FactorID, c.Purpose, c.Leg, c.Number, c.Extension, c.State, c.Digits, micros(c.CreatedAt), micros(c.UpdatedAt))
	return err
}

func (q *queries) CallByID(ctx context.Context, id string) (*store.VoiceCall, error) {
	return scanCall(q.queryRow(ctx, `SELECT `+callCols+` FROM voice_calls WHERE id = ?`, id))
}

// finalCall lists the states a call never leaves.
var finalCall = map[string]bool{store.CallApproved: true, store.CallWrongKey: true, store.CallNoInput: true, store.CallDisconnected: true,
	store.CallNoAnswer: true, store.CallWrongPIN: true, store.CallFraud: true, store.CallFailed: true}

func (q *queries) MoveCall(ctx context.Context, id string, from []string, to, digits string, now time.Time) (bool, error) {
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(from)), ", ")
	args := []any{to, digits, micros(now)}
	completed := "completed_at"
	if finalCall[to] {
		completed = "?"
		args = append(args, micros(now))
	}
	args = append(args, id)
	for _, f := range from {
		args = append(args, f)
	}
	n, err := q.exec(ctx, `UPDATE voice_calls SET state = ?, digits = ?, updated_at = ?, completed_at = `+completed+
		` WHERE id = ? AND state IN (`+marks+`)`, args...)
	return n == 1, err
}

func (q *queries) LatestCall(ctx context.Context, tenantID, ref string) (*store.VoiceCall, error) {
	return scanCall(q.queryRow(ctx, `SELECT `+callCols+` FROM voice_calls WHERE tenant_id = ? AND (txn_id = ? OR factor_id = ?)
		ORDER BY CASE WHEN completed_at IS NULL THEN 0 ELSE 1 END, created_at DESC, id DESC LIMIT 1`, tenantID, ref, ref))
}
