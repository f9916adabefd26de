package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// testUserWithFactors: the check's one read returns the person, their
// memberships and exactly their active factors, oldest first, as the
// separate reads do.
func testUserWithFactors(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	if err := s.SetUserGroups(ctx, tn.ID, u.ID, []string{"vpn", "admins"}, []string{"sales"}); err != nil {
		t.Fatal(err)
	}
	got, factors, err := s.UserWithFactors(ctx, tn.ID, "ALICE")
	if err != nil {
		t.Fatalf("UserWithFactors(no factors): %v", err)
	}
	if got.ID != u.ID || len(factors) != 0 {
		t.Fatalf("UserWithFactors(no factors) = %s, %d factors", got.ID, len(factors))
	}

	sms := newActive(t, s, u, "sms", 0)
	totp := newActive(t, s, u, "totp", 77)
	newPending(t, s, u, "email", nil)
	revoked := newActive(t, s, u, "voice", 0)
	if ok, err := s.RevokeFactor(ctx, revoked.ID, t0); err != nil || !ok {
		t.Fatalf("RevokeFactor: %v %v", ok, err)
	}
	other := newUser(t, s, tn.ID, "bob")
	newActive(t, s, other, "totp", 5)

	got, factors, err = s.UserWithFactors(ctx, tn.ID, "alice")
	if err != nil {
		t.Fatalf("UserWithFactors: %v", err)
	}
	want, err := s.UserByLoginID(ctx, tn.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || got.LoginID != want.LoginID || got.Status != want.Status ||
		!slices.Equal(got.Groups, want.Groups) || !slices.Equal(got.Units, want.Units) {
		t.Errorf("user = %+v, want %+v", got, want)
	}
	wantFactors, err := s.ActiveFactors(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(factors) != 2 || len(wantFactors) != 2 {
		t.Fatalf("%d factors (ActiveFactors %d), want the 2 active ones", len(factors), len(wantFactors))
	}
	for i := range factors {
		g, w := factors[i], wantFactors[i]
		if g.ID != w.ID || g.Kind != w.Kind || g.State != w.State || g.LastStep != w.LastStep || string(g.Secret) != string(w.Secret) ||
			g.UserID != w.UserID || g.TenantID != w.TenantID || g.Config != w.Config || !g.CreatedAt.Equal(w.CreatedAt) ||
			(g.ConfirmedAt == nil) != (w.ConfirmedAt == nil) {
			t.Errorf("factor %d = %+v, want %+v", i, g, w)
		}
	}
	wantIDSet(t, "UserWithFactors", factorIDs(factors), []string{sms.ID, totp.ID})

	_, _, err = s.UserWithFactors(ctx, tn.ID, "nobody")
	wantErr(t, "UserWithFactors(unknown)", err, store.ErrNotFound)
	elsewhere := newTenant(t, s, "elsewhere")
	_, _, err = s.UserWithFactors(ctx, elsewhere.ID, "alice")
	wantErr(t, "UserWithFactors(other tenant)", err, store.ErrNotFound)
}

// testSettleMFA: an outcome lands only on the counter it was decided
// against (invariant 1's fast path).
func testSettleMFA(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	now := t0.Add(time.Hour)
	settle := func(st store.Settle) bool {
		t.Helper()
		st.Now, st.Limit = now, 3
		ok, err := s.SettleMFA(ctx, u.ID, st)
		if err != nil {
			t.Fatalf("SettleMFA(%+v): %v", st, err)
		}
		return ok
	}

	if !settle(store.Settle{Seen: 0}) {
		t.Fatal("failure on the counter as read: not settled")
	}
	if got := getUser(t, s, u); got.MFAFailures != 1 || got.MFALockedAt != nil {
		t.Errorf("after one failure: %d, %v", got.MFAFailures, got.MFALockedAt)
	}
	if settle(store.Settle{Seen: 0}) || settle(store.Settle{Seen: 0, Success: true}) {
		t.Error("an outcome decided on a stale counter was recorded")
	}
	if got := getUser(t, s, u); got.MFAFailures != 1 {
		t.Errorf("a stale outcome changed the counter to %d", got.MFAFailures)
	}

	// A success clears the counter and records the login; the run of
	// one-time access logins ends only when asked.
	if ok, err := s.TakeOTA(ctx, u.ID, 5); err != nil || !ok {
		t.Fatalf("TakeOTA: %v %v", ok, err)
	}
	if !settle(store.Settle{Seen: 1, Success: true}) {
		t.Fatal("success not settled")
	}
	got := getUser(t, s, u)
	if got.MFAFailures != 0 || got.OTAConsecutive != 1 {
		t.Errorf("after success: failures %d, ota %d; want 0 and 1", got.MFAFailures, got.OTAConsecutive)
	}
	wantTime(t, "LastLoginAt", got.LastLoginAt, now)
	if !settle(store.Settle{Seen: 0, Success: true, EndsOTARun: true}) {
		t.Fatal("success ending the run not settled")
	}
	if got := getUser(t, s, u); got.OTAConsecutive != 0 {
		t.Errorf("ota %d after a success that ends the run", got.OTAConsecutive)
	}

	// The failure that reaches the limit locks, in the same statement; a
	// locked counter settles nothing.
	for seen := range 3 {
		if !settle(store.Settle{Seen: seen}) {
			t.Fatalf("failure %d not settled", seen+1)
		}
	}
	got = getUser(t, s, u)
	if got.MFAFailures != 3 {
		t.Errorf("failures %d, want 3", got.MFAFailures)
	}
	wantTime(t, "MFALockedAt", got.MFALockedAt, now)
	if settle(store.Settle{Seen: 3, Success: true}) || settle(store.Settle{Seen: 3}) {
		t.Error("an outcome was recorded on a locked counter")
	}
	if err := s.Unlock(ctx, tn.ID, u.ID); err != nil {
		t.Fatal(err)
	}

	// The password counter is not this one's business.
	if _, err := s.ChargePassword(ctx, u.ID, 5, 0, now); err != nil {
		t.Fatal(err)
	}
	settle(store.Settle{Seen: 0, Success: true})
	if got := getUser(t, s, u); got.PasswordFailures != 1 {
		t.Errorf("SettleMFA touched the password counter: %d", got.PasswordFailures)
	}

	// A terminated account is granted nothing (C14).
	if _, err := s.TerminateUser(ctx, tn.ID, u.ID, "admin:adk_1", "left", now); err != nil {
		t.Fatal(err)
	}
	if settle(store.Settle{Seen: 0, Success: true}) {
		t.Error("a success was recorded for a terminated account")
	}
	if ok, err := s.SettleMFA(ctx, "usr_missing", store.Settle{Limit: 3, Now: now}); err != nil || ok {
		t.Errorf("SettleMFA(unknown) = %v, %v", ok, err)
	}
}

// testSettleMFAConcurrent: of many failures decided on one read of the
// counter, exactly one is recorded, inside transactions as the engine runs
// them; the others change nothing and run again charged first. (A success
// leaves the counter as it found it, so outcomes decided on the same read
// after it still land on the value they were decided against — as they
// would have, run one after the other.)
func testSettleMFAConcurrent(t *testing.T, s store.Store) {
	_, u := fixture(t, s)
	errStale := errors.New("stale")
	settled := concurrently(t, 50, func(ctx context.Context) (bool, error) {
		err := s.InTx(ctx, func(q store.Queries) error {
			ok, err := q.SettleMFA(ctx, u.ID, store.Settle{Seen: 0, Limit: 7, Now: t0})
			if err == nil && !ok {
				return errStale
			}
			return err
		})
		if errors.Is(err, errStale) {
			return false, nil
		}
		return err == nil, err
	})
	if settled != 1 {
		t.Errorf("%d of 50 failures decided on one read were recorded, want exactly 1", settled)
	}
	if got := getUser(t, s, u).MFAFailures; got != 1 {
		t.Errorf("stored failures = %d, want 1", got)
	}
}
