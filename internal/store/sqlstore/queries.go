package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/countersign/countersign/internal/store"
)

// queries runs statements either on the pools or inside one transaction.
type queries struct {
	s       *Store
	tx      *sql.Tx              // nil outside a transaction (SQLite)
	pg      *pgTx                // nil outside a transaction (PostgreSQL)
	missed  *[]string            // statements the transaction prepared for itself
	txStmts map[string]*sql.Stmt // cached statements bound to tx
}

var _ store.Queries = (*queries)(nil)

// inTx reports whether q runs inside a transaction.
func (q *queries) inTx() bool { return q.tx != nil || q.pg != nil }

// atomic runs fn in a transaction unless q already is one.
func (q *queries) atomic(ctx context.Context, fn func(q *queries) error) error {
	if q.inTx() {
		return fn(q)
	}
	return q.s.inTx(ctx, fn)
}

var rebound sync.Map // query text → PostgreSQL form

// bind rewrites ? placeholders to $n for PostgreSQL. Queries never contain a
// literal question mark, so a plain scan is enough.
func (q *queries) bind(query string) string {
	if q.s.dialect != DialectPostgres {
		return query
	}
	if v, ok := rebound.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	rebound.Store(query, b.String())
	return b.String()
}

// stmt returns a prepared statement for query on the write (or read) pool, or
// within the transaction. SQLite would otherwise parse every statement on
// every call, a quarter of a second-factor check's time; pgx caches
// prepared statements itself, so PostgreSQL runs queries directly.
func (q *queries) stmt(ctx context.Context, write bool, query string) (*sql.Stmt, error) {
	db, cache := q.s.r, &q.s.readStmts
	if write || q.tx != nil {
		db, cache = q.s.w, &q.s.writeStmts
	}
	if st, ok := cache.Load(query); ok {
		if q.tx == nil {
			return st.(*sql.Stmt), nil
		}
		// A batch runs the same statements many times in one transaction:
		// bind each to the transaction once.
		if bound, ok := q.txStmts[query]; ok {
			return bound, nil
		}
		bound := q.tx.StmtContext(context.WithoutCancel(ctx), st.(*sql.Stmt))
		if q.txStmts == nil {
			q.txStmts = map[string]*sql.Stmt{}
		}
		q.txStmts[query] = bound
		return bound, nil
	}
	if q.tx != nil {
		// The transaction holds SQLite's only writer connection, so preparing
		// on the pool now would wait for ourselves: prepare within the
		// transaction and cache it for the pool once the transaction ends.
		*q.missed = append(*q.missed, query)
		return q.tx.PrepareContext(ctx, query)
	}
	return q.s.prepare(ctx, db, cache, query)
}

// prepare adds query to a pool's statement cache.
func (s *Store) prepare(ctx context.Context, db *sql.DB, cache *sync.Map, query string) (*sql.Stmt, error) {
	prepared, err := db.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := cache.LoadOrStore(query, prepared); loaded {
		prepared.Close()
		return prev.(*sql.Stmt), nil
	}
	return prepared, nil
}

func (q *queries) exec(ctx context.Context, query string, args ...any) (int64, error) {
	var res sql.Result
	var err error
	if q.s.dialect == DialectPostgres {
		if q.pg != nil {
			n, err := q.pg.send(ctx, q.bind(query), args)
			return n, mapErr(err)
		}
		if q.tx != nil {
			res, err = q.tx.ExecContext(ctx, q.bind(query), args...)
		} else {
			res, err = q.s.w.ExecContext(ctx, q.bind(query), args...)
		}
	} else {
		var st *sql.Stmt
		if st, err = q.stmt(ctx, true, query); err == nil {
			res, err = st.ExecContext(ctx, args...)
		}
	}
	if err != nil {
		return 0, mapErr(err)
	}
	return res.RowsAffected()
}

// row runs a query expected to return one row, on the write side when write.
func (q *queries) row(ctx context.Context, write bool, query string, args ...any) row {
	if q.s.dialect == DialectPostgres {
		if q.pg != nil {
			if err := q.pg.flush(ctx); err != nil {
				return row{q.pg.conn.QueryRowContext(ctx, "SELECT $1", errPrepare{err})}
			}
			return row{q.pg.conn.QueryRowContext(ctx, q.bind(query), args...)}
		}
		if q.tx != nil {
			return row{q.tx.QueryRowContext(ctx, q.bind(query), args...)}
		}
		return row{q.s.w.QueryRowContext(ctx, q.bind(query), args...)}
	}
	st, err := q.stmt(ctx, write, query)
	if err != nil {
		// A Row carrying the error: QueryRowContext on a closed context
		// reports it at Scan like any other failure.
		if q.tx != nil {
			return row{q.tx.QueryRowContext(ctx, "SELECT ?", errPrepare{err})}
		}
		return row{q.s.r.QueryRowContext(ctx, "SELECT ?", errPrepare{err})}
	}
	return row{st.QueryRowContext(ctx, args...)}
}

// errPrepare smuggles a prepare failure to Scan (see row).
type errPrepare struct{ err error }

func (e errPrepare) Value() (driver.Value, error) { return nil, e.err }

func (q *queries) rows(ctx context.Context, write bool, query string, args ...any) (*sql.Rows, error) {
	var rows *sql.Rows
	var err error
	if q.s.dialect == DialectPostgres {
		if q.pg != nil {
			if err = q.pg.flush(ctx); err == nil {
				rows, err = q.pg.conn.QueryContext(ctx, q.bind(query), args...)
			}
		} else if q.tx != nil {
			rows, err = q.tx.QueryContext(ctx, q.bind(query), args...)
		} else {
			rows, err = q.s.w.QueryContext(ctx, q.bind(query), args...)
		}
	} else {
		var st *sql.Stmt
		if st, err = q.stmt(ctx, write, query); err == nil {
			rows, err = st.QueryContext(ctx, args...)
		}
	}
	return rows, mapErr(err)
}

func (q *queries) queryRow(ctx context.Context, query string, args ...any) row {
	return q.row(ctx, false, query, args...)
}

func (q *queries) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.rows(ctx, false, query, args...)
}

func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if isUnavailable(err) {
		return unavailable(err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: %s", store.ErrConflict, pgErr.ConstraintName)
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) && (sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return fmt.Errorf("%w: %s", store.ErrConflict, sqErr.Error())
	}
	return err
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ---- tenants ----

func (q *queries) CreateTenant(ctx context.Context, t *store.Tenant) error {
	if len(t.Policy) == 0 {
		t.Policy = []byte("{}")
	}
	_, err := q.exec(ctx, `INSERT INTO tenants (id, slug, name, policy, created_at) VALUES (?, ?, ?, ?, ?)`,
		t.ID, t.Slug, t.Name, string(t.Policy), micros(t.CreatedAt))
	return err
}

const tenantCols = `id, slug, name, policy, created_at, mfa_enabled_at, mfa_enabled_by`

func scanTenant(sc interface{ Scan(...any) error }) (*store.Tenant, error) {
	var t store.Tenant
	var policy string
	var created int64
	var enabled sql.NullInt64
	if err := sc.Scan(&t.ID, &t.Slug, &t.Name, &policy, &created, &enabled, &t.MFAEnabledBy); err != nil {
		return nil, mapErr(err)
	}
	t.Policy = []byte(policy)
	t.CreatedAt = fromMicros(created)
	t.MFAEnabledAt = timePtr(enabled)
	return &t, nil
}

func (q *queries) TenantByID(ctx context.Context, id string) (*store.Tenant, error) {
	return scanTenant(q.queryRow(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id = ?`, id))
}

func (q *queries) TenantBySlug(ctx context.Context, slug string) (*store.Tenant, error) {
	return scanTenant(q.queryRow(ctx, `SELECT `+tenantCols+` FROM tenants WHERE slug = ?`, slug))
}

func (q *queries) ListTenants(ctx context.Context) ([]store.Tenant, error) {
	rows, err := q.query(ctx, `SELECT `+tenantCols+` FROM tenants ORDER BY slug`)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanTenant)
}

func (q *queries) UpdateTenantPolicy(ctx context.Context, id string, policy []byte) error {
	n, err := q.exec(ctx, `UPDATE tenants SET policy = ? WHERE id = ?`, string(policy), id)
	return oneRow(n, err)
}

func (q *queries) CreateUnit(ctx context.Context, u *store.Unit) error {
	_, err := q.exec(ctx, `INSERT INTO units (id, tenant_id, name) VALUES (?, ?, ?)`, u.ID, u.TenantID, u.Name)
	return err
}

func (q *queries) CreateGroup(ctx context.Context, g *store.Group) error {
	_, err := q.exec(ctx, `INSERT INTO tenant_groups (id, tenant_id, name) VALUES (?, ?, ?)`, g.ID, g.TenantID, g.Name)
	return err
}

func (q *queries) ListUnits(ctx context.Context, tenantID string) ([]store.Unit, error) {
	rows, err := q.query(ctx, `SELECT id, tenant_id, name FROM units WHERE tenant_id = ? ORDER BY name`, tenantID)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(sc interface{ Scan(...any) error }) (*store.Unit, error) {
		var u store.Unit
		return &u, sc.Scan(&u.ID, &u.TenantID, &u.Name)
	})
}

func (q *queries) ListGroups(ctx context.Context, tenantID string) ([]store.Group, error) {
	rows, err := q.query(ctx, `SELECT id, tenant_id, name FROM tenant_groups WHERE tenant_id = ? ORDER BY name`, tenantID)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(sc interface{ Scan(...any) error }) (*store.Group, error) {
		var g store.Group
		return &g, sc.Scan(&g.ID, &g.TenantID, &g.Name)
	})
}

// ---- credentials ----

func (q *queries) CreateApplication(ctx context.Context, a *store.Application) error {
	_, err := q.exec(ctx, `INSERT INTO applications (id, tenant_id, name, key_hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		a.ID, a.TenantID, a.Name, a.KeyHash, micros(a.CreatedAt))
	return err
}

func scanApplication(sc interface{ Scan(...any) error }) (*store.Application, error) {
	var a store.Application
	var created int64
	var revoked sql.NullInt64
	if err := sc.Scan(&a.ID, &a.TenantID, &a.Name, &a.KeyHash, &created, &revoked); err != nil {
		return nil, mapErr(err)
	}
	a.CreatedAt = fromMicros(created)
	a.RevokedAt = timePtr(revoked)
	return &a, nil
}

func (q *queries) ApplicationByKeyHash(ctx context.Context, hash []byte) (*store.Application, error) {
	return scanApplication(q.queryRow(ctx, `SELECT id, tenant_id, name, key_hash, created_at, revoked_at FROM applications WHERE key_hash = ?`, hash))
}

func (q *queries) ListApplications(ctx context.Context, tenantID string) ([]store.Application, error) {
	rows, err := q.query(ctx, `SELECT id, tenant_id, name, key_hash, created_at, revoked_at FROM applications WHERE tenant_id = ? ORDER BY name`, tenantID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanApplication)
}

func (q *queries) CreateAdminKey(ctx context.Context, k *store.AdminKey) error {
	_, err := q.exec(ctx, `INSERT INTO admin_keys (id, tenant_id, name, role, key_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.TenantID, k.Name, k.Role, k.KeyHash, micros(k.CreatedAt))
	return err
}

func (q *queries) AdminKeyByHash(ctx context.Context, hash []byte) (*store.AdminKey, error) {
	var k store.AdminKey
	var created int64
	var revoked sql.NullInt64
	err := q.queryRow(ctx, `SELECT id, tenant_id, name, role, key_hash, created_at, revoked_at FROM admin_keys WHERE key_hash = ?`, hash).
		Scan(&k.ID, &k.TenantID, &k.Name, &k.Role, &k.KeyHash, &created, &revoked)
	if err != nil {
		return nil, mapErr(err)
	}
	k.CreatedAt = fromMicros(created)
	k.RevokedAt = timePtr(revoked)
	return &k, nil
}

// ---- users ----

const userCols = `id, tenant_id, login_id, email, phone, display_name, status, password_hash,
	password_failures, password_locked_at, mfa_failures, mfa_locked_at, last_login_at, created_at, updated_at,
	phone_verified_at, email_verified_at, ota_consecutive, dob_hash, ssn_hash, locale, console_role,
	terminated_at, terminated_by, terminated_reason`

func scanUser(sc interface{ Scan(...any) error }) (*store.User, error) {
	return scanUserExtra(sc)
}

// scanUserExtra scans the user columns followed by extra destinations.
func scanUserExtra(sc interface{ Scan(...any) error }, extra ...any) (*store.User, error) {
	var u store.User
	var pwLocked, mfaLocked, lastLogin, phoneVerified, emailVerified, terminated sql.NullInt64
	var created, updated int64
	dest := []any{&u.ID, &u.TenantID, &u.LoginID, &u.Email, &u.Phone, &u.DisplayName, &u.Status, &u.PasswordHash,
		&u.PasswordFailures, &pwLocked, &u.MFAFailures, &mfaLocked, &lastLogin, &created, &updated,
		&phoneVerified, &emailVerified, &u.OTAConsecutive, &u.DOBHash, &u.SSNHash, &u.Locale, &u.ConsoleRole,
		&terminated, &u.TerminatedBy, &u.TerminationReason}
	err := sc.Scan(append(dest, extra...)...)
	if err != nil {
		return nil, mapErr(err)
	}
	u.PasswordLockedAt = timePtr(pwLocked)
	u.MFALockedAt = timePtr(mfaLocked)
	u.LastLoginAt = timePtr(lastLogin)
	u.CreatedAt = fromMicros(created)
	u.UpdatedAt = fromMicros(updated)
	u.PhoneVerifiedAt = timePtr(phoneVerified)
	u.EmailVerifiedAt = timePtr(emailVerified)
	u.TerminatedAt = timePtr(terminated)
	return &u, nil
}

func (q *queries) CountUsers(ctx context.Context, tenantID string, groups []string) (total, members int, err error) {
	if err := q.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE tenant_id = ?`, tenantID).Scan(&total); err != nil {
		return 0, 0, mapErr(err)
	}
	if len(groups) == 0 {
		return total, 0, nil
	}
	args := []any{tenantID}
	marks := make([]string, len(groups))
	for i, g := range groups {
		marks[i] = "?"
		args = append(args, g)
	}
	err = q.queryRow(ctx, `SELECT COUNT(DISTINCT u.id) FROM users u JOIN user_memberships m ON m.user_id = u.id
		WHERE u.tenant_id = ? AND m.kind = 'group' AND m.name IN (`+strings.Join(marks, ", ")+`)`, args...).Scan(&members)
	return total, members, mapErr(err)
}

// scanUserWithMemberships scans the user columns followed by the
// memberships column of q.memberships().
func scanUserWithMemberships(sc interface{ Scan(...any) error }) (*store.User, error) {
	var members sql.NullString
	u, err := scanUserExtra(sc, &members)
	if err != nil {
		return nil, err
	}
	addMemberships(u, members)
	return u, nil
}

func (q *queries) CreateUser(ctx context.Context, u *store.User) error {
	return q.atomic(ctx, func(q *queries) error {
		_, err := q.exec(ctx, `INSERT INTO users (id, tenant_id, login_id, login_id_norm, email, email_norm, phone, display_name,
			status, password_hash, created_at, updated_at, phone_verified_at, email_verified_at, dob_hash, ssn_hash, locale, console_role)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.TenantID, u.LoginID, strings.ToLower(u.LoginID), u.Email, nullString(strings.ToLower(u.Email)),
			u.Phone, u.DisplayName, u.Status, u.PasswordHash, micros(u.CreatedAt), micros(u.UpdatedAt),
			nullMicros(u.PhoneVerifiedAt), nullMicros(u.EmailVerifiedAt), u.DOBHash, u.SSNHash, u.Locale, u.ConsoleRole)
		if err != nil {
			return err
		}
		return q.insertMemberships(ctx, u.ID, u.Groups, u.Units)
	})
}

func (q *queries) insertMemberships(ctx context.Context, userID string, groups, units []string) error {
	for kind, names := range map[string][]string{"group": groups, "unit": units} {
		for _, n := range names {
			if _, err := q.exec(ctx, `INSERT INTO user_memberships (user_id, kind, name) VALUES (?, ?, ?)`, userID, kind, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// memberships folds a user's groups and units into the user query, as
// kind:name items separated by the unit separator, so reading a user is one
// statement.
func (q *queries) memberships() string { return membershipsColumn(q.s.dialect) }

func membershipsColumn(dialect string) string {
	agg := "group_concat(kind || ':' || name, char(31))"
	if dialect == DialectPostgres {
		agg = "string_agg(kind || ':' || name, chr(31) ORDER BY kind, name)"
	}
	return `, (SELECT ` + agg + ` FROM user_memberships m WHERE m.user_id = users.id)`
}

func (q *queries) userWithMemberships(ctx context.Context, where string, args ...any) (*store.User, error) {
	var members sql.NullString
	u, err := scanUserExtra(q.queryRow(ctx, `SELECT `+userCols+q.memberships()+` FROM users WHERE `+where, args...), &members)
	if err != nil {
		return nil, err
	}
	addMemberships(u, members)
	return u, nil
}

// addMemberships unfolds the column memberships() adds to a user query.
func addMemberships(u *store.User, members sql.NullString) {
	if !members.Valid {
		return
	}
	items := strings.Split(members.String, "\x1f")
	slices.Sort(items)
	for _, item := range items {
		kind, name, _ := strings.Cut(item, ":")
		if kind == "group" {
			u.Groups = append(u.Groups, name)
		} else {
			u.Units = append(u.Units, name)
		}
	}
}

func (q *queries) UserByID(ctx context.Context, tenantID, id string) (*store.User, error) {
	return q.userWithMemberships(ctx, `tenant_id = ? AND id = ?`, tenantID, id)
}

func (q *queries) UserByLoginID(ctx context.Context, tenantID, loginID string) (*store.User, error) {
	return q.userWithMemberships(ctx, `tenant_id = ? AND login_id_norm = ?`, tenantID, strings.ToLower(loginID))
}

// UserWithFactors reads a person and their active factors in one joined
// statement: the one read of a second-factor check.
func (q *queries) UserWithFactors(ctx context.Context, tenantID, loginID string) (*store.User, []store.Factor, error) {
	query := userWithFactorsSQLite
	if q.s.dialect == DialectPostgres {
		query = userWithFactorsPostgres
	}
	rows, err := q.query(ctx, query, tenantID, strings.ToLower(loginID))
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var u *store.User
	var factors []store.Factor
	for rows.Next() {
		var members, id, tenant, user, kind, state, config sql.NullString
		var secret []byte
		var lastStep, attempts, created, confirmed, revoked, expires sql.NullInt64
		got, err := scanUserExtra(rows, &members, &id, &tenant, &user, &kind, &state, &secret, &lastStep, &attempts, &created, &confirmed, &revoked, &expires, &config)
		if err != nil {
			return nil, nil, err
		}
		if u == nil {
			u = got
			addMemberships(u, members)
		}
		if id.Valid {
			factors = append(factors, store.Factor{
				ID: id.String, TenantID: tenant.String, UserID: user.String, Kind: kind.String, State: state.String,
				Secret: secret, LastStep: lastStep.Int64, Attempts: int(attempts.Int64), CreatedAt: fromMicros(created.Int64),
				ConfirmedAt: timePtr(confirmed), RevokedAt: timePtr(revoked), ExpiresAt: timePtr(expires), Config: config.String,
			})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, mapErr(err)
	}
	if u == nil {
		return nil, nil, store.ErrNotFound
	}
	return u, factors, nil
}

// The check's one read, made once per dialect.
var (
	userWithFactorsSQLite   = userWithFactorsQuery(membershipsColumn(DialectSQLite))
	userWithFactorsPostgres = userWithFactorsQuery(membershipsColumn(DialectPostgres))
)

// userWithFactorsQuery joins the user's active factors to the user query,
// one row per factor (one row with empty factor columns for none).
func userWithFactorsQuery(memberships string) string {
	qualify := func(cols, table string) string {
		names := strings.Split(cols, ",")
		for i, n := range names {
			names[i] = table + "." + strings.TrimSpace(n)
		}
		return strings.Join(names, ", ")
	}
	return `SELECT ` + qualify(userCols, "users") + memberships + `, ` + qualify(factorCols, "f") + `
		FROM users LEFT JOIN factors f ON f.user_id = users.id AND f.state = 'active'
		WHERE users.tenant_id = ? AND users.login_id_norm = ? ORDER BY f.created_at, f.id`
}

func (q *queries) UserByEmail(ctx context.Context, tenantID, email string) (*store.User, error) {
	return q.userWithMemberships(ctx, `tenant_id = ? AND email_norm = ?`, tenantID, strings.ToLower(email))
}

func (q *queries) ListUsers(ctx context.Context, tenantID, afterLoginID string, limit int) ([]store.User, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := q.query(ctx, `SELECT `+userCols+` FROM users WHERE tenant_id = ? AND login_id_norm > ? ORDER BY login_id_norm LIMIT ?`,
		tenantID, strings.ToLower(afterLoginID), limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanUser)
}

// SetUserStatus never sets nor leaves the terminated status (C14): the
// condition is in the statement, so it holds against any caller.
func (q *queries) SetUserStatus(ctx context.Context, tenantID, id, status string, now time.Time) error {
	if status == store.StatusTerminated {
		return store.ErrTerminated
	}
	n, err := q.exec(ctx, `UPDATE users SET status = ?, status_at = ?, updated_at = ?
		WHERE tenant_id = ? AND id = ? AND status <> '`+store.StatusTerminated+`'`, status, micros(now), micros(now), tenantID, id)
	if err == nil && n == 0 {
		return q.whyNoUser(ctx, tenantID, id)
	}
	return oneRow(n, err)
}

// whyNoUser tells why a conditional update of a user changed no row: the
// user is not the tenant's, or is terminated.
func (q *queries) whyNoUser(ctx context.Context, tenantID, id string) error {
	var status string
	if err := q.row(ctx, true, `SELECT status FROM users WHERE tenant_id = ? AND id = ?`, tenantID, id).Scan(&status); err != nil {
		return mapErr(err)
	}
	if status == store.StatusTerminated {
		return store.ErrTerminated
	}
	return store.ErrNotFound
}

func (q *queries) DisableInactiveUsers(ctx context.Context, tenantID string, cutoff, now time.Time, limit int) ([]string, error) {
	const idle = `status = '` + store.StatusActive + `' AND COALESCE(last_login_at, created_at) < ? AND COALESCE(status_at, created_at) < ?`
	pick := `SELECT id FROM users WHERE tenant_id = ? AND ` + idle + ` ORDER BY COALESCE(last_login_at, created_at), id LIMIT ?`
	// The conditions are evaluated again on the row being updated, so a
	// login or another sweeper that got there first keeps it out.
	query := `UPDATE users SET status = '` + store.StatusDisabled + `', updated_at = ? WHERE ` + idle + ` AND id IN (` + pick + `) RETURNING id`
	if q.s.dialect == DialectPostgres {
		// PostgreSQL may run an IN subquery with LIMIT more than once; a
		// materialised pick runs once, and skips rows another sweeper holds.
		query = `WITH picked AS MATERIALIZED (` + pick + ` FOR UPDATE SKIP LOCKED)
			UPDATE users SET status = '` + store.StatusDisabled + `', updated_at = ?
			FROM picked WHERE users.id = picked.id AND ` + idle + ` RETURNING users.id`
	}
	c := micros(cutoff)
	args := []any{micros(now), c, c, tenantID, c, c, limit}
	if q.s.dialect == DialectPostgres {
		args = []any{tenantID, c, c, limit, micros(now), c, c}
	}
	rows, err := q.rows(ctx, true, query, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r interface{ Scan(...any) error }) (*string, error) {
		var id string
		return &id, r.Scan(&id)
	})
}

func (q *queries) SetPasswordHash(ctx context.Context, tenantID, id, hash string) error {
	n, err := q.exec(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`, hash, micros(q.s.now()), tenantID, id)
	return oneRow(n, err)
}

func (q *queries) SetUserGroups(ctx context.Context, tenantID, id string, groups, units []string) error {
	return q.atomic(ctx, func(q *queries) error {
		var one int
		if err := q.queryRow(ctx, `SELECT 1 FROM users WHERE tenant_id = ? AND id = ?`, tenantID, id).Scan(&one); err != nil {
			return mapErr(err)
		}
		if _, err := q.exec(ctx, `DELETE FROM user_memberships WHERE user_id = ?`, id); err != nil {
			return err
		}
		return q.insertMemberships(ctx, id, groups, units)
	})
}

// charge is the bounded increment behind both counters: one statement, so N
// parallel guesses can never pass the limit, on one server or many. A lock
// older than the release cutoff is lifted by the same statement.
func (q *queries) charge(ctx context.Context, counter, lockedAt, userID string, limit int, releaseAfter time.Duration, now time.Time) (store.Charge, error) {
	cutoff := int64(-1)
	if releaseAfter > 0 {
		cutoff = micros(now.Add(-releaseAfter))
	}
	released := lockedAt + ` IS NOT NULL AND ` + lockedAt + ` <= ?`
	query := `UPDATE users SET ` +
		counter + ` = CASE WHEN ` + released + ` THEN 1 ELSE ` + counter + ` + 1 END, ` +
		lockedAt + ` = CASE WHEN ` + released + ` THEN NULL ELSE ` + lockedAt + ` END ` +
		`WHERE id = ? AND (` + counter + ` < ? OR (` + released + `)) RETURNING ` + counter
	var failures int
	err := q.row(ctx, true, query, cutoff, cutoff, userID, limit, cutoff).Scan(&failures)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Charge{Allowed: false, Failures: limit}, nil
	}
	if err != nil {
		return store.Charge{}, err
	}
	return store.Charge{Allowed: true, Failures: failures}, nil
}

func (q *queries) ChargeMFA(ctx context.Context, userID string, limit int, releaseAfter time.Duration, now time.Time) (store.Charge, error) {
	return q.charge(ctx, "mfa_failures", "mfa_locked_at", userID, limit, releaseAfter, now)
}

func (q *queries) ChargePassword(ctx context.Context, userID string, limit int, releaseAfter time.Duration, now time.Time) (store.Charge, error) {
	return q.charge(ctx, "password_failures", "password_locked_at", userID, limit, releaseAfter, now)
}

func (q *queries) MarkMFALocked(ctx context.Context, userID string, now time.Time) error {
	_, err := q.exec(ctx, `UPDATE users SET mfa_locked_at = ? WHERE id = ? AND mfa_locked_at IS NULL`, micros(now), userID)
	return err
}

func (q *queries) MarkPasswordLocked(ctx context.Context, userID string, now time.Time) error {
	_, err := q.exec(ctx, `UPDATE users SET password_locked_at = ? WHERE id = ? AND password_locked_at IS NULL`, micros(now), userID)
	return err
}

// ResetMFA and RecordLogin are the statements that grant a login; neither
// grants one to a terminated account (ErrTerminated). On PostgreSQL the
// update waits for a termination holding the row and then sees it, so no
// login completes after a termination commits (C14).
func (q *queries) ResetMFA(ctx context.Context, userID string, now time.Time) error {
	n, err := q.exec(ctx, `UPDATE users SET mfa_failures = 0, mfa_locked_at = NULL, last_login_at = ?
		WHERE id = ? AND status <> '`+store.StatusTerminated+`'`, micros(now), userID)
	return loginGranted(n, err)
}

// SettleMFA is the fast path of a guess: the counter read before the
// transaction is the statement's condition, so the outcome lands only on the
// state it was decided against — as if the guess had been charged first.
func (q *queries) SettleMFA(ctx context.Context, userID string, s store.Settle) (bool, error) {
	var n int64
	var err error
	if s.Success {
		n, err = q.exec(ctx, `UPDATE users SET mfa_failures = 0, last_login_at = ?,
			ota_consecutive = CASE WHEN ? THEN 0 ELSE ota_consecutive END
			WHERE id = ? AND mfa_failures = ? AND mfa_locked_at IS NULL AND status <> '`+store.StatusTerminated+`'`,
			micros(s.Now), s.EndsOTARun, userID, s.Seen)
	} else {
		var lockAt sql.NullInt64
		if s.Seen+1 >= s.Limit {
			lockAt = sql.NullInt64{Int64: micros(s.Now), Valid: true}
		}
		n, err = q.exec(ctx, `UPDATE users SET mfa_failures = ?, mfa_locked_at = ?
			WHERE id = ? AND mfa_failures = ? AND mfa_locked_at IS NULL`,
			s.Seen+1, lockAt, userID, s.Seen)
	}
	return n == 1, err
}

func loginGranted(n int64, err error) error {
	if err == nil && n == 0 {
		return store.ErrTerminated
	}
	return err
}

func (q *queries) ResetPassword(ctx context.Context, userID string) error {
	_, err := q.exec(ctx, `UPDATE users SET password_failures = 0, password_locked_at = NULL WHERE id = ? AND password_failures <> 0`, userID)
	return err
}

func (q *queries) RefundPassword(ctx context.Context, userID string) error {
	_, err := q.exec(ctx, `UPDATE users SET password_failures = password_failures - 1 WHERE id = ? AND password_failures > 0`, userID)
	return err
}

func (q *queries) RecordLogin(ctx context.Context, userID string, now time.Time) error {
	n, err := q.exec(ctx, `UPDATE users SET last_login_at = ? WHERE id = ? AND status <> '`+store.StatusTerminated+`'`, micros(now), userID)
	return loginGranted(n, err)
}

func (q *queries) Unlock(ctx context.Context, tenantID, userID string) error {
	n, err := q.exec(ctx, `UPDATE users SET mfa_failures = 0, mfa_locked_at = NULL, password_failures = 0, password_locked_at = NULL,
		status = CASE WHEN status = ? THEN ? ELSE status END, updated_at = ? WHERE tenant_id = ? AND id = ?`,
		store.StatusLocked, store.StatusActive, micros(q.s.now()), tenantID, userID)
	return oneRow(n, err)
}

// ---- factors ----

// Factor queries write states as literals, not parameters: SQLite re-plans a
// statement on every run when a parameter meets a partial index's condition
// (factors_one_active, factors_one_pending).
const factorCols = `id, tenant_id, user_id, kind, state, secret, last_step, attempts, created_at, confirmed_at, revoked_at, expires_at, config`

func scanFactor(sc interface{ Scan(...any) error }) (*store.Factor, error) {
	var f store.Factor
	var created int64
	var confirmed, revoked, expires sql.NullInt64
	err := sc.Scan(&f.ID, &f.TenantID, &f.UserID, &f.Kind, &f.State, &f.Secret, &f.LastStep, &f.Attempts, &created, &confirmed, &revoked, &expires, &f.Config)
	if err != nil {
		return nil, mapErr(err)
	}
	f.CreatedAt = fromMicros(created)
	f.ConfirmedAt = timePtr(confirmed)
	f.RevokedAt = timePtr(revoked)
	f.ExpiresAt = timePtr(expires)
	return &f, nil
}

func (q *queries) CreatePendingFactor(ctx context.Context, f *store.Factor, now time.Time) error {
	return q.atomic(ctx, func(q *queries) error {
		if _, err := q.exec(ctx, `UPDATE factors SET state = 'revoked', revoked_at = ? WHERE user_id = ? AND kind = ? AND state = 'pending'`,
			micros(now), f.UserID, f.Kind); err != nil {
			return err
		}
		f.State = store.FactorPending
		f.LastStep = -1
		if f.Config == "" {
			f.Config = "{}"
		}
		_, err := q.exec(ctx, `INSERT INTO factors (id, tenant_id, user_id, kind, state, secret, last_step, attempts, created_at, expires_at, config)
			VALUES (?, ?, ?, ?, ?, ?, -1, 0, ?, ?, ?)`,
			f.ID, f.TenantID, f.UserID, f.Kind, f.State, f.Secret, micros(f.CreatedAt), nullMicros(f.ExpiresAt), f.Config)
		return err
	})
}

func (q *queries) FactorByID(ctx context.Context, tenantID, id string) (*store.Factor, error) {
	return scanFactor(q.queryRow(ctx, `SELECT `+factorCols+` FROM factors WHERE tenant_id = ? AND id = ?`, tenantID, id))
}

func (q *queries) ListFactors(ctx context.Context, userID string) ([]store.Factor, error) {
	rows, err := q.query(ctx, `SELECT `+factorCols+` FROM factors WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanFactor)
}

func (q *queries) ActiveFactors(ctx context.Context, userID string) ([]store.Factor, error) {
	rows, err := q.query(ctx, `SELECT `+factorCols+` FROM factors WHERE user_id = ? AND state = 'active' ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanFactor)
}

func (q *queries) ChargeEnrolment(ctx context.Context, factorID string, limit int) (bool, error) {
	n, err := q.exec(ctx, `UPDATE factors SET attempts = attempts + 1 WHERE id = ? AND state = 'pending' AND attempts < ?`, factorID, limit)
	return n == 1, err
}

// errNotPending rolls back an activation whose factor was no longer pending.
var errNotPending = errors.New("factor is not pending")

func (q *queries) ActivateFactor(ctx context.Context, factorID string, step int64, now time.Time) (bool, error) {
	err := q.atomic(ctx, func(q *queries) error {
		// Claim the pending row first under a transient state, so the partial
		// unique index on active factors never sees two at once.
		n, err := q.exec(ctx, `UPDATE factors SET state = 'confirming' WHERE id = ? AND state = 'pending' AND (expires_at IS NULL OR expires_at > ?)`,
			factorID, micros(now))
		if err != nil {
			return err
		}
		if n != 1 {
			return errNotPending
		}
		if _, err := q.exec(ctx, `UPDATE factors SET state = 'revoked', revoked_at = ?
			WHERE state = 'active' AND id <> ? AND (user_id, kind) = (SELECT user_id, kind FROM factors WHERE id = ?)`,
			micros(now), factorID, factorID); err != nil {
			return err
		}
		_, err = q.exec(ctx, `UPDATE factors SET state = 'active', confirmed_at = ?, last_step = ?, expires_at = NULL WHERE id = ?`,
			micros(now), step, factorID)
		return err
	})
	if errors.Is(err, errNotPending) {
		return false, nil
	}
	return err == nil, err
}

func (q *queries) UseStep(ctx context.Context, factorID string, step int64) (bool, error) {
	n, err := q.exec(ctx, `UPDATE factors SET last_step = ? WHERE id = ? AND state = 'active' AND last_step < ?`, step, factorID, step)
	return n == 1, err
}

func (q *queries) RevokeFactor(ctx context.Context, factorID string, now time.Time) (bool, error) {
	n, err := q.exec(ctx, `UPDATE factors SET state = 'revoked', revoked_at = ? WHERE id = ? AND state <> 'revoked'`, micros(now), factorID)
	return n == 1, err
}

func (q *queries) SetPendingFactorSecret(ctx context.Context, factorID string, secret []byte, config string) (bool, error) {
	n, err := q.exec(ctx, `UPDATE factors SET secret = ?, config = ? WHERE id = ? AND state = 'pending'`, secret, config, factorID)
	return n == 1, err
}

func (q *queries) RevokeAllFactors(ctx context.Context, userID string, now time.Time) (int, error) {
	n, err := q.exec(ctx, `UPDATE factors SET state = 'revoked', revoked_at = ? WHERE user_id = ? AND state <> 'revoked'`, micros(now), userID)
	return int(n), err
}

// ---- login transactions ----

func (q *queries) CreateLoginTxn(ctx context.Context, t *store.LoginTxn) error {
	_, err := q.exec(ctx, `INSERT INTO login_txns (id, tenant_id, user_id, application_id, mode, state, ip, factor_id, created_at, expires_at, completed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.TenantID, t.UserID, t.ApplicationID, t.Mode, t.State, t.IP, t.FactorID, micros(t.CreatedAt), micros(t.ExpiresAt), nullMicros(t.CompletedAt))
	return err
}

func (q *queries) LoginTxnByID(ctx context.Context, tenantID, id string) (*store.LoginTxn, error) {
	var t store.LoginTxn
	var created, expires int64
	var completed, enrolUsed sql.NullInt64
	err := q.queryRow(ctx, `SELECT id, tenant_id, user_id, application_id, mode, state, ip, factor_id, created_at, expires_at, completed_at, enrol_used_at
		FROM login_txns WHERE tenant_id = ? AND id = ?`, tenantID, id).
		Scan(&t.ID, &t.TenantID, &t.UserID, &t.ApplicationID, &t.Mode, &t.State, &t.IP, &t.FactorID, &created, &expires, &completed, &enrolUsed)
	if err != nil {
		return nil, mapErr(err)
	}
	t.CreatedAt = fromMicros(created)
	t.ExpiresAt = fromMicros(expires)
	t.CompletedAt = timePtr(completed)
	t.EnrolUsedAt = timePtr(enrolUsed)
	return &t, nil
}

func (q *queries) CompleteLoginTxn(ctx context.Context, id, state, factorID string, now time.Time) (bool, error) {
	n, err := q.exec(ctx, `UPDATE login_txns SET state = ?, factor_id = ?, completed_at = ? WHERE id = ? AND state = ? AND expires_at > ?`,
		state, factorID, micros(now), id, store.TxnPending, micros(now))
	return n == 1, err
}

func (q *queries) UseTxnForEnrolment(ctx context.Context, id string, now time.Time) (bool, error) {
	n, err := q.exec(ctx, `UPDATE login_txns SET enrol_used_at = ? WHERE id = ? AND enrol_used_at IS NULL`, micros(now), id)
	return n == 1, err
}

func (q *queries) DeleteExpiredLoginTxns(ctx context.Context, before time.Time) (int, error) {
	n, err := q.exec(ctx, `DELETE FROM login_txns WHERE expires_at < ?`, micros(before))
	return int(n), err
}

// ---- audit ----

func (q *queries) AppendAudit(ctx context.Context, e *store.AuditEvent) error {
	if e.Detail == "" {
		e.Detail = "{}"
	}
	query := `INSERT INTO audit_events (tenant_id, user_id, application_id, actor, event, outcome, ip, detail, created_at, nonce, content_hash, mac, key_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	args := []any{e.TenantID, e.UserID, e.ApplicationID, e.Actor, e.Event, e.Outcome, e.IP, e.Detail, micros(e.CreatedAt), e.Nonce, e.ContentHash, e.MAC, e.KeyID}
	if q.s.dialect == DialectPostgres {
		if q.pg != nil {
			// Nothing waits for the record: it travels with the next
			// statement or COMMIT, and its id is known once that answers.
			q.pg.later(q.bind(query+` RETURNING id`), args, &e.ID)
			return nil
		}
		return q.row(ctx, true, query+` RETURNING id`, args...).Scan(&e.ID)
	}
	// On SQLite a plain insert is cheaper than reading a RETURNING row, and
	// the row id is at hand; audit appends sit on every check's hot path.
	st, err := q.stmt(ctx, true, query)
	if err != nil {
		return err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return mapErr(err)
	}
	e.ID, err = res.LastInsertId()
	return err
}

func (q *queries) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	add("tenant_id = ?", f.TenantID)
	if f.UserID != "" {
		add("user_id = ?", f.UserID)
	}
	if f.Event != "" {
		add("event = ?", f.Event)
	}
	if f.Outcome != "" {
		add("outcome = ?", f.Outcome)
	}
	if f.IP != "" {
		add("ip = ?", f.IP)
	}
	if !f.Since.IsZero() {
		add("created_at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		add("created_at < ?", micros(f.Until))
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	args = append(args, limit)
	rows, err := q.query(ctx, `SELECT id, tenant_id, user_id, application_id, actor, event, outcome, ip, detail, created_at
		FROM audit_events WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(sc interface{ Scan(...any) error }) (*store.AuditEvent, error) {
		var e store.AuditEvent
		var created int64
		if err := sc.Scan(&e.ID, &e.TenantID, &e.UserID, &e.ApplicationID, &e.Actor, &e.Event, &e.Outcome, &e.IP, &e.Detail, &created); err != nil {
			return nil, err
		}
		e.CreatedAt = fromMicros(created)
		return &e, nil
	})
}

// ---- helpers ----

func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (*T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, unavailable(err)
		}
		out = append(out, *v)
	}
	return out, unavailable(rows.Err())
}

func oneRow(n int64, err error) error {
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
