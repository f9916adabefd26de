package sqlstore_test

import (
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/sqlstore"
	"github.com/countersign/countersign/internal/testutil/pgtest"
)

// countingProxy forwards TCP connections to target and counts the bursts
// the client sends: each is one round trip the client waits for.
type countingProxy struct {
	ln     net.Listener
	target string
	sends  atomic.Int64
	wg     sync.WaitGroup
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln, target: target}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.wg.Go(func() { _, _ = io.Copy(c, up); c.Close() })
			p.wg.Go(func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						p.sends.Add(1)
						if _, werr := up.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				up.Close()
			})
		}
	})
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// A second-factor check's transaction on PostgreSQL — the step, the counter,
// the audit record — is three round trips: BEGIN travels with the first
// statement, the audit record with COMMIT. Its audit id is known after
// commit, and a failure in the record sent with COMMIT rolls everything back
// and leaves no connection inside a transaction.
func TestPostgresCheckTransactionRoundTrips(t *testing.T) {
	pgtest.Require(t)
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCountingProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	s, err := sqlstore.OpenPostgres(t.Context(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	now := time.Now()
	tn := &store.Tenant{ID: store.NewID("ten"), Slug: "rt", Name: "RT", CreatedAt: now}
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	usr := &store.User{ID: store.NewID("usr"), TenantID: tn.ID, LoginID: "alice", Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}
	if err := s.CreateUser(ctx, usr); err != nil {
		t.Fatal(err)
	}
	f := &store.Factor{ID: store.NewID("fac"), TenantID: tn.ID, UserID: usr.ID, Kind: "totp", Secret: []byte("sealed"), CreatedAt: now}
	if err := s.CreatePendingFactor(ctx, f, now); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ActivateFactor(ctx, f.ID, 1, now); err != nil || !ok {
		t.Fatal(ok, err)
	}

	check := func(step int64, ev *store.AuditEvent) error {
		return s.InTx(ctx, func(q store.Queries) error {
			if ok, err := q.UseStep(ctx, f.ID, step); err != nil || !ok {
				return errors.Join(err, errors.New("step not used"))
			}
			if ok, err := q.SettleMFA(ctx, usr.ID, store.Settle{Success: true, Limit: 5, Now: now}); err != nil || !ok {
				return errors.Join(err, errors.New("not settled"))
			}
			return q.AppendAudit(ctx, ev)
		})
	}
	// The first run prepares the statements; count the second.
	if err := check(2, &store.AuditEvent{TenantID: tn.ID, UserID: usr.ID, Event: "login.mfa", Outcome: "success", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	before := proxy.sends.Load()
	ev := &store.AuditEvent{TenantID: tn.ID, UserID: usr.ID, Event: "login.mfa", Outcome: "success", CreatedAt: now}
	if err := check(3, ev); err != nil {
		t.Fatal(err)
	}
	if n := proxy.sends.Load() - before; n != 3 {
		t.Errorf("the check's transaction took %d round trips, want 3", n)
	}
	if ev.ID == 0 {
		t.Error("the audit record's id is not set after commit")
	}
	events, err := s.ListAudit(ctx, store.AuditFilter{TenantID: tn.ID})
	if err != nil || len(events) != 2 {
		t.Fatalf("ListAudit = %d events, %v", len(events), err)
	}

	// PostgreSQL refuses a NUL in text: the record fails in the round trip
	// with COMMIT, and the step and the counter roll back with it.
	bad := &store.AuditEvent{TenantID: tn.ID, UserID: usr.ID, Event: "login.mfa", Outcome: "success", Detail: "{\"x\":\"\x00\"}", CreatedAt: now}
	if err := check(4, bad); err == nil {
		t.Fatal("a transaction whose audit record failed committed")
	}
	got, err := s.FactorByID(ctx, tn.ID, f.ID)
	if err != nil || got.LastStep != 3 {
		t.Fatalf("step after the failed commit = %d, %v; want 3", got.LastStep, err)
	}
	// Every pooled connection is usable afterwards, none left in a transaction.
	for step := int64(4); step < 40; step++ {
		if err := check(step, &store.AuditEvent{TenantID: tn.ID, UserID: usr.ID, Event: "login.mfa", Outcome: "success", CreatedAt: now}); err != nil {
			t.Fatalf("check at step %d after the failure: %v", step, err)
		}
	}
}
