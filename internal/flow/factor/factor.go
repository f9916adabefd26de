package factor

import (
	"context"
	"time"

	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/password"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

// Factor is one kind of second factor; Kind is the name policy and storage
// use for it ("totp", "sms", …).
type Factor interface {
	Kind() string
}

// Env is what the engine lends a factor for one request.
type Env struct {
	Now    time.Time
	Policy policy.Policy
	User   *store.User
	Keys   *keyring.Keyring
	Hasher *password.Hasher
	// Lang is the language of anything the factor writes to the person.
	Lang string
}

// Response is what the person submitted to prove a factor.
type Response struct {
	Code    string
	Answers map[string]string
}

// Attempt is one guess, for the engine's guess runner: the runner charges it
// against the user's second-factor counter, then runs Check, then Success
// when Check accepted it — all in one write transaction with the audit
// record (invariants 1–3).
type Attempt struct {
	// Kind names the attempt in the audit record and metrics.
	Kind string
	// Detail goes into the audit record; never a secret.
	Detail map[string]any
	// Check evaluates the guess; reason explains a refusal in the audit.
	Check func(ctx context.Context, q store.Queries) (ok bool, reason string, err error)
	// Success, when set, runs after an accepted check.
	Success func(ctx context.Context, q store.Queries) error
	// EndsOTARun makes a success end the person's run of one-time access
	// logins, in the statement that records the success.
	EndsOTARun bool
	// Wrong is the answer to a refusal, told what the reason was.
	Wrong func(reason string) error
}

// Verifier is a factor that completes a login with what the person typed or
// answered.
type Verifier interface {
	Factor
	// Verify prepares the guess. Work that must not hold the database
	// writer (opening a secret, argon2id) happens here, before the runner's
	// transaction; its result is acted on only inside Check.
	Verify(ctx context.Context, env Env, f *store.Factor, r Response) (Attempt, error)
}

// Sender is a factor whose code is sent to the person for each login.
type Sender interface {
	Factor
	// Channel is the delivery channel (delivery.SMS, delivery.Email).
	Channel() string
	// Message writes the subject and text that carry code, in lang.
	Message(lang, issuer, code string, ttl time.Duration) (subject, text string)
}

// Gate is an optional capability: whether a factor may finish a sign-in
// under policy p, to an application or (portal) to the self-service portal.
// Without it a factor may when policy allows its kind.
type Gate interface {
	Offered(p policy.Policy, portal bool) bool
}

// Offered reports whether f may finish a sign-in under p.
func Offered(f Factor, p policy.Policy, portal bool) bool {
	if g, ok := f.(Gate); ok {
		return g.Offered(p, portal)
	}
	return p.Allows(f.Kind())
}

// Opener is an optional capability: a factor that opens applications, not
// only the portal. Without it a factor does.
type Opener interface {
	OpensApplications() bool
}

// OpensApplications reports whether f counts as a sign-in method for
// applications (the last one cannot be removed, a first enrolment needs one).
func OpensApplications(f Factor) bool {
	if o, ok := f.(Opener); ok {
		return o.OpensApplications()
	}
	return true
}

// Reacher is an optional capability: a factor that reaches the person at a
// phone number or an address says where, masked, for the person's own pages
// (backup is empty when there is none).
type Reacher interface {
	Reaches(f *store.Factor, u *store.User) (to, backup string)
}
