package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// changeEverything makes one change of each kind through q, so that a
// rollback that misses any table shows up.
func changeEverything(t *testing.T, q store.Queries, tn *store.Tenant, u *store.User, f *store.Factor) {
	t.Helper()
	ctx := t.Context()
	steps := []struct {
		name string
		err  error
	}{
		{"CreateTenant", q.CreateTenant(ctx, &store.Tenant{ID: store.NewID("ten"), Slug: "new", Name: "New", CreatedAt: t0})},
		{"CreateUser", q.CreateUser(ctx, &store.User{ID: store.NewID("usr"), TenantID: tn.ID, LoginID: "carol", Status: store.StatusActive, Groups: []string{"g"}, CreatedAt: t0, UpdatedAt: t0})},
		{"UpdateTenantPolicy", q.UpdateTenantPolicy(ctx, tn.ID, []byte(`{"changed":true}`))},
		{"SetUserGroups", q.SetUserGroups(ctx, tn.ID, u.ID, []string{"changed"}, nil)},
		{"AppendAudit", q.AppendAudit(ctx, &store.AuditEvent{TenantID: tn.ID, Event: "e", Outcome: "ok", CreatedAt: t0})},
	}
	for _, st := range steps {
		if st.err != nil {
			t.Fatalf("%s in InTx: %v", st.name, st.err)
		}
	}
	if ch, err := q.ChargeMFA(ctx, u.ID, 5, 0, t0); err != nil || !ch.Allowed {
		t.Fatalf("ChargeMFA in InTx = %+v, %v", ch, err)
	}
	// ActivateFactor is itself atomic; inside InTx it must join the
	// surrounding transaction rather than begin its own.
	if ok, err := q.ActivateFactor(ctx, f.ID, 7, t0.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("ActivateFactor in InTx = %v, %v", ok, err)
	}
	// Reads inside the transaction see its own writes.
	if _, err := q.UserByLoginID(ctx, tn.ID, "carol"); err != nil {
		t.Fatalf("UserByLoginID inside InTx: %v", err)
	}
}

func testInTxRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	f := newPending(t, s, u, "totp", nil)
	boom := errors.New("boom")
	err := s.InTx(ctx, func(q store.Queries) error {
		changeEverything(t, q, tn, u, f)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want the error fn returned", err)
	}

	if _, err := s.TenantBySlug(ctx, "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("tenant created in a rolled-back transaction: %v", err)
	}
	if _, err := s.UserByLoginID(ctx, tn.ID, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("user created in a rolled-back transaction: %v", err)
	}
	if got, _ := s.TenantByID(ctx, tn.ID); got == nil || string(got.Policy) != "{}" {
		t.Errorf("policy after rollback = %+v", got)
	}
	got := getUser(t, s, u)
	if got.MFAFailures != 0 || len(got.Groups) != 0 {
		t.Errorf("user after rollback: failures %d, groups %q", got.MFAFailures, got.Groups)
	}
	wantState(t, s, f, store.FactorPending)
	if events, err := s.ListAudit(ctx, store.AuditFilter{TenantID: tn.ID}); err != nil || len(events) != 0 {
		t.Errorf("audit after rollback = %d events, %v", len(events), err)
	}
}

func testInTxCommit(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	f := newPending(t, s, u, "totp", nil)
	if err := s.InTx(ctx, func(q store.Queries) error {
		changeEverything(t, q, tn, u, f)
		return nil
	}); err != nil {
		t.Fatalf("InTx: %v", err)
	}

	if _, err := s.TenantBySlug(ctx, "new"); err != nil {
		t.Errorf("tenant from a committed transaction: %v", err)
	}
	if carol, err := s.UserByLoginID(ctx, tn.ID, "carol"); err != nil || len(carol.Groups) != 1 {
		t.Errorf("user from a committed transaction = %+v, %v", carol, err)
	}
	if got, _ := s.TenantByID(ctx, tn.ID); got == nil || string(got.Policy) != `{"changed":true}` {
		t.Errorf("policy after commit = %+v", got)
	}
	got := getUser(t, s, u)
	if got.MFAFailures != 1 {
		t.Errorf("failures after commit = %d, want 1", got.MFAFailures)
	}
	wantIDs(t, "groups after commit", got.Groups, []string{"changed"})
	wantState(t, s, f, store.FactorActive)
	if events, err := s.ListAudit(ctx, store.AuditFilter{TenantID: tn.ID}); err != nil || len(events) != 1 {
		t.Errorf("audit after commit = %d events, %v", len(events), err)
	}
}

// testInTxPanic: a panic inside a transaction (recovered higher up, as
// net/http does) must not leave it open, or on a single-writer database every
// later write would wait for it forever.
func testInTxPanic(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	func() {
		defer func() { _ = recover() }()
		_ = s.InTx(ctx, func(q store.Queries) error {
			if err := q.SetUserStatus(ctx, tn.ID, u.ID, store.StatusDisabled, t0); err != nil {
				t.Errorf("SetUserStatus in InTx: %v", err)
			}
			panic("handler bug")
		})
	}()

	done := make(chan error, 1)
	go func() { done <- s.SetPasswordHash(ctx, tn.ID, u.ID, "$argon2id$after") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("write after a panicked transaction: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("write after a panicked transaction is still waiting: the transaction was left open")
	}
	if got := getUser(t, s, u); got.Status != store.StatusActive {
		t.Errorf("status = %q, want the panicked change rolled back", got.Status)
	}
}
