package flow

import "github.com/countersign/countersign/internal/problem"

// Domain errors. Front doors map each to a stable public code (see
// docs/errors.md); the wrapped cause, if any, goes only to the log.
var (
	ErrInvalidCredentials = problem.Domain("invalid_credentials", "login ID or password incorrect")
	ErrWrongCode          = problem.Domain("wrong_code", "code incorrect")
	ErrMFALocked          = problem.Domain("mfa_locked", "second factor locked after too many failed attempts")
	ErrTxnGone            = problem.Domain("transaction_gone", "login transaction expired, completed or unknown")
	ErrUserNotFound       = problem.Domain("user_not_found", "user not found")
	ErrNotRegistered      = problem.Domain("user_not_registered", "user has no active second factor")
	ErrAccountDisabled    = problem.Domain("account_disabled", "account disabled")
	ErrAccountInactive    = problem.Domain("account_inactive", "account inactive")
	ErrAccountPending     = problem.Domain("account_pending", "account pending")
	ErrAccountExpired     = problem.Domain("account_expired", "account expired")
	ErrAccountLocked      = problem.Domain("account_locked", "account locked by an administrator")
	ErrEnrolmentGone      = problem.Domain("enrolment_gone", "enrolment expired, replaced or unknown")
	ErrFactorNotAllowed   = problem.Domain("factor_not_allowed", "factor not allowed by policy")
	ErrFreshAuthRequired  = problem.Domain("fresh_authentication_required", "a fresh authentication is required")
	ErrForbidden          = problem.Domain("forbidden", "not permitted for this role")
	ErrBusy               = problem.Domain("busy", "server busy")
	ErrLastFactor         = problem.Domain("last_factor", "the last sign-in factor cannot be removed")
	ErrIdentityNotMatched = problem.Domain("identity_not_matched", "identity details do not match")
)
