package flow

import "errors"

// Domain errors. Front doors map each to a stable public code (see
// docs/errors.md); the wrapped cause, if any, goes only to the log.
var (
	ErrInvalidCredentials = errors.New("login ID or password incorrect")
	ErrWrongCode          = errors.New("code incorrect")
	ErrMFALocked          = errors.New("second factor locked after too many failed attempts")
	ErrTxnGone            = errors.New("login transaction expired, completed or unknown")
	ErrUserNotFound       = errors.New("user not found")
	ErrNotRegistered      = errors.New("user has no active second factor")
	ErrAccountDisabled    = errors.New("account disabled")
	ErrAccountInactive    = errors.New("account inactive")
	ErrAccountPending     = errors.New("account pending")
	ErrAccountExpired     = errors.New("account expired")
	ErrAccountLocked      = errors.New("account locked by an administrator")
	ErrEnrolmentGone      = errors.New("enrolment expired, replaced or unknown")
	ErrFactorNotAllowed   = errors.New("factor not allowed by policy")
	ErrFreshAuthRequired  = errors.New("a fresh authentication is required")
	ErrForbidden          = errors.New("not permitted for this role")
	ErrBusy               = errors.New("server busy")
	ErrLastFactor         = errors.New("the last sign-in factor cannot be removed")
	ErrIdentityNotMatched = errors.New("identity details do not match")
)

var (
	ErrOTASpent            = errors.New("one-time access tokens spent: log in with the authenticator app first")
	ErrNoDestination       = errors.New("no verified destination for this channel")
	ErrVerificationGone    = errors.New("verification expired, replaced or unknown")
	ErrContactChangeDenied = errors.New("only active users may change contact points")
)
