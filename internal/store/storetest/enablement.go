package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

func testTenantEnablement(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "acme")
	if got, _ := s.TenantByID(ctx, tn.ID); got == nil || got.MFAEnabledAt != nil || got.MFAEnabledBy != "" {
		t.Fatalf("new tenant = %+v, want not enabled", got)
	}
	var first bool
	err := s.InTx(ctx, func(q store.Queries) error {
		got, err := q.TenantForUpdate(ctx, tn.ID)
		if err != nil || got.ID != tn.ID {
			t.Errorf("TenantForUpdate = %v, %v", got, err)
		}
		first, err = q.SetTenantMFAEnabled(ctx, tn.ID, "admin:adk_1", t0)
		return err
	})
	if err != nil || !first {
		t.Fatalf("SetTenantMFAEnabled = %v, %v; want true", first, err)
	}
	again, err := s.SetTenantMFAEnabled(ctx, tn.ID, "admin:adk_2", t0.Add(time.Hour))
	if err != nil || again {
		t.Errorf("SetTenantMFAEnabled again = %v, %v; want false", again, err)
	}
	got, err := s.TenantByID(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantTime(t, "MFAEnabledAt", got.MFAEnabledAt, t0)
	if got.MFAEnabledBy != "admin:adk_1" {
		t.Errorf("MFAEnabledBy = %q", got.MFAEnabledBy)
	}
	_, err = s.TenantForUpdate(ctx, "ten_missing")
	wantErr(t, "TenantForUpdate(unknown)", err, store.ErrNotFound)
}

func testEnablementCounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, alice := fixture(t, s)
	other := newTenant(t, s, "other")
	newUser(t, s, other.ID, "stranger")
	bob := newUser(t, s, tn.ID, "bob")
	carol := newUser(t, s, tn.ID, "carol")
	newActive(t, s, alice, "totp", 1)
	if err := s.SetEmail(ctx, tn.ID, bob.ID, "bob@example.com", &t0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserStatus(ctx, tn.ID, carol.ID, store.StatusDisabled, t0); err != nil {
		t.Fatal(err)
	}
	c, err := s.CountPeople(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := (store.PeopleCounts{Total: 2, Enrolled: 1, NoContact: 1}); c != want {
		t.Errorf("CountPeople = %+v, want %+v", c, want)
	}
	total, enrolled, err := s.CountAdministrators(ctx, tn.ID)
	if err != nil || total != 0 || enrolled != 0 {
		t.Errorf("CountAdministrators = %d, %d, %v; want none", total, enrolled, err)
	}

	m := enqueue(t, s, alice, t0)
	m2 := &store.OutboxMessage{ID: store.NewID("msg"), TenantID: tn.ID, Channel: "sms", Purpose: "test",
		Destination: "+15550100", Payload: []byte("x"), NextAttemptAt: t0, CreatedAt: t0}
	if err := s.EnqueueOutbox(ctx, m2); err != nil {
		t.Fatal(err)
	}
	for _, c := range claim(t, s, "w1", t0, t0.Add(time.Minute), 10) {
		if ok, err := s.MarkOutboxDelivered(ctx, c.ID, "w1", "dev", "ref", t0.Add(time.Second)); err != nil || !ok {
			t.Fatalf("MarkOutboxDelivered(%s) = %v, %v", c.ID, ok, err)
		}
	}
	_ = m
	for _, tc := range []struct {
		channel, purpose string
		since            time.Time
		want             int
	}{
		{"sms", "test", t0, 1},
		{"sms", "test", t0.Add(time.Minute), 0},
		{"email", "test", t0, 0},
		{"sms", store.PurposeLogin, t0, 1},
	} {
		if n, err := s.CountDelivered(ctx, tn.ID, tc.channel, tc.purpose, tc.since); err != nil || n != tc.want {
			t.Errorf("CountDelivered(%s, %s, %v) = %d, %v; want %d", tc.channel, tc.purpose, tc.since, n, err, tc.want)
		}
	}
	if n, _ := s.CountDelivered(ctx, other.ID, "sms", "test", t0); n != 0 {
		t.Errorf("CountDelivered(other tenant) = %d", n)
	}
}

func newPhase(t *testing.T, s store.Store, tenantID, name string, groups, units []string, starts time.Time) *store.Phase {
	t.Helper()
	p := &store.Phase{ID: store.NewID("phs"), TenantID: tenantID, Name: name, Groups: groups, Units: units,
		StartsAt: starts, CreatedAt: t0, CreatedBy: "cli"}
	if err := s.CreatePhase(t.Context(), p); err != nil {
		t.Fatalf("CreatePhase: %v", err)
	}
	return p
}

func testPhases(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, alice := fixture(t, s)
	other := newTenant(t, s, "other")
	bob := newUser(t, s, tn.ID, "bob")
	carol := newUser(t, s, tn.ID, "carol")
	dave := newUser(t, s, tn.ID, "dave")
	stranger := newUser(t, s, other.ID, "stranger")
	for _, m := range []struct {
		u             *store.User
		groups, units []string
	}{
		{alice, []string{"Nurses"}, nil},
		{bob, nil, []string{"North"}},
		{carol, []string{"Billing"}, []string{"South"}},
		{stranger, []string{"Nurses"}, nil},
	} {
		if err := s.SetUserGroups(ctx, m.u.TenantID, m.u.ID, m.groups, m.units); err != nil {
			t.Fatal(err)
		}
	}
	_ = dave
	newActive(t, s, bob, "totp", 1)

	later := newPhase(t, s, tn.ID, "Clinics", nil, []string{"North", "South"}, t0.Add(48*time.Hour))
	soon := newPhase(t, s, tn.ID, "Nurses first", []string{"Nurses"}, nil, t0.Add(time.Hour))
	newPhase(t, s, other.ID, "Theirs", []string{"Nurses"}, nil, t0.Add(time.Hour))

	got, err := s.PhaseByID(ctx, tn.ID, soon.ID)
	if err != nil || got.Name != "Nurses first" || len(got.Groups) != 1 || got.Groups[0] != "Nurses" || len(got.Units) != 0 || !got.StartsAt.Equal(soon.StartsAt) || got.CreatedBy != "cli" {
		t.Errorf("PhaseByID = %+v, %v", got, err)
	}
	_, err = s.PhaseByID(ctx, other.ID, soon.ID)
	wantErr(t, "PhaseByID(other tenant)", err, store.ErrNotFound)
	list, err := s.ListPhases(ctx, tn.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "ListPhases", ids(list, func(p store.Phase) string { return p.ID }), []string{soon.ID, later.ID})

	for _, tc := range []struct {
		p                 *store.Phase
		inScope, enrolled int
	}{{soon, 1, 0}, {later, 2, 1}} {
		in, en, err := s.CountPhase(ctx, tn.ID, tc.p.ID)
		if err != nil || in != tc.inScope || en != tc.enrolled {
			t.Errorf("CountPhase(%s) = %d, %d, %v; want %d, %d", tc.p.Name, in, en, err, tc.inScope, tc.enrolled)
		}
	}

	// Before either starts, both owe their scheduled notices.
	pending, err := s.PendingPhases(ctx, t0, 10)
	if err != nil || len(pending) != 3 {
		t.Errorf("PendingPhases = %d, %v; want 3", len(pending), err)
	}
	aud, err := s.PhaseAudience(ctx, tn.ID, later.ID, store.PhaseNoticeScheduled, false, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantIDSet(t, "PhaseAudience(scheduled)", ids(aud, func(u store.User) string { return u.ID }), []string{bob.ID, carol.ID})
	aud, _ = s.PhaseAudience(ctx, tn.ID, later.ID, store.PhaseNoticeStarted, true, 10)
	wantIDSet(t, "PhaseAudience(started, unenrolled)", ids(aud, func(u store.User) string { return u.ID }), []string{carol.ID})
	if len(aud) == 1 && (len(aud[0].Units) != 1 || aud[0].Units[0] != "South") {
		t.Errorf("audience member memberships = %v %v", aud[0].Groups, aud[0].Units)
	}

	// One notice per person, however many record it at once.
	wins := concurrently(t, 6, func(ctx context.Context) (bool, error) {
		return s.RecordPhaseNotice(ctx, later.ID, carol.ID, store.PhaseNoticeScheduled, t0)
	})
	if wins != 1 {
		t.Errorf("concurrent RecordPhaseNotice: %d won, want 1", wins)
	}
	aud, _ = s.PhaseAudience(ctx, tn.ID, later.ID, store.PhaseNoticeScheduled, false, 10)
	wantIDSet(t, "PhaseAudience after a notice", ids(aud, func(u store.User) string { return u.ID }), []string{bob.ID})
	if ok, err := s.RecordPhaseNotice(ctx, later.ID, carol.ID, store.PhaseNoticeStarted, t0); err != nil || !ok {
		t.Errorf("RecordPhaseNotice(started) = %v, %v; want a separate notice", ok, err)
	}

	if err := s.MarkPhaseNotified(ctx, later.ID, store.PhaseNoticeScheduled, t0); err != nil {
		t.Fatal(err)
	}
	got, _ = s.PhaseByID(ctx, tn.ID, later.ID)
	wantTime(t, "ScheduledNotifiedAt", got.ScheduledNotifiedAt, t0)
	wantNoTime(t, "StartedNotifiedAt", got.StartedNotifiedAt)
	pending, _ = s.PendingPhases(ctx, t0, 10)
	if len(pending) != 2 {
		t.Errorf("PendingPhases after marking = %d, want 2", len(pending))
	}
	// Once started, the started notices are owed.
	pending, _ = s.PendingPhases(ctx, t0.Add(72*time.Hour), 1)
	if len(pending) != 1 {
		t.Errorf("PendingPhases(limit 1) = %d", len(pending))
	}
	if err := s.MarkPhaseNotified(ctx, later.ID, store.PhaseNoticeStarted, t0.Add(72*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.PhaseByID(ctx, tn.ID, later.ID)
	wantTime(t, "StartedNotifiedAt", got.StartedNotifiedAt, t0.Add(72*time.Hour))

	// A phase is deleted only before it starts, and only by its tenant.
	if ok, err := s.DeletePhase(ctx, other.ID, later.ID, t0); err != nil || ok {
		t.Errorf("DeletePhase(other tenant) = %v, %v", ok, err)
	}
	if ok, err := s.DeletePhase(ctx, tn.ID, soon.ID, t0.Add(time.Hour)); err != nil || ok {
		t.Errorf("DeletePhase(started) = %v, %v; want false", ok, err)
	}
	if ok, err := s.DeletePhase(ctx, tn.ID, later.ID, t0); err != nil || !ok {
		t.Errorf("DeletePhase = %v, %v; want true", ok, err)
	}
	_, err = s.PhaseByID(ctx, tn.ID, later.ID)
	wantErr(t, "PhaseByID(deleted)", err, store.ErrNotFound)
}
