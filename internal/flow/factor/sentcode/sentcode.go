// Package sentcode is the factor of a 6-digit code sent for each login by
// text message (kind "sms") or email (kind "email") to the person's verified
// number or address (B3). Any live code of the person works, a success ends
// them all (B8), and every code is used at most once (invariant 3).
package sentcode

import (
	"context"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/flow/text"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/totp"
)

// The wrong-code errors say where the code went (E39, E40).
var (
	ErrWrongSMSCode   = factor.Refusal("wrong_sms_code", "text message code incorrect")
	ErrWrongEmailCode = factor.Refusal("wrong_email_code", "email code incorrect")
)

// Factor is a code sent on one channel.
type Factor struct{ channel string }

// The two channels a login code is sent on.
var (
	SMS   = Factor{channel: delivery.SMS}
	Email = Factor{channel: delivery.Email}
)

var (
	_ factor.Verifier = Factor{}
	_ factor.Sender   = Factor{}
	_ factor.Reacher  = Factor{}
)

func (f Factor) Kind() string {
	if f.channel == delivery.Email {
		return policy.FactorEmail
	}
	return policy.FactorSMS
}

func (f Factor) Channel() string { return f.channel }

// Reaches is the person's number or address the codes go to, masked.
func (f Factor) Reaches(_ *store.Factor, u *store.User) (string, string) {
	if f.channel == delivery.Email {
		return factor.MaskEmail(u.Email), ""
	}
	return factor.MaskPhone(u.Phone), ""
}

// Message writes the code's text; an email says a little more.
func (f Factor) Message(lang, issuer, code string, ttl time.Duration) (string, string) {
	body := "code.sms"
	if f.channel == delivery.Email {
		body = "code.email"
	}
	return text.Words(lang, "code.subject", issuer), text.Words(lang, body, issuer, code, int(ttl.Minutes()), issuer)
}

// Verify consumes the live login code the person typed.
func (f Factor) Verify(ctx context.Context, env factor.Env, sf *store.Factor, r factor.Response) (factor.Attempt, error) {
	// The refusal names where the codes went, so the person looks in the
	// right place (E39, E40).
	wrong := problem.Variant(ErrWrongEmailCode, "to", "to", factor.MaskEmail(env.User.Email))
	if f.channel == delivery.SMS {
		last4 := env.User.Phone
		if len(last4) > 4 {
			last4 = last4[len(last4)-4:]
		}
		wrong = problem.Variant(ErrWrongSMSCode, "to", "last4", last4)
	}
	return factor.Attempt{
		Kind: f.Kind(), Detail: map[string]any{"factor": sf.ID},
		Check: func(ctx context.Context, q store.Queries) (bool, string, error) {
			return Consume(ctx, q, env, store.PurposeLogin, r.Code, true)
		},
		Wrong: func(string) error { return wrong },
	}, nil
}

// codes is what consuming a code needs of storage.
type codes interface {
	ConsumeChallenge(ctx context.Context, userID, purpose string, codeHash []byte, now time.Time) (*store.Challenge, error)
	ConsumeAllChallenges(ctx context.Context, userID, purpose string, now time.Time) (int, error)
}

// Consume uses a live code of the person for purpose; all ends every other
// live code of that purpose with it (B8). Login codes, contact verification
// and recovery codes all go through it.
func Consume(ctx context.Context, q codes, env factor.Env, purpose, code string, all bool) (bool, string, error) {
	code, ok := totp.NormalizeCode(code)
	if !ok {
		return false, "malformed_code", nil
	}
	ch, err := q.ConsumeChallenge(ctx, env.User.ID, purpose, factor.CodeHash(env.Keys, env.User.ID, purpose, code), env.Now)
	if err != nil || ch == nil {
		return false, "wrong_code", err
	}
	if all {
		if _, err := q.ConsumeAllChallenges(ctx, env.User.ID, purpose, env.Now); err != nil {
			return false, "", err
		}
	}
	return true, "", nil
}
