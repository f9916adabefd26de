package store

import (
	"context"
	"time"
)

// The Mobile App method (A9, X3): a phone app registered to a push factor
// fetches its open challenges by polling, and approves or declines them
// with its own key. The factor row (kind "push") holds the keys, sealed;
// these are its challenges.

// Push challenge purposes and states.
const (
	PushLogin = "login" // a sign-in's second step
	PushEnrol = "enrol" // "Authenticate me now": the test push that activates the factor

	PushOpen     = "open"
	PushApproved = "approved"
	PushDeclined = "declined"
	PushFraud    = "fraud"   // declined as "I didn't request this"
	PushExpired  = "expired" // ended unanswered, or replaced by a newer push
	PushWrong    = "wrong"   // the wrong number was chosen
)

// PushChallenge is one push to a person's phone.
type PushChallenge struct {
	Nonce    string // the challenge's id, as the protocol names it
	TenantID string
	UserID   string
	FactorID string
	TxnID    string // the login transaction it would complete; empty for PushEnrol
	Purpose  string
	Title    string
	Question string
	// Options are the numbers the phone offers (number matching); Answer is
	// the one shown on the sign-in page. Both empty without number matching.
	Options   []string
	Answer    string
	State     string
	CreatedAt time.Time
	ExpiresAt time.Time
	// AnsweredAt is when the phone answered (any final state but expired).
	AnsweredAt *time.Time
}

// PushChallenges stores push challenges.
type PushChallenges interface {
	// CreatePushChallenge ends every open challenge of the same user
	// (state expired) and inserts c: a person has at most one open push.
	CreatePushChallenge(ctx context.Context, c *PushChallenge, now time.Time) error
	PushChallengeByNonce(ctx context.Context, tenantID, nonce string) (*PushChallenge, error)
	// OpenPushChallenges lists a factor's open, unexpired challenges,
	// oldest first.
	OpenPushChallenges(ctx context.Context, factorID string, now time.Time) ([]PushChallenge, error)
	// AnswerPushChallenge moves an open, unexpired challenge of the factor
	// to state by one conditional UPDATE; true only for the call that moved
	// it (two parallel approvals: exactly one true).
	AnswerPushChallenge(ctx context.Context, factorID, nonce, state string, now time.Time) (bool, error)
	// LatestPushChallenge is the newest challenge of a login transaction
	// (txnID) or, for PushEnrol, of a factor (factorID in txnOrFactorID).
	LatestPushChallenge(ctx context.Context, tenantID, txnOrFactorID string) (*PushChallenge, error)
	// CountPushChallenges counts the user's challenges created since t (the
	// anti-fatigue limit) and returns the newest declined or fraud one's
	// answer time since t, if any (the cool-down).
	CountPushChallenges(ctx context.Context, userID string, since time.Time) (n int, lastDecline *time.Time, err error)
	// TouchPushPoll records a poll's timestamp for the factor by one
	// conditional UPDATE: false when a poll with this timestamp or a newer
	// one was seen (a replayed or stale poll).
	TouchPushPoll(ctx context.Context, factorID string, at time.Time) (bool, error)
	// DeletePushChallengesBefore removes challenges that expired before t.
	DeletePushChallengesBefore(ctx context.Context, t time.Time) (int, error)
}
