// Package onetime is the one-time access token (C8): for a person whose
// authenticator app is lost, a 10-character token sent to their verified
// email or text-enabled number, used once, and at most a policy's number of
// times in a row before they must log in with the app again.
package onetime

import (
	"context"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/flow/text"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
)

// Kind names token logins in the audit and metrics; no factor row has it.
const Kind = "one_time_token"

var (
	// ErrWrongToken is a token that is not a live one of the person (E42).
	ErrWrongToken = factor.Refusal("wrong_one_time_token", "one-time access token incorrect")
	// ErrSpent: the consecutive token logins are used up (E26).
	ErrSpent = problem.Domain("one_time_tokens_spent", "one-time access tokens spent: log in with the authenticator app first")
)

// Token is the one-time access token.
type Token struct{}

var _ factor.Verifier = Token{}

func (Token) Kind() string { return Kind }

// Left is how many consecutive token logins the person has left; when none,
// the option is not offered.
func Left(p policy.Policy, u *store.User) int { return max(0, p.OTAMaxConsecutive-u.OTAConsecutive) }

// New returns a fresh token.
func New() string { return factor.Token(10) }

// Message writes the token's text, in two groups of five.
func Message(lang, issuer, channel, token string, ttl time.Duration, left int) (string, string) {
	subject := text.Words(lang, "ota.subject", issuer)
	if channel == delivery.Email {
		return subject, text.Words(lang, "ota.email", issuer, token[:5], token[5:], int(ttl.Minutes()), left)
	}
	return subject, text.Words(lang, "ota.sms", issuer, token[:5], token[5:], int(ttl.Minutes()))
}

// tokens is what using a token needs of storage.
type tokens interface {
	ConsumeChallenge(ctx context.Context, userID, purpose string, codeHash []byte, now time.Time) (*store.Challenge, error)
	TakeOTA(ctx context.Context, userID string, limit int) (bool, error)
}

// Verify uses a live token of the person; f is nil, tokens belong to no factor.
func (Token) Verify(ctx context.Context, env factor.Env, _ *store.Factor, r factor.Response) (factor.Attempt, error) {
	u, p := env.User, env.Policy
	hash := factor.CodeHash(env.Keys, u.ID, store.PurposeOTA, factor.NormalizeToken(r.Code))
	return factor.Attempt{
		Kind: Kind, Detail: map[string]any{"factor": Kind},
		Check: func(ctx context.Context, q store.Queries) (bool, string, error) {
			var t tokens = q
			ch, err := t.ConsumeChallenge(ctx, u.ID, store.PurposeOTA, hash, env.Now)
			if err != nil || ch == nil {
				return false, "wrong_token", err
			}
			// Only a used token counts; one that expires unused does not (C8).
			ok, err := t.TakeOTA(ctx, u.ID, p.OTAMaxConsecutive)
			if err != nil || !ok {
				return false, "one_time_tokens_spent", err
			}
			return true, "", nil
		},
		Wrong: func(reason string) error {
			if reason == "one_time_tokens_spent" {
				return ErrSpent
			}
			return ErrWrongToken
		},
	}, nil
}
