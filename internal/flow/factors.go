package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/totp"
)

func (e *Engine) usableFactors(ctx context.Context, p policy.Policy, u *store.User) ([]store.Factor, error) {
	all, err := e.Store.ActiveFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(f store.Factor) bool { return !p.Allows(f.Kind) }), nil
}

// pickFactor finds the usable factor with this id, or the authenticator app
// when id is empty.
func (e *Engine) pickFactor(ctx context.Context, p policy.Policy, u *store.User, factorID string) (*store.Factor, error) {
	factors, err := e.usableFactors(ctx, p, u)
	if err != nil {
		return nil, err
	}
	for i := range factors {
		f := &factors[i]
		if (factorID == "" && f.Kind == policy.FactorTOTP) || (factorID != "" && f.ID == factorID) {
			return f, nil
		}
	}
	if factorID != "" && len(factors) > 0 {
		return nil, ErrFactorNotAllowed
	}
	return nil, ErrNotRegistered
}

// verifyTOTP checks an authenticator code: the step is used at most once per
// factor (invariant 2), and a login with the app resets the count of
// one-time-token logins (C8).
func (e *Engine) verifyTOTP(ctx context.Context, c Caller, p policy.Policy, u *store.User, f *store.Factor, code string, txn *store.LoginTxn, success func(q store.Queries) error) error {
	secret, err := e.Keys.Open(f.Secret, []byte(f.ID))
	if err != nil {
		return fmt.Errorf("open factor %s: %w", f.ID, err)
	}
	now := e.now()
	return e.guess(ctx, c, p, u, attempt{
		kind: f.Kind, txn: txn, detail: map[string]any{"factor": f.ID},
		check: func(q store.Queries) (bool, string, error) {
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
		},
		success: func(q store.Queries) error {
			if u.OTAConsecutive > 0 {
				if err := q.ResetOTA(ctx, u.ID); err != nil {
					return err
				}
			}
			if success != nil {
				return success(q)
			}
			return nil
		},
	})
}

// verifyCode checks an SMS or email code: any live code of the user works, a
// success ends them all (B8), every failure counts (B5).
func (e *Engine) verifyCode(ctx context.Context, c Caller, p policy.Policy, u *store.User, f *store.Factor, code string, txn *store.LoginTxn, success func(q store.Queries) error) error {
	now := e.now()
	return e.guess(ctx, c, p, u, attempt{
		kind: f.Kind, txn: txn, detail: map[string]any{"factor": f.ID},
		check: func(q store.Queries) (bool, string, error) {
			code, ok := totp.NormalizeCode(code)
			if !ok {
				return false, "malformed_code", nil
			}
			ch, err := q.ConsumeChallenge(ctx, u.ID, store.PurposeLogin, e.codeHash(u.ID, store.PurposeLogin, code), now)
			if err != nil || ch == nil {
				return false, "wrong_code", err
			}
			_, err = q.ConsumeAllChallenges(ctx, u.ID, store.PurposeLogin, now)
			return err == nil, "", err
		},
		success: success,
	})
}

func (e *Engine) verifyOneTimeToken(ctx context.Context, c Caller, p policy.Policy, u *store.User, token string, txn *store.LoginTxn, success func(q store.Queries) error) error {
	now := e.now()
	return e.guess(ctx, c, p, u, attempt{
		kind: "one_time_token", txn: txn, detail: map[string]any{},
		check: func(q store.Queries) (bool, string, error) {
			ch, err := q.ConsumeChallenge(ctx, u.ID, store.PurposeOTA, e.codeHash(u.ID, store.PurposeOTA, normalizeToken(token)), now)
			if err != nil || ch == nil {
				return false, "wrong_token", err
			}
			// Only a used token counts; one that expires unused does not (C8).
			ok, err := q.TakeOTA(ctx, u.ID, p.OTAMaxConsecutive)
			if err != nil || !ok {
				return false, "one_time_tokens_spent", err
			}
			return true, "", nil
		},
		failure: func(reason string) error {
			if reason == "one_time_tokens_spent" {
				return ErrOTASpent
			}
			return ErrWrongCode
		},
		success: success,
	})
}

// PortalFactors lists the factors that finish a portal sign-in: those policy
// allows, and the security questions when they may replace them.
func (e *Engine) PortalFactors(ctx context.Context, p policy.Policy, u *store.User) ([]store.Factor, error) {
	all, err := e.Store.ActiveFactors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(f store.Factor) bool {
		if f.Kind == FactorQuestions {
			return !p.Portal.QuestionsSignIn || p.Portal.SecurityQuestions == 0
		}
		return !p.Allows(f.Kind)
	}), nil
}

// verifyAnswers checks every security answer as one second-factor guess.
// The argon2id work happens before the write transaction so the single
// SQLite writer is not held by it; the result is only acted on after the
// guess was charged, so past the limit nothing is revealed (invariant 1).
func (e *Engine) verifyAnswers(ctx context.Context, c Caller, p policy.Policy, u *store.User, answers map[string]string, txn *store.LoginTxn) error {
	var f *store.Factor
	all, err := e.Store.ActiveFactors(ctx, u.ID)
	if err != nil {
		return err
	}
	for i := range all {
		if all[i].Kind == FactorQuestions {
			f = &all[i]
		}
	}
	if f == nil {
		return ErrFactorNotAllowed
	}
	raw, err := e.Keys.Open(f.Secret, questionsAAD(u.ID))
	if err != nil {
		return fmt.Errorf("open questions of %s: %w", u.ID, err)
	}
	var hashes map[string]string
	if err := json.Unmarshal(raw, &hashes); err != nil {
		return fmt.Errorf("questions of %s: %w", u.ID, err)
	}
	match := len(hashes) > 0
	for id, h := range hashes {
		ok, _, err := e.Hasher.Verify(ctx, h, normalizeAnswer(answers[id]))
		if err != nil {
			return busyOr(err)
		}
		match = match && ok
	}
	txn.FactorID = f.ID
	return e.guess(ctx, c, p, u, attempt{
		kind: FactorQuestions, txn: txn, detail: map[string]any{"factor": f.ID},
		check: func(store.Queries) (bool, string, error) {
			if !match {
				return false, "wrong_answer", nil
			}
			return true, "", nil
		},
	})
}

func factorWhat(lang, kind string) string {
	switch kind {
	case policy.FactorTOTP, policy.FactorVoice, policy.FactorSMS, policy.FactorEmail, FactorQuestions:
		return words(lang, "what."+kind)
	}
	return words(lang, "what.other")
}
