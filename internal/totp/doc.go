// Package totp implements the authenticator-app factor: RFC 4226 HOTP and
// RFC 6238 TOTP with the parameters every mainstream app understands (SHA-1,
// six digits, thirty-second steps), the otpauth:// enrolment URI and its QR
// code.
//
// The package is pure computation: it never reads the clock and never stores
// anything. Callers pass the current time, and pass the last step already
// accepted so that Match can refuse a replayed code; persisting that step
// atomically (UPDATE … WHERE last_step < ?) is the store's job.
package totp
