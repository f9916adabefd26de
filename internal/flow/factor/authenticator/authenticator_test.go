package authenticator_test

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/testutil/factortest"

	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/flow/factor/authenticator"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/totp"
)

// now is mid-step, so a code of the step before or after is a whole step
// away and no case sits on a boundary.
var now = time.Unix(1_900_000_005, 0).UTC()

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

// enrol stores an active authenticator the way enrolment does: the secret
// sealed to the factor's id, the confirming step recorded. It returns the
// secret as the person would type it into an app.
func (fx *fixture) enrol(t *testing.T, confirmedStep int64) (*store.Factor, string) {
	t.Helper()
	id := store.NewID("fac")
	secret, sealed, err := authenticator.NewSecret(fx.keys, id)
	if err != nil {
		t.Fatal(err)
	}
	f := &store.Factor{ID: id, TenantID: fx.user.TenantID, UserID: fx.user.ID, Kind: policy.FactorTOTP, Secret: sealed, CreatedAt: now}
	if err := fx.st.CreatePendingFactor(t.Context(), f, now); err != nil {
		t.Fatal(err)
	}
	if ok, err := fx.st.ActivateFactor(t.Context(), id, confirmedStep, now); err != nil || !ok {
		t.Fatalf("ActivateFactor = %v, %v", ok, err)
	}
	return fx.factor(t, id), strings.ReplaceAll(authenticator.Key(secret), " ", "")
}

func (fx *fixture) factor(t *testing.T, id string) *store.Factor {
	t.Helper()
	f, err := fx.st.FactorByID(t.Context(), fx.user.TenantID, id)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (fx *fixture) reloadUser(t *testing.T) *store.User {
	t.Helper()
	return fx.base.Reload(t, fx.user)
}

func (fx *fixture) env(u *store.User, drift int) factor.Env {
	p := policy.Default()
	p.TOTPDrift = drift
	return factor.Env{Now: now, Policy: p, User: u, Keys: fx.keys, Lang: "en"}
}

func (fx *fixture) guess(t *testing.T, a factor.Attempt) (bool, string) {
	t.Helper()
	return fx.base.Guess(t, fx.user, a)
}

// verify prepares and runs one guess of code against f.
func (fx *fixture) verify(t *testing.T, env factor.Env, f *store.Factor, code string) (bool, string, factor.Attempt) {
	t.Helper()
	a, err := authenticator.Factor{}.Verify(t.Context(), env, f, factor.Response{Code: code})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	ok, reason := fx.guess(t, a)
	return ok, reason, a
}

// oathtool is an RFC 6238 generator written by others: a code it computes
// from the setup key the person types is what a real app shows, so a
// mistake shared by our totp package and its own tests still shows here.
func oathtool(t *testing.T, base32 string, at time.Time) string {
	t.Helper()
	if _, err := exec.LookPath("oathtool"); err != nil {
		t.Fatal("oathtool is needed as the independent generator: apt-get install oathtool")
	}
	out, err := exec.CommandContext(t.Context(), "oathtool", "--totp", "-b", "--now", fmt.Sprintf("@%d", at.Unix()), base32).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestKind(t *testing.T) {
	if got := (authenticator.Factor{}).Kind(); got != policy.FactorTOTP {
		t.Errorf("Kind() = %q, want %q", got, policy.FactorTOTP)
	}
}

// Invariant 2: a time step is accepted at most once per factor. The code
// comes from oathtool at a fixed time, not from our own generator.
func TestVerifyOnceThenReplayed(t *testing.T) {
	fx := newFixture(t)
	f, key := fx.enrol(t, totp.Step(now)-10)
	code := oathtool(t, key, now)
	env := fx.env(fx.user, 1)

	ok, reason, a := fx.verify(t, env, f, code)
	if !ok {
		t.Fatalf("first use of the app's code refused: %s", reason)
	}
	if a.Kind != policy.FactorTOTP || a.Detail["factor"] != f.ID {
		t.Errorf("attempt Kind %q Detail %v: the audit must name the kind and the factor %s", a.Kind, a.Detail, f.ID)
	}
	if got := fx.factor(t, f.ID).LastStep; got != totp.Step(now) {
		t.Errorf("LastStep after the login = %d, want the code's step %d", got, totp.Step(now))
	}

	for _, c := range []struct {
		name string
		f    *store.Factor
	}{
		{"factor read again", fx.factor(t, f.ID)},
		// Another server read the row before the first login: the row,
		// not the copy, decides.
		{"factor read before the first use", f},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok, reason, a := fx.verify(t, env, c.f, code)
			if ok || reason != "replayed" {
				t.Fatalf("second use = %v, %q; want refused as replayed", ok, reason)
			}
			if err := a.Wrong(reason); !errors.Is(err, authenticator.ErrWrongCode) || !errors.Is(err, factor.ErrRefused) {
				t.Errorf("Wrong(%q) = %v, want ErrWrongCode, a refusal", reason, err)
			}
		})
	}
	t.Run("older code after a newer one", func(t *testing.T) {
		ok, reason, _ := fx.verify(t, env, fx.factor(t, f.ID), oathtool(t, key, now.Add(-totp.Period)))
		if ok || reason != "replayed" {
			t.Errorf("code of the step before = %v, %q; want refused as replayed", ok, reason)
		}
	})
}

func TestVerifyRefused(t *testing.T) {
	fx := newFixture(t)
	f, key := fx.enrol(t, totp.Step(now)-10)
	right := oathtool(t, key, now)
	// A code no step of the window shows, whatever the random secret.
	window := map[string]bool{}
	for d := -1; d <= 1; d++ {
		window[oathtool(t, key, now.Add(time.Duration(d)*totp.Period))] = true
	}
	wrong := "000000"
	for i := 0; window[wrong]; i++ {
		wrong = fmt.Sprintf("%06d", i)
	}
	for _, c := range []struct{ name, code string }{
		{"wrong code", wrong},
		{"five digits", right[:5]},
		{"letters", "abcdef"},
		{"empty", ""},
		{"seven digits", right + "0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok, reason, a := fx.verify(t, fx.env(fx.user, 1), fx.factor(t, f.ID), c.code)
			if ok || reason != "wrong_code" {
				t.Fatalf("Verify(%q) = %v, %q; want refused as wrong_code", c.code, ok, reason)
			}
			if err := a.Wrong(reason); !errors.Is(err, authenticator.ErrWrongCode) {
				t.Errorf("Wrong(%q) = %v, want ErrWrongCode", reason, err)
			}
		})
	}
	// Refusals use no step: the right code still works afterwards.
	if ok, reason, _ := fx.verify(t, fx.env(fx.user, 1), fx.factor(t, f.ID), right); !ok {
		t.Errorf("right code after refusals refused: %s", reason)
	}
}

// C5: a clock off by up to the policy's drift is tolerated, no more.
func TestVerifyDrift(t *testing.T) {
	fx := newFixture(t)
	for _, c := range []struct {
		name  string
		drift int
		steps int
		ok    bool
	}{
		{"phone one step slow, drift 1", 1, -1, true},
		{"phone one step fast, drift 1", 1, 1, true},
		{"phone two steps slow, drift 1", 1, -2, false},
		{"phone two steps fast, drift 1", 1, 2, false},
		{"phone one step slow, drift 0", 0, -1, false},
		{"phone two steps slow, drift 2", 2, -2, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A new factor per case: each starts with no step used.
			f, key := fx.enrol(t, totp.Step(now)-10)
			code := oathtool(t, key, now.Add(time.Duration(c.steps)*totp.Period))
			ok, reason, _ := fx.verify(t, fx.env(fx.user, c.drift), f, code)
			if ok != c.ok {
				t.Errorf("Verify = %v (%s), want %v", ok, reason, c.ok)
			}
			if !c.ok && reason != "wrong_code" {
				t.Errorf("reason = %q, want wrong_code", reason)
			}
		})
	}
}

// C8: only a login with the app ends a run of one-time-token logins; a
// refused code must not.
func TestVerifyResetsTokenRun(t *testing.T) {
	fx := newFixture(t)
	f, key := fx.enrol(t, totp.Step(now)-10)
	for range 2 {
		if ok, err := fx.st.TakeOTA(t.Context(), fx.user.ID, 3); err != nil || !ok {
			t.Fatalf("TakeOTA = %v, %v", ok, err)
		}
	}
	u := fx.reloadUser(t)
	if ok, _, _ := fx.verify(t, fx.env(u, 1), f, "abcdef"); ok {
		t.Fatal("malformed code accepted")
	}
	if got := fx.reloadUser(t).OTAConsecutive; got != 2 {
		t.Errorf("after a refused code OTAConsecutive = %d, want 2", got)
	}
	if ok, reason, _ := fx.verify(t, fx.env(u, 1), f, oathtool(t, key, now)); !ok {
		t.Fatalf("right code refused: %s", reason)
	}
	if got := fx.reloadUser(t).OTAConsecutive; got != 0 {
		t.Errorf("after a login with the app OTAConsecutive = %d, want 0", got)
	}
}

// C8 again, when a token login commits between the engine reading the
// person and the app login's transaction: the app login still happened, so
// the run must end. Success decides from the copy read before.
func TestVerifyResetsTokenRunReadBefore(t *testing.T) {
	fx := newFixture(t)
	f, key := fx.enrol(t, totp.Step(now)-10)
	before := fx.reloadUser(t)
	if ok, err := fx.st.TakeOTA(t.Context(), fx.user.ID, 3); err != nil || !ok {
		t.Fatalf("TakeOTA = %v, %v", ok, err)
	}
	if ok, reason, _ := fx.verify(t, fx.env(before, 1), f, oathtool(t, key, now)); !ok {
		t.Fatalf("right code refused: %s", reason)
	}
	if got := fx.reloadUser(t).OTAConsecutive; got != 0 {
		t.Errorf("after a login with the app OTAConsecutive = %d, want 0", got)
	}
}

// A sealed secret copied to another factor row does not open there.
func TestVerifySecretOfAnotherFactor(t *testing.T) {
	fx := newFixture(t)
	f, _ := fx.enrol(t, -1)
	g, _ := fx.enrol(t, -1)
	f.Secret = g.Secret
	if _, err := (authenticator.Factor{}).Verify(t.Context(), fx.env(fx.user, 1), f, factor.Response{Code: "123456"}); !errors.Is(err, keyring.ErrCorrupt) {
		t.Errorf("Verify with another factor's secret: err = %v, want keyring.ErrCorrupt", err)
	}
}

func TestNewSecretBoundToFactor(t *testing.T) {
	keys := factortest.Keys(t)
	secret, sealed, err := authenticator.NewSecret(keys, "fac_one")
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != totp.SecretSize {
		t.Errorf("secret is %d bytes, want %d", len(secret), totp.SecretSize)
	}
	if strings.Contains(string(sealed), string(secret)) {
		t.Error("the sealed form holds the secret in clear")
	}
	other, _, err := authenticator.NewSecret(keys, "fac_one")
	if err != nil {
		t.Fatal(err)
	}
	if string(other) == string(secret) {
		t.Error("two NewSecret calls gave the same secret")
	}
	for _, c := range []struct {
		id string
		ok bool
	}{
		{"fac_one", true},
		{"fac_two", false},
		{"", false},
		{"fac_one ", false},
	} {
		t.Run(fmt.Sprintf("open as %q", c.id), func(t *testing.T) {
			got, err := authenticator.Open(keys, &store.Factor{ID: c.id, Secret: sealed})
			switch {
			case c.ok && (err != nil || string(got) != string(secret)):
				t.Errorf("Open = %x, %v; want the secret", got, err)
			case !c.ok && !errors.Is(err, keyring.ErrCorrupt):
				t.Errorf("Open = %x, %v; want keyring.ErrCorrupt", got, err)
			case !c.ok && !strings.Contains(err.Error(), c.id):
				t.Errorf("error %q does not name the factor %q", err, c.id)
			}
		})
	}
}

// C4 and C5: the first code confirms the app within the policy's drift, and
// the step it returns is the one activation records.
func TestConfirm(t *testing.T) {
	secret, _, err := authenticator.NewSecret(factortest.Keys(t), "fac_new")
	if err != nil {
		t.Fatal(err)
	}
	key := strings.ReplaceAll(authenticator.Key(secret), " ", "")
	for _, c := range []struct {
		name  string
		drift int
		steps int
		ok    bool
	}{
		{"now", 1, 0, true},
		{"one step slow", 1, -1, true},
		{"one step fast", 1, 1, true},
		{"two steps slow", 1, -2, false},
		{"one step slow, no drift", 0, -1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := policy.Default()
			p.TOTPDrift = c.drift
			step, ok := authenticator.Confirm(secret, oathtool(t, key, now.Add(time.Duration(c.steps)*totp.Period)), p, now)
			if ok != c.ok {
				t.Fatalf("Confirm = %v, want %v", ok, c.ok)
			}
			if ok && step != totp.Step(now)+int64(c.steps) {
				t.Errorf("Confirm step = %d, want %d", step, totp.Step(now)+int64(c.steps))
			}
		})
	}
}

func TestKeyAndURI(t *testing.T) {
	secret := []byte("12345678901234567890")
	key := authenticator.Key(secret)
	if key != "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ" {
		t.Errorf("Key = %q, want the RFC 6238 test secret in groups of four", key)
	}
	uri := authenticator.URI("Acme Health", "alice", secret)
	for _, want := range []string{"otpauth://totp/", "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "issuer=Acme%20Health", "alice"} {
		if !strings.Contains(uri, want) {
			t.Errorf("URI %q lacks %q", uri, want)
		}
	}
}
