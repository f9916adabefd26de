package api

import (
	"errors"
	"net/http"

	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// Error is a public error: status, stable code and a message that tells the
// person what to do next. The cause is logged, never sent.
type Error struct {
	Status     int
	Code       string
	Name       string
	Message    string
	Fields     validate.Errors
	RetryAfter int // seconds, for 503
	cause      error
}

func (e *Error) Error() string { return e.Code + " " + e.Name + ": " + e.Message }
func (e *Error) Unwrap() error { return e.cause }

// Catalogue is every public error, in code order; docs/errors.md is checked
// against it.
var Catalogue = []Error{
	{Status: 401, Code: "E01", Name: "invalid_credentials", Message: "The Login ID or Password is incorrect. If you do not enter the Login ID and Password correctly, your Login ID will be locked. If you have forgotten them, use Forgot Login ID or Forgot Password."},
	{Status: 401, Code: "E02", Name: "wrong_code", Message: "The code is invalid. Enter the 6-digit code shown in your authenticator app now. If codes keep failing, make sure your phone's clock is set automatically: a clock that is off by more than a minute gives wrong codes."},
	{Status: 423, Code: "E03", Name: "mfa_locked", Message: "Your account is locked after too many failed attempts. Contact your organisation's administrator to unlock it."},
	{Status: 410, Code: "E04", Name: "transaction_gone", Message: "This login has expired or was already completed. Start the login again."},
	{Status: 404, Code: "E05", Name: "user_not_found", Message: "There was a problem with your second factor authentication (MFA): your user was not found. If you are a new user, your account may not be provisioned yet; wait and try again later, then register your second factor in the MFA portal."},
	{Status: 403, Code: "E06", Name: "user_not_registered", Message: "There was a problem with your second factor authentication (MFA): you have not registered a second factor. Register your second factor in the MFA portal, then log in again."},
	{Status: 403, Code: "E07", Name: "account_disabled", Message: "Your account has been disabled. Re-enable it with the link sent to your registered email or phone, or contact your administrator."},
	{Status: 403, Code: "E08", Name: "account_inactive", Message: "Your account is inactive. Contact your administrator to resolve the account status."},
	{Status: 403, Code: "E09", Name: "account_pending", Message: "Your account registration is not complete. Finish registration with the confirmation email before you sign in or set up MFA."},
	{Status: 403, Code: "E10", Name: "account_expired", Message: "Your account has expired. Contact your administrator."},
	{Status: 423, Code: "E11", Name: "account_locked", Message: "Your account is locked. Contact your organisation's administrator."},
	{Status: 400, Code: "E12", Name: "validation_failed", Message: "Some fields are invalid. Correct each field listed in fields and try again."},
	{Status: 401, Code: "E13", Name: "unauthenticated", Message: "The API key is missing or invalid. Send it as Authorization: Bearer <key>."},
	{Status: 403, Code: "E14", Name: "forbidden", Message: "Your role does not permit this action. Ask a tenant administrator."},
	{Status: 404, Code: "E15", Name: "not_found", Message: "Nothing was found at this address. Check the identifier and the path."},
	{Status: 409, Code: "E16", Name: "conflict", Message: "This conflicts with an existing record. Choose another name."},
	{Status: 503, Code: "E17", Name: "busy", Message: "The server is busy. Wait a moment and try again.", RetryAfter: 2},
	{Status: 400, Code: "E18", Name: "bad_request", Message: "The request body is not valid JSON of the expected shape. Send one JSON object with the documented fields."},
	{Status: 410, Code: "E19", Name: "enrolment_gone", Message: "This authenticator setup has expired, was replaced by a newer one or had too many wrong codes. Start the setup again and scan the new QR code."},
	{Status: 403, Code: "E20", Name: "factor_not_allowed", Message: "This kind of second factor is not allowed by your organisation's policy."},
	{Status: 401, Code: "E21", Name: "fresh_authentication_required", Message: "Setting up an authenticator needs a fresh login. Log in again and use the new transaction within a few minutes."},
	{Status: 405, Code: "E22", Name: "method_not_allowed", Message: "This method is not allowed here. See /api/v1/openapi.json for the methods of each path."},
	{Status: 413, Code: "E23", Name: "too_large", Message: "The request body is too large. Send at most 64 KiB."},
	{Status: 415, Code: "E24", Name: "unsupported_media_type", Message: "Send the request body as Content-Type: application/json."},
	{Status: 429, Code: "E25", Name: "rate_limited", Message: "Too many codes or messages were sent. Wait until the time in Retry-After, then ask for a new one. Codes already sent stay valid until they expire.", RetryAfter: 60},
	{Status: 403, Code: "E26", Name: "one_time_tokens_spent", Message: "You have used all your one-time access tokens in a row. Log in with your authenticator app (reset it in the MFA portal if needed) before you can request another."},
	{Status: 409, Code: "E27", Name: "no_verified_destination", Message: "There is no verified phone number or email address for this method. Register and verify one in the MFA portal first."},
	{Status: 410, Code: "E28", Name: "verification_gone", Message: "This verification code has expired or was replaced by a newer one. Ask for a new code and enter the newest one you receive."},
	{Status: 403, Code: "E29", Name: "contact_change_denied", Message: "Only active accounts may change their phone number or email address. Contact your administrator to resolve the account status."},
	{Status: 401, Code: "E30", Name: "call_wrong_key", Message: "# Not Pressed After Entry: the call was answered and a key other than # was pressed. Log in again to receive a new call, and press # after answering."},
	{Status: 401, Code: "E31", Name: "call_no_input", Message: "No Phone Input – Timed Out: the call was answered but nothing was pressed. Log in again to receive a new call, and press # after answering."},
	{Status: 401, Code: "E32", Name: "call_disconnected", Message: "Call Disconnected: the call was answered and hung up before any input. Log in again to receive a new call, and press # after answering."},
	{Status: 401, Code: "E33", Name: "call_no_answer", Message: "No Answer: the call was not answered (a voicemail may have been left). Log in again to receive a new call, or choose your backup phone."},
	{Status: 401, Code: "E34", Name: "call_wrong_pin", Message: "Wrong PIN: the PIN entered on the call was not correct. Log in again to receive a new call and enter your PIN, then #."},
	{Status: 403, Code: "E35", Name: "call_fraud_reported", Message: "Fraud Reported: this sign-in was blocked because the person who answered reported it as fraud. Your administrator has been told."},
	{Status: 502, Code: "E36", Name: "call_failed", Message: "The call could not be placed. Log in again to try a new call, or choose your backup phone."},
	{Status: 409, Code: "E37", Name: "last_factor", Message: "This is your only sign-in method, so it cannot be removed. Add or replace a method first, then remove this one."},
	{Status: 401, Code: "E38", Name: "identity_not_matched", Message: "The details you entered do not match our records. Check your email address, date of birth and SSN and try again; after several attempts you must wait before trying again."},
	{Status: 500, Code: "E99", Name: "internal", Message: "Something went wrong on our side. Try again; if it keeps happening, contact support and quote the request ID."},
}

var byName = func() map[string]Error {
	m := map[string]Error{}
	for _, e := range Catalogue {
		m[e.Name] = e
	}
	return m
}()

// publicError builds the catalogue entry with this name.
func publicError(name string, cause error) *Error {
	e, ok := byName[name]
	if !ok {
		panic("api: no catalogue entry " + name)
	}
	e.cause = cause
	return &e
}

var domainErrors = []struct {
	err  error
	name string
}{
	{flow.ErrInvalidCredentials, "invalid_credentials"},
	{flow.ErrWrongCode, "wrong_code"},
	{flow.ErrMFALocked, "mfa_locked"},
	{flow.ErrTxnGone, "transaction_gone"},
	{flow.ErrUserNotFound, "user_not_found"},
	{flow.ErrNotRegistered, "user_not_registered"},
	{flow.ErrAccountDisabled, "account_disabled"},
	{flow.ErrAccountInactive, "account_inactive"},
	{flow.ErrAccountPending, "account_pending"},
	{flow.ErrAccountExpired, "account_expired"},
	{flow.ErrAccountLocked, "account_locked"},
	{flow.ErrEnrolmentGone, "enrolment_gone"},
	{flow.ErrFactorNotAllowed, "factor_not_allowed"},
	{flow.ErrFreshAuthRequired, "fresh_authentication_required"},
	{flow.ErrForbidden, "forbidden"},
	{flow.ErrBusy, "busy"},
	{flow.ErrOTASpent, "one_time_tokens_spent"},
	{flow.ErrNoDestination, "no_verified_destination"},
	{flow.ErrVerificationGone, "verification_gone"},
	{flow.ErrContactChangeDenied, "contact_change_denied"},
	{flow.ErrCallGone, "not_found"},
	{flow.ErrLastFactor, "last_factor"},
	{flow.ErrIdentityNotMatched, "identity_not_matched"},
	{directory.ErrBadKey, "unauthenticated"},
	{store.ErrNotFound, "not_found"},
	{store.ErrConflict, "conflict"},
}

// ToPublic maps any error to what the client may see; the portal shows the
// same codes and messages.
func ToPublic(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	var limited *flow.RateLimitedError
	if errors.As(err, &limited) {
		e := publicError("rate_limited", err)
		e.RetryAfter = max(1, int(limited.RetryAfter.Seconds()+0.999))
		return e
	}
	var fields validate.Errors
	if errors.As(err, &fields) {
		e := publicError("validation_failed", err)
		e.Fields = fields
		return e
	}
	for _, d := range domainErrors {
		if errors.Is(err, d.err) {
			return publicError(d.name, err)
		}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return publicError("too_large", err)
	}
	return publicError("internal", err)
}
