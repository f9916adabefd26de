package flow

import (
	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/flow/factor/authenticator"
	"github.com/countersign/countersign/internal/flow/factor/onetime"
	"github.com/countersign/countersign/internal/flow/factor/questions"
	"github.com/countersign/countersign/internal/flow/factor/sentcode"
	"github.com/countersign/countersign/internal/problem"
)

// Domain errors. Each names its entry in the public catalogue (package
// problem, docs/errors.md), which every front door renders; the wrapped
// cause, if any, goes only to the log.
var (
	ErrInvalidCredentials = problem.Domain("invalid_credentials", "login ID or password incorrect")
	// ErrPasswordLocked is told only once the right password was given for
	// a password-locked login ID, so it reveals nothing (G4).
	ErrPasswordLocked     = problem.Domain("password_locked", "right password for a password-locked login ID")
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

	ErrNoDestination       = problem.Domain("no_verified_destination", "no verified destination for this channel")
	ErrVerificationGone    = problem.Domain("verification_gone", "verification expired, replaced or unknown")
	ErrContactChangeDenied = problem.Domain("contact_change_denied", "only active users may change contact points")
	// ErrCallGone is a callback for an unknown or finished call.
	ErrCallGone = problem.Domain("not_found", "call unknown or finished")
	// ErrWrongVerificationCode is a wrong code of a contact verification or
	// an account recovery message.
	ErrWrongVerificationCode = factor.Refusal("wrong_verification_code", "verification or recovery code incorrect")
)

// ErrAccountTerminated is told only once the password is proven (or in
// MFA-only mode, where the application proved it): before, a terminated
// account looks like an unknown login ID (C14, G4).
var ErrAccountTerminated = problem.Domain("account_terminated", "account terminated")

// The factors' own refusals, for front doors that tell them apart.
var (
	// ErrRefused is every wrong response to a factor, whatever its kind.
	ErrRefused = factor.ErrRefused
	// ErrWrongCode is a wrong authenticator-app code (E02).
	ErrWrongCode      = authenticator.ErrWrongCode
	ErrWrongSMSCode   = sentcode.ErrWrongSMSCode
	ErrWrongEmailCode = sentcode.ErrWrongEmailCode
	ErrWrongAnswer    = questions.ErrWrongAnswer
	ErrWrongToken     = onetime.ErrWrongToken
	ErrOTASpent       = onetime.ErrSpent
)
