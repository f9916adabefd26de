package flow

import (
	"context"
	"errors"
	"time"

	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
)

// The admin console's door: administrators are people of the tenant who
// sign in like everyone else, with their password and their own second
// factor, and hold a console role (issue 13).
var (
	// ErrNoConsoleRole: the person signed in but has no console role.
	ErrNoConsoleRole = problem.Domain("console_no_role", "the person has no console role")
	// ErrConsoleNeedsFactor: the sign-in was not finished with a second
	// factor (security questions, or a first enrolment), which the console
	// does not accept.
	ErrConsoleNeedsFactor = problem.Domain("console_second_factor", "the console needs a sign-in finished with a second factor")
)

// ConsoleApplication is the application id of what administrators do in
// the admin console, as audit events record it.
const ConsoleApplication = "console"

// ConsoleFresh is how recent a sign-in must be to open the admin console:
// an administrator's authority comes from a sign-in just made, not from a
// portal session left open for hours.
const ConsoleFresh = 15 * time.Minute

// OpenConsole decides whether u, signed in at authAt by the login
// transaction txnID, may open the admin console: they hold a console role,
// are active and not locked, signed in within ConsoleFresh, and their
// sign-in was finished by one of their factors. Each decision is audited.
func (e *Engine) OpenConsole(ctx context.Context, c Caller, u *store.User, txnID string, authAt time.Time) error {
	_, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return err
	}
	refuse := func(err error, reason string) error {
		return errors.Join(err, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "console.signed_in", Outcome: "refused", Detail: map[string]any{"reason": reason}}))
	}
	switch {
	case u.ConsoleRole != store.RoleAdmin && u.ConsoleRole != store.RoleSupport:
		return refuse(ErrNoConsoleRole, "no_role")
	case u.Status != store.StatusActive:
		return refuse(ErrForbidden, "status_"+u.Status)
	case MFALocked(u, p, e.now()):
		return refuse(ErrMFALocked, "mfa_locked")
	}
	if e.now().Sub(authAt) > ConsoleFresh {
		return ErrFreshAuthRequired
	}
	txn, err := e.Store.LoginTxnByID(ctx, c.TenantID, txnID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (txn.UserID != u.ID || txn.State != store.TxnAllowed)) {
		return ErrFreshAuthRequired
	}
	if err != nil {
		return err
	}
	if txn.FactorID == "" {
		return refuse(ErrConsoleNeedsFactor, "no_factor")
	}
	c.Role = u.ConsoleRole
	return e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "console.signed_in", Outcome: "success", Detail: map[string]any{"role": u.ConsoleRole}})
}
