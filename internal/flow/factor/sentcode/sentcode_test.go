package sentcode_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/testutil/factortest"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/flow/factor/sentcode"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
)

var now = time.Date(2030, 3, 17, 12, 0, 0, 0, time.UTC)

type fixture struct {
	base  *factortest.Fixture
	st    store.Store
	keys  *keyring.Keyring
	user  *store.User
	other *store.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	base := factortest.New(t, now, 2)
	return &fixture{base: base, st: base.Store, keys: base.Keys, user: base.People[0], other: base.People[1]}
}

// send stores a challenge the way the engine does when it sends a code.
func (fx *fixture) send(t *testing.T, u *store.User, purpose, channel, code string, ttl time.Duration) *store.Challenge {
	t.Helper()
	ch := &store.Challenge{ID: store.NewID("chl"), TenantID: u.TenantID, UserID: u.ID, Purpose: purpose, Channel: channel,
		Destination: "5551234567", CodeHash: factor.CodeHash(fx.keys, u.ID, purpose, code), CreatedAt: now.Add(-time.Minute), ExpiresAt: now.Add(ttl)}
	if err := fx.st.CreateChallenge(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	return ch
}

func (fx *fixture) live(t *testing.T, ch *store.Challenge) bool {
	t.Helper()
	_, err := fx.st.LiveChallenge(t.Context(), ch.TenantID, ch.ID, now)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func (fx *fixture) env() factor.Env {
	return factor.Env{Now: now, Policy: policy.Default(), User: fx.user, Keys: fx.keys, Lang: "en"}
}

func (fx *fixture) guess(t *testing.T, a factor.Attempt) (bool, string) {
	t.Helper()
	return fx.base.Guess(t, fx.user, a)
}

func (fx *fixture) verify(t *testing.T, f sentcode.Factor, code string) (bool, string, factor.Attempt) {
	t.Helper()
	sf := &store.Factor{ID: "fac_" + f.Kind(), Kind: f.Kind()}
	a, err := f.Verify(t.Context(), fx.env(), sf, factor.Response{Code: code})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	ok, reason := fx.guess(t, a)
	return ok, reason, a
}

func TestKindAndChannel(t *testing.T) {
	for _, c := range []struct {
		f             sentcode.Factor
		kind, channel string
	}{
		{sentcode.SMS, policy.FactorSMS, delivery.SMS},
		{sentcode.Email, policy.FactorEmail, delivery.Email},
	} {
		t.Run(c.kind, func(t *testing.T) {
			if c.f.Kind() != c.kind || c.f.Channel() != c.channel {
				t.Errorf("Kind, Channel = %q, %q; want %q, %q", c.f.Kind(), c.f.Channel(), c.kind, c.channel)
			}
		})
	}
}

// B3 and X8: the code reaches the person in their language, with how long it
// lives; an email has room to say what to do if they did not sign in.
func TestMessage(t *testing.T) {
	for _, c := range []struct {
		name, lang string
		f          sentcode.Factor
		subject    string
		wants      []string
		wantNot    []string
	}{
		{"sms en", "en", sentcode.SMS, "Acme Health verification code",
			[]string{"Acme Health verification code: 482913.", "expires in 15 minutes", "Never share it"}, []string{"\n", "If you did not try"}},
		{"email en", "en", sentcode.Email, "Acme Health verification code",
			[]string{"Your Acme Health verification code is 482913", "expires in 15 minutes", "If you did not try to sign in"}, []string{"Vence"}},
		{"sms es", "es", sentcode.SMS, "Código de verificación de Acme Health",
			[]string{"Código de verificación de Acme Health: 482913.", "Vence en 15 minutos", "No lo comparta nunca"}, []string{"\n", "expires"}},
		{"email es", "es", sentcode.Email, "Código de verificación de Acme Health",
			[]string{"Su código de verificación de Acme Health es 482913", "Vence en 15 minutos", "Si usted no intentó iniciar sesión"}, []string{"expires"}},
		{"unknown language falls back to English", "fr", sentcode.SMS, "Acme Health verification code",
			[]string{"482913", "expires in 15 minutes"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			subject, text := c.f.Message(c.lang, "Acme Health", "482913", 15*time.Minute)
			if subject != c.subject {
				t.Errorf("subject = %q, want %q", subject, c.subject)
			}
			for _, w := range c.wants {
				if !strings.Contains(text, w) {
					t.Errorf("text lacks %q:\n%s", w, text)
				}
			}
			for _, w := range c.wantNot {
				if strings.Contains(text, w) {
					t.Errorf("text holds %q:\n%s", w, text)
				}
			}
			if strings.Contains(text, "%!") || strings.Contains(text, "[code.") {
				t.Errorf("text is badly formatted:\n%s", text)
			}
		})
	}
}

// Invariant 3: a code is used at most once; the refusal names the channel
// the person was waiting on (E39, E40).
func TestVerifyOnce(t *testing.T) {
	fx := newFixture(t)
	for _, c := range []struct {
		f          sentcode.Factor
		wrong, not error
	}{
		{sentcode.SMS, sentcode.ErrWrongSMSCode, sentcode.ErrWrongEmailCode},
		{sentcode.Email, sentcode.ErrWrongEmailCode, sentcode.ErrWrongSMSCode},
	} {
		t.Run(c.f.Kind(), func(t *testing.T) {
			ch := fx.send(t, fx.user, store.PurposeLogin, c.f.Channel(), "482913", 15*time.Minute)
			ok, reason, a := fx.verify(t, c.f, "482913")
			if !ok {
				t.Fatalf("live code refused: %s", reason)
			}
			if a.Kind != c.f.Kind() || a.Detail["factor"] != "fac_"+c.f.Kind() {
				t.Errorf("attempt Kind %q Detail %v, want the kind and the factor", a.Kind, a.Detail)
			}
			if fx.live(t, ch) {
				t.Error("the code is still live after its use")
			}
			ok, reason, a = fx.verify(t, c.f, "482913")
			if ok || reason != "wrong_code" {
				t.Fatalf("second use = %v, %q; want refused as wrong_code", ok, reason)
			}
			err := a.Wrong(reason)
			if !errors.Is(err, c.wrong) || !errors.Is(err, factor.ErrRefused) || errors.Is(err, c.not) {
				t.Errorf("Wrong(%q) = %v, want %v (a refusal), not %v", reason, err, c.wrong, c.not)
			}
		})
	}
}

// Issue 9 item 4 (E39, E40): the refusal tells the person where the codes
// went, masked, in their language.
func TestWrongNamesWhereCodesWent(t *testing.T) {
	fx := newFixture(t)
	fx.user.Phone, fx.user.Email = "5551234567", "alice@example.com"
	for _, c := range []struct {
		name, lang, code string
		f                sentcode.Factor
		wants            []string
	}{
		{"sms en", "en", "E39", sentcode.SMS, []string{"text message", "ending in 4567"}},
		{"sms es", "es", "E39", sentcode.SMS, []string{"mensaje de texto", "terminado en 4567"}},
		{"email en", "en", "E40", sentcode.Email, []string{"email we sent to a***@example.com"}},
		{"email es", "es", "E40", sentcode.Email, []string{"correo electrónico", "a***@example.com"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := c.f.Verify(t.Context(), fx.env(), &store.Factor{ID: "fac_x"}, factor.Response{Code: "000000"})
			if err != nil {
				t.Fatal(err)
			}
			p := problem.From(a.Wrong("wrong_code"), problem.Context{Lang: c.lang})
			if p.Code != c.code {
				t.Errorf("code = %s, want %s", p.Code, c.code)
			}
			for _, w := range c.wants {
				if !strings.Contains(p.Message, w) {
					t.Errorf("message lacks %q: %q", w, p.Message)
				}
			}
			for _, secret := range []string{"5551234567", "555123", "alice@"} {
				if strings.Contains(p.Message, secret) {
					t.Errorf("message shows %q unmasked: %q", secret, p.Message)
				}
			}
		})
	}
}

func TestReaches(t *testing.T) {
	u := &store.User{Phone: "5551234567", Email: "alice@example.com"}
	for _, c := range []struct {
		f    sentcode.Factor
		want string
	}{
		{sentcode.SMS, "***-***-4567"},
		{sentcode.Email, "a***@example.com"},
	} {
		t.Run(c.f.Kind(), func(t *testing.T) {
			if to, backup := c.f.Reaches(&store.Factor{}, u); to != c.want || backup != "" {
				t.Errorf("Reaches = %q, %q; want %q and no backup", to, backup, c.want)
			}
		})
	}
}

func TestVerifyRefused(t *testing.T) {
	fx := newFixture(t)
	fx.send(t, fx.user, store.PurposeLogin, delivery.SMS, "111111", -time.Second)
	fx.send(t, fx.user, store.PurposeVerifyPhone, delivery.SMS, "222222", 15*time.Minute)
	fx.send(t, fx.other, store.PurposeLogin, delivery.SMS, "333333", 15*time.Minute)
	mine := fx.send(t, fx.user, store.PurposeLogin, delivery.SMS, "444444", 15*time.Minute)
	for _, c := range []struct{ name, code, reason string }{
		{"expired", "111111", "wrong_code"},
		// A code proving a new number must not pass for a login.
		{"code of another purpose", "222222", "wrong_code"},
		{"code of another person", "333333", "wrong_code"},
		{"never sent", "555555", "wrong_code"},
		{"five digits", "44444", "malformed_code"},
		{"letters", "44444a", "malformed_code"},
		{"empty", "", "malformed_code"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok, reason, a := fx.verify(t, sentcode.SMS, c.code)
			if ok || reason != c.reason {
				t.Errorf("Verify(%q) = %v, %q; want refused as %s", c.code, ok, reason, c.reason)
			}
			if !errors.Is(a.Wrong(reason), sentcode.ErrWrongSMSCode) {
				t.Errorf("Wrong(%q) = %v, want ErrWrongSMSCode", reason, a.Wrong(reason))
			}
		})
	}
	// A refusal ends no other code (only a success does, B8).
	if !fx.live(t, mine) {
		t.Fatal("a refused guess ended the live code")
	}
	if ok, reason, _ := fx.verify(t, sentcode.SMS, " 444444\n"); !ok {
		t.Errorf("live code with spaces around it refused: %s", reason)
	}
}

// B8: any unexpired code works, and a success ends them all.
func TestVerifyEndsEveryLiveCode(t *testing.T) {
	fx := newFixture(t)
	first := fx.send(t, fx.user, store.PurposeLogin, delivery.SMS, "101010", 15*time.Minute)
	second := fx.send(t, fx.user, store.PurposeLogin, delivery.Email, "202020", 15*time.Minute)
	third := fx.send(t, fx.user, store.PurposeLogin, delivery.SMS, "303030", 15*time.Minute)
	contact := fx.send(t, fx.user, store.PurposeVerifyPhone, delivery.SMS, "404040", 15*time.Minute)
	theirs := fx.send(t, fx.other, store.PurposeLogin, delivery.SMS, "505050", 15*time.Minute)

	if ok, reason, _ := fx.verify(t, sentcode.SMS, "101010"); !ok {
		t.Fatalf("the earlier of several codes refused: %s", reason)
	}
	for _, c := range []struct {
		name string
		ch   *store.Challenge
		live bool
	}{
		{"used code", first, false},
		{"other login code", second, false},
		{"newest login code", third, false},
		{"code of another purpose", contact, true},
		{"code of another person", theirs, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := fx.live(t, c.ch); got != c.live {
				t.Errorf("live = %v, want %v", got, c.live)
			}
		})
	}
	if ok, _, _ := fx.verify(t, sentcode.SMS, "303030"); ok {
		t.Error("a code ended by an earlier success was accepted")
	}
}

func TestConsumeAll(t *testing.T) {
	fx := newFixture(t)
	for _, c := range []struct {
		name      string
		all       bool
		otherLive bool
	}{
		{"all ends the others (B8)", true, false},
		{"one leaves the others", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			fx.send(t, fx.user, store.PurposeVerifyEmail, delivery.Email, "123123", 15*time.Minute)
			other := fx.send(t, fx.user, store.PurposeVerifyEmail, delivery.Email, "321321", 15*time.Minute)
			var ok bool
			var reason string
			err := fx.st.InTx(t.Context(), func(q store.Queries) error {
				var err error
				ok, reason, err = sentcode.Consume(t.Context(), q, fx.env(), store.PurposeVerifyEmail, "123123", c.all)
				return err
			})
			if err != nil || !ok {
				t.Fatalf("Consume = %v, %q, %v", ok, reason, err)
			}
			if got := fx.live(t, other); got != c.otherLive {
				t.Errorf("other code live = %v, want %v", got, c.otherLive)
			}
		})
	}
}
