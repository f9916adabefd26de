package storetest

import (
	"bytes"
	"testing"

	"github.com/countersign/countersign/internal/store"
)

func testTenants(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := &store.Tenant{ID: store.NewID("ten"), Slug: "zeta", Name: "Zeta Ltd", Policy: []byte(`{"mfa_limit":5}`), CreatedAt: t0}
	if err := s.CreateTenant(ctx, a); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	b := newTenant(t, s, "alpha")

	got, err := s.TenantByID(ctx, a.ID)
	if err != nil {
		t.Fatalf("TenantByID: %v", err)
	}
	if got.ID != a.ID || got.Slug != a.Slug || got.Name != a.Name || !bytes.Equal(got.Policy, a.Policy) || !got.CreatedAt.Equal(t0) {
		t.Errorf("TenantByID = %+v, want %+v", got, a)
	}
	got, err = s.TenantBySlug(ctx, "zeta")
	if err != nil || got.ID != a.ID {
		t.Errorf("TenantBySlug = %v, %v; want %s", got, err, a.ID)
	}
	if got, err := s.TenantByID(ctx, b.ID); err != nil || string(got.Policy) != "{}" {
		t.Errorf("tenant created without a policy: %v, %v; want policy {}", got, err)
	}

	_, err = s.TenantByID(ctx, "ten_missing")
	wantErr(t, "TenantByID(unknown)", err, store.ErrNotFound)
	_, err = s.TenantBySlug(ctx, "missing")
	wantErr(t, "TenantBySlug(unknown)", err, store.ErrNotFound)

	dup := &store.Tenant{ID: store.NewID("ten"), Slug: "zeta", Name: "Other", CreatedAt: t0}
	wantErr(t, "CreateTenant(duplicate slug)", s.CreateTenant(ctx, dup), store.ErrConflict)

	list, err := s.ListTenants(ctx)
	if err != nil {
		t.Fatalf("ListTenants: %v", err)
	}
	wantIDs(t, "ListTenants", ids(list, func(x store.Tenant) string { return x.ID }), []string{b.ID, a.ID})

	policy := []byte(`{"mfa_limit":3}`)
	if err := s.UpdateTenantPolicy(ctx, a.ID, policy); err != nil {
		t.Fatalf("UpdateTenantPolicy: %v", err)
	}
	if got, _ := s.TenantByID(ctx, a.ID); got == nil || !bytes.Equal(got.Policy, policy) {
		t.Errorf("policy after update = %+v, want %s", got, policy)
	}
	wantErr(t, "UpdateTenantPolicy(unknown)", s.UpdateTenantPolicy(ctx, "ten_missing", policy), store.ErrNotFound)
}

func testUnitsAndGroups(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")

	for _, tn := range []*store.Tenant{a, b} {
		for _, name := range []string{"sales", "eng"} {
			if err := s.CreateUnit(ctx, &store.Unit{ID: store.NewID("unt"), TenantID: tn.ID, Name: name}); err != nil {
				t.Fatalf("CreateUnit(%s, %s): %v", tn.Slug, name, err)
			}
			if err := s.CreateGroup(ctx, &store.Group{ID: store.NewID("grp"), TenantID: tn.ID, Name: name}); err != nil {
				t.Fatalf("CreateGroup(%s, %s): %v", tn.Slug, name, err)
			}
		}
	}
	wantErr(t, "CreateUnit(duplicate)", s.CreateUnit(ctx, &store.Unit{ID: store.NewID("unt"), TenantID: a.ID, Name: "sales"}), store.ErrConflict)
	wantErr(t, "CreateGroup(duplicate)", s.CreateGroup(ctx, &store.Group{ID: store.NewID("grp"), TenantID: a.ID, Name: "eng"}), store.ErrConflict)

	units, err := s.ListUnits(ctx, a.ID)
	if err != nil {
		t.Fatalf("ListUnits: %v", err)
	}
	wantIDs(t, "ListUnits names", ids(units, func(u store.Unit) string { return u.Name }), []string{"eng", "sales"})
	for _, u := range units {
		if u.TenantID != a.ID {
			t.Errorf("ListUnits(a) returned %+v of another tenant", u)
		}
	}
	groups, err := s.ListGroups(ctx, b.ID)
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	wantIDs(t, "ListGroups names", ids(groups, func(g store.Group) string { return g.Name }), []string{"eng", "sales"})
	for _, g := range groups {
		if g.TenantID != b.ID {
			t.Errorf("ListGroups(b) returned %+v of another tenant", g)
		}
	}
}

func testApplications(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	app := &store.Application{ID: store.NewID("app"), TenantID: a.ID, Name: "vpn", KeyHash: []byte{1, 2, 3, 0, 255}, CreatedAt: t0}
	if err := s.CreateApplication(ctx, app); err != nil {
		t.Fatalf("CreateApplication: %v", err)
	}
	other := &store.Application{ID: store.NewID("app"), TenantID: b.ID, Name: "vpn", KeyHash: []byte{9}, CreatedAt: t0}
	if err := s.CreateApplication(ctx, other); err != nil {
		t.Fatalf("CreateApplication(same name, other tenant): %v", err)
	}

	got, err := s.ApplicationByKeyHash(ctx, []byte{1, 2, 3, 0, 255})
	if err != nil {
		t.Fatalf("ApplicationByKeyHash: %v", err)
	}
	if got.ID != app.ID || got.TenantID != a.ID || got.Name != "vpn" || !bytes.Equal(got.KeyHash, app.KeyHash) || !got.CreatedAt.Equal(t0) || got.RevokedAt != nil {
		t.Errorf("ApplicationByKeyHash = %+v, want %+v", got, app)
	}
	_, err = s.ApplicationByKeyHash(ctx, []byte{1, 2, 3})
	wantErr(t, "ApplicationByKeyHash(unknown)", err, store.ErrNotFound)

	dup := &store.Application{ID: store.NewID("app"), TenantID: a.ID, Name: "portal", KeyHash: []byte{9}, CreatedAt: t0}
	wantErr(t, "CreateApplication(duplicate key hash)", s.CreateApplication(ctx, dup), store.ErrConflict)

	list, err := s.ListApplications(ctx, a.ID)
	if err != nil {
		t.Fatalf("ListApplications: %v", err)
	}
	wantIDs(t, "ListApplications", ids(list, func(x store.Application) string { return x.ID }), []string{app.ID})
}

func testAdminKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "a")
	k := &store.AdminKey{ID: store.NewID("adk"), TenantID: tn.ID, Name: "helpdesk", Role: store.RoleSupport, KeyHash: []byte("hash-1"), CreatedAt: t0}
	if err := s.CreateAdminKey(ctx, k); err != nil {
		t.Fatalf("CreateAdminKey: %v", err)
	}
	got, err := s.AdminKeyByHash(ctx, []byte("hash-1"))
	if err != nil {
		t.Fatalf("AdminKeyByHash: %v", err)
	}
	if got.ID != k.ID || got.TenantID != tn.ID || got.Name != k.Name || got.Role != store.RoleSupport || !got.CreatedAt.Equal(t0) || got.RevokedAt != nil {
		t.Errorf("AdminKeyByHash = %+v, want %+v", got, k)
	}
	_, err = s.AdminKeyByHash(ctx, []byte("hash-2"))
	wantErr(t, "AdminKeyByHash(unknown)", err, store.ErrNotFound)

	dup := &store.AdminKey{ID: store.NewID("adk"), TenantID: tn.ID, Name: "other", Role: store.RoleAdmin, KeyHash: []byte("hash-1"), CreatedAt: t0}
	wantErr(t, "CreateAdminKey(duplicate key hash)", s.CreateAdminKey(ctx, dup), store.ErrConflict)
}
