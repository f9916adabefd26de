package flow_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/password"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

func count(errs []error, target error) int {
	n := 0
	for _, err := range errs {
		if (target == nil && err == nil) || (target != nil && errors.Is(err, target)) {
			n++
		}
	}
	return n
}

// Invariant 1 and B5/B6: 200 parallel wrong codes with a limit of 7 evaluate
// at most 7, lock the user, and a correct code is then refused until an
// administrator unlocks.
func TestParallelWrongCodesLockAfterLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.user("alice")
		secret := e.enrol(u)
		wrong := "000000"
		if e.code(secret, 0) == wrong || e.code(secret, 1) == wrong || e.code(secret, -1) == wrong {
			wrong = "111111"
		}
		errs := race(200, func(int) error {
			_, err := e.eng.Check(e.ctx, e.app, "alice", wrong)
			return err
		})
		if n := count(errs, nil); n != 0 {
			t.Fatalf("%d wrong codes succeeded", n)
		}
		if n := len(e.audit(u.ID, "login.mfa", "failure")); n != 7 {
			t.Fatalf("evaluated %d wrong codes, want exactly 7", n)
		}
		if n := count(errs, flow.ErrWrongCode) + count(errs, flow.ErrMFALocked); n != 200 {
			t.Fatalf("unexpected errors: %v", errs)
		}
		if got := e.reload(u); got.MFAFailures != 7 || got.MFALockedAt == nil {
			t.Fatalf("counter %d locked_at %v, want 7 and set", got.MFAFailures, got.MFALockedAt)
		}
		if n := len(e.audit(u.ID, "lockout", "locked")); n != 1 {
			t.Fatalf("%d lockout events, want 1", n)
		}
		if _, err := e.eng.Check(e.ctx, e.app, "alice", e.code(secret, 0)); !errors.Is(err, flow.ErrMFALocked) {
			t.Fatalf("correct code while locked: %v, want ErrMFALocked", err)
		}
		// A new login through another application is refused too (B5).
		if _, err := e.eng.PasswordLogin(e.ctx, e.app2, "alice", goodPassword); !errors.Is(err, flow.ErrMFALocked) {
			t.Fatalf("password login while locked: %v", err)
		}
		// Time alone does not release it by default (B6).
		e.clock.Add(48 * time.Hour)
		if _, err := e.eng.Check(e.ctx, e.app, "alice", e.code(secret, 0)); !errors.Is(err, flow.ErrMFALocked) {
			t.Fatalf("after 48h: %v, want still locked", err)
		}
		if err := e.dir.Unlock(e.ctx, e.admin, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.eng.Check(e.ctx, e.app, "alice", e.code(secret, 0)); err != nil {
			t.Fatalf("after unlock: %v", err)
		}
	})
}

// Invariant 2: 50 parallel submissions of one valid code give one success.
func TestParallelValidCodeAcceptedOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.user("bob")
		secret := e.enrol(u)
		code := e.code(secret, 0)
		errs := race(50, func(int) error {
			_, err := e.eng.Check(e.ctx, e.app, "bob", code)
			return err
		})
		if n := count(errs, nil); n != 1 {
			t.Fatalf("%d successes, want exactly 1 (errors: %v)", n, errs)
		}
		if n := count(errs, flow.ErrWrongCode) + count(errs, flow.ErrMFALocked); n != 49 {
			t.Fatalf("the other 49 should be refused: %v", errs)
		}
		replays := 0
		for _, ev := range e.audit(u.ID, "login.mfa", "failure") {
			if strings.Contains(ev.Detail, `"replayed"`) {
				replays++
			}
		}
		if replays == 0 {
			t.Fatal("refused replays are not recorded as replayed")
		}
	})
}

// Invariant 2 through login transactions: one code, many transactions.
func TestParallelTransactionsShareOneStep(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.user("carol")
		secret := e.enrol(u)
		const n = 20
		txns := make([]string, n)
		for i := range txns {
			res, err := e.eng.PasswordLogin(e.ctx, e.app, "carol", goodPassword)
			if err != nil || res.Status != flow.MFARequired {
				t.Fatalf("login: %v %+v", err, res)
			}
			txns[i] = res.Txn.ID
		}
		code := e.code(secret, 0)
		errs := race(n, func(i int) error {
			_, err := e.eng.VerifyTransaction(e.ctx, e.app, txns[i], flow.Verification{Code: code})
			return err
		})
		if got := count(errs, nil); got != 1 {
			t.Fatalf("%d transactions allowed with one code, want 1: %v", got, errs)
		}
		_ = u
	})
}

// Invariant 4 and B5: counters are per user across applications; password
// failures do not lock the second factor.
func TestCountersAcrossApplicationsAndSeparate(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.user("dave")
		secret := e.enrol(u)
		for range 3 {
			if _, err := e.eng.Check(e.ctx, e.app, "dave", "999999"); !errors.Is(err, flow.ErrWrongCode) {
				t.Fatalf("want wrong code, got %v", err)
			}
		}
		for i := range 4 {
			_, err := e.eng.Check(e.ctx, e.app2, "dave", "999999")
			want := flow.ErrWrongCode
			if i == 3 {
				want = flow.ErrMFALocked // the seventh failure locks
			}
			if !errors.Is(err, want) {
				t.Fatalf("attempt %d through the second application: %v, want %v", 4+i, err, want)
			}
		}
		if err := e.dir.Unlock(e.ctx, e.admin, u.ID); err != nil {
			t.Fatal(err)
		}
		// A stranger exhausts password attempts: the login ID is password-locked…
		for range 10 {
			if _, err := e.eng.PasswordLogin(e.ctx, e.app, "dave", "wrong-password-1"); !errors.Is(err, flow.ErrInvalidCredentials) {
				t.Fatalf("wrong password: %v", err)
			}
		}
		// The right password is told the login ID is locked (seed 004), and
		// the guess still counts.
		if _, err := e.eng.PasswordLogin(e.ctx, e.app, "dave", goodPassword); !errors.Is(err, flow.ErrPasswordLocked) {
			t.Fatalf("correct password while password-locked: %v, want ErrPasswordLocked", err)
		}
		// …but the second factor counter is untouched, so an application that
		// checks passwords itself still gets the user through (invariant 4).
		if got := e.reload(u); got.MFAFailures != 0 || got.PasswordFailures != 11 {
			t.Fatalf("mfa %d password %d, want 0 and 11", got.MFAFailures, got.PasswordFailures)
		}
		if _, err := e.eng.Check(e.ctx, e.app, "dave", e.code(secret, 0)); err != nil {
			t.Fatalf("second factor after password lockout: %v", err)
		}
	})
}

// B5: a success resets the count.
func TestSuccessResetsCounter(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.user("erin")
		secret := e.enrol(u)
		for range 6 {
			_, _ = e.eng.Check(e.ctx, e.app, "erin", "999999")
		}
		if _, err := e.eng.Check(e.ctx, e.app, "erin", e.code(secret, 0)); err != nil {
			t.Fatal(err)
		}
		if got := e.reload(u); got.MFAFailures != 0 {
			t.Fatalf("counter %d after success, want 0", got.MFAFailures)
		}
	})
}

// Policy: a timed lockout release ends the lock by itself.
func TestTimedLockoutRelease(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.setPolicy(func(p *policy.Policy) { p.LockoutRelease = policy.Duration(15 * time.Minute); p.MFAAttempts = 3 })
		u := e.user("frank")
		secret := e.enrol(u)
		for range 3 {
			_, _ = e.eng.Check(e.ctx, e.app, "frank", "999999")
		}
		e.clock.Add(10 * time.Minute)
		if _, err := e.eng.Check(e.ctx, e.app, "frank", e.code(secret, 0)); !errors.Is(err, flow.ErrMFALocked) {
			t.Fatalf("after 10m: %v, want locked", err)
		}
		e.clock.Add(6 * time.Minute)
		if _, err := e.eng.Check(e.ctx, e.app, "frank", e.code(secret, 0)); err != nil {
			t.Fatalf("after 16m: %v", err)
		}
		_ = u
	})
}

// B6: support staff cannot unlock.
func TestSupportCannotUnlock(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.user("gina")
		support := e.admin
		support.Role = store.RoleSupport
		if err := e.dir.Unlock(e.ctx, support, u.ID); !errors.Is(err, flow.ErrForbidden) {
			t.Fatalf("support unlock: %v, want ErrForbidden", err)
		}
		if len(e.audit(u.ID, "user.unlock", "refused")) != 1 {
			t.Fatal("refused unlock not audited")
		}
	})
}

// C4 and invariant 2: a code accepted at enrolment cannot log in; beginning
// again replaces the pending secret and its codes are refused.
func TestEnrolmentRules(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.user("hank")
		first, err := e.eng.AdminBeginTOTPEnrolment(e.ctx, e.admin, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		second, err := e.eng.AdminBeginTOTPEnrolment(e.ctx, e.admin, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		s1, s2 := secretOf(t, first), secretOf(t, second)
		if string(s1) == string(s2) || len(s1) < 20 {
			t.Fatal("each enrolment needs a fresh secret of at least 160 bits")
		}
		if _, err := e.eng.ConfirmTOTPEnrolment(e.ctx, e.admin, first.Factor.ID, e.code(s1, 0), nil); !errors.Is(err, flow.ErrEnrolmentGone) {
			t.Fatalf("confirm replaced enrolment: %v, want ErrEnrolmentGone", err)
		}
		if _, err := e.eng.ConfirmTOTPEnrolment(e.ctx, e.admin, second.Factor.ID, e.code(s1, 0), nil); !errors.Is(err, flow.ErrWrongCode) {
			t.Fatalf("code of the replaced secret against the new one: %v, want ErrWrongCode", err)
		}
		code := e.code(s2, 0)
		if _, err := e.eng.ConfirmTOTPEnrolment(e.ctx, e.admin, second.Factor.ID, code, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.eng.Check(e.ctx, e.app, "hank", code); !errors.Is(err, flow.ErrWrongCode) {
			t.Fatalf("enrolment code reused for login: %v, want refused", err)
		}
		if _, err := e.eng.Check(e.ctx, e.app, "hank", e.code(s2, 1)); err != nil {
			t.Fatalf("next step: %v", err)
		}
	})
}

// C3: activating a new authenticator revokes the old one.
func TestNewAuthenticatorRevokesOld(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.user("ivy")
		old := e.enrol(u)
		e.clock.Add(30 * time.Second)
		fresh := e.enrol(u)
		if _, err := e.eng.Check(e.ctx, e.app, "ivy", e.code(old, 0)); !errors.Is(err, flow.ErrWrongCode) {
			t.Fatalf("old authenticator still works: %v", err)
		}
		if _, err := e.eng.Check(e.ctx, e.app, "ivy", e.code(fresh, 0)); err != nil {
			t.Fatal(err)
		}
		active, err := e.st.ActiveFactors(e.ctx, u.ID)
		if err != nil || len(active) != 1 {
			t.Fatalf("active factors %d (%v), want 1", len(active), err)
		}
		if len(e.audit(u.ID, "factor.replaced", "success")) != 1 {
			t.Fatal("replacement not audited")
		}
	})
}

// C5: one step of drift either way by default, none beyond.
func TestDrift(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.user("jack")
		secret := e.enrol(u)
		if _, err := e.eng.Check(e.ctx, e.app, "jack", e.code(secret, 2)); !errors.Is(err, flow.ErrWrongCode) {
			t.Fatalf("two steps ahead: %v, want refused", err)
		}
		if _, err := e.eng.Check(e.ctx, e.app, "jack", e.code(secret, 1)); err != nil {
			t.Fatalf("one step ahead: %v", err)
		}
		// Once step+1 is used, the current step is older and refused.
		if _, err := e.eng.Check(e.ctx, e.app, "jack", e.code(secret, 0)); !errors.Is(err, flow.ErrWrongCode) {
			t.Fatalf("older step after a newer one: %v, want refused", err)
		}
		_ = u
	})
}

// A code with spaces, letters, the wrong length or full-width digits is a
// wrong code: charged and refused, never a crash.
func TestMalformedCodesAreWrongCodes(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.setPolicy(func(p *policy.Policy) { p.MFAAttempts = 20 })
		u := e.user("kate")
		secret := e.enrol(u)
		good := e.code(secret, 0)
		fullWidth := strings.Map(func(r rune) rune { return r - '0' + '０' }, good)
		bad := []string{good[:3] + " " + good[3:], "abcdef", good[:5], good + "0", fullWidth, "", strings.Repeat("9", 10000)}
		for i, code := range bad {
			if _, err := e.eng.Check(e.ctx, e.app, "kate", code); !errors.Is(err, flow.ErrWrongCode) {
				t.Fatalf("code %d: %v, want ErrWrongCode", i, err)
			}
		}
		if got := e.reload(u); got.MFAFailures != len(bad) {
			t.Fatalf("counter %d, want %d", got.MFAFailures, len(bad))
		}
	})
}

// A11 and G4: MFA-only mode names unknown and unregistered users; password
// mode never reveals whether a login ID exists.
func TestUserErrors(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.user("lee")
		if _, err := e.eng.BeginMFA(e.ctx, e.app, "nobody"); !errors.Is(err, flow.ErrUserNotFound) {
			t.Fatalf("unknown user: %v, want E05", err)
		}
		if _, err := e.eng.BeginMFA(e.ctx, e.app, "lee"); !errors.Is(err, flow.ErrNotRegistered) {
			t.Fatalf("unregistered user: %v, want E06", err)
		}
		_, errUnknown := e.eng.PasswordLogin(e.ctx, e.app, "nobody", goodPassword)
		_, errWrong := e.eng.PasswordLogin(e.ctx, e.app, "lee", "not-the-password")
		if !errors.Is(errUnknown, flow.ErrInvalidCredentials) || !errors.Is(errWrong, flow.ErrInvalidCredentials) {
			t.Fatalf("unknown %v, wrong %v: both must be ErrInvalidCredentials", errUnknown, errWrong)
		}
		res, err := e.eng.PasswordLogin(e.ctx, e.app, "LEE", goodPassword)
		if err != nil || res.Status != flow.EnrolmentRequired {
			t.Fatalf("login IDs are case-insensitive and an unregistered user must enrol: %v %+v", err, res)
		}
		var verrs validate.Errors
		if _, err := e.eng.PasswordLogin(e.ctx, e.app, "", ""); !errors.As(err, &verrs) || len(verrs) != 2 {
			t.Fatalf("empty fields: %v, want two field errors", err)
		}
	})
}

// C1: statuses other than active keep users out of applications with their
// own errors, after the password is proven.
func TestStatuses(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		cases := []struct {
			status    string
			want      error
			canEnrol  bool
			enrolWant error
		}{
			{store.StatusDisabled, flow.ErrAccountDisabled, true, nil},
			{store.StatusInactive, flow.ErrAccountInactive, true, nil},
			{store.StatusLocked, flow.ErrAccountLocked, true, nil},
			{store.StatusPending, flow.ErrAccountPending, false, flow.ErrAccountPending},
			{store.StatusExpired, flow.ErrAccountExpired, false, flow.ErrAccountExpired},
		}
		for i, c := range cases {
			login := "user" + string(rune('a'+i))
			u := e.user(login)
			if err := e.dir.SetStatus(e.ctx, e.admin, u.ID, c.status); err != nil {
				t.Fatal(err)
			}
			if _, err := e.eng.PasswordLogin(e.ctx, e.app, login, goodPassword); !errors.Is(err, c.want) {
				t.Errorf("%s password login: %v, want %v", c.status, err, c.want)
			}
			if _, err := e.eng.PasswordLogin(e.ctx, e.app, login, "wrong-password-9"); !errors.Is(err, flow.ErrInvalidCredentials) {
				t.Errorf("%s with a wrong password must not reveal the status: %v", c.status, err)
			}
			if _, err := e.eng.BeginMFA(e.ctx, e.app, login); !errors.Is(err, c.want) {
				t.Errorf("%s MFA-only: %v, want %v", c.status, err, c.want)
			}
			_, err := e.eng.AdminBeginTOTPEnrolment(e.ctx, e.admin, u.ID)
			if c.canEnrol && err != nil {
				t.Errorf("%s users may manage MFA (C1): %v", c.status, err)
			}
			if !c.canEnrol && !errors.Is(err, c.enrolWant) {
				t.Errorf("%s enrolment: %v, want %v", c.status, err, c.enrolWant)
			}
		}
	})
}

// A1: MFA can be required for selected groups only.
func TestPolicyGroups(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		if _, err := e.dir.CreateGroup(e.ctx, e.admin, "office-admins"); err != nil {
			t.Fatal(err)
		}
		e.setPolicy(func(p *policy.Policy) { p.MFARequired = policy.MFAGroups; p.MFAGroups = []string{"office-admins"} })
		e.user("inscope", "office-admins")
		e.user("outscope")
		res, err := e.eng.PasswordLogin(e.ctx, e.app, "outscope", goodPassword)
		if err != nil || res.Status != flow.Allowed {
			t.Fatalf("user outside the groups: %v %+v, want allowed", err, res)
		}
		res, err = e.eng.PasswordLogin(e.ctx, e.app, "inscope", goodPassword)
		if err != nil || res.Status != flow.EnrolmentRequired {
			t.Fatalf("user in scope: %v %+v, want enrolment_required", err, res)
		}
	})
}

// Invariant 6: an enrolment through the login API needs a fresh transaction,
// each transaction starts one enrolment, and a user who already has an
// authenticator needs a completed second factor, not only a password.
func TestEnrolmentNeedsFreshAuthentication(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.user("mia")
		res, err := e.eng.PasswordLogin(e.ctx, e.app, "mia", goodPassword)
		if err != nil || res.Status != flow.EnrolmentRequired {
			t.Fatalf("%v %+v", err, res)
		}
		if _, err := e.eng.BeginTOTPEnrolment(e.ctx, e.app2, res.Txn.ID); !errors.Is(err, flow.ErrFreshAuthRequired) {
			t.Fatalf("another application's transaction: %v", err)
		}
		en, err := e.eng.BeginTOTPEnrolment(e.ctx, e.app, res.Txn.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.eng.BeginTOTPEnrolment(e.ctx, e.app, res.Txn.ID); !errors.Is(err, flow.ErrFreshAuthRequired) {
			t.Fatalf("second enrolment on one transaction: %v", err)
		}
		secret := secretOf(t, en)
		if _, err := e.eng.ConfirmTOTPEnrolment(e.ctx, e.app, en.Factor.ID, e.code(secret, -1), nil); err != nil {
			t.Fatal(err)
		}
		// With an authenticator, a password-only transaction no longer suffices.
		res, err = e.eng.PasswordLogin(e.ctx, e.app, "mia", goodPassword)
		if err != nil || res.Status != flow.MFARequired {
			t.Fatalf("%v %+v", err, res)
		}
		if _, err := e.eng.BeginTOTPEnrolment(e.ctx, e.app, res.Txn.ID); !errors.Is(err, flow.ErrFreshAuthRequired) {
			t.Fatalf("replacement on a password-only transaction: %v", err)
		}
		if _, err := e.eng.VerifyTransaction(e.ctx, e.app, res.Txn.ID, flow.Verification{Code: e.code(secret, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.eng.BeginTOTPEnrolment(e.ctx, e.app, res.Txn.ID); err != nil {
			t.Fatalf("replacement after a full login: %v", err)
		}
		// An allowed transaction is fresh only for the transaction lifetime.
		res, _ = e.eng.PasswordLogin(e.ctx, e.app, "mia", goodPassword)
		e.clock.Add(30 * time.Second)
		if _, err := e.eng.VerifyTransaction(e.ctx, e.app, res.Txn.ID, flow.Verification{Code: e.code(secret, 0)}); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(6 * time.Minute)
		if _, err := e.eng.BeginTOTPEnrolment(e.ctx, e.app, res.Txn.ID); !errors.Is(err, flow.ErrFreshAuthRequired) {
			t.Fatalf("stale transaction: %v", err)
		}
		_ = u
	})
}

// Login transactions expire and complete once.
func TestTransactionLifetime(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.user("noah")
		secret := e.enrol(u)
		res, err := e.eng.BeginMFA(e.ctx, e.app, "noah")
		if err != nil || res.Status != flow.MFARequired || len(res.Factors) != 1 {
			t.Fatalf("%v %+v", err, res)
		}
		if _, err := e.eng.VerifyTransaction(e.ctx, e.app2, res.Txn.ID, flow.Verification{Code: e.code(secret, 0)}); !errors.Is(err, flow.ErrTxnGone) {
			t.Fatalf("another application's transaction: %v", err)
		}
		e.clock.Add(6 * time.Minute)
		if _, err := e.eng.VerifyTransaction(e.ctx, e.app, res.Txn.ID, flow.Verification{Code: e.code(secret, 0)}); !errors.Is(err, flow.ErrTxnGone) {
			t.Fatalf("expired transaction: %v", err)
		}
	})
}

// Invariant 5: no password, code or secret in any audit record.
func TestAuditHoldsNoSecrets(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.user("olga")
		secret := e.enrol(u)
		code := e.code(secret, 0)
		_, _ = e.eng.PasswordLogin(e.ctx, e.app, "olga", "a-wrong-password")
		_, _ = e.eng.PasswordLogin(e.ctx, e.app, "olga", goodPassword)
		_, _ = e.eng.Check(e.ctx, e.app, "olga", "123123")
		_, _ = e.eng.Check(e.ctx, e.app, "olga", code)
		evs, err := e.st.ListAudit(e.ctx, store.AuditFilter{TenantID: e.tenant.ID, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		b32 := base32NoPad.EncodeToString(secret)
		for _, ev := range evs {
			for _, s := range []string{goodPassword, "a-wrong-password", code, "123123", b32} {
				if strings.Contains(ev.Detail, s) {
					t.Fatalf("audit event %s holds a secret: %s", ev.Event, ev.Detail)
				}
			}
		}
		if len(evs) < 6 {
			t.Fatalf("only %d events recorded", len(evs))
		}
	})
}

// G6: a hash made with other parameters still verifies and is replaced with
// one at the current parameters on the next successful login.
func TestPasswordRehashedWhenParametersChange(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.user("paul")
		if !strings.Contains(u.PasswordHash, "m=64,t=1,p=1") {
			t.Fatalf("unexpected initial hash %q", u.PasswordHash)
		}
		stronger := testParams
		stronger.Memory, stronger.Iterations = 128, 2
		e.eng.Hasher = password.NewHasher(stronger, 2, time.Second)
		if _, err := e.eng.PasswordLogin(e.ctx, e.app, "paul", goodPassword); err != nil {
			t.Fatal(err)
		}
		got := e.reload(u).PasswordHash
		if !strings.HasPrefix(got, "$argon2id$v=19$m=128,t=2,p=1$") {
			t.Fatalf("hash not upgraded: %q", got)
		}
		if _, err := e.eng.PasswordLogin(e.ctx, e.app, "paul", goodPassword); err != nil {
			t.Fatalf("login with the upgraded hash: %v", err)
		}
	})
}

// G4, seed 004 Table 1, invariant 1: a password-locked login ID is told it
// is locked once the right password is given, and no sooner; telling takes
// an evaluation, so the locked login ID gets exactly one more, however many
// guesses race, and it cannot succeed.
func TestPasswordLockedToldAfterTheRightPassword(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.setPolicy(func(p *policy.Policy) { p.PasswordAttempts = 3 })
		lock := func(login string) *store.User {
			u := e.user(login)
			for i := range 3 {
				if _, err := e.eng.PasswordLogin(e.ctx, e.app, login, "wrong-password-1"); !errors.Is(err, flow.ErrInvalidCredentials) {
					t.Fatalf("wrong password %d: %v", i, err)
				}
			}
			return u
		}
		// The person who locked themselves out types the right password.
		lock("paula")
		if _, err := e.eng.PasswordLogin(e.ctx, e.app, "paula", goodPassword); !errors.Is(err, flow.ErrPasswordLocked) {
			t.Fatalf("the right password on a locked login ID: %v, want ErrPasswordLocked", err)
		}
		if _, err := e.eng.PasswordLogin(e.ctx, e.app, "paula", goodPassword); !errors.Is(err, flow.ErrInvalidCredentials) {
			t.Fatalf("the right password again: %v, want ErrInvalidCredentials (nothing more evaluated)", err)
		}

		// 40 guesses race on another locked login ID, half of them right:
		// one is evaluated, none succeeds.
		u := lock("pablo")
		errs := race(40, func(i int) error {
			pw := "wrong-password-3"
			if i%2 == 0 {
				pw = goodPassword
			}
			_, err := e.eng.PasswordLogin(e.ctx, e.app, "pablo", pw)
			return err
		})
		if n := count(errs, nil); n != 0 {
			t.Fatalf("%d logins succeeded while password-locked", n)
		}
		told := count(errs, flow.ErrPasswordLocked)
		if n := told + count(errs, flow.ErrInvalidCredentials); n != 40 {
			t.Fatalf("unexpected errors: %v", errs)
		}
		evaluated := 0
		for _, ev := range e.audit(u.ID, "login.password", "refused") {
			if strings.Contains(ev.Detail, `"password":`) {
				evaluated++
			}
		}
		if evaluated != 1 || told > 1 {
			t.Fatalf("evaluated %d guesses while locked (want exactly 1), told %d", evaluated, told)
		}
	})
}

// A plain second-factor check queues no message, so it does not wake the
// outbox (each wake costs the database writer a claim); a success that may
// have queued one — a verified contact change — does.
func TestCheckDoesNotWakeTheOutbox(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		var wakes atomic.Int64
		e.eng.Notify = func() { wakes.Add(1) }
		u := e.user("wendy")
		secret := e.enrol(u)
		wakes.Store(0)
		if _, err := e.eng.Check(e.ctx, e.app, "wendy", e.code(secret, 0)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.eng.Check(e.ctx, e.app, "wendy", "000000"); err == nil {
			t.Fatal("a wrong code was accepted")
		}
		if n := wakes.Load(); n != 0 {
			t.Errorf("checks woke the outbox %d times", n)
		}
	})
}
