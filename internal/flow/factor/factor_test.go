package factor_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
)

func newKeys(t *testing.T, macByte byte) *keyring.Keyring {
	t.Helper()
	keys, err := keyring.New(map[string][]byte{"k1": make([]byte, keyring.KeySize)}, "k1", bytes.Repeat([]byte{macByte}, keyring.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestDigits(t *testing.T) {
	for _, n := range []int{0, 1, 6, 8} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			got := factor.Digits(n)
			if len(got) != n {
				t.Fatalf("Digits(%d) = %q, length %d", n, got, len(got))
			}
			if strings.Trim(got, "0123456789") != "" {
				t.Errorf("Digits(%d) = %q, want only decimal digits", n, got)
			}
		})
	}
	t.Run("random", func(t *testing.T) {
		// A constant would pass the format checks above; 20 equal 6-digit
		// draws happen by chance once in 10^114.
		first := factor.Digits(6)
		for range 20 {
			if factor.Digits(6) != first {
				return
			}
		}
		t.Errorf("Digits(6) returned %q 21 times", first)
	})
}

// Tokens are read aloud and copied by hand (C8): 0/O and 1/I/L would be
// mistaken for each other, so none of them may appear.
func TestTokenAlphabet(t *testing.T) {
	const lookAlikes = "0O1IL"
	seen := map[rune]bool{}
	for range 500 {
		tok := factor.Token(10)
		if len(tok) != 10 {
			t.Fatalf("Token(10) = %q, length %d", tok, len(tok))
		}
		for _, r := range tok {
			switch {
			case strings.ContainsRune(lookAlikes, r):
				t.Fatalf("Token(10) = %q holds the look-alike %q", tok, r)
			case !(r >= 'A' && r <= 'Z' || r >= '2' && r <= '9'):
				t.Fatalf("Token(10) = %q holds %q, not an upper-case letter or digit 2-9", tok, r)
			}
			seen[r] = true
		}
		if factor.NormalizeToken(tok) != tok {
			t.Fatalf("NormalizeToken(%q) = %q: a token as sent must survive normalizing", tok, factor.NormalizeToken(tok))
		}
	}
	// 5000 draws from 31 characters miss one with odds about 10^-68: a
	// shrunken alphabet (fewer guesses for an attacker) shows here.
	if len(seen) != 31 {
		t.Errorf("tokens used %d distinct characters, want all 31 of A-Z and 2-9 without %s", len(seen), lookAlikes)
	}
	for _, n := range []int{0, 1, 5} {
		if got := factor.Token(n); len(got) != n {
			t.Errorf("Token(%d) = %q, length %d", n, got, len(got))
		}
	}
}

func TestNormalizeToken(t *testing.T) {
	for _, c := range []struct{ typed, want string }{
		{"ABCDEFGHJK", "ABCDEFGHJK"},
		{"abcde fghjk", "ABCDEFGHJK"},
		{"ABCDE-FGHJK", "ABCDEFGHJK"},
		{"  abc-de fg hjk \n", "ABCDEFGHJK"},
		{"a-b-c-d-e f g h j k", "ABCDEFGHJK"},
		{"", ""},
	} {
		t.Run(c.typed, func(t *testing.T) {
			if got := factor.NormalizeToken(c.typed); got != c.want {
				t.Errorf("NormalizeToken(%q) = %q, want %q", c.typed, got, c.want)
			}
		})
	}
}

// A code is stored bound to its user and purpose so that a code sent for one
// thing (verifying a phone) never passes for another (a login).
func TestCodeHash(t *testing.T) {
	keys := newKeys(t, 1)
	base := factor.CodeHash(keys, "usr_a", store.PurposeLogin, "123456")
	if len(base) == 0 {
		t.Fatal("CodeHash is empty")
	}
	t.Run("stable", func(t *testing.T) {
		// Stored hashes are compared with hashes made later, by another
		// server: the same inputs must give the same bytes.
		if again := factor.CodeHash(newKeys(t, 1), "usr_a", store.PurposeLogin, "123456"); !bytes.Equal(again, base) {
			t.Errorf("CodeHash differs between two rings with the same MAC key")
		}
	})
	for _, c := range []struct {
		name                string
		keys                *keyring.Keyring
		user, purpose, code string
	}{
		{"other user", keys, "usr_b", store.PurposeLogin, "123456"},
		{"other purpose", keys, "usr_a", store.PurposeVerifyPhone, "123456"},
		{"one-time token purpose", keys, "usr_a", store.PurposeOTA, "123456"},
		{"other code", keys, "usr_a", store.PurposeLogin, "123457"},
		{"other MAC key", newKeys(t, 2), "usr_a", store.PurposeLogin, "123456"},
		// The separator keeps fields from sliding into each other.
		{"shifted boundary", keys, "usr_al", "ogin", "123456"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := factor.CodeHash(c.keys, c.user, c.purpose, c.code); bytes.Equal(got, base) {
				t.Errorf("CodeHash(%s, %s, %s) equals the hash of usr_a/login/123456", c.user, c.purpose, c.code)
			}
		})
	}
}

func TestMask(t *testing.T) {
	for _, c := range []struct{ name, got, want string }{
		{"phone", factor.MaskPhone("5551234567"), "***-***-4567"},
		{"phone of four", factor.MaskPhone("4567"), "***-***-4567"},
		{"phone too short", factor.MaskPhone("123"), "****"},
		{"phone empty", factor.MaskPhone(""), "****"},
		{"email", factor.MaskEmail("alice@example.com"), "a***@example.com"},
		{"email without @", factor.MaskEmail("alice"), "***"},
		{"email without local part", factor.MaskEmail("@example.com"), "***"},
		{"channel email", factor.Mask(delivery.Email, "bob@example.org"), "b***@example.org"},
		{"channel sms", factor.Mask(delivery.SMS, "5559876543"), "***-***-6543"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %q, want %q", c.got, c.want)
			}
		})
	}
}

// validate.Email accepts a non-ASCII local part, and the masked address is
// shown on pages and in JSON: cutting it inside a character writes invalid
// UTF-8 there.
func TestMaskEmailKeepsWholeCharacter(t *testing.T) {
	got := factor.MaskEmail("élodie@example.com")
	if !utf8.ValidString(got) || got != "é***@example.com" {
		t.Errorf("MaskEmail(élodie@example.com) = %q, want %q", got, "é***@example.com")
	}
}

// Codes and tokens go only where the person proved they receive them (C7).
func TestDestination(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		name    string
		user    store.User
		channel string
		want    string
		ok      bool
	}{
		{"verified phone", store.User{Phone: "5551234567", PhoneVerifiedAt: &at}, delivery.SMS, "5551234567", true},
		{"unverified phone", store.User{Phone: "5551234567", EmailVerifiedAt: &at}, delivery.SMS, "", false},
		{"verified time without phone", store.User{PhoneVerifiedAt: &at}, delivery.SMS, "", false},
		{"verified email", store.User{Email: "a@example.com", EmailVerifiedAt: &at}, delivery.Email, "a@example.com", true},
		{"unverified email", store.User{Email: "a@example.com", PhoneVerifiedAt: &at}, delivery.Email, "", false},
		{"verified time without email", store.User{EmailVerifiedAt: &at}, delivery.Email, "", false},
		{"voice is not a code channel", store.User{Phone: "5551234567", PhoneVerifiedAt: &at}, "voice", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := factor.Destination(&c.user, c.channel)
			if ok != c.ok || (ok && got != c.want) {
				t.Errorf("Destination(%s) = %q, %v; want %q, %v", c.channel, got, ok, c.want, c.ok)
			}
		})
	}
}

// Front doors tell a wrong response from a failure with errors.Is(err,
// ErrRefused), and tell the factors apart by their own sentinel (issue 9
// item 4): a refusal must be both, and only its own.
func TestRefusal(t *testing.T) {
	a := factor.Refusal("wrong_a", "a incorrect")
	b := factor.Refusal("wrong_b", "b incorrect")
	for _, c := range []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"is ErrRefused", a, factor.ErrRefused, true},
		{"is itself", a, a, true},
		{"is not another refusal", a, b, false},
		{"same name is still another sentinel", a, factor.Refusal("wrong_a", "a incorrect"), false},
		{"ErrRefused is not a refusal", factor.ErrRefused, a, false},
		{"wrapped with attempts left", problem.WithAttemptsLeft(a, 2), a, true},
		{"wrapped with attempts left is ErrRefused", problem.WithAttemptsLeft(a, 2), factor.ErrRefused, true},
		{"wrapped in a language", problem.InLanguage(problem.WithAttemptsLeft(b, 1), "es"), b, true},
		{"wrapped by fmt", fmt.Errorf("login: %w", b), factor.ErrRefused, true},
		{"a plain error is not refused", errors.New("a incorrect"), factor.ErrRefused, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := errors.Is(c.err, c.target); got != c.want {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", c.err, c.target, got, c.want)
			}
		})
	}
	if a.Error() != "a incorrect" {
		t.Errorf("Error() = %q, want the text given", a.Error())
	}
	if left, ok := problem.AttemptsLeft(problem.WithAttemptsLeft(a, 2)); !ok || left != 2 {
		t.Errorf("AttemptsLeft = %d, %v; want 2, true", left, ok)
	}
	// Being ErrRefused must not hide the entry a front door renders.
	wrong := problem.WithAttemptsLeft(factor.Refusal("wrong_security_answer", "security answer incorrect"), 5)
	if p := problem.From(wrong, problem.Context{Lang: "en"}); p.Name != "wrong_security_answer" || p.Code != "E41" {
		t.Errorf("public form = %s %s, want E41 wrong_security_answer", p.Code, p.Name)
	}
}

type plain struct{ kind string }

func (p plain) Kind() string { return p.kind }

type gated struct {
	plain
	portalOnly bool
}

func (g gated) Offered(_ policy.Policy, portal bool) bool { return portal || !g.portalOnly }

type closed struct{ plain }

func (closed) OpensApplications() bool { return false }

func TestOfferedAndOpensApplications(t *testing.T) {
	p := policy.Default()
	p.AllowedFactors = []string{policy.FactorTOTP, policy.FactorSMS}
	for _, c := range []struct {
		name   string
		f      factor.Factor
		portal bool
		want   bool
	}{
		{"default: allowed kind", plain{policy.FactorTOTP}, false, true},
		{"default: allowed kind on the portal", plain{policy.FactorSMS}, true, true},
		{"default: kind policy does not allow", plain{policy.FactorVoice}, false, false},
		{"default: kind policy does not allow, portal", plain{policy.FactorEmail}, true, false},
		// A Gate decides alone, even for a kind policy does not list.
		{"gate: portal", gated{plain{"questions"}, true}, true, true},
		{"gate: application", gated{plain{"questions"}, true}, false, false},
		{"gate overrides a disallowed kind", gated{plain{policy.FactorVoice}, false}, false, true},
		{"gate refuses an allowed kind", gated{plain{policy.FactorTOTP}, true}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := factor.Offered(c.f, p, c.portal); got != c.want {
				t.Errorf("Offered(%s, portal=%v) = %v, want %v", c.f.Kind(), c.portal, got, c.want)
			}
		})
	}
	for _, c := range []struct {
		name string
		f    factor.Factor
		want bool
	}{
		{"default opens applications", plain{policy.FactorTOTP}, true},
		{"gate alone changes nothing", gated{plain{policy.FactorSMS}, true}, true},
		{"opener says no", closed{plain{"questions"}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := factor.OpensApplications(c.f); got != c.want {
				t.Errorf("OpensApplications(%s) = %v, want %v", c.f.Kind(), got, c.want)
			}
		})
	}
}
