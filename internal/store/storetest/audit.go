package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

func appendAudit(t *testing.T, s store.Store, e store.AuditEvent) store.AuditEvent {
	t.Helper()
	if err := s.AppendAudit(t.Context(), &e); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	return e
}

func auditIDs(t *testing.T, s store.Store, f store.AuditFilter) []int64 {
	t.Helper()
	events, err := s.ListAudit(t.Context(), f)
	if err != nil {
		t.Fatalf("ListAudit(%+v): %v", f, err)
	}
	out := make([]int64, 0, len(events))
	for _, e := range events {
		if e.TenantID != f.TenantID {
			t.Errorf("ListAudit(%+v) returned an event of tenant %q", f, e.TenantID)
		}
		out = append(out, e.ID)
	}
	return out
}

func wantEvents(t *testing.T, what string, got []int64, want ...store.AuditEvent) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i] == want[i].ID
	}
	if !ok {
		w := make([]int64, len(want))
		for i, e := range want {
			w[i] = e.ID
		}
		t.Errorf("%s = %v, want %v", what, got, w)
	}
}

func testAuditAppend(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "a")
	first := appendAudit(t, s, store.AuditEvent{
		TenantID: tn.ID, UserID: "usr_1", ApplicationID: "app_1", Actor: "app:app_1",
		Event: "mfa.verify", Outcome: "failure", IP: "2001:db8::1", Detail: `{"factor":"totp"}`, CreatedAt: t0,
	})
	second := appendAudit(t, s, store.AuditEvent{TenantID: tn.ID, Event: "login", Outcome: "success", CreatedAt: t0})
	if first.ID <= 0 || second.ID <= first.ID {
		t.Errorf("audit IDs %d then %d, want positive and increasing", first.ID, second.ID)
	}

	events, err := s.ListAudit(ctx, store.AuditFilter{TenantID: tn.ID})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	if len(events) != 2 {
		t.Fatalf("ListAudit = %d events, want 2", len(events))
	}
	if got := events[1]; !reflect.DeepEqual(got, first) {
		t.Errorf("stored event = %+v, want %+v", got, first)
	}
	if events[0].Detail != "{}" {
		t.Errorf("Detail of an event without one = %q, want {}", events[0].Detail)
	}
}

func testAuditFilters(t *testing.T, s store.Store) {
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	ev := func(tenantID, user, event, outcome string, at time.Duration) store.AuditEvent {
		ip := "192.0.2.1"
		if user == "usr_2" {
			ip = "198.51.100.7"
		}
		return appendAudit(t, s, store.AuditEvent{TenantID: tenantID, UserID: user, Event: event, Outcome: outcome, IP: ip, CreatedAt: t0.Add(at)})
	}
	e1 := ev(a.ID, "usr_1", "login", "success", 0)
	e2 := ev(a.ID, "usr_2", "login", "failure", time.Minute)
	other := ev(b.ID, "usr_1", "login", "success", time.Minute)
	e3 := ev(a.ID, "usr_1", "mfa.verify", "failure", 2*time.Minute)
	e4 := ev(a.ID, "usr_2", "factor.enrol", "success", 3*time.Minute)

	for _, tc := range []struct {
		name string
		f    store.AuditFilter
		want []store.AuditEvent
	}{
		{"tenant", store.AuditFilter{TenantID: a.ID}, []store.AuditEvent{e4, e3, e2, e1}},
		{"other tenant", store.AuditFilter{TenantID: b.ID}, []store.AuditEvent{other}},
		{"user", store.AuditFilter{TenantID: a.ID, UserID: "usr_1"}, []store.AuditEvent{e3, e1}},
		{"event", store.AuditFilter{TenantID: a.ID, Event: "login"}, []store.AuditEvent{e2, e1}},
		{"outcome", store.AuditFilter{TenantID: a.ID, Outcome: "failure"}, []store.AuditEvent{e3, e2}},
		{"since inclusive", store.AuditFilter{TenantID: a.ID, Since: t0.Add(time.Minute)}, []store.AuditEvent{e4, e3, e2}},
		{"until exclusive", store.AuditFilter{TenantID: a.ID, Until: t0.Add(2 * time.Minute)}, []store.AuditEvent{e2, e1}},
		{"range", store.AuditFilter{TenantID: a.ID, Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []store.AuditEvent{e3, e2}},
		{"address", store.AuditFilter{TenantID: a.ID, IP: "198.51.100.7"}, []store.AuditEvent{e4, e2}},
		{"address of another tenant's event", store.AuditFilter{TenantID: b.ID, IP: "198.51.100.7"}, nil},
		{"combined", store.AuditFilter{TenantID: a.ID, UserID: "usr_2", Outcome: "success"}, []store.AuditEvent{e4}},
		{"before id", store.AuditFilter{TenantID: a.ID, BeforeID: e3.ID}, []store.AuditEvent{e2, e1}},
		{"limit", store.AuditFilter{TenantID: a.ID, Limit: 1}, []store.AuditEvent{e4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantEvents(t, "ListAudit", auditIDs(t, s, tc.f), tc.want...)
		})
	}
}

func testAuditPaging(t *testing.T, s store.Store) {
	a := newTenant(t, s, "a")
	b := newTenant(t, s, "b")
	var want []store.AuditEvent
	for i := range 7 {
		want = append([]store.AuditEvent{appendAudit(t, s, store.AuditEvent{TenantID: a.ID, Event: "login", Outcome: "success", CreatedAt: t0.Add(time.Duration(i) * time.Second)})}, want...)
		appendAudit(t, s, store.AuditEvent{TenantID: b.ID, Event: "login", Outcome: "success", CreatedAt: t0})
	}
	var got []int64
	f := store.AuditFilter{TenantID: a.ID, Limit: 3}
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatalf("paging does not end; so far %v", got)
		}
		page := auditIDs(t, s, f)
		if len(page) == 0 {
			break
		}
		if len(page) > 3 {
			t.Fatalf("page of %d events, limit 3", len(page))
		}
		got = append(got, page...)
		f.BeforeID = page[len(page)-1]
	}
	wantEvents(t, "all pages", got, want...)
}

// The audit chain's storage (X6): a head per tenant created on first use,
// an event sealed once, pages in seq order, copies found by their MAC.
func testAuditChainStorage(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "a")
	var ids []int64
	for i := range 3 {
		e := appendAudit(t, s, store.AuditEvent{TenantID: tn.ID, Event: "login", Outcome: "success", CreatedAt: t0.Add(time.Duration(i) * time.Second),
			Nonce: []byte{byte(i)}, ContentHash: []byte{1}, MAC: []byte{byte(i), 2}, KeyID: "m1"})
		ids = append(ids, e.ID)
	}
	if tenants, err := s.UnsealedAuditTenants(ctx, 10); err != nil || len(tenants) != 1 || tenants[0] != tn.ID {
		t.Fatalf("UnsealedAuditTenants = %v, %v", tenants, err)
	}
	err := s.InTx(ctx, func(q store.Queries) error {
		h, err := q.LockAuditHead(ctx, tn.ID)
		if err != nil {
			return err
		}
		if h.Seq != 0 || h.Hash != nil || h.LegacyUntil != 0 {
			t.Errorf("a new tenant's head: %+v", h)
		}
		events, err := q.UnsealedAudit(ctx, tn.ID, 0, 2)
		if err != nil || len(events) != 2 || events[0].ID != ids[0] || string(events[1].MAC) != string([]byte{1, 2}) || events[1].KeyID != "m1" {
			t.Fatalf("UnsealedAudit = %+v, %v", events, err)
		}
		for i := range events {
			events[i].Seq, events[i].PrevHash, events[i].Hash = int64(i+1), []byte{byte(i)}, []byte{byte(i + 1)}
			if err := q.SealAuditEvent(ctx, &events[i]); err != nil {
				return err
			}
		}
		if err := q.SealAuditEvent(ctx, &events[0]); !errors.Is(err, store.ErrConflict) {
			t.Errorf("sealing an event twice: %v, want ErrConflict", err)
		}
		h.Seq, h.Hash, h.UpdatedAt = 2, []byte{2}, t0
		if err := q.SetAuditHead(ctx, h); err != nil {
			return err
		}
		return q.AppendAuditCheckpoint(ctx, &store.AuditCheckpoint{TenantID: tn.ID, Seq: 2, Hash: []byte{2}, CreatedAt: t0, KeyID: "c1", Signature: []byte{9}})
	})
	if err != nil {
		t.Fatalf("sealing: %v", err)
	}
	sealed, err := s.SealedAudit(ctx, tn.ID, 0, 10)
	if err != nil || len(sealed) != 2 || sealed[0].Seq != 1 || sealed[1].Seq != 2 || string(sealed[1].PrevHash) != "\x01" {
		t.Fatalf("SealedAudit = %+v, %v", sealed, err)
	}
	if rest, err := s.UnsealedAudit(ctx, tn.ID, 0, 10); err != nil || len(rest) != 1 || rest[0].ID != ids[2] {
		t.Errorf("UnsealedAudit after sealing = %+v, %v", rest, err)
	}
	if cps, err := s.AuditCheckpoints(ctx, tn.ID, 0, 10); err != nil || len(cps) != 1 || cps[0].Seq != 2 || !cps[0].CreatedAt.Equal(t0) {
		t.Errorf("AuditCheckpoints = %+v, %v", cps, err)
	}
	if h, err := s.AuditHeadOf(ctx, tn.ID); err != nil || h.Seq != 2 {
		t.Errorf("AuditHeadOf = %+v, %v", h, err)
	}
	if dup, err := s.DuplicateAuditMAC(ctx, tn.ID); err != nil || len(dup) != 0 {
		t.Errorf("DuplicateAuditMAC with unique MACs = %+v, %v", dup, err)
	}
	appendAudit(t, s, store.AuditEvent{TenantID: tn.ID, Event: "copy", Outcome: "x", CreatedAt: t0, MAC: []byte{1, 2}})
	if dup, err := s.DuplicateAuditMAC(ctx, tn.ID); err != nil || len(dup) != 2 || dup[0].ID != ids[1] {
		t.Errorf("DuplicateAuditMAC with a copied MAC = %+v, %v", dup, err)
	}
	b := newTenant(t, s, "b")
	if _, err := s.AuditHeadOf(ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AuditHeadOf of a tenant without a chain: %v, want ErrNotFound", err)
	}
	err = s.InTx(ctx, func(q store.Queries) error {
		_, err := q.LockAuditHead(ctx, tn.ID)
		return err
	})
	if err != nil {
		t.Fatalf("LockAuditHead of an existing chain: %v", err)
	}
}
