package storetest

import (
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
		return appendAudit(t, s, store.AuditEvent{TenantID: tenantID, UserID: user, Event: event, Outcome: outcome, CreatedAt: t0.Add(at)})
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
