package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

func testContacts(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	other := newTenant(t, s, "other")
	verified := t0.Add(time.Minute)

	if err := s.SetPhone(ctx, tn.ID, u.ID, "+15550100", nil); err != nil {
		t.Fatalf("SetPhone: %v", err)
	}
	if got := getUser(t, s, u); got.Phone != "+15550100" || got.PhoneVerifiedAt != nil {
		t.Errorf("after SetPhone unverified: phone %q, verified %v", got.Phone, got.PhoneVerifiedAt)
	}
	if err := s.SetPhone(ctx, tn.ID, u.ID, "+15550100", &verified); err != nil {
		t.Fatalf("SetPhone verified: %v", err)
	}
	got := getUser(t, s, u)
	wantTime(t, "PhoneVerifiedAt", got.PhoneVerifiedAt, verified)
	wantNoTime(t, "EmailVerifiedAt after SetPhone", got.EmailVerifiedAt)

	if err := s.SetEmail(ctx, tn.ID, u.ID, "Alice@Example.org", &verified); err != nil {
		t.Fatalf("SetEmail verified: %v", err)
	}
	got = getUser(t, s, u)
	if got.Email != "Alice@Example.org" {
		t.Errorf("Email = %q, want it as given", got.Email)
	}
	wantTime(t, "EmailVerifiedAt", got.EmailVerifiedAt, verified)
	wantTime(t, "PhoneVerifiedAt after SetEmail", got.PhoneVerifiedAt, verified)

	// A new point is unverified until proved.
	if err := s.SetPhone(ctx, tn.ID, u.ID, "+15550199", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEmail(ctx, tn.ID, u.ID, "alice@example.net", nil); err != nil {
		t.Fatal(err)
	}
	got = getUser(t, s, u)
	if got.Phone != "+15550199" || got.Email != "alice@example.net" {
		t.Errorf("contact points = %q, %q", got.Phone, got.Email)
	}
	wantNoTime(t, "PhoneVerifiedAt after change", got.PhoneVerifiedAt)
	wantNoTime(t, "EmailVerifiedAt after change", got.EmailVerifiedAt)

	wantErr(t, "SetPhone(other tenant)", s.SetPhone(ctx, other.ID, u.ID, "+1", nil), store.ErrNotFound)
	wantErr(t, "SetEmail(other tenant)", s.SetEmail(ctx, other.ID, u.ID, "x@example.org", nil), store.ErrNotFound)
	wantErr(t, "SetPhone(unknown)", s.SetPhone(ctx, tn.ID, "usr_missing", "+1", nil), store.ErrNotFound)
	wantErr(t, "SetEmail(unknown)", s.SetEmail(ctx, tn.ID, "usr_missing", "y@example.org", nil), store.ErrNotFound)
	if got := getUser(t, s, u); got.Phone != "+15550199" || got.Email != "alice@example.net" {
		t.Errorf("user changed through another tenant: %q, %q", got.Phone, got.Email)
	}
}

func testContactsUnique(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, alice := fixture(t, s)
	bob := newUser(t, s, tn.ID, "bob")
	other := newTenant(t, s, "other")
	carol := newUser(t, s, other.ID, "carol")

	if err := s.SetEmail(ctx, tn.ID, alice.ID, "alice@example.org", nil); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "SetEmail(alice's email, other case)", s.SetEmail(ctx, tn.ID, bob.ID, "ALICE@Example.ORG", nil), store.ErrConflict)
	if got := getUser(t, s, bob); got.Email != "" {
		t.Errorf("bob's email after conflict = %q", got.Email)
	}
	if err := s.SetEmail(ctx, tn.ID, alice.ID, "Alice@Example.org", nil); err != nil {
		t.Errorf("SetEmail(own email, other case): %v", err)
	}
	if err := s.SetEmail(ctx, other.ID, carol.ID, "alice@example.org", nil); err != nil {
		t.Errorf("SetEmail(same email, other tenant): %v", err)
	}
	// Without an address, nobody conflicts.
	for _, u := range []*store.User{alice, bob} {
		if err := s.SetEmail(ctx, tn.ID, u.ID, "", nil); err != nil {
			t.Errorf("SetEmail(%s, empty): %v", u.LoginID, err)
		}
	}
	if err := s.SetEmail(ctx, tn.ID, bob.ID, "alice@example.org", nil); err != nil {
		t.Errorf("SetEmail(freed email): %v", err)
	}

	// A household or a switchboard may share one number (B7).
	for _, u := range []*store.User{alice, bob} {
		if err := s.SetPhone(ctx, tn.ID, u.ID, "+15550100", nil); err != nil {
			t.Errorf("SetPhone(%s, shared): %v", u.LoginID, err)
		}
		if got := getUser(t, s, u); got.Phone != "+15550100" {
			t.Errorf("%s phone = %q", u.LoginID, got.Phone)
		}
	}
}

func takeOTA(t *testing.T, s store.Store, u *store.User, limit int, want bool) {
	t.Helper()
	ok, err := s.TakeOTA(t.Context(), u.ID, limit)
	if err != nil {
		t.Fatalf("TakeOTA: %v", err)
	}
	if ok != want {
		t.Errorf("TakeOTA(limit %d) = %v, want %v", limit, ok, want)
	}
}

// testTakeOTA: one-time tokens can stand in for the app only so many logins
// in a row (C8).
func testTakeOTA(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	if got := getUser(t, s, u).OTAConsecutive; got != 0 {
		t.Errorf("new user OTAConsecutive = %d", got)
	}
	for range 3 {
		takeOTA(t, s, u, 3, true)
	}
	takeOTA(t, s, u, 3, false)
	if got := getUser(t, s, u).OTAConsecutive; got != 3 {
		t.Errorf("OTAConsecutive = %d, want 3", got)
	}
	if err := s.ResetOTA(ctx, u.ID); err != nil {
		t.Fatalf("ResetOTA: %v", err)
	}
	if err := s.ResetOTA(ctx, u.ID); err != nil {
		t.Fatalf("ResetOTA again: %v", err)
	}
	if got := getUser(t, s, u).OTAConsecutive; got != 0 {
		t.Errorf("OTAConsecutive after reset = %d, want 0", got)
	}
	takeOTA(t, s, u, 3, true)
	if ok, err := s.TakeOTA(ctx, "usr_missing", 3); err == nil && ok {
		t.Errorf("TakeOTA(unknown user) = true")
	}
}

func testTakeOTAConcurrent(t *testing.T, s store.Store) {
	_, u := fixture(t, s)
	wins := concurrently(t, 10, func(ctx context.Context) (bool, error) {
		return s.TakeOTA(ctx, u.ID, 3)
	})
	if wins != 3 {
		t.Errorf("%d of 10 parallel token logins allowed, want exactly 3", wins)
	}
	if got := getUser(t, s, u).OTAConsecutive; got != 3 {
		t.Errorf("OTAConsecutive = %d, want 3", got)
	}
}

// testUpsertFactor: SMS, email and voice factors follow the contact points,
// one active factor per kind.
func testUpsertFactor(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	totp := newActive(t, s, u, "totp", 7)
	f := &store.Factor{ID: store.NewID("fac"), TenantID: u.TenantID, UserID: u.ID, Kind: "voice", Config: `{"phone":"+15550100"}`}
	if err := s.UpsertFactor(ctx, f, t0); err != nil {
		t.Fatalf("UpsertFactor: %v", err)
	}
	got := wantState(t, s, f, store.FactorActive)
	if got.Kind != "voice" || got.Config != `{"phone":"+15550100"}` || got.LastStep != -1 || !got.CreatedAt.Equal(t0) || got.RevokedAt != nil {
		t.Errorf("upserted factor = %+v", got)
	}
	wantTime(t, "ConfirmedAt", got.ConfirmedAt, t0)

	again := &store.Factor{ID: store.NewID("fac"), TenantID: u.TenantID, UserID: u.ID, Kind: "voice", Config: `{"phone":"+15550199","ext":"12"}`}
	if err := s.UpsertFactor(ctx, again, t0.Add(time.Minute)); err != nil {
		t.Fatalf("UpsertFactor again: %v", err)
	}
	if again.ID != f.ID || again.State != store.FactorActive {
		t.Errorf("UpsertFactor again made %s (%s), want the existing %s", again.ID, again.State, f.ID)
	}
	got = wantState(t, s, f, store.FactorActive)
	if got.Config != `{"phone":"+15550199","ext":"12"}` {
		t.Errorf("Config after update = %q", got.Config)
	}
	wantTime(t, "ConfirmedAt after update", got.ConfirmedAt, t0)

	active, err := s.ActiveFactors(ctx, u.ID)
	if err != nil {
		t.Fatalf("ActiveFactors: %v", err)
	}
	wantIDSet(t, "ActiveFactors", factorIDs(active), []string{totp.ID, f.ID})
	if got := wantState(t, s, totp, store.FactorActive); got.LastStep != 7 {
		t.Errorf("totp LastStep = %d, want 7", got.LastStep)
	}

	// Another user's factor of the same kind is separate; no config means {}.
	bob := newUser(t, s, u.TenantID, "bob")
	theirs := &store.Factor{ID: store.NewID("fac"), TenantID: bob.TenantID, UserID: bob.ID, Kind: "voice"}
	if err := s.UpsertFactor(ctx, theirs, t0); err != nil {
		t.Fatalf("UpsertFactor(bob): %v", err)
	}
	if theirs.ID == f.ID {
		t.Fatalf("bob's factor reused alice's")
	}
	if got := wantState(t, s, theirs, store.FactorActive); got.Config != "{}" {
		t.Errorf("Config without settings = %q, want {}", got.Config)
	}

	// After a revocation a new factor is created.
	if ok, err := s.RevokeFactor(ctx, f.ID, t0.Add(2*time.Minute)); err != nil || !ok {
		t.Fatalf("RevokeFactor = %v, %v", ok, err)
	}
	fresh := &store.Factor{ID: store.NewID("fac"), TenantID: u.TenantID, UserID: u.ID, Kind: "voice", Config: `{}`}
	if err := s.UpsertFactor(ctx, fresh, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if fresh.ID == f.ID {
		t.Errorf("UpsertFactor revived a revoked factor")
	}
	wantState(t, s, f, store.FactorRevoked)
	wantState(t, s, fresh, store.FactorActive)
}
