package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// counter lets one case run against both failure counters.
type counter struct {
	name   string
	charge func(s store.Store, ctx context.Context, userID string, limit int, releaseAfter time.Duration, now time.Time) (store.Charge, error)
	lock   func(s store.Store, ctx context.Context, userID string, now time.Time) error
	read   func(u *store.User) (int, *time.Time)
}

var counters = []counter{
	{
		name:   "MFA",
		charge: store.Store.ChargeMFA,
		lock:   store.Store.MarkMFALocked,
		read:   func(u *store.User) (int, *time.Time) { return u.MFAFailures, u.MFALockedAt },
	},
	{
		name:   "Password",
		charge: store.Store.ChargePassword,
		lock:   store.Store.MarkPasswordLocked,
		read:   func(u *store.User) (int, *time.Time) { return u.PasswordFailures, u.PasswordLockedAt },
	},
}

// chargeN charges n guesses and fails unless each one is allowed.
func chargeN(t *testing.T, s store.Store, c counter, u *store.User, n, limit int) {
	t.Helper()
	for i := range n {
		ch, err := c.charge(s, t.Context(), u.ID, limit, 0, t0)
		if err != nil {
			t.Fatalf("charge %s %d: %v", c.name, i+1, err)
		}
		if !ch.Allowed || ch.Failures != i+1 {
			t.Fatalf("charge %s %d = %+v, want allowed with %d failures", c.name, i+1, ch, i+1)
		}
	}
}

func testChargeBounded(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "a")
	for _, c := range counters {
		t.Run(c.name, func(t *testing.T) {
			u := newUser(t, s, tn.ID, "user-"+c.name)
			chargeN(t, s, c, u, 3, 3)
			for range 2 {
				ch, err := c.charge(s, ctx, u.ID, 3, 0, t0)
				if err != nil {
					t.Fatal(err)
				}
				if ch.Allowed || ch.Failures != 3 {
					t.Errorf("charge past the limit = %+v, want refused at 3", ch)
				}
			}
			if n, _ := c.read(getUser(t, s, u)); n != 3 {
				t.Errorf("stored failures = %d, want 3", n)
			}
		})
	}

	u := newUser(t, s, tn.ID, "reset")
	chargeN(t, s, counters[0], u, 3, 3)
	if err := s.MarkMFALocked(ctx, u.ID, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetMFA(ctx, u.ID, t0.Add(time.Minute)); err != nil {
		t.Fatalf("ResetMFA: %v", err)
	}
	got := getUser(t, s, u)
	if got.MFAFailures != 0 || got.MFALockedAt != nil {
		t.Errorf("after ResetMFA: failures %d, locked %v", got.MFAFailures, got.MFALockedAt)
	}
	wantTime(t, "LastLoginAt after ResetMFA", got.LastLoginAt, t0.Add(time.Minute))
	chargeN(t, s, counters[0], u, 1, 3)

	chargeN(t, s, counters[1], u, 2, 3)
	if err := s.ResetPassword(ctx, u.ID); err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	if got := getUser(t, s, u); got.PasswordFailures != 0 {
		t.Errorf("after ResetPassword: failures %d", got.PasswordFailures)
	}

	ch, err := s.ChargeMFA(ctx, "usr_missing", 3, 0, t0)
	if err == nil && ch.Allowed {
		t.Errorf("ChargeMFA(unknown user) = %+v, want refused", ch)
	}
}

func testChargeTimedRelease(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "a")
	const limit, releaseAfter = 3, 10 * time.Minute
	for _, c := range counters {
		t.Run(c.name, func(t *testing.T) {
			u := newUser(t, s, tn.ID, "user-"+c.name)
			chargeN(t, s, c, u, limit, limit)
			if err := c.lock(s, ctx, u.ID, t0); err != nil {
				t.Fatalf("mark locked: %v", err)
			}
			// A second mark must not move the start of the lock, or every
			// refused guess would push the release further away.
			if err := c.lock(s, ctx, u.ID, t0.Add(4*time.Minute)); err != nil {
				t.Fatalf("mark locked again: %v", err)
			}
			_, lockedAt := c.read(getUser(t, s, u))
			wantTime(t, "locked at", lockedAt, t0)

			ch, err := c.charge(s, ctx, u.ID, limit, releaseAfter, t0.Add(5*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if ch.Allowed {
				t.Errorf("charge during the lock = %+v, want refused", ch)
			}
			ch, err = c.charge(s, ctx, u.ID, limit, releaseAfter, t0.Add(11*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if !ch.Allowed || ch.Failures != 1 {
				t.Errorf("charge after release = %+v, want allowed with 1 failure", ch)
			}
			n, lockedAt := c.read(getUser(t, s, u))
			if n != 1 {
				t.Errorf("stored failures after release = %d, want 1", n)
			}
			wantNoTime(t, "locked at after release", lockedAt)

			// Without timed release a lock lasts until an administrator lifts it.
			u2 := newUser(t, s, tn.ID, "forever-"+c.name)
			chargeN(t, s, c, u2, limit, limit)
			if err := c.lock(s, ctx, u2.ID, t0); err != nil {
				t.Fatal(err)
			}
			if ch, err := c.charge(s, ctx, u2.ID, limit, 0, t0.Add(365*24*time.Hour)); err != nil || ch.Allowed {
				t.Errorf("charge a year later without release = %+v, %v; want refused", ch, err)
			}
		})
	}
}

// testCountersIndependent: a stranger who keeps failing the password must not
// lock the owner out of the second factor, nor the reverse (invariant 4).
func testCountersIndependent(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	chargeN(t, s, counters[1], u, 5, 5)
	if err := s.MarkPasswordLocked(ctx, u.ID, t0); err != nil {
		t.Fatal(err)
	}
	chargeN(t, s, counters[0], u, 1, 5)
	got := getUser(t, s, u)
	if got.PasswordFailures != 5 || got.MFAFailures != 1 || got.MFALockedAt != nil {
		t.Errorf("counters = password %d, mfa %d, mfa locked %v; want 5, 1, none", got.PasswordFailures, got.MFAFailures, got.MFALockedAt)
	}
	if err := s.ResetMFA(ctx, u.ID, t0); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, s, u); got.PasswordFailures != 5 || got.PasswordLockedAt == nil {
		t.Errorf("ResetMFA touched the password counter: %d, %v", got.PasswordFailures, got.PasswordLockedAt)
	}
}

func testUnlock(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	for _, c := range counters {
		chargeN(t, s, c, u, 3, 3)
		if err := c.lock(s, ctx, u.ID, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetUserStatus(ctx, tn.ID, u.ID, store.StatusLocked, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(ctx, tn.ID, u.ID); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	got := getUser(t, s, u)
	if got.MFAFailures != 0 || got.PasswordFailures != 0 || got.MFALockedAt != nil || got.PasswordLockedAt != nil {
		t.Errorf("after Unlock = %+v, want both counters and locks cleared", got)
	}
	if got.Status != store.StatusActive {
		t.Errorf("status after Unlock = %q, want %q", got.Status, store.StatusActive)
	}
	for _, c := range counters {
		chargeN(t, s, c, u, 1, 3)
	}

	// Unlock lifts a lock, not a decision an administrator made on purpose.
	if err := s.SetUserStatus(ctx, tn.ID, u.ID, store.StatusDisabled, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Unlock(ctx, tn.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, s, u); got.Status != store.StatusDisabled {
		t.Errorf("Unlock changed status disabled to %q", got.Status)
	}
	wantErr(t, "Unlock(unknown)", s.Unlock(ctx, tn.ID, "usr_missing"), store.ErrNotFound)
}

func testRefundPassword(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	chargeN(t, s, counters[1], u, 2, 5)
	for _, want := range []int{1, 0, 0} {
		if err := s.RefundPassword(ctx, u.ID); err != nil {
			t.Fatalf("RefundPassword: %v", err)
		}
		if got := getUser(t, s, u).PasswordFailures; got != want {
			t.Errorf("failures after refund = %d, want %d", got, want)
		}
	}
}

// testChargeConcurrent: N parallel wrong guesses never evaluate more than the
// limit (invariant 1).
func testChargeConcurrent(t *testing.T, s store.Store) {
	_, u := fixture(t, s)
	const limit = 7
	allowed := concurrently(t, 200, func(ctx context.Context) (bool, error) {
		ch, err := s.ChargeMFA(ctx, u.ID, limit, 0, t0)
		return ch.Allowed, err
	})
	if allowed != limit {
		t.Errorf("%d of 200 parallel charges allowed, want exactly %d", allowed, limit)
	}
	if got := getUser(t, s, u).MFAFailures; got != limit {
		t.Errorf("stored failures = %d, want %d", got, limit)
	}
}
