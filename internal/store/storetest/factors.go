package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

func newPending(t *testing.T, s store.Store, u *store.User, kind string, expires *time.Time) *store.Factor {
	t.Helper()
	f := &store.Factor{
		ID: store.NewID("fac"), TenantID: u.TenantID, UserID: u.ID, Kind: kind,
		Secret: []byte("sealed\x00secret"), CreatedAt: t0, ExpiresAt: expires,
	}
	if err := s.CreatePendingFactor(t.Context(), f, t0); err != nil {
		t.Fatalf("CreatePendingFactor: %v", err)
	}
	return f
}

func newActive(t *testing.T, s store.Store, u *store.User, kind string, step int64) *store.Factor {
	t.Helper()
	f := newPending(t, s, u, kind, nil)
	ok, err := s.ActivateFactor(t.Context(), f.ID, step, t0)
	if err != nil || !ok {
		t.Fatalf("ActivateFactor = %v, %v", ok, err)
	}
	return f
}

func getFactor(t *testing.T, s store.Store, f *store.Factor) *store.Factor {
	t.Helper()
	got, err := s.FactorByID(t.Context(), f.TenantID, f.ID)
	if err != nil {
		t.Fatalf("FactorByID: %v", err)
	}
	return got
}

func wantState(t *testing.T, s store.Store, f *store.Factor, state string) *store.Factor {
	t.Helper()
	got := getFactor(t, s, f)
	if got.State != state {
		t.Errorf("factor %s state = %q, want %q", f.ID, got.State, state)
	}
	return got
}

func factorIDs(fs []store.Factor) []string {
	return ids(fs, func(f store.Factor) string { return f.ID })
}

// testPendingFactorReplaced: only the newest pending secret can be confirmed,
// so a secret shown earlier (and perhaps seen by someone else) is dead (C4).
func testPendingFactorReplaced(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	expires := t0.Add(10 * time.Minute)
	first := newPending(t, s, u, "totp", &expires)
	sms := newPending(t, s, u, "sms", nil)

	got := wantState(t, s, first, store.FactorPending)
	if got.UserID != u.ID || got.Kind != "totp" || !bytes.Equal(got.Secret, first.Secret) || got.LastStep != -1 ||
		got.Attempts != 0 || !got.CreatedAt.Equal(t0) || got.ConfirmedAt != nil || got.RevokedAt != nil {
		t.Errorf("FactorByID = %+v, want %+v", got, first)
	}
	wantTime(t, "ExpiresAt", got.ExpiresAt, expires)

	second := &store.Factor{ID: store.NewID("fac"), TenantID: u.TenantID, UserID: u.ID, Kind: "totp", CreatedAt: t0.Add(time.Minute)}
	if err := s.CreatePendingFactor(ctx, second, t0.Add(time.Minute)); err != nil {
		t.Fatalf("CreatePendingFactor again: %v", err)
	}
	wantTime(t, "first RevokedAt", wantState(t, s, first, store.FactorRevoked).RevokedAt, t0.Add(time.Minute))
	wantState(t, s, second, store.FactorPending)
	wantState(t, s, sms, store.FactorPending)

	all, err := s.ListFactors(ctx, u.ID)
	if err != nil {
		t.Fatalf("ListFactors: %v", err)
	}
	pending := 0
	for _, f := range all {
		if f.Kind == "totp" && f.State == store.FactorPending {
			pending++
		}
	}
	if len(all) != 3 || pending != 1 {
		t.Errorf("ListFactors = %d factors, %d pending totp; want 3 and 1", len(all), pending)
	}
	if ok, err := s.ActivateFactor(ctx, first.ID, 1, t0.Add(2*time.Minute)); err != nil || ok {
		t.Errorf("ActivateFactor(replaced) = %v, %v; want false", ok, err)
	}
}

func testActivateFactor(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	sms := newActive(t, s, u, "sms", 0)
	expires := t0.Add(10 * time.Minute)
	old := newPending(t, s, u, "totp", &expires)

	now := t0.Add(time.Minute)
	if ok, err := s.ActivateFactor(ctx, old.ID, 1000, now); err != nil || !ok {
		t.Fatalf("ActivateFactor = %v, %v; want true", ok, err)
	}
	got := wantState(t, s, old, store.FactorActive)
	if got.LastStep != 1000 {
		t.Errorf("LastStep = %d, want the confirming step 1000", got.LastStep)
	}
	wantTime(t, "ConfirmedAt", got.ConfirmedAt, now)
	wantNoTime(t, "ExpiresAt of an active factor", got.ExpiresAt)
	if ok, err := s.ActivateFactor(ctx, old.ID, 1001, now); err != nil || ok {
		t.Errorf("second ActivateFactor = %v, %v; want false", ok, err)
	}

	// A new authenticator of the same kind replaces the old one (C3); other
	// kinds stay.
	repl := newPending(t, s, u, "totp", nil)
	if ok, err := s.ActivateFactor(ctx, repl.ID, 2000, now.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("ActivateFactor(replacement) = %v, %v", ok, err)
	}
	wantTime(t, "replaced RevokedAt", wantState(t, s, old, store.FactorRevoked).RevokedAt, now.Add(time.Minute))
	active, err := s.ActiveFactors(ctx, u.ID)
	if err != nil {
		t.Fatalf("ActiveFactors: %v", err)
	}
	wantIDSet(t, "ActiveFactors", factorIDs(active), []string{sms.ID, repl.ID})

	// Another user's factor of the same kind is no business of this one.
	other := newUser(t, s, u.TenantID, "bob")
	theirs := newActive(t, s, other, "totp", 5)
	newActive(t, s, u, "totp", 3000)
	wantState(t, s, theirs, store.FactorActive)
}

func testActivateRefused(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	expires := t0.Add(10 * time.Minute)
	f := newPending(t, s, u, "totp", &expires)
	if ok, err := s.ActivateFactor(ctx, f.ID, 1, t0.Add(11*time.Minute)); err != nil || ok {
		t.Errorf("ActivateFactor(expired) = %v, %v; want false", ok, err)
	}
	wantState(t, s, f, store.FactorPending)

	if ok, err := s.RevokeFactor(ctx, f.ID, t0); err != nil || !ok {
		t.Fatalf("RevokeFactor = %v, %v", ok, err)
	}
	if ok, err := s.ActivateFactor(ctx, f.ID, 1, t0.Add(time.Minute)); err != nil || ok {
		t.Errorf("ActivateFactor(revoked) = %v, %v; want false", ok, err)
	}
	wantState(t, s, f, store.FactorRevoked)
	if ok, err := s.ActivateFactor(ctx, "fac_missing", 1, t0); err != nil || ok {
		t.Errorf("ActivateFactor(unknown) = %v, %v; want false", ok, err)
	}
}

func testChargeEnrolment(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	f := newPending(t, s, u, "totp", nil)
	for i := range 5 {
		ok, err := s.ChargeEnrolment(ctx, f.ID, 3)
		if err != nil {
			t.Fatalf("ChargeEnrolment: %v", err)
		}
		if want := i < 3; ok != want {
			t.Errorf("ChargeEnrolment %d = %v, want %v", i+1, ok, want)
		}
	}
	if got := getFactor(t, s, f); got.Attempts != 3 {
		t.Errorf("Attempts = %d, want 3", got.Attempts)
	}
	active := newActive(t, s, u, "sms", 0)
	if ok, err := s.ChargeEnrolment(ctx, active.ID, 3); err != nil || ok {
		t.Errorf("ChargeEnrolment(active) = %v, %v; want false", ok, err)
	}
}

func testRevokeFactors(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	a := newActive(t, s, u, "totp", 1)
	newActive(t, s, u, "sms", 1)
	newPending(t, s, u, "email", nil)
	bob := newUser(t, s, tn.ID, "bob")
	theirs := newActive(t, s, bob, "totp", 1)

	if ok, err := s.RevokeFactor(ctx, a.ID, t0); err != nil || !ok {
		t.Errorf("RevokeFactor = %v, %v; want true", ok, err)
	}
	if ok, err := s.RevokeFactor(ctx, a.ID, t0); err != nil || ok {
		t.Errorf("RevokeFactor again = %v, %v; want false", ok, err)
	}
	if n, err := s.RevokeAllFactors(ctx, u.ID, t0); err != nil || n != 2 {
		t.Errorf("RevokeAllFactors = %d, %v; want 2", n, err)
	}
	if active, err := s.ActiveFactors(ctx, u.ID); err != nil || len(active) != 0 {
		t.Errorf("ActiveFactors after revoking all = %d, %v", len(active), err)
	}
	wantState(t, s, theirs, store.FactorActive)

	other := newTenant(t, s, "other")
	_, err := s.FactorByID(ctx, other.ID, theirs.ID)
	wantErr(t, "FactorByID(other tenant)", err, store.ErrNotFound)
}

func testUseStep(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	f := newActive(t, s, u, "totp", 100)
	for _, tc := range []struct {
		step int64
		want bool
	}{
		{100, false}, // the step that confirmed the factor is spent
		{101, true},
		{101, false},
		{99, false},
		{105, true},
		{102, false},
	} {
		if ok, err := s.UseStep(ctx, f.ID, tc.step); err != nil || ok != tc.want {
			t.Errorf("UseStep(%d) = %v, %v; want %v", tc.step, ok, err, tc.want)
		}
	}
	if got := getFactor(t, s, f); got.LastStep != 105 {
		t.Errorf("LastStep = %d, want 105", got.LastStep)
	}

	pending := newPending(t, s, u, "totp", nil)
	if ok, err := s.UseStep(ctx, pending.ID, 200); err != nil || ok {
		t.Errorf("UseStep(pending) = %v, %v; want false", ok, err)
	}
	if _, err := s.RevokeFactor(ctx, f.ID, t0); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.UseStep(ctx, f.ID, 300); err != nil || ok {
		t.Errorf("UseStep(revoked) = %v, %v; want false", ok, err)
	}
}

// testUseStepConcurrent: one TOTP code is accepted once however many requests
// carry it at the same moment (invariant 2).
func testUseStepConcurrent(t *testing.T, s store.Store) {
	_, u := fixture(t, s)
	f := newActive(t, s, u, "totp", 100)
	wins := concurrently(t, 50, func(ctx context.Context) (bool, error) {
		return s.UseStep(ctx, f.ID, 101)
	})
	if wins != 1 {
		t.Errorf("%d of 50 parallel uses of one step accepted, want exactly 1", wins)
	}
}

func testActivateConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	prev := newActive(t, s, u, "totp", 1)
	f := newPending(t, s, u, "totp", nil)
	wins := concurrently(t, 50, func(ctx context.Context) (bool, error) {
		return s.ActivateFactor(ctx, f.ID, 10, t0.Add(time.Minute))
	})
	if wins != 1 {
		t.Errorf("%d of 50 parallel activations succeeded, want exactly 1", wins)
	}
	active, err := s.ActiveFactors(ctx, u.ID)
	if err != nil {
		t.Fatalf("ActiveFactors: %v", err)
	}
	wantIDs(t, "ActiveFactors", factorIDs(active), []string{f.ID})
	wantState(t, s, prev, store.FactorRevoked)
}
