package flow

import (
	"context"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// The self-service portal's sessions: a signed-in browser, kept server-side
// with its token hashed. The portal says what a step changes of its session
// and the engine makes that change in the step's own write transaction, so
// no failure leaves a factor active and the session not upgraded.

// SessionChange is what a portal step changes of the browser's session.
type SessionChange struct {
	// End is the session to end (the one the step began in), if any.
	End string
	// Start is the session to begin (renewed with a new token), if any.
	Start *store.PortalSession
	// Save is a session whose data to write back, if any.
	Save *store.PortalSession
}

type sessionStore interface {
	CreatePortalSession(ctx context.Context, s *store.PortalSession) error
	UpdatePortalSession(ctx context.Context, s *store.PortalSession) (bool, error)
	EndPortalSession(ctx context.Context, id string, now time.Time) error
}

// changeSession applies sc on q; nil changes nothing.
func (e *Engine) changeSession(ctx context.Context, q sessionStore, sc *SessionChange) error {
	if sc == nil {
		return nil
	}
	if sc.End != "" {
		if err := q.EndPortalSession(ctx, sc.End, e.now()); err != nil {
			return err
		}
	}
	if sc.Start != nil {
		// Authenticated as of now, in the engine's time: a factor this
		// step revoked (a replaced authenticator) ends the sessions before
		// it, not the one the step begins.
		now := e.now()
		sc.Start.AuthAt, sc.Start.CreatedAt, sc.Start.LastSeenAt = now, now, now
		if err := q.CreatePortalSession(ctx, sc.Start); err != nil {
			return err
		}
	}
	if sc.Save != nil {
		if _, err := q.UpdatePortalSession(ctx, sc.Save); err != nil {
			return err
		}
	}
	return nil
}

// ChangeSession makes a session change that goes with no other step:
// signing in or out, saving a page's progress.
func (e *Engine) ChangeSession(ctx context.Context, sc *SessionChange) error {
	return e.Store.InTx(ctx, func(q store.Queries) error { return e.changeSession(ctx, q, sc) })
}

// Session returns the live session with this token hash and its user; a
// session idle longer than idle, past its end, or ended is not found.
func (e *Engine) Session(ctx context.Context, tenantID string, tokenHash []byte, idle time.Duration) (*store.PortalSession, *store.User, error) {
	s, err := e.Store.PortalSessionByHash(ctx, tokenHash, e.now(), idle)
	if err != nil {
		return nil, nil, err
	}
	if s.TenantID != tenantID {
		return nil, nil, store.ErrNotFound
	}
	u, err := e.Store.UserByID(ctx, tenantID, s.UserID)
	if err != nil {
		return nil, nil, err
	}
	return s, u, nil
}
