package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// ---- the help desk's search ----

func testSearchUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "acme")
	other := newTenant(t, s, "other")
	mk := func(tenantID, login, email, phone, name, status string) *store.User {
		t.Helper()
		u := &store.User{ID: store.NewID("usr"), TenantID: tenantID, LoginID: login, Email: email, Phone: phone,
			DisplayName: name, Status: status, CreatedAt: t0, UpdatedAt: t0}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%s): %v", login, err)
		}
		return u
	}
	alice := mk(tn.ID, "Alice", "alice@example.org", "5551230001", "Alice Smith", store.StatusActive)
	mk(tn.ID, "bob", "bob@example.org", "5551230002", "Robert Jones", store.StatusLocked)
	carol := mk(tn.ID, "carol", "c.smithers@example.org", "5559870003", "Carol Smithers-Ng", store.StatusActive)
	mk(tn.ID, "al_x", "", "", "", store.StatusActive)
	mk(other.ID, "alice2", "alice@example.com", "5551230001", "Alice Smith", store.StatusActive)

	search := func(f store.UserFilter) []string {
		t.Helper()
		f.TenantID = tn.ID
		got, err := s.SearchUsers(ctx, f)
		if err != nil {
			t.Fatalf("SearchUsers(%+v): %v", f, err)
		}
		return ids(got, func(u store.User) string { return u.LoginID })
	}
	for _, tc := range []struct {
		query, status string
		want          []string
	}{
		{"", "", []string{"al_x", "Alice", "bob", "carol"}},
		{"AL", "", []string{"al_x", "Alice"}},                // login ID prefix, any case
		{"al_", "", []string{"al_x"}},                        // _ is a character, not a wildcard
		{"%", "", nil},                                       // so is %
		{"c.smith", "", []string{"carol"}},                   // email prefix
		{"smith", "", []string{"Alice", "carol"}},            // a word of the name
		{"jones", "", []string{"bob"}},                       // the second word
		{"mithers", "", nil},                                 // not the middle of a word
		{"555-123-0002", "", []string{"bob"}},                // the whole number
		{"(555) 123 0001", "", []string{"Alice"}},            // formatted
		{"0003", "", []string{"carol"}},                      // last digits
		{"123", "", nil},                                     // too few digits to be a phone
		{"", store.StatusLocked, []string{"bob"}},            // status only
		{"a", store.StatusActive, []string{"al_x", "Alice"}}, // both
		{"alice@example.com", "", nil},                       // another tenant's
		{"zzz", "", nil},
	} {
		if got := search(store.UserFilter{Query: tc.query, Status: tc.status}); !slices.Equal(got, tc.want) {
			t.Errorf("search %q status %q = %v, want %v", tc.query, tc.status, got, tc.want)
		}
	}
	// Keyset pages in login ID order.
	if got := search(store.UserFilter{Limit: 2}); !slices.Equal(got, []string{"al_x", "Alice"}) {
		t.Errorf("page 1 = %v", got)
	}
	if got := search(store.UserFilter{After: "ALICE", Limit: 2}); !slices.Equal(got, []string{"bob", "carol"}) {
		t.Errorf("page 2 = %v", got)
	}
	// The full record comes back, memberships included.
	if err := s.SetUserGroups(ctx, tn.ID, carol.ID, []string{"staff"}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.SearchUsers(ctx, store.UserFilter{TenantID: tn.ID, Query: "carol"})
	if err != nil || len(got) != 1 || got[0].ID != carol.ID || !slices.Equal(got[0].Groups, []string{"staff"}) || got[0].Email != carol.Email {
		t.Errorf("SearchUsers(carol) = %+v, %v", got, err)
	}
	if got, err := s.SearchUsers(ctx, store.UserFilter{TenantID: "", Query: alice.LoginID}); err != nil || len(got) != 0 {
		t.Errorf("SearchUsers without a tenant = %v, %v; want nothing", got, err)
	}
}

// ---- terminating an account (C14) ----

func testTerminateUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	bystander := newUser(t, s, tn.ID, "bob")
	now := t0.Add(time.Minute)

	f := newActive(t, s, u, "totp", 1)
	newPending(t, s, u, "sms", nil)
	ps := newPortalSession(t, s, u, "tok-a", t0)
	dev := newDevice(t, s, u, "dev-a", t0)
	txn := newTxn(t, s, u, time.Hour)
	msg := enqueue(t, s, u, t0)
	ch := newChallenge(t, s, u, store.PurposeLogin, "123456", t0, t0.Add(time.Hour))
	push := newPush(t, s, f, txn.ID, store.PushLogin, t0, time.Hour)
	cl := newOIDCClient(t, s, tn.ID, "portal", nil)
	coded := codedRequest(t, s, u, cl.ID, []byte("code-hash"), t0.Add(time.Hour))
	tok := newOIDCToken(t, s, u, cl.ID, coded.ID, store.TokenRefresh, t0.Add(time.Hour))
	// The bystander keeps everything.
	theirTxn := newTxn(t, s, bystander, time.Hour)
	theirMsg := enqueue(t, s, bystander, t0)

	got, err := s.TerminateUser(ctx, tn.ID, u.ID, "admin:adk_1", "credentials sold", now)
	if err != nil {
		t.Fatalf("TerminateUser: %v", err)
	}
	want := store.Termination{Factors: 2, PortalSessions: 1, TrustedDevices: 1, LoginTxns: 1, OutboxMessages: 1,
		PushChallenges: 1, Challenges: 1, OIDCTokens: 1, OIDCCodes: 1}
	if got != want {
		t.Errorf("TerminateUser = %+v, want %+v", got, want)
	}
	gu := getUser(t, s, u)
	if gu.Status != store.StatusTerminated || gu.TerminatedBy != "admin:adk_1" || gu.TerminationReason != "credentials sold" {
		t.Errorf("after TerminateUser: %+v", gu)
	}
	wantTime(t, "TerminatedAt", gu.TerminatedAt, now)
	wantState(t, s, f, store.FactorRevoked)
	wantSession(t, s, "portal session", ps, now, false)
	if d := getDevice(t, s, dev); d.RevokedAt == nil {
		t.Error("trusted device not revoked")
	}
	if g := getTxn(t, s, txn); g.State != store.TxnDenied {
		t.Errorf("login transaction %s, want denied", g.State)
	}
	if m := getMessage(t, s, msg); m.State != store.OutboxDead || m.Payload != nil {
		t.Errorf("message %s with payload %q, want dead and empty", m.State, m.Payload)
	}
	wantLive(t, s, ch, now, false)
	if p := getPush(t, s, push); p.State != store.PushExpired {
		t.Errorf("push %s, want expired", p.State)
	}
	if k := getOIDCToken(t, s, tok); k.RevokedAt == nil {
		t.Error("refresh token not revoked")
	}
	if _, ok, err := s.UseOIDCCode(ctx, tn.ID, []byte("code-hash"), now); ok || err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UseOIDCCode after termination = %t, %v", ok, err)
	}
	if g := getTxn(t, s, theirTxn); g.State != store.TxnPending {
		t.Errorf("bystander's transaction %s", g.State)
	}
	if m := getMessage(t, s, theirMsg); m.State != store.OutboxPending {
		t.Errorf("bystander's message %s", m.State)
	}

	// Final: nothing changes the status, nor grants a login.
	_, err = s.TerminateUser(ctx, tn.ID, u.ID, "admin:adk_1", "again", now)
	wantErr(t, "TerminateUser again", err, store.ErrTerminated)
	for _, st := range append(slices.Clone(store.Statuses), store.StatusTerminated) {
		wantErr(t, "SetUserStatus("+st+")", s.SetUserStatus(ctx, tn.ID, u.ID, st, now), store.ErrTerminated)
	}
	wantErr(t, "RecordLogin", s.RecordLogin(ctx, u.ID, now), store.ErrTerminated)
	wantErr(t, "ResetMFA", s.ResetMFA(ctx, u.ID, now), store.ErrTerminated)
	if err := s.Unlock(ctx, tn.ID, u.ID); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if got := getUser(t, s, u); got.Status != store.StatusTerminated {
		t.Errorf("after every change: status %s", got.Status)
	}
	// The login ID stays taken.
	dup := &store.User{ID: store.NewID("usr"), TenantID: tn.ID, LoginID: "ALICE", Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}
	wantErr(t, "CreateUser(terminated login ID)", s.CreateUser(ctx, dup), store.ErrConflict)

	// Another tenant's person cannot be terminated by naming them.
	other := newTenant(t, s, "other")
	_, err = s.TerminateUser(ctx, other.ID, bystander.ID, "admin:adk_2", "x", now)
	wantErr(t, "TerminateUser(other tenant)", err, store.ErrNotFound)
	wantErr(t, "SetUserStatus(unknown)", s.SetUserStatus(ctx, tn.ID, "usr_missing", store.StatusActive, now), store.ErrNotFound)
}

// A login granted in parallel with a termination either commits before it
// or is refused: a grant that begins after TerminateUser returned never
// succeeds, however the two interleave (C14).
func testTerminateRacesLogin(t *testing.T, s store.Store) {
	tn, u := fixture(t, s)
	now := t0.Add(time.Minute)
	var over atomic.Bool
	var first atomic.Bool
	late := concurrently(t, 21, func(ctx context.Context) (bool, error) {
		return grantOrTerminate(ctx, s, tn.ID, u.ID, now, first.CompareAndSwap(false, true), &over)
	})
	if late != 0 {
		t.Errorf("%d logins granted after the termination returned", late)
	}
	if got := getUser(t, s, u); got.Status != store.StatusTerminated {
		t.Errorf("status %s, want terminated", got.Status)
	}
}

// grantOrTerminate: the first participant terminates; the others keep
// granting logins until it has, and report a grant that began afterwards.
func grantOrTerminate(ctx context.Context, s store.Store, tenantID, userID string, now time.Time, terminate bool, over *atomic.Bool) (bool, error) {
	if terminate {
		_, err := s.TerminateUser(ctx, tenantID, userID, "admin:adk_1", "race", now)
		over.Store(true)
		return false, err
	}
	for range 200 {
		began := over.Load()
		err := s.InTx(ctx, func(q store.Queries) error { return q.ResetMFA(ctx, userID, now) })
		switch {
		case err == nil && began:
			return true, nil
		case errors.Is(err, store.ErrTerminated):
			return false, nil
		case err != nil:
			return false, err
		}
	}
	return false, errors.New("never saw the termination")
}

// ---- the help desk's queue (A13) ----

func testSupportQueue(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "acme")
	other := newTenant(t, s, "other")
	a := newSupportRequest(t, s, tn.ID, "SR-1001", t0)
	b := &store.SupportRequest{ID: store.NewID("sup"), TenantID: tn.ID, Tracking: "SR-1002", LoginID: "Bob", Name: "Robert Jones",
		Email: "rj@example.org", Subject: "Locked", Message: "Locked out.", CreatedAt: t0.Add(time.Minute)}
	if err := s.CreateSupportRequest(ctx, b); err != nil {
		t.Fatal(err)
	}
	c := newSupportRequest(t, s, tn.ID, "SR-2001", t0.Add(2*time.Minute))
	newSupportRequest(t, s, other.ID, "SR-1003", t0.Add(time.Hour))
	if b.State != store.SupportOpen || !b.UpdatedAt.Equal(b.CreatedAt) {
		t.Errorf("new request: state %q, updated %v", b.State, b.UpdatedAt)
	}

	later := t0.Add(time.Hour)
	progress, me := store.SupportInProgress, "user:usr_helpdesk"
	got, err := s.UpdateSupportRequest(ctx, tn.ID, "SR-1001", store.SupportUpdate{State: &progress, Assignee: &me, From: store.SupportOpen}, later)
	if err != nil || got.State != progress || got.Assignee != me || !got.UpdatedAt.Equal(later) || got.Subject != a.Subject {
		t.Fatalf("UpdateSupportRequest = %+v, %v", got, err)
	}
	// From no longer holds: refused, nothing changes.
	closed := store.SupportClosed
	_, err = s.UpdateSupportRequest(ctx, tn.ID, "SR-1001", store.SupportUpdate{State: &closed, From: store.SupportOpen}, later)
	wantErr(t, "UpdateSupportRequest(stale from)", err, store.ErrConflict)
	_, err = s.UpdateSupportRequest(ctx, other.ID, "SR-1001", store.SupportUpdate{State: &closed}, later)
	wantErr(t, "UpdateSupportRequest(other tenant)", err, store.ErrNotFound)
	_, err = s.UpdateSupportRequest(ctx, tn.ID, "SR-404", store.SupportUpdate{State: &closed, From: store.SupportOpen}, later)
	wantErr(t, "UpdateSupportRequest(unknown)", err, store.ErrNotFound)

	queue := func(f store.SupportFilter) []string {
		t.Helper()
		f.TenantID = tn.ID
		got, err := s.SearchSupportRequests(ctx, f)
		if err != nil {
			t.Fatalf("SearchSupportRequests(%+v): %v", f, err)
		}
		return ids(got, func(r store.SupportRequest) string { return r.Tracking })
	}
	for _, tc := range []struct {
		f    store.SupportFilter
		want []string
	}{
		{store.SupportFilter{}, []string{"SR-2001", "SR-1002", "SR-1001"}},
		{store.SupportFilter{State: store.SupportOpen}, []string{"SR-2001", "SR-1002"}},
		{store.SupportFilter{Assignee: me}, []string{"SR-1001"}},
		{store.SupportFilter{Query: "SR-1002"}, []string{"SR-1002"}},
		{store.SupportFilter{Query: "sr-1"}, []string{"SR-1002", "SR-1001"}},
		{store.SupportFilter{Query: "bob"}, []string{"SR-1002"}},
		{store.SupportFilter{Query: "RJ@"}, []string{"SR-1002"}},
		{store.SupportFilter{Query: "jones"}, []string{"SR-1002"}},
		{store.SupportFilter{Query: "SR-1003"}, nil},
		{store.SupportFilter{Query: "%"}, nil},
		{store.SupportFilter{Before: "SR-1002"}, []string{"SR-1001"}},
		{store.SupportFilter{Limit: 1}, []string{"SR-2001"}},
	} {
		if got := queue(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("queue %+v = %v, want %v", tc.f, got, tc.want)
		}
	}
	r, err := s.SupportRequestByTracking(ctx, tn.ID, c.Tracking)
	if err != nil || r.State != store.SupportOpen || r.Assignee != "" {
		t.Errorf("SupportRequestByTracking = %+v, %v", r, err)
	}

	// Notes.
	n1 := &store.SupportNote{ID: store.NewID("note"), TenantID: tn.ID, RequestID: a.ID, Author: me, Body: "Called back.", CreatedAt: later}
	if err := s.AddSupportNote(ctx, n1); err != nil {
		t.Fatalf("AddSupportNote: %v", err)
	}
	wrong := &store.SupportNote{ID: store.NewID("note"), TenantID: other.ID, RequestID: a.ID, Author: me, Body: "x", CreatedAt: later}
	wantErr(t, "AddSupportNote(other tenant)", s.AddSupportNote(ctx, wrong), store.ErrNotFound)
	notes, err := s.SupportNotes(ctx, tn.ID, a.ID)
	if err != nil || len(notes) != 1 || notes[0].Body != "Called back." || notes[0].Author != me || !notes[0].CreatedAt.Equal(later) {
		t.Errorf("SupportNotes = %+v, %v", notes, err)
	}
	if notes, err := s.SupportNotes(ctx, other.ID, a.ID); err != nil || len(notes) != 0 {
		t.Errorf("SupportNotes(other tenant) = %+v, %v", notes, err)
	}
}

// Notes are inserts: twenty written at once are twenty stored. Twenty
// changes of state from open: exactly one wins.
func testSupportQueueConcurrent(t *testing.T, s store.Store) {
	tn := newTenant(t, s, "acme")
	r := newSupportRequest(t, s, tn.ID, "SR-1", t0)
	i := 0
	bodies := make(chan string, 20)
	for range 20 {
		i++
		bodies <- fmt.Sprintf("note %d", i)
	}
	close(bodies)
	wrote := concurrently(t, 20, func(ctx context.Context) (bool, error) {
		n := &store.SupportNote{ID: store.NewID("note"), TenantID: tn.ID, RequestID: r.ID, Author: "admin:adk_1", Body: <-bodies, CreatedAt: t0}
		return true, s.AddSupportNote(ctx, n)
	})
	notes, err := s.SupportNotes(t.Context(), tn.ID, r.ID)
	if err != nil || wrote != 20 || len(notes) != 20 {
		t.Errorf("%d notes written, %d stored (%v); want 20", wrote, len(notes), err)
	}
	won := concurrently(t, 20, func(ctx context.Context) (bool, error) {
		st := store.SupportInProgress
		_, err := s.UpdateSupportRequest(ctx, tn.ID, "SR-1", store.SupportUpdate{State: &st, From: store.SupportOpen}, t0)
		if errors.Is(err, store.ErrConflict) {
			return false, nil
		}
		return err == nil, err
	})
	if won != 1 {
		t.Errorf("%d changes from open won, want 1", won)
	}
}
