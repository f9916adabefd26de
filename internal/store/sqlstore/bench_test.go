package sqlstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/sqlstore"
)

// benchStore is a SQLite store with one tenant and n users, each with an
// active factor: the reads and writes of a second-factor check.
func benchStore(b *testing.B, n int) (*sqlstore.Store, []store.User) {
	st, err := sqlstore.OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	ctx := context.Background()
	now := time.Now()
	if err := st.CreateTenant(ctx, &store.Tenant{ID: "ten_b", Slug: "b", Name: "B", CreatedAt: now}); err != nil {
		b.Fatal(err)
	}
	users := make([]store.User, n)
	for i := range users {
		u := store.User{ID: fmt.Sprintf("usr_%d", i), TenantID: "ten_b", LoginID: fmt.Sprintf("user%d", i), Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateUser(ctx, &u); err != nil {
			b.Fatal(err)
		}
		f := store.Factor{ID: fmt.Sprintf("fac_%d", i), TenantID: "ten_b", UserID: u.ID, Kind: "totp", Secret: []byte("sealed"), CreatedAt: now}
		if err := st.CreatePendingFactor(ctx, &f, now); err != nil {
			b.Fatal(err)
		}
		if _, err := st.ActivateFactor(ctx, f.ID, 1, now); err != nil {
			b.Fatal(err)
		}
		users[i] = u
	}
	return st, users
}

func BenchmarkUserByLoginID(b *testing.B) {
	st, users := benchStore(b, 100)
	i := 0
	for b.Loop() {
		if _, err := st.UserByLoginID(b.Context(), "ten_b", users[i%len(users)].LoginID); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkActiveFactors(b *testing.B) {
	st, users := benchStore(b, 100)
	i := 0
	for b.Loop() {
		if _, err := st.ActiveFactors(b.Context(), users[i%len(users)].ID); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkUserWithFactors is the one read of a check: the user, their
// memberships and their active factors, joined.
func BenchmarkUserWithFactors(b *testing.B) {
	st, users := benchStore(b, 100)
	i := 0
	for b.Loop() {
		if _, _, err := st.UserWithFactors(b.Context(), "ten_b", users[i%len(users)].LoginID); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCheckTransactionSettled is the write transaction of a successful
// check on the fast path: use the step, settle the counter, audit.
func BenchmarkCheckTransactionSettled(b *testing.B) {
	benchCheckTransaction(b, func(q store.Queries, userID string, now time.Time) error {
		if ok, err := q.SettleMFA(b.Context(), userID, store.Settle{Success: true, EndsOTARun: true, Limit: 7, Now: now}); err != nil || !ok {
			return fmt.Errorf("settle: %v %w", ok, err)
		}
		return nil
	}, nil)
}

// BenchmarkCheckTransaction is the write transaction of a successful check
// charged first (the slow path): charge, use the step, reset, audit.
func BenchmarkCheckTransaction(b *testing.B) {
	benchCheckTransaction(b, func(q store.Queries, userID string, now time.Time) error {
		return q.ResetMFA(b.Context(), userID, now)
	}, func(q store.Queries, userID string, now time.Time) error {
		_, err := q.ChargeMFA(b.Context(), userID, 7, 0, now)
		return err
	})
}

// benchCheckTransaction times a successful check's transaction: before (when
// set), use the step, after, and the audit record, a new step each time.
func benchCheckTransaction(b *testing.B, after, before func(q store.Queries, userID string, now time.Time) error) {
	st, users := benchStore(b, 100)
	step := int64(10)
	now := time.Now()
	for b.Loop() {
		step++
		u := users[int(step)%len(users)]
		err := st.InTx(b.Context(), func(q store.Queries) error {
			if before != nil {
				if err := before(q, u.ID, now); err != nil {
					return err
				}
			}
			if _, err := q.UseStep(b.Context(), "fac_"+u.ID[4:], step); err != nil {
				return err
			}
			if err := after(q, u.ID, now); err != nil {
				return err
			}
			return q.AppendAudit(b.Context(), &store.AuditEvent{TenantID: "ten_b", UserID: u.ID, Event: "login.mfa", Outcome: "success", Detail: `{"factor":"x"}`, CreatedAt: now})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDisableInactiveNoneDue is the hourly inactivity check (C10) in
// its usual case: a tenant of 5,000 people, none idle long enough.
func BenchmarkDisableInactiveNoneDue(b *testing.B) {
	st, _ := benchStore(b, 5000)
	now := time.Now()
	cutoff := now.Add(-180 * 24 * time.Hour)
	for b.Loop() {
		ids, err := st.DisableInactiveUsers(b.Context(), "ten_b", cutoff, now, 200)
		if err != nil || len(ids) != 0 {
			b.Fatal(ids, err)
		}
	}
}
