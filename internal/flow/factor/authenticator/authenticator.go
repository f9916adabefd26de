// Package authenticator is the authenticator-app factor (kind "totp"):
// RFC 6238 codes from an app such as Google or Microsoft Authenticator, a
// secret sealed under the master key with the factor id as associated data,
// and each time step accepted at most once per factor (invariant 2).
package authenticator

import (
	"context"
	"fmt"
	"time"

	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/totp"
)

// ErrWrongCode is a code the app did not show now (E02).
var ErrWrongCode = factor.Refusal("wrong_code", "authenticator code incorrect")

// Factor is the authenticator app.
type Factor struct{}

var _ factor.Verifier = Factor{}

func (Factor) Kind() string { return policy.FactorTOTP }

// steps is what a check needs of storage.
type steps interface {
	UseStep(ctx context.Context, factorID string, step int64) (bool, error)
}

// Verify checks a code: the row decides whether its step is still unused, so
// two servers never both accept it. A login with the app ends a run of
// one-time-token logins (C8).
func (Factor) Verify(ctx context.Context, env factor.Env, f *store.Factor, r factor.Response) (factor.Attempt, error) {
	secret, err := Open(env.Keys, f)
	if err != nil {
		return factor.Attempt{}, err
	}
	p, now := env.Policy, env.Now
	return factor.Attempt{
		Kind: f.Kind, Detail: map[string]any{"factor": f.ID},
		Check: func(ctx context.Context, q store.Queries) (bool, string, error) {
			return Check(ctx, q, f, secret, r.Code, p, now)
		},
		// Always: a token login may have committed since u was read.
		EndsOTARun: true,
		Wrong:      func(string) error { return ErrWrongCode },
	}, nil
}

// Check matches code against the secret and uses its step; a code of a
// step already used is a replay, refused like a wrong one.
func Check(ctx context.Context, q steps, f *store.Factor, secret []byte, code string, p policy.Policy, now time.Time) (bool, string, error) {
	step, ok := totp.Match(secret, code, now, p.TOTPDrift, f.LastStep)
	if !ok {
		if _, used := totp.Match(secret, code, now, p.TOTPDrift, -1); used {
			return false, "replayed", nil
		}
		return false, "wrong_code", nil
	}
	// The row decides, not f.LastStep: another server may have used the step since f was read.
	used, err := q.UseStep(ctx, f.ID, step)
	if err != nil || !used {
		return false, "replayed", err
	}
	return true, "", nil
}

// NewSecret makes the secret of a new pending factor, sealed with the
// factor's id as associated data so a sealed secret copied to another row
// does not open.
func NewSecret(keys *keyring.Keyring, factorID string) (secret, sealed []byte, err error) {
	if secret, err = totp.GenerateSecret(); err != nil {
		return nil, nil, err
	}
	sealed, err = keys.Seal(secret, []byte(factorID))
	return secret, sealed, err
}

// Confirm checks the first code of a pending factor (C4) and returns its
// step, which activation records so the same code cannot log in.
func Confirm(secret []byte, code string, p policy.Policy, now time.Time) (int64, bool) {
	return totp.Match(secret, code, now, p.TOTPDrift, -1)
}

// URI is what the person scans; Key what they type instead.
func URI(issuer, loginID string, secret []byte) string { return totp.URI(issuer, loginID, secret) }

// Key writes a secret in groups of four for typing.
func Key(secret []byte) string { return totp.FormatSecret(secret) }

// Open unseals a factor's secret.
func Open(keys *keyring.Keyring, f *store.Factor) ([]byte, error) {
	secret, err := keys.Open(f.Secret, []byte(f.ID))
	if err != nil {
		return nil, fmt.Errorf("open factor %s: %w", f.ID, err)
	}
	return secret, nil
}
