package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

func newTxn(t *testing.T, s store.Store, u *store.User, ttl time.Duration) *store.LoginTxn {
	t.Helper()
	txn := &store.LoginTxn{
		ID: store.NewID("txn"), TenantID: u.TenantID, UserID: u.ID, ApplicationID: "app_vpn",
		Mode: "password", State: store.TxnPending, IP: "192.0.2.7", CreatedAt: t0, ExpiresAt: t0.Add(ttl),
	}
	if err := s.CreateLoginTxn(t.Context(), txn); err != nil {
		t.Fatalf("CreateLoginTxn: %v", err)
	}
	return txn
}

func getTxn(t *testing.T, s store.Store, txn *store.LoginTxn) *store.LoginTxn {
	t.Helper()
	got, err := s.LoginTxnByID(t.Context(), txn.TenantID, txn.ID)
	if err != nil {
		t.Fatalf("LoginTxnByID: %v", err)
	}
	return got
}

func testLoginTxn(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	txn := newTxn(t, s, u, 5*time.Minute)

	got := getTxn(t, s, txn)
	if got.ID != txn.ID || got.UserID != u.ID || got.ApplicationID != "app_vpn" || got.Mode != "password" ||
		got.State != store.TxnPending || got.IP != "192.0.2.7" || got.FactorID != "" ||
		!got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(txn.ExpiresAt) || got.CompletedAt != nil || got.EnrolUsedAt != nil {
		t.Errorf("LoginTxnByID = %+v, want %+v", got, txn)
	}
	other := newTenant(t, s, "other")
	_, err := s.LoginTxnByID(ctx, other.ID, txn.ID)
	wantErr(t, "LoginTxnByID(other tenant)", err, store.ErrNotFound)

	now := t0.Add(time.Minute)
	if ok, err := s.CompleteLoginTxn(ctx, txn.ID, store.TxnAllowed, "fac_1", now); err != nil || !ok {
		t.Fatalf("CompleteLoginTxn = %v, %v; want true", ok, err)
	}
	if ok, err := s.CompleteLoginTxn(ctx, txn.ID, store.TxnDenied, "", now); err != nil || ok {
		t.Errorf("second CompleteLoginTxn = %v, %v; want false", ok, err)
	}
	got = getTxn(t, s, txn)
	if got.State != store.TxnAllowed || got.FactorID != "fac_1" {
		t.Errorf("completed txn = %+v, want allowed by fac_1", got)
	}
	wantTime(t, "CompletedAt", got.CompletedAt, now)
}

func testLoginTxnExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	txn := newTxn(t, s, u, 5*time.Minute)
	for _, at := range []time.Duration{5 * time.Minute, 6 * time.Minute} {
		if ok, err := s.CompleteLoginTxn(ctx, txn.ID, store.TxnAllowed, "fac_1", t0.Add(at)); err != nil || ok {
			t.Errorf("CompleteLoginTxn at +%v = %v, %v; want false", at, ok, err)
		}
	}
	if got := getTxn(t, s, txn); got.State != store.TxnPending || got.CompletedAt != nil {
		t.Errorf("expired txn changed: %+v", got)
	}
}

func testLoginTxnConcurrent(t *testing.T, s store.Store) {
	_, u := fixture(t, s)
	txn := newTxn(t, s, u, 5*time.Minute)
	wins := concurrently(t, 50, func(ctx context.Context) (bool, error) {
		return s.CompleteLoginTxn(ctx, txn.ID, store.TxnAllowed, "fac_1", t0.Add(time.Minute))
	})
	if wins != 1 {
		t.Errorf("%d of 50 parallel completions succeeded, want exactly 1", wins)
	}
}

func testTxnForEnrolment(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	txn := newTxn(t, s, u, 5*time.Minute)
	if ok, err := s.CompleteLoginTxn(ctx, txn.ID, store.TxnAllowed, "fac_1", t0.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("CompleteLoginTxn = %v, %v", ok, err)
	}
	now := t0.Add(2 * time.Minute)
	wins := concurrently(t, 20, func(ctx context.Context) (bool, error) {
		return s.UseTxnForEnrolment(ctx, txn.ID, now)
	})
	if wins != 1 {
		t.Errorf("%d of 20 parallel enrolments from one txn, want exactly 1", wins)
	}
	if ok, err := s.UseTxnForEnrolment(ctx, txn.ID, now); err != nil || ok {
		t.Errorf("UseTxnForEnrolment again = %v, %v; want false", ok, err)
	}
	wantTime(t, "EnrolUsedAt", getTxn(t, s, txn).EnrolUsedAt, now)
}

func testDeleteExpiredLoginTxns(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	short := newTxn(t, s, u, time.Minute)
	long := newTxn(t, s, u, time.Hour)
	if n, err := s.DeleteExpiredLoginTxns(ctx, t0.Add(10*time.Minute)); err != nil || n != 1 {
		t.Errorf("DeleteExpiredLoginTxns = %d, %v; want 1", n, err)
	}
	_, err := s.LoginTxnByID(ctx, u.TenantID, short.ID)
	wantErr(t, "expired txn after delete", err, store.ErrNotFound)
	getTxn(t, s, long)
}
