package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// Tenant-wide enablement (B1) and phased enforcement (A1).

func (q *queries) TenantForUpdate(ctx context.Context, id string) (*store.Tenant, error) {
	query := `SELECT ` + tenantCols + ` FROM tenants WHERE id = ?`
	if q.s.dialect == DialectPostgres {
		// SQLite's write transactions already run one at a time.
		query += ` FOR UPDATE`
	}
	return scanTenant(q.row(ctx, true, query, id))
}

func (q *queries) SetTenantMFAEnabled(ctx context.Context, id, by string, at time.Time) (bool, error) {
	n, err := q.exec(ctx, `UPDATE tenants SET mfa_enabled_at = ?, mfa_enabled_by = ? WHERE id = ? AND mfa_enabled_at IS NULL`, micros(at), by, id)
	return n == 1, err
}

// usable leaves out the accounts no one uses any more.
const usable = `users.status NOT IN ('` + store.StatusDisabled + `', '` + store.StatusExpired + `')`

// hasFactor is true for a person with an active second factor.
const hasFactor = `EXISTS (SELECT 1 FROM factors f WHERE f.user_id = users.id AND f.state = '` + store.FactorActive + `')`

func (q *queries) CountAdministrators(ctx context.Context, tenantID string) (total, enrolled int, err error) {
	err = q.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN `+hasFactor+` THEN 1 ELSE 0 END), 0)
		FROM users WHERE users.tenant_id = ? AND users.console_role = ? AND `+usable,
		tenantID, store.RoleAdmin).Scan(&total, &enrolled)
	return total, enrolled, mapErr(err)
}

func (q *queries) CountPeople(ctx context.Context, tenantID string) (store.PeopleCounts, error) {
	var c store.PeopleCounts
	err := q.queryRow(ctx, `SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN `+hasFactor+` THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN users.phone_verified_at IS NULL AND users.email_verified_at IS NULL THEN 1 ELSE 0 END), 0)
		FROM users WHERE users.tenant_id = ? AND `+usable, tenantID).Scan(&c.Total, &c.Enrolled, &c.NoContact)
	return c, mapErr(err)
}

func (q *queries) CountDelivered(ctx context.Context, tenantID, channel, purpose string, since time.Time) (int, error) {
	var n int
	err := q.queryRow(ctx, `SELECT COUNT(*) FROM outbox WHERE tenant_id = ? AND channel = ? AND (? = '' OR purpose = ?) AND state = ? AND delivered_at >= ?`,
		tenantID, channel, purpose, purpose, store.OutboxDelivered, micros(since)).Scan(&n)
	return n, mapErr(err)
}

const phaseCols = `id, tenant_id, name, groups, units, starts_at, created_at, created_by, scheduled_notified_at, started_notified_at`

func scanPhase(sc interface{ Scan(...any) error }) (*store.Phase, error) {
	var p store.Phase
	var groups, units string
	var starts, created int64
	var scheduled, started sql.NullInt64
	if err := sc.Scan(&p.ID, &p.TenantID, &p.Name, &groups, &units, &starts, &created, &p.CreatedBy, &scheduled, &started); err != nil {
		return nil, mapErr(err)
	}
	if err := json.Unmarshal([]byte(groups), &p.Groups); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(units), &p.Units); err != nil {
		return nil, err
	}
	p.StartsAt, p.CreatedAt = fromMicros(starts), fromMicros(created)
	p.ScheduledNotifiedAt, p.StartedNotifiedAt = timePtr(scheduled), timePtr(started)
	return &p, nil
}

func names(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (q *queries) CreatePhase(ctx context.Context, p *store.Phase) error {
	_, err := q.exec(ctx, `INSERT INTO enforcement_phases (id, tenant_id, name, groups, units, starts_at, created_at, created_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.TenantID, p.Name, names(p.Groups), names(p.Units), micros(p.StartsAt), micros(p.CreatedAt), p.CreatedBy)
	return err
}

func (q *queries) PhaseByID(ctx context.Context, tenantID, id string) (*store.Phase, error) {
	return scanPhase(q.queryRow(ctx, `SELECT `+phaseCols+` FROM enforcement_phases WHERE tenant_id = ? AND id = ?`, tenantID, id))
}

func (q *queries) ListPhases(ctx context.Context, tenantID string) ([]store.Phase, error) {
	rows, err := q.query(ctx, `SELECT `+phaseCols+` FROM enforcement_phases WHERE tenant_id = ? ORDER BY starts_at, id`, tenantID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanPhase)
}

func (q *queries) DeletePhase(ctx context.Context, tenantID, id string, now time.Time) (bool, error) {
	// Its notices go with it (ON DELETE CASCADE).
	n, err := q.exec(ctx, `DELETE FROM enforcement_phases WHERE tenant_id = ? AND id = ? AND starts_at > ?`, tenantID, id, micros(now))
	return n == 1, err
}

// covered is true for a person the phase p names a group or unit of.
func (q *queries) covered() string {
	list := func(col string) string {
		if q.s.dialect == DialectPostgres {
			return `SELECT jsonb_array_elements_text(p.` + col + `::jsonb)`
		}
		return `SELECT value FROM json_each(p.` + col + `)`
	}
	return `EXISTS (SELECT 1 FROM user_memberships m WHERE m.user_id = users.id AND (
		(m.kind = 'group' AND m.name IN (` + list("groups") + `)) OR
		(m.kind = 'unit' AND m.name IN (` + list("units") + `))))`
}

func (q *queries) CountPhase(ctx context.Context, tenantID, id string) (inScope, enrolled int, err error) {
	err = q.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN `+hasFactor+` THEN 1 ELSE 0 END), 0)
		FROM enforcement_phases p JOIN users ON users.tenant_id = p.tenant_id
		WHERE p.tenant_id = ? AND p.id = ? AND `+usable+` AND `+q.covered(), tenantID, id).Scan(&inScope, &enrolled)
	return inScope, enrolled, mapErr(err)
}

func (q *queries) PendingPhases(ctx context.Context, now time.Time, limit int) ([]store.Phase, error) {
	rows, err := q.query(ctx, `SELECT `+phaseCols+` FROM enforcement_phases
		WHERE (starts_at > ? AND scheduled_notified_at IS NULL) OR (starts_at <= ? AND started_notified_at IS NULL)
		ORDER BY starts_at, id LIMIT ?`, micros(now), micros(now), limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanPhase)
}

func (q *queries) PhaseAudience(ctx context.Context, tenantID, phaseID, kind string, unenrolledOnly bool, limit int) ([]store.User, error) {
	query := `SELECT ` + prefixed("users.", userCols) + q.memberships() + ` FROM enforcement_phases p JOIN users ON users.tenant_id = p.tenant_id
		WHERE p.tenant_id = ? AND p.id = ? AND ` + usable + ` AND ` + q.covered() + `
		AND NOT EXISTS (SELECT 1 FROM phase_notices n WHERE n.phase_id = p.id AND n.user_id = users.id AND n.kind = ?)`
	if unenrolledOnly {
		query += ` AND NOT ` + hasFactor
	}
	query += ` ORDER BY users.id LIMIT ?`
	rows, err := q.query(ctx, query, tenantID, phaseID, kind, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanUserWithMemberships)
}

func (q *queries) RecordPhaseNotice(ctx context.Context, phaseID, userID, kind string, now time.Time) (bool, error) {
	n, err := q.exec(ctx, `INSERT INTO phase_notices (phase_id, user_id, kind, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (phase_id, user_id, kind) DO NOTHING`, phaseID, userID, kind, micros(now))
	return n == 1, err
}

func (q *queries) MarkPhaseNotified(ctx context.Context, phaseID, kind string, now time.Time) error {
	col := "scheduled_notified_at"
	if kind == store.PhaseNoticeStarted {
		col = "started_notified_at"
	}
	_, err := q.exec(ctx, `UPDATE enforcement_phases SET `+col+` = ? WHERE id = ? AND `+col+` IS NULL`, micros(now), phaseID)
	return err
}

// prefixed qualifies each of a comma-separated list of columns with table.
func prefixed(table, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = table + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
