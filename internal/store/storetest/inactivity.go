package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// C10: Active users with no login since the cutoff — or, never having
// logged in, created before it — become Disabled; nobody else changes.
func testDisableInactiveUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, idle := fixture(t, s) // created at t0, never logged in
	cutoff := t0.Add(180 * 24 * time.Hour)
	now := cutoff.Add(time.Hour)

	recent := newUser(t, s, tn.ID, "recent")
	if err := s.RecordLogin(ctx, recent.ID, cutoff.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	stale := newUser(t, s, tn.ID, "stale")
	if err := s.RecordLogin(ctx, stale.ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	locked := newUser(t, s, tn.ID, "locked")
	if err := s.SetUserStatus(ctx, tn.ID, locked.ID, store.StatusLocked, t0); err != nil {
		t.Fatal(err)
	}
	// Re-enabled after the cutoff, by an administrator or the person: a
	// status change counts as activity.
	reenabled := newUser(t, s, tn.ID, "reenabled")
	if err := s.SetUserStatus(ctx, tn.ID, reenabled.ID, store.StatusActive, cutoff.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	other := newTenant(t, s, "other")
	elsewhere := newUser(t, s, other.ID, "elsewhere")

	got, err := s.DisableInactiveUsers(ctx, tn.ID, cutoff, now, 100)
	if err != nil {
		t.Fatalf("DisableInactiveUsers: %v", err)
	}
	slices.Sort(got)
	want := []string{idle.ID, stale.ID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("DisableInactiveUsers = %v, want %v (alice never logged in, stale last logged in at t0+1h)", got, want)
	}
	for _, c := range []struct {
		u    *store.User
		want string
	}{{idle, store.StatusDisabled}, {stale, store.StatusDisabled}, {recent, store.StatusActive}, {locked, store.StatusLocked}, {reenabled, store.StatusActive}, {elsewhere, store.StatusActive}} {
		if st := getUser(t, s, c.u).Status; st != c.want {
			t.Errorf("%s status = %s, want %s", c.u.LoginID, st, c.want)
		}
	}
	if again, err := s.DisableInactiveUsers(ctx, tn.ID, cutoff, now, 100); err != nil || len(again) != 0 {
		t.Errorf("second DisableInactiveUsers = %v, %v; want none", again, err)
	}
}

// The limit bounds one call; repeated calls finish the work.
func testDisableInactiveUsersLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "acme")
	for i := range 5 {
		newUser(t, s, tn.ID, fmt.Sprintf("u%d", i))
	}
	cutoff := t0.Add(time.Hour)
	var total int
	for range 4 {
		got, err := s.DisableInactiveUsers(ctx, tn.ID, cutoff, cutoff, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 2 {
			t.Errorf("one call disabled %d users, limit 2", len(got))
		}
		total += len(got)
	}
	if total != 5 {
		t.Errorf("disabled %d users in all, want 5", total)
	}
}

// Several sweepers at once (several servers on one database): every
// inactive user is returned to exactly one of them.
func testDisableInactiveUsersConcurrent(t *testing.T, s store.Store) {
	tn := newTenant(t, s, "acme")
	const users = 30
	for i := range users {
		newUser(t, s, tn.ID, fmt.Sprintf("u%02d", i))
	}
	cutoff := t0.Add(time.Hour)
	var mu sync.Mutex
	seen := map[string]int{}
	concurrently(t, 6, func(ctx context.Context) (bool, error) {
		for {
			got, err := s.DisableInactiveUsers(ctx, tn.ID, cutoff, cutoff, 4)
			if err != nil || len(got) == 0 {
				return false, err
			}
			mu.Lock()
			for _, id := range got {
				seen[id]++
			}
			mu.Unlock()
		}
	})
	if len(seen) != users {
		t.Errorf("%d distinct users disabled, want %d", len(seen), users)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("user %s returned %d times, want once", id, n)
		}
	}
}
