package onetime_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/testutil/factortest"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/flow/factor/onetime"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

var now = time.Date(2030, 3, 17, 12, 0, 0, 0, time.UTC)

type fixture struct {
	base *factortest.Fixture
	st   store.Store
	keys *keyring.Keyring
	user *store.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	base := factortest.New(t, now, 1)
	return &fixture{base: base, st: base.Store, keys: base.Keys, user: base.People[0]}
}

// send stores a token the way the engine does when it sends one.
func (fx *fixture) send(t *testing.T, token string) *store.Challenge {
	t.Helper()
	ch := &store.Challenge{ID: store.NewID("chl"), TenantID: fx.user.TenantID, UserID: fx.user.ID, Purpose: store.PurposeOTA, Channel: delivery.Email,
		Destination: "alice@example.com", CodeHash: factor.CodeHash(fx.keys, fx.user.ID, store.PurposeOTA, token), CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
	if err := fx.st.CreateChallenge(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	return ch
}

func (fx *fixture) reloadUser(t *testing.T) *store.User {
	t.Helper()
	return fx.base.Reload(t, fx.user)
}

// verify prepares a guess of typed and runs it as the engine's guess runner
// does: charge, Check, then Success when accepted, in one write transaction.
func (fx *fixture) verify(t *testing.T, limit int, typed string) (bool, string, factor.Attempt) {
	t.Helper()
	p := policy.Default()
	p.OTAMaxConsecutive = limit
	env := factor.Env{Now: now, Policy: p, User: fx.reloadUser(t), Keys: fx.keys, Lang: "en"}
	a, err := onetime.Token{}.Verify(t.Context(), env, nil, factor.Response{Code: typed})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	ok, reason := fx.base.Guess(t, fx.user, a)
	return ok, reason, a
}

// C8: when the consecutive token logins are spent the option is not offered.
func TestLeft(t *testing.T) {
	for _, c := range []struct{ max, used, want int }{
		{3, 0, 3},
		{3, 2, 1},
		{3, 3, 0},
		// A policy lowered below what a person already used offers none.
		{3, 5, 0},
		{0, 0, 0},
	} {
		t.Run(fmt.Sprintf("max %d used %d", c.max, c.used), func(t *testing.T) {
			p := policy.Default()
			p.OTAMaxConsecutive = c.max
			if got := onetime.Left(p, &store.User{OTAConsecutive: c.used}); got != c.want {
				t.Errorf("Left = %d, want %d", got, c.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		tok := onetime.New()
		if len(tok) != 10 || strings.Trim(tok, "ABCDEFGHJKMNPQRSTUVWXYZ23456789") != "" {
			t.Fatalf("New() = %q, want 10 characters without look-alikes", tok)
		}
		if seen[tok] {
			t.Fatalf("New() repeated %q", tok)
		}
		seen[tok] = true
	}
	if (onetime.Token{}).Kind() != onetime.Kind || onetime.Kind != "one_time_token" {
		t.Errorf("Kind() = %q, want %q", (onetime.Token{}).Kind(), "one_time_token")
	}
}

// C8 and X8: the token is written in two groups of five, in the person's
// language; the email also says how many token logins remain.
func TestMessage(t *testing.T) {
	for _, c := range []struct {
		name, lang, channel string
		subject             string
		wants               []string
	}{
		{"sms en", "en", delivery.SMS, "Acme Health one-time access token",
			[]string{"ABCDE FGHJK", "Valid 10 minutes, once"}},
		{"email en", "en", delivery.Email, "Acme Health one-time access token",
			[]string{"ABCDE FGHJK", "valid for 10 minutes", "2 more time(s)"}},
		{"sms es", "es", delivery.SMS, "Token de acceso de un solo uso de Acme Health",
			[]string{"ABCDE FGHJK", "Válido 10 minutos, una sola vez"}},
		{"email es", "es", delivery.Email, "Token de acceso de un solo uso de Acme Health",
			[]string{"ABCDE FGHJK", "válido durante 10 minutos", "2 vez/veces más"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			subject, text := onetime.Message(c.lang, "Acme Health", c.channel, "ABCDEFGHJK", 10*time.Minute, 2)
			if subject != c.subject {
				t.Errorf("subject = %q, want %q", subject, c.subject)
			}
			for _, w := range append(c.wants, "Acme Health") {
				if !strings.Contains(text, w) {
					t.Errorf("text lacks %q:\n%s", w, text)
				}
			}
			if strings.Contains(text, "ABCDEFGHJK") || strings.Contains(text, "%!") {
				t.Errorf("text is not the token in two groups:\n%s", text)
			}
			if c.channel == delivery.SMS && strings.Contains(text, "\n") {
				t.Errorf("text message holds a line break:\n%s", text)
			}
		})
	}
}

// C8 and invariant 3: a token typed as a person types it works once, and
// counts one more consecutive token login.
func TestVerifyOnce(t *testing.T) {
	fx := newFixture(t)
	for _, typed := range []string{"ABCDEFGHJK", "abcdefghjk", "abcde fghjk", "ABCDE-FGHJK", "  abcde - fghjk  "} {
		t.Run(typed, func(t *testing.T) {
			// Each case starts a run afresh with a newly sent token.
			if err := fx.st.ResetOTA(t.Context(), fx.user.ID); err != nil {
				t.Fatal(err)
			}
			fx.send(t, "ABCDEFGHJK")
			ok, reason, a := fx.verify(t, 3, typed)
			if !ok {
				t.Fatalf("token typed %q refused: %s", typed, reason)
			}
			if a.Kind != onetime.Kind {
				t.Errorf("attempt Kind = %q, want %q", a.Kind, onetime.Kind)
			}
			if got := fx.reloadUser(t).OTAConsecutive; got != 1 {
				t.Errorf("OTAConsecutive = %d, want 1", got)
			}
			ok, reason, a = fx.verify(t, 3, typed)
			if ok || reason != "wrong_token" {
				t.Fatalf("second use = %v, %q; want refused as wrong_token", ok, reason)
			}
			if err := a.Wrong(reason); !errors.Is(err, onetime.ErrWrongToken) || !errors.Is(err, factor.ErrRefused) {
				t.Errorf("Wrong(%q) = %v, want ErrWrongToken, a refusal", reason, err)
			}
			if got := fx.reloadUser(t).OTAConsecutive; got != 1 {
				t.Errorf("a refused token counted: OTAConsecutive = %d, want 1", got)
			}
		})
	}
}

func TestVerifyRefused(t *testing.T) {
	fx := newFixture(t)
	fx.send(t, "ABCDEFGHJK")
	for _, typed := range []string{"ABCDEFGHJM", "ABCDEFGHJ", "", "ABCDEFGHJKA", "0BCDEFGHJK"} {
		t.Run(typed, func(t *testing.T) {
			ok, reason, a := fx.verify(t, 3, typed)
			if ok || reason != "wrong_token" {
				t.Errorf("Verify(%q) = %v, %q; want refused as wrong_token", typed, ok, reason)
			}
			if err := a.Wrong(reason); !errors.Is(err, onetime.ErrWrongToken) || errors.Is(err, onetime.ErrSpent) {
				t.Errorf("Wrong(%q) = %v, want ErrWrongToken", reason, err)
			}
		})
	}
	if got := fx.reloadUser(t).OTAConsecutive; got != 0 {
		t.Errorf("wrong tokens counted: OTAConsecutive = %d, want 0", got)
	}
}

// C8: at most the policy's number of consecutive token logins, even with a
// live token in hand (it may have been sent before the last one was used).
func TestVerifySpent(t *testing.T) {
	fx := newFixture(t)
	for range 2 {
		if ok, err := fx.st.TakeOTA(t.Context(), fx.user.ID, 2); err != nil || !ok {
			t.Fatalf("TakeOTA = %v, %v", ok, err)
		}
	}
	fx.send(t, "ABCDEFGHJK")
	ok, reason, a := fx.verify(t, 2, "abcde fghjk")
	if ok || reason != "one_time_tokens_spent" {
		t.Fatalf("Verify past the limit = %v, %q; want refused as one_time_tokens_spent", ok, reason)
	}
	if err := a.Wrong(reason); !errors.Is(err, onetime.ErrSpent) || errors.Is(err, onetime.ErrWrongToken) {
		t.Errorf("Wrong(%q) = %v, want ErrSpent", reason, err)
	}
	if got := fx.reloadUser(t).OTAConsecutive; got != 2 {
		t.Errorf("OTAConsecutive = %d, want 2", got)
	}
}
