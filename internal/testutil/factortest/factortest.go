// Package factortest lends the factor packages' tests a real SQLite store
// with a tenant and its people, and runs a factor's Attempt the way the
// engine's guess runner does: charged, checked, then its success, in one
// write transaction.
package factortest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/sqlstore"
)

// Fixture is a store, a keyring and a tenant with people in it.
type Fixture struct {
	Store  store.Store
	Keys   *keyring.Keyring
	Tenant *store.Tenant
	// People are the users created, in order; the first is the one most
	// tests need.
	People []*store.User
	now    time.Time
}

// Keys returns a keyring with one all-zero key, the same in every test, so
// hashes and sealed values are repeatable.
func Keys(t *testing.T) *keyring.Keyring {
	t.Helper()
	keys, err := keyring.New(map[string][]byte{"k1": make([]byte, keyring.KeySize)}, "k1", make([]byte, keyring.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// New opens a fresh SQLite store with one tenant and the given number of
// active people (at least one), created at now.
func New(t *testing.T, now time.Time, people int) *Fixture {
	t.Helper()
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "cs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	tn := &store.Tenant{ID: store.NewID("ten"), Slug: "acme", Name: "Acme Health", CreatedAt: now}
	if err := st.CreateTenant(t.Context(), tn); err != nil {
		t.Fatal(err)
	}
	fx := &Fixture{Store: st, Keys: Keys(t), Tenant: tn, now: now}
	for i := range max(people, 1) {
		login := "alice"
		if i > 0 {
			login = store.NewID("l")[:8]
		}
		u := &store.User{ID: store.NewID("usr"), TenantID: tn.ID, LoginID: login, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		fx.People = append(fx.People, u)
	}
	return fx
}

// Reload reads a person again, as a later request would.
func (fx *Fixture) Reload(t *testing.T, u *store.User) *store.User {
	t.Helper()
	got, err := fx.Store.UserByID(t.Context(), u.TenantID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Guess runs a as the engine's runner does for u and reports the check's
// verdict: the charge (with a limit no test reaches), the check, and on
// success the end of a run of one-time access logins and the attempt's
// Success, in one transaction.
func (fx *Fixture) Guess(t *testing.T, u *store.User, a factor.Attempt) (bool, string) {
	t.Helper()
	var ok bool
	var reason string
	err := fx.Store.InTx(t.Context(), func(q store.Queries) error {
		if _, err := q.ChargeMFA(t.Context(), u.ID, 1000, 0, fx.now); err != nil {
			return err
		}
		var err error
		if ok, reason, err = a.Check(t.Context(), q); err != nil || !ok {
			return err
		}
		if a.EndsOTARun {
			if err := q.ResetOTA(t.Context(), u.ID); err != nil {
				return err
			}
		}
		if a.Success != nil {
			return a.Success(t.Context(), q)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("guess: %v", err)
	}
	return ok, reason
}
