package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

func testUserRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "acme")
	u := &store.User{
		ID: store.NewID("usr"), TenantID: tn.ID, LoginID: "Alice.Smith", Email: "Alice@Example.org",
		Phone: "+15550100", DisplayName: "Alice Smith", Status: store.StatusPending, PasswordHash: "$argon2id$x",
		CreatedAt: t0, UpdatedAt: t0,
	}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	for name, lookup := range map[string]func() (*store.User, error){
		"UserByID":      func() (*store.User, error) { return s.UserByID(ctx, tn.ID, u.ID) },
		"UserByLoginID": func() (*store.User, error) { return s.UserByLoginID(ctx, tn.ID, "ALICE.SMITH") },
	} {
		got, err := lookup()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.ID != u.ID || got.TenantID != tn.ID || got.LoginID != "Alice.Smith" || got.Email != "Alice@Example.org" ||
			got.Phone != u.Phone || got.DisplayName != u.DisplayName || got.Status != store.StatusPending ||
			got.PasswordHash != u.PasswordHash || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) {
			t.Errorf("%s = %+v, want %+v", name, got, u)
		}
		if got.PasswordFailures != 0 || got.MFAFailures != 0 || got.PasswordLockedAt != nil || got.MFALockedAt != nil || got.LastLoginAt != nil {
			t.Errorf("%s: new user has counters or locks: %+v", name, got)
		}
	}
	_, err := s.UserByID(ctx, tn.ID, "usr_missing")
	wantErr(t, "UserByID(unknown)", err, store.ErrNotFound)
	_, err = s.UserByLoginID(ctx, tn.ID, "bob")
	wantErr(t, "UserByLoginID(unknown)", err, store.ErrNotFound)
}

func testUserLoginIDUnique(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "acme")
	newUser(t, s, tn.ID, "Alice")
	for _, login := range []string{"Alice", "alice", "ALICE"} {
		u := &store.User{ID: store.NewID("usr"), TenantID: tn.ID, LoginID: login, Status: store.StatusActive, CreatedAt: t0, UpdatedAt: t0}
		wantErr(t, fmt.Sprintf("CreateUser(%q) after Alice", login), s.CreateUser(ctx, u), store.ErrConflict)
	}
}

// testUserTenantIsolation: a login ID names a person within one tenant only
// (G1), so nothing in one tenant may be reached through another.
func testUserTenantIsolation(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	aliceA := newUser(t, s, a.ID, "alice")
	aliceB := newUser(t, s, b.ID, "alice")
	bobA := newUser(t, s, a.ID, "bob")

	got, err := s.UserByLoginID(ctx, b.ID, "alice")
	if err != nil || got.ID != aliceB.ID {
		t.Errorf("UserByLoginID(b, alice) = %v, %v; want %s", got, err, aliceB.ID)
	}
	_, err = s.UserByLoginID(ctx, b.ID, "bob")
	wantErr(t, "UserByLoginID(b, bob of a)", err, store.ErrNotFound)
	_, err = s.UserByID(ctx, b.ID, bobA.ID)
	wantErr(t, "UserByID(b, id in a)", err, store.ErrNotFound)
	wantErr(t, "SetUserStatus(b, id in a)", s.SetUserStatus(ctx, b.ID, aliceA.ID, store.StatusDisabled, t0), store.ErrNotFound)
	wantErr(t, "SetPasswordHash(b, id in a)", s.SetPasswordHash(ctx, b.ID, aliceA.ID, "x"), store.ErrNotFound)
	wantErr(t, "SetUserGroups(b, id in a)", s.SetUserGroups(ctx, b.ID, aliceA.ID, []string{"x"}, nil), store.ErrNotFound)
	wantErr(t, "Unlock(b, id in a)", s.Unlock(ctx, b.ID, aliceA.ID), store.ErrNotFound)
	if got := getUser(t, s, aliceA); got.Status != store.StatusActive || got.PasswordHash != "" || len(got.Groups) != 0 {
		t.Errorf("user changed through another tenant: %+v", got)
	}

	list, err := s.ListUsers(ctx, b.ID, "", 100)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	wantIDs(t, "ListUsers(b)", ids(list, func(u store.User) string { return u.ID }), []string{aliceB.ID})
}

func testUserEmailUnique(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	create := func(tenantID, login, email string) error {
		return s.CreateUser(ctx, &store.User{
			ID: store.NewID("usr"), TenantID: tenantID, LoginID: login, Email: email,
			Status: store.StatusActive, CreatedAt: t0, UpdatedAt: t0,
		})
	}
	if err := create(a.ID, "alice", "alice@example.org"); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	wantErr(t, "CreateUser(same email, other case)", create(a.ID, "alice2", "ALICE@example.ORG"), store.ErrConflict)
	if err := create(b.ID, "alice", "alice@example.org"); err != nil {
		t.Errorf("same email in another tenant: %v", err)
	}
	for i := range 3 {
		if err := create(a.ID, fmt.Sprintf("noemail%d", i), ""); err != nil {
			t.Errorf("user %d without email: %v", i, err)
		}
	}
}

// testUserPhoneShared: a household or a switchboard may share one number (B7).
func testUserPhoneShared(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "a")
	for _, login := range []string{"alice", "bob"} {
		u := &store.User{ID: store.NewID("usr"), TenantID: tn.ID, LoginID: login, Phone: "+15550100", Status: store.StatusActive, CreatedAt: t0, UpdatedAt: t0}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Errorf("CreateUser(%s) with a shared phone: %v", login, err)
		}
	}
}

func testUserMemberships(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "a")
	u := &store.User{
		ID: store.NewID("usr"), TenantID: tn.ID, LoginID: "alice", Status: store.StatusActive,
		Groups: []string{"vpn", "admins"}, Units: []string{"sales"}, CreatedAt: t0, UpdatedAt: t0,
	}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	other := newUser(t, s, tn.ID, "bob")
	if err := s.SetUserGroups(ctx, tn.ID, other.ID, []string{"vpn"}, []string{"eng"}); err != nil {
		t.Fatalf("SetUserGroups(bob): %v", err)
	}

	got := getUser(t, s, u)
	wantIDs(t, "Groups", got.Groups, []string{"admins", "vpn"})
	wantIDs(t, "Units", got.Units, []string{"sales"})
	if got, err := s.UserByLoginID(ctx, tn.ID, "alice"); err != nil || !slices.Equal(got.Groups, []string{"admins", "vpn"}) {
		t.Errorf("UserByLoginID groups = %v, %v", got, err)
	}

	if err := s.SetUserGroups(ctx, tn.ID, u.ID, []string{"helpdesk"}, nil); err != nil {
		t.Fatalf("SetUserGroups: %v", err)
	}
	got = getUser(t, s, u)
	wantIDs(t, "Groups after replace", got.Groups, []string{"helpdesk"})
	wantIDs(t, "Units after replace", got.Units, nil)

	got = getUser(t, s, other)
	wantIDs(t, "another user's groups", got.Groups, []string{"vpn"})
	wantIDs(t, "another user's units", got.Units, []string{"eng"})

	wantErr(t, "SetUserGroups(unknown)", s.SetUserGroups(ctx, tn.ID, "usr_missing", nil, nil), store.ErrNotFound)
}

func testUserUpdates(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	if err := s.SetUserStatus(ctx, tn.ID, u.ID, store.StatusDisabled, t0); err != nil {
		t.Fatalf("SetUserStatus: %v", err)
	}
	if err := s.SetPasswordHash(ctx, tn.ID, u.ID, "$argon2id$new"); err != nil {
		t.Fatalf("SetPasswordHash: %v", err)
	}
	got := getUser(t, s, u)
	if got.Status != store.StatusDisabled || got.PasswordHash != "$argon2id$new" {
		t.Errorf("after updates = %+v", got)
	}
	if err := s.RecordLogin(ctx, u.ID, t0.Add(time.Hour)); err != nil {
		t.Fatalf("RecordLogin: %v", err)
	}
	wantTime(t, "LastLoginAt", getUser(t, s, u).LastLoginAt, t0.Add(time.Hour))

	wantErr(t, "SetUserStatus(unknown)", s.SetUserStatus(ctx, tn.ID, "usr_missing", store.StatusActive, t0), store.ErrNotFound)
	wantErr(t, "SetPasswordHash(unknown)", s.SetPasswordHash(ctx, tn.ID, "usr_missing", "x"), store.ErrNotFound)
}

func testListUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "a")
	other := newTenant(t, s, "b")
	newUser(t, s, other.ID, "bea")
	// Created out of order and in mixed case: listing follows the
	// case-insensitive login ID, which is also the paging key.
	logins := []string{"dora", "Carl", "alice", "Emil", "bob"}
	for _, l := range logins {
		newUser(t, s, tn.ID, l)
	}

	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > len(logins) {
			t.Fatalf("paging does not end; so far %q", got)
		}
		page, err := s.ListUsers(ctx, tn.ID, after, 2)
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if len(page) > 2 {
			t.Fatalf("page of %d users, limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, u := range page {
			got = append(got, u.LoginID)
		}
		after = page[len(page)-1].LoginID
	}
	wantIDs(t, "ListUsers pages", got, []string{"alice", "bob", "Carl", "dora", "Emil"})
}
