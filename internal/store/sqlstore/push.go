package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// ---- push challenges: the Mobile App method (A9, X3) ----
//
// Every decision a phone's request can race on — answering a challenge,
// accepting a poll's timestamp — is one conditional UPDATE whose row count
// decides, so servers sharing the database agree on which request won.
// States are written as literals where the query fixes them.

const pushCols = `nonce, tenant_id, user_id, factor_id, txn_id, purpose, title, question, options, answer, state,
	created_at, expires_at, answered_at`

func scanPush(sc interface{ Scan(...any) error }) (*store.PushChallenge, error) {
	var c store.PushChallenge
	var options string
	var created, expires int64
	var answered sql.NullInt64
	if err := sc.Scan(&c.Nonce, &c.TenantID, &c.UserID, &c.FactorID, &c.TxnID, &c.Purpose, &c.Title, &c.Question,
		&options, &c.Answer, &c.State, &created, &expires, &answered); err != nil {
		return nil, mapErr(err)
	}
	var err error
	if c.Options, err = parseList(options, "options"); err != nil {
		return nil, err
	}
	c.CreatedAt, c.ExpiresAt, c.AnsweredAt = fromMicros(created), fromMicros(expires), timePtr(answered)
	return &c, nil
}

// CreatePushChallenge ends the user's open challenges and inserts c in one
// transaction (the caller's, when it runs inside InTx).
func (q *queries) CreatePushChallenge(ctx context.Context, c *store.PushChallenge, now time.Time) error {
	if c.State == "" {
		c.State = store.PushOpen
	}
	return q.atomic(ctx, func(q *queries) error {
		if _, err := q.exec(ctx, `UPDATE push_challenges SET state = 'expired' WHERE user_id = ? AND state = 'open'`,
			c.UserID); err != nil {
			return err
		}
		_, err := q.exec(ctx, `INSERT INTO push_challenges (`+pushCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Nonce, c.TenantID, c.UserID, c.FactorID, c.TxnID, c.Purpose, c.Title, c.Question, jsonList(c.Options), c.Answer,
			c.State, micros(c.CreatedAt), micros(c.ExpiresAt), nullMicros(c.AnsweredAt))
		return err
	})
}

func (q *queries) PushChallengeByNonce(ctx context.Context, tenantID, nonce string) (*store.PushChallenge, error) {
	return scanPush(q.queryRow(ctx, `SELECT `+pushCols+` FROM push_challenges WHERE tenant_id = ? AND nonce = ?`, tenantID, nonce))
}

func (q *queries) OpenPushChallenges(ctx context.Context, factorID string, now time.Time) ([]store.PushChallenge, error) {
	rows, err := q.query(ctx, `SELECT `+pushCols+` FROM push_challenges
		WHERE factor_id = ? AND state = 'open' AND expires_at > ? ORDER BY created_at, nonce`, factorID, micros(now))
	if err != nil {
		return nil, err
	}
	return collect(rows, scanPush)
}

// AnswerPushChallenge records the answer time for every final state but
// expired, which means the challenge went unanswered.
func (q *queries) AnswerPushChallenge(ctx context.Context, factorID, nonce, state string, now time.Time) (bool, error) {
	switch state {
	case store.PushApproved, store.PushDeclined, store.PushFraud, store.PushWrong, store.PushExpired:
	default:
		return false, fmt.Errorf("AnswerPushChallenge: %q is not a final state", state)
	}
	var answered any = micros(now)
	if state == store.PushExpired {
		answered = nil
	}
	n, err := q.exec(ctx, `UPDATE push_challenges SET state = ?, answered_at = ?
		WHERE factor_id = ? AND nonce = ? AND state = 'open' AND expires_at > ?`,
		state, answered, factorID, nonce, micros(now))
	return n == 1, err
}

// LatestPushChallenge prefers the login transaction's challenges over the
// factor's enrolment ones, so one statement answers both questions.
func (q *queries) LatestPushChallenge(ctx context.Context, tenantID, txnOrFactorID string) (*store.PushChallenge, error) {
	if txnOrFactorID == "" {
		return nil, store.ErrNotFound // enrolment challenges have an empty txn_id
	}
	return scanPush(q.queryRow(ctx, `SELECT `+pushCols+` FROM push_challenges
		WHERE tenant_id = ? AND (txn_id = ? OR (factor_id = ? AND purpose = 'enrol'))
		ORDER BY CASE WHEN txn_id = ? THEN 0 ELSE 1 END, created_at DESC, nonce DESC LIMIT 1`,
		tenantID, txnOrFactorID, txnOrFactorID, txnOrFactorID))
}

func (q *queries) CountPushChallenges(ctx context.Context, userID string, since time.Time) (int, *time.Time, error) {
	var n int64
	var last sql.NullInt64
	err := q.queryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM push_challenges WHERE user_id = ? AND created_at >= ?),
		(SELECT MAX(answered_at) FROM push_challenges
			WHERE user_id = ? AND state IN ('declined', 'fraud') AND answered_at >= ?)`,
		userID, micros(since), userID, micros(since)).Scan(&n, &last)
	if err != nil {
		return 0, nil, mapErr(err)
	}
	return int(n), timePtr(last), nil
}

func (q *queries) TouchPushPoll(ctx context.Context, factorID string, at time.Time) (bool, error) {
	n, err := q.exec(ctx, `UPDATE factors SET push_polled_at = ?
		WHERE id = ? AND (push_polled_at IS NULL OR push_polled_at < ?)`,
		micros(at), factorID, micros(at))
	return n == 1, err
}

func (q *queries) DeletePushChallengesBefore(ctx context.Context, t time.Time) (int, error) {
	n, err := q.exec(ctx, `DELETE FROM push_challenges WHERE expires_at < ?`, micros(t))
	return int(n), err
}
