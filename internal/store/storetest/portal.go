package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// The portal cases read sessions at portalNow with portalIdle.
var (
	portalNow  = t0.Add(10 * time.Minute)
	portalIdle = 15 * time.Minute
)

func newPortalSession(t *testing.T, s store.Store, u *store.User, token string, authAt time.Time) *store.PortalSession {
	t.Helper()
	ps := &store.PortalSession{
		ID: store.NewID("pss"), TokenHash: []byte("hash\x00" + token), TenantID: u.TenantID, UserID: u.ID,
		Level: store.SessionFull, TxnID: store.NewID("txn"), AuthAt: authAt, CreatedAt: authAt,
		LastSeenAt: authAt, ExpiresAt: authAt.Add(8 * time.Hour), IP: "192.0.2.7", UserAgent: "Firefox",
	}
	if err := s.CreatePortalSession(t.Context(), ps); err != nil {
		t.Fatalf("CreatePortalSession: %v", err)
	}
	return ps
}

// wantSession checks whether the session with ps's token is live at now.
func wantSession(t *testing.T, s store.Store, what string, ps *store.PortalSession, now time.Time, live bool) *store.PortalSession {
	t.Helper()
	got, err := s.PortalSessionByHash(t.Context(), ps.TokenHash, now, portalIdle)
	switch {
	case live && err != nil:
		t.Errorf("%s: PortalSessionByHash: %v, want the session", what, err)
	case live && got.ID != ps.ID:
		t.Errorf("%s: PortalSessionByHash = %s, want %s", what, got.ID, ps.ID)
	case !live && !errors.Is(err, store.ErrNotFound):
		t.Errorf("%s: PortalSessionByHash = %+v, %v; want ErrNotFound", what, got, err)
	}
	return got
}

func testPortalSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	ps := newPortalSession(t, s, u, "a", t0)
	if ps.Data != "{}" {
		t.Errorf("Data without state = %q, want {}", ps.Data)
	}
	got := wantSession(t, s, "new session", ps, t0.Add(time.Minute), true)
	if got != nil {
		if !bytes.Equal(got.TokenHash, ps.TokenHash) || got.TenantID != u.TenantID || got.UserID != u.ID || got.Level != store.SessionFull ||
			got.TxnID != ps.TxnID || !got.AuthAt.Equal(t0) || !got.CreatedAt.Equal(t0) || !got.LastSeenAt.Equal(t0) ||
			!got.ExpiresAt.Equal(ps.ExpiresAt) || got.IP != ps.IP || got.UserAgent != ps.UserAgent || got.Data != "{}" || got.EndedAt != nil {
			t.Errorf("PortalSessionByHash = %+v, want %+v", got, ps)
		}
	}
	_, err := s.PortalSessionByHash(ctx, []byte("hash\x00unknown"), t0, portalIdle)
	wantErr(t, "PortalSessionByHash(unknown)", err, store.ErrNotFound)

	// Idle: seen just within idle is live, at exactly idle it is not.
	wantSession(t, s, "seen idle-1µs ago", ps, t0.Add(portalIdle-time.Microsecond), true)
	wantSession(t, s, "seen idle ago", ps, t0.Add(portalIdle), false)

	// Activity keeps it live, and an update writes every mutable field.
	upd := *ps
	upd.Level, upd.TxnID, upd.AuthAt, upd.LastSeenAt, upd.Data = store.SessionRecovery, "txn_next", t0.Add(time.Minute), t0.Add(10*time.Minute), ""
	upd.IP, upd.UserAgent, upd.ExpiresAt = "198.51.100.1", "changed", t0.Add(time.Hour) // not written by an update
	if ok, err := s.UpdatePortalSession(ctx, &upd); err != nil || !ok {
		t.Fatalf("UpdatePortalSession = %v, %v", ok, err)
	}
	got = wantSession(t, s, "after touch", ps, t0.Add(10*time.Minute+portalIdle-time.Microsecond), true)
	if got != nil && (got.Level != store.SessionRecovery || got.TxnID != "txn_next" || !got.AuthAt.Equal(t0.Add(time.Minute)) ||
		!got.LastSeenAt.Equal(t0.Add(10*time.Minute)) || got.Data != "{}" ||
		got.IP != ps.IP || got.UserAgent != ps.UserAgent || !got.ExpiresAt.Equal(ps.ExpiresAt) || !got.CreatedAt.Equal(t0)) {
		t.Errorf("after UpdatePortalSession = %+v", got)
	}
	upd.Data = `{"step":"sms"}`
	upd.LastSeenAt = t0.Add(7*time.Hour + 50*time.Minute)
	if ok, err := s.UpdatePortalSession(ctx, &upd); err != nil || !ok {
		t.Fatalf("UpdatePortalSession = %v, %v", ok, err)
	}
	if got := wantSession(t, s, "with data", ps, upd.LastSeenAt, true); got != nil && got.Data != `{"step":"sms"}` {
		t.Errorf("Data = %q", got.Data)
	}

	// Absolute expiry, however recent the activity.
	wantSession(t, s, "just before expiry", ps, ps.ExpiresAt.Add(-time.Microsecond), true)
	wantSession(t, s, "at expiry", ps, ps.ExpiresAt, false)

	// An ended session is gone, and updates to it are refused.
	if err := s.EndPortalSession(ctx, ps.ID, t0.Add(7*time.Hour+55*time.Minute)); err != nil {
		t.Fatalf("EndPortalSession: %v", err)
	}
	if err := s.EndPortalSession(ctx, ps.ID, t0.Add(7*time.Hour+56*time.Minute)); err != nil {
		t.Fatalf("EndPortalSession again: %v", err)
	}
	wantSession(t, s, "ended", ps, upd.LastSeenAt, false)
	if ok, err := s.UpdatePortalSession(ctx, &upd); err != nil || ok {
		t.Errorf("UpdatePortalSession after end = %v, %v; want false", ok, err)
	}
	if ok, err := s.UpdatePortalSession(ctx, &store.PortalSession{ID: "pss_missing", UserID: u.ID, Level: store.SessionFull}); err != nil || ok {
		t.Errorf("UpdatePortalSession(unknown) = %v, %v; want false", ok, err)
	}
}

func testPortalSessionHashUnique(t *testing.T, s store.Store) {
	_, u := fixture(t, s)
	bob := newUser(t, s, u.TenantID, "bob")
	ps := newPortalSession(t, s, u, "a", t0)
	dup := *ps
	dup.ID, dup.UserID = store.NewID("pss"), bob.ID
	wantErr(t, "CreatePortalSession(same token hash)", s.CreatePortalSession(t.Context(), &dup), store.ErrConflict)
	if got := wantSession(t, s, "original", ps, t0, true); got != nil && got.UserID != u.ID {
		t.Errorf("session user after conflict = %s", got.UserID)
	}
}

// testPortalSessionFactorRevoked: revoking a confirmed factor after the
// session authenticated ends it on every server; revoking a factor that was
// never confirmed, or one revoked before the authentication, does not.
func testPortalSessionFactorRevoked(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, _ := fixture(t, s)
	authAt := t0.Add(time.Minute)
	revoke := func(f *store.Factor, at time.Time) {
		t.Helper()
		if ok, err := s.RevokeFactor(ctx, f.ID, at); err != nil || !ok {
			t.Fatalf("RevokeFactor = %v, %v", ok, err)
		}
	}

	confirmed := newUser(t, s, tn.ID, "confirmed")
	cf := newActive(t, s, confirmed, "totp", 1)
	cs := newPortalSession(t, s, confirmed, "confirmed", authAt)
	wantSession(t, s, "before revocation", cs, portalNow, true)
	revoke(cf, authAt.Add(time.Second))
	wantSession(t, s, "confirmed factor revoked after auth", cs, portalNow, false)

	pending := newUser(t, s, tn.ID, "pending")
	pf := newPending(t, s, pending, "totp", nil)
	replaced := newPending(t, s, pending, "sms", nil)
	ps := newPortalSession(t, s, pending, "pending", authAt)
	revoke(pf, authAt.Add(time.Second))
	// A new pending secret revokes the previous one (C4); that is no reason either.
	if err := s.CreatePendingFactor(ctx, &store.Factor{ID: store.NewID("fac"), TenantID: tn.ID, UserID: pending.ID, Kind: "sms", CreatedAt: t0},
		authAt.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	wantState(t, s, replaced, store.FactorRevoked)
	wantSession(t, s, "pending factors revoked after auth", ps, portalNow, true)

	before := newUser(t, s, tn.ID, "before")
	bf := newActive(t, s, before, "totp", 1)
	revoke(bf, authAt.Add(-time.Second))
	at := newActive(t, s, before, "sms", 1)
	revoke(at, authAt)
	bs := newPortalSession(t, s, before, "before", authAt)
	wantSession(t, s, "factors revoked before or at auth", bs, portalNow, true)

	// Authenticating again after the revocation makes a session live again.
	again := newPortalSession(t, s, confirmed, "again", authAt.Add(2*time.Second))
	wantSession(t, s, "authenticated after revocation", again, portalNow, true)

	// Another user's revocation is no concern of this session.
	revoke(newActive(t, s, before, "email", 1), portalNow.Add(-time.Second))
	wantSession(t, s, "other user's revocation", ps, portalNow, true)
	wantSession(t, s, "own revocation", bs, portalNow, false)
}

func testEndUserPortalSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	bob := newUser(t, s, u.TenantID, "bob")
	keep := newPortalSession(t, s, u, "keep", t0)
	other1 := newPortalSession(t, s, u, "other1", t0)
	other2 := newPortalSession(t, s, u, "other2", t0)
	ended := newPortalSession(t, s, u, "ended", t0)
	if err := s.EndPortalSession(ctx, ended.ID, t0); err != nil {
		t.Fatal(err)
	}
	bobs := newPortalSession(t, s, bob, "bob", t0)

	n, err := s.EndUserPortalSessions(ctx, u.ID, keep.ID, portalNow)
	if err != nil || n != 2 {
		t.Errorf("EndUserPortalSessions = %d, %v; want 2", n, err)
	}
	wantSession(t, s, "kept", keep, portalNow, true)
	wantSession(t, s, "other1", other1, portalNow, false)
	wantSession(t, s, "other2", other2, portalNow, false)
	wantSession(t, s, "bob's", bobs, portalNow, true)
	if n, err := s.EndUserPortalSessions(ctx, u.ID, keep.ID, portalNow); err != nil || n != 0 {
		t.Errorf("EndUserPortalSessions again = %d, %v; want 0", n, err)
	}
	if n, err := s.EndUserPortalSessions(ctx, u.ID, "", portalNow); err != nil || n != 1 {
		t.Errorf("EndUserPortalSessions(keep none) = %d, %v; want 1", n, err)
	}
	wantSession(t, s, "kept, then ended", keep, portalNow, false)
	wantSession(t, s, "bob's at the end", bobs, portalNow, true)

	// Inside a transaction, as a password change does it.
	var fresh *store.PortalSession
	err = s.InTx(ctx, func(q store.Queries) error {
		fresh = &store.PortalSession{ID: store.NewID("pss"), TokenHash: []byte("hash\x00fresh"), TenantID: u.TenantID, UserID: u.ID,
			Level: store.SessionFull, AuthAt: t0, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}
		if err := q.CreatePortalSession(ctx, fresh); err != nil {
			return err
		}
		if n, err := q.EndUserPortalSessions(ctx, bob.ID, "", portalNow); err != nil || n != 1 {
			return fmt.Errorf("EndUserPortalSessions in InTx = %d, %v", n, err)
		}
		if _, err := q.PortalSessionByHash(ctx, fresh.TokenHash, portalNow, portalIdle); err != nil {
			return fmt.Errorf("PortalSessionByHash in InTx: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	wantSession(t, s, "created in InTx", fresh, portalNow, true)
	wantSession(t, s, "bob's, ended in InTx", bobs, portalNow, false)
}

func testDeleteExpiredPortalSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	cutoff := t0.Add(24 * time.Hour)
	expired := newPortalSession(t, s, u, "expired", t0) // expires t0+8h
	endedEarly := newPortalSession(t, s, u, "ended-early", t0.Add(20*time.Hour))
	endedLate := newPortalSession(t, s, u, "ended-late", t0.Add(20*time.Hour))
	live := newPortalSession(t, s, u, "live", t0.Add(20*time.Hour))
	if err := s.EndPortalSession(ctx, endedEarly.ID, cutoff.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.EndPortalSession(ctx, endedLate.ID, cutoff.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteExpiredPortalSessions(ctx, cutoff); err != nil || n != 2 {
		t.Errorf("DeleteExpiredPortalSessions = %d, %v; want 2", n, err)
	}
	if n, err := s.DeleteExpiredPortalSessions(ctx, cutoff); err != nil || n != 0 {
		t.Errorf("DeleteExpiredPortalSessions again = %d, %v; want 0", n, err)
	}
	wantSession(t, s, "live", live, live.LastSeenAt, true)
	// A deleted session's token hash is free again; a kept one's is not.
	again := *expired
	again.ID = store.NewID("pss")
	if err := s.CreatePortalSession(ctx, &again); err != nil {
		t.Errorf("CreatePortalSession(deleted session's hash): %v", err)
	}
	late := *endedLate
	late.ID = store.NewID("pss")
	wantErr(t, "CreatePortalSession(kept ended session's hash)", s.CreatePortalSession(ctx, &late), store.ErrConflict)
	if n, err := s.DeleteExpiredPortalSessions(ctx, cutoff.Add(2*time.Minute)); err != nil || n != 2 {
		t.Errorf("DeleteExpiredPortalSessions(later) = %d, %v; want 2 (ended late, recreated expired)", n, err)
	}
}

// ---- users ----

func testUserIdentity(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "acme")
	other := newTenant(t, s, "other")
	u := &store.User{
		ID: store.NewID("usr"), TenantID: tn.ID, LoginID: "Alice", Status: store.StatusActive, CreatedAt: t0, UpdatedAt: t0,
		DOBHash: []byte("dob\x00hash"), SSNHash: []byte("ssn\x00hash"),
	}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	check := func(what string, dob, ssn []byte) {
		t.Helper()
		byID := getUser(t, s, u)
		byLogin, err := s.UserByLoginID(ctx, tn.ID, "alice")
		if err != nil {
			t.Fatalf("UserByLoginID: %v", err)
		}
		for name, got := range map[string]*store.User{"UserByID": byID, "UserByLoginID": byLogin} {
			if !bytes.Equal(got.DOBHash, dob) || !bytes.Equal(got.SSNHash, ssn) || (dob == nil) != (got.DOBHash == nil) || (ssn == nil) != (got.SSNHash == nil) {
				t.Errorf("%s: %s identity = %q, %q; want %q, %q", what, name, got.DOBHash, got.SSNHash, dob, ssn)
			}
		}
	}
	check("created", u.DOBHash, u.SSNHash)
	if got := getUser(t, s, newUser(t, s, tn.ID, "bob")); got.DOBHash != nil || got.SSNHash != nil {
		t.Errorf("user created without identity = %q, %q; want nil", got.DOBHash, got.SSNHash)
	}

	if err := s.SetIdentity(ctx, tn.ID, u.ID, []byte("dob2"), nil); err != nil {
		t.Fatalf("SetIdentity: %v", err)
	}
	check("after SetIdentity(dob only)", []byte("dob2"), nil)
	if err := s.SetIdentity(ctx, tn.ID, u.ID, nil, []byte("ssn2")); err != nil {
		t.Fatalf("SetIdentity: %v", err)
	}
	check("after SetIdentity(ssn only)", nil, []byte("ssn2"))

	wantErr(t, "SetIdentity(other tenant)", s.SetIdentity(ctx, other.ID, u.ID, []byte("x"), []byte("y")), store.ErrNotFound)
	wantErr(t, "SetIdentity(unknown)", s.SetIdentity(ctx, tn.ID, "usr_missing", []byte("x"), []byte("y")), store.ErrNotFound)
	check("after refused SetIdentity", nil, []byte("ssn2"))

	// Reading a user inside a transaction sees the identity too.
	err := s.InTx(ctx, func(q store.Queries) error {
		if err := q.SetIdentity(ctx, tn.ID, u.ID, []byte("dob3"), []byte("ssn3")); err != nil {
			return err
		}
		got, err := q.UserByID(ctx, tn.ID, u.ID)
		if err != nil {
			return err
		}
		if string(got.DOBHash) != "dob3" || string(got.SSNHash) != "ssn3" {
			return fmt.Errorf("identity inside InTx = %q, %q", got.DOBHash, got.SSNHash)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	check("after InTx", []byte("dob3"), []byte("ssn3"))
}

// testUnlockPassword: a recovery lifts the password lock, not the second-factor one.
func testUnlockPassword(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	other := newTenant(t, s, "other")
	for _, c := range counters {
		chargeN(t, s, c, u, 3, 3)
		if err := c.lock(s, ctx, u.ID, t0); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, "UnlockPassword(other tenant)", s.UnlockPassword(ctx, other.ID, u.ID), store.ErrNotFound)
	wantErr(t, "UnlockPassword(unknown)", s.UnlockPassword(ctx, tn.ID, "usr_missing"), store.ErrNotFound)
	if got := getUser(t, s, u); got.PasswordFailures != 3 || got.PasswordLockedAt == nil {
		t.Errorf("password counter after refused unlock = %d, %v", got.PasswordFailures, got.PasswordLockedAt)
	}
	if err := s.UnlockPassword(ctx, tn.ID, u.ID); err != nil {
		t.Fatalf("UnlockPassword: %v", err)
	}
	got := getUser(t, s, u)
	if got.PasswordFailures != 0 || got.PasswordLockedAt != nil {
		t.Errorf("password counter after UnlockPassword = %d, %v; want cleared", got.PasswordFailures, got.PasswordLockedAt)
	}
	if got.MFAFailures != 3 {
		t.Errorf("MFAFailures after UnlockPassword = %d, want 3", got.MFAFailures)
	}
	wantTime(t, "MFALockedAt after UnlockPassword", got.MFALockedAt, t0)
	if got.Status != store.StatusActive {
		t.Errorf("status after UnlockPassword = %q", got.Status)
	}
	chargeN(t, s, counters[1], u, 1, 3)
	if ch, err := s.ChargeMFA(ctx, u.ID, 3, 0, t0); err != nil || ch.Allowed {
		t.Errorf("ChargeMFA after UnlockPassword = %+v, %v; want refused", ch, err)
	}
}

// testUsersByPhone: a number may be shared (B7); only verified holders count.
func testUsersByPhone(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "acme")
	other := newTenant(t, s, "other")
	verified := t0.Add(time.Minute)
	const phone = "+15550100"
	set := func(u *store.User, number string, at *time.Time) {
		t.Helper()
		if err := s.SetPhone(ctx, u.TenantID, u.ID, number, at); err != nil {
			t.Fatalf("SetPhone: %v", err)
		}
	}
	carol := newUser(t, s, tn.ID, "carol")
	alice := newUser(t, s, tn.ID, "alice")
	bob := newUser(t, s, tn.ID, "bob")
	dave := newUser(t, s, tn.ID, "dave")
	erin := newUser(t, s, tn.ID, "erin")
	frank := newUser(t, s, other.ID, "frank")
	set(carol, phone, &verified)
	set(alice, phone, &verified)
	set(bob, phone, nil) // unverified
	set(dave, "+15550199", &verified)
	set(erin, phone, &verified)
	set(frank, phone, &verified) // another tenant
	if err := s.SetUserGroups(ctx, tn.ID, alice.ID, []string{"staff"}, []string{"hq"}); err != nil {
		t.Fatal(err)
	}

	list := func(tenantID string, limit int) []store.User {
		t.Helper()
		us, err := s.UsersByPhone(ctx, tenantID, phone, limit)
		if err != nil {
			t.Fatalf("UsersByPhone: %v", err)
		}
		return us
	}
	userIDs := func(us []store.User) []string { return ids(us, func(u store.User) string { return u.ID }) }
	got := list(tn.ID, 10)
	wantIDs(t, "UsersByPhone", userIDs(got), []string{alice.ID, carol.ID, erin.ID})
	if len(got) > 0 {
		if got[0].Phone != phone || got[0].PhoneVerifiedAt == nil || got[0].LoginID != "alice" {
			t.Errorf("UsersByPhone[0] = %+v", got[0])
		}
		if len(got[0].Groups) != 1 || got[0].Groups[0] != "staff" || len(got[0].Units) != 1 || got[0].Units[0] != "hq" {
			t.Errorf("UsersByPhone[0] memberships = %q, %q", got[0].Groups, got[0].Units)
		}
	}
	wantIDs(t, "UsersByPhone(limit 2)", userIDs(list(tn.ID, 2)), []string{alice.ID, carol.ID})
	wantIDs(t, "UsersByPhone(other tenant)", userIDs(list(other.ID, 10)), []string{frank.ID})
	if us, err := s.UsersByPhone(ctx, tn.ID, "+15550111", 10); err != nil || len(us) != 0 {
		t.Errorf("UsersByPhone(unused number) = %v, %v", us, err)
	}
}

// ---- factors ----

// testUpsertFactorSecret: the security-questions factor keeps its answer
// hashes in Secret.
func testUpsertFactorSecret(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	f := &store.Factor{ID: store.NewID("fac"), TenantID: u.TenantID, UserID: u.ID, Kind: "questions", Secret: []byte("sealed\x00answers-1")}
	if err := s.UpsertFactor(ctx, f, t0); err != nil {
		t.Fatalf("UpsertFactor: %v", err)
	}
	if got := wantState(t, s, f, store.FactorActive); !bytes.Equal(got.Secret, f.Secret) {
		t.Errorf("Secret after insert = %q, want %q", got.Secret, f.Secret)
	}
	again := &store.Factor{ID: store.NewID("fac"), TenantID: u.TenantID, UserID: u.ID, Kind: "questions", Secret: []byte("sealed\x00answers-2")}
	if err := s.UpsertFactor(ctx, again, t0.Add(time.Minute)); err != nil {
		t.Fatalf("UpsertFactor again: %v", err)
	}
	if again.ID != f.ID {
		t.Errorf("UpsertFactor again made %s, want the existing %s", again.ID, f.ID)
	}
	if got := wantState(t, s, f, store.FactorActive); !bytes.Equal(got.Secret, []byte("sealed\x00answers-2")) {
		t.Errorf("Secret after update = %q, want the new one", got.Secret)
	}
	// A factor without a secret keeps none.
	voice := &store.Factor{ID: store.NewID("fac"), TenantID: u.TenantID, UserID: u.ID, Kind: "voice"}
	if err := s.UpsertFactor(ctx, voice, t0); err != nil {
		t.Fatal(err)
	}
	if got := wantState(t, s, voice, store.FactorActive); len(got.Secret) != 0 {
		t.Errorf("voice factor Secret = %q, want none", got.Secret)
	}
}

// ---- support requests ----

func newSupportRequest(t *testing.T, s store.Store, tenantID, tracking string, created time.Time) *store.SupportRequest {
	t.Helper()
	r := &store.SupportRequest{
		ID: store.NewID("sup"), TenantID: tenantID, Tracking: tracking, LoginID: "alice", Name: "Alice Smith",
		Phone: "+15550100", Email: "alice@example.org", Subject: "Lost phone", Message: "My phone was stolen.",
		IP: "192.0.2.9", State: "open", CreatedAt: created,
	}
	if err := s.CreateSupportRequest(t.Context(), r); err != nil {
		t.Fatalf("CreateSupportRequest(%s): %v", tracking, err)
	}
	return r
}

func wantRequest(t *testing.T, what string, got, want *store.SupportRequest) {
	t.Helper()
	g, w := *got, *want
	g.CreatedAt, w.CreatedAt, g.UpdatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if g != w || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

func testSupportRequests(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	other := newTenant(t, s, "other")

	first := newSupportRequest(t, s, tn.ID, "SR-1001", t0)
	signedIn := &store.SupportRequest{ID: store.NewID("sup"), TenantID: tn.ID, Tracking: "SR-1002", UserID: u.ID, LoginID: u.LoginID,
		Subject: "Cannot enrol", Message: "The code never arrives.", State: "open", CreatedAt: t0.Add(time.Minute)}
	if err := s.CreateSupportRequest(ctx, signedIn); err != nil {
		t.Fatalf("CreateSupportRequest: %v", err)
	}
	// Two at the same instant: the higher tracking number lists first.
	tieA := newSupportRequest(t, s, tn.ID, "SR-1003", t0.Add(2*time.Minute))
	tieB := newSupportRequest(t, s, tn.ID, "SR-1004", t0.Add(2*time.Minute))
	latest := newSupportRequest(t, s, tn.ID, "SR-0999", t0.Add(3*time.Minute)) // numbers need not follow time
	theirs := newSupportRequest(t, s, other.ID, "SR-1001", t0.Add(time.Hour))  // same number, another tenant
	newSupportRequest(t, s, other.ID, "SR-7777", t0.Add(time.Hour))

	dup := *first
	dup.ID = store.NewID("sup")
	wantErr(t, "CreateSupportRequest(duplicate tracking)", s.CreateSupportRequest(ctx, &dup), store.ErrConflict)

	got, err := s.SupportRequestByTracking(ctx, tn.ID, "SR-1002")
	if err != nil {
		t.Fatalf("SupportRequestByTracking: %v", err)
	}
	wantRequest(t, "SupportRequestByTracking(SR-1002)", got, signedIn)
	got, err = s.SupportRequestByTracking(ctx, tn.ID, "SR-1001")
	if err != nil {
		t.Fatalf("SupportRequestByTracking(SR-1001): %v", err)
	}
	wantRequest(t, "SupportRequestByTracking(SR-1001)", got, first)
	got, err = s.SupportRequestByTracking(ctx, other.ID, "SR-1001")
	if err != nil || got.ID != theirs.ID {
		t.Errorf("SupportRequestByTracking(other, SR-1001) = %+v, %v; want theirs", got, err)
	}
	_, err = s.SupportRequestByTracking(ctx, tn.ID, "SR-7777")
	wantErr(t, "SupportRequestByTracking(other tenant's)", err, store.ErrNotFound)
	_, err = s.SupportRequestByTracking(ctx, tn.ID, "SR-0000")
	wantErr(t, "SupportRequestByTracking(unknown)", err, store.ErrNotFound)

	list := func(before string, limit int) []string {
		t.Helper()
		rs, err := s.ListSupportRequests(ctx, tn.ID, before, limit)
		if err != nil {
			t.Fatalf("ListSupportRequests(%q, %d): %v", before, limit, err)
		}
		return ids(rs, func(r store.SupportRequest) string { return r.ID })
	}
	all := []string{latest.ID, tieB.ID, tieA.ID, signedIn.ID, first.ID}
	wantIDs(t, "ListSupportRequests", list("", 0), all)
	wantIDs(t, "ListSupportRequests(limit 2)", list("", 2), all[:2])
	// Paging: each page starts after the last row of the previous one, ties included.
	wantIDs(t, "page after SR-1004", list("SR-1004", 2), []string{tieA.ID, signedIn.ID})
	wantIDs(t, "page after SR-1003", list("SR-1003", 2), []string{signedIn.ID, first.ID})
	wantIDs(t, "page after SR-0999", list("SR-0999", 10), all[1:])
	wantIDs(t, "page after the oldest", list("SR-1001", 10), nil)
	wantIDs(t, "page after an unknown number", list("SR-0000", 10), nil)
	wantIDs(t, "page after other tenant's number", list("SR-7777", 10), nil)
	var paged []string
	before := ""
	for range 10 {
		rs, err := s.ListSupportRequests(ctx, tn.ID, before, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 0 {
			break
		}
		paged = append(paged, ids(rs, func(r store.SupportRequest) string { return r.ID })...)
		before = rs[len(rs)-1].Tracking
	}
	wantIDs(t, "paged through by 2", paged, all)

	rs, err := s.ListSupportRequests(ctx, other.ID, "", 10)
	if err != nil || len(rs) != 2 {
		t.Errorf("ListSupportRequests(other tenant) = %d rows, %v; want 2", len(rs), err)
	}
	rs, err = s.ListSupportRequests(ctx, "ten_missing", "", 10)
	if err != nil || len(rs) != 0 {
		t.Errorf("ListSupportRequests(unknown tenant) = %d rows, %v", len(rs), err)
	}
}

// testSupportRequestsLimit: no limit means 50, and no listing is longer than 500.
func testSupportRequestsLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "acme")
	err := s.InTx(ctx, func(q store.Queries) error {
		for i := range 501 {
			r := &store.SupportRequest{ID: store.NewID("sup"), TenantID: tn.ID, Tracking: fmt.Sprintf("SR-%04d", i),
				State: "open", CreatedAt: t0.Add(time.Duration(i) * time.Second)}
			if err := q.CreateSupportRequest(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("CreateSupportRequest in InTx: %v", err)
	}
	for _, c := range []struct{ limit, want int }{{0, 50}, {-1, 50}, {7, 7}, {500, 500}, {10000, 500}} {
		rs, err := s.ListSupportRequests(ctx, tn.ID, "", c.limit)
		if err != nil || len(rs) != c.want {
			t.Errorf("ListSupportRequests(limit %d) = %d rows, %v; want %d", c.limit, len(rs), err, c.want)
		}
		if len(rs) > 0 && rs[0].Tracking != "SR-0500" {
			t.Errorf("ListSupportRequests(limit %d) starts at %s, want the newest", c.limit, rs[0].Tracking)
		}
	}
}

// The language of a person's messages: stored at creation, changed, kept
// within the tenant (X8).
func testUserLocale(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "acme")
	other := newTenant(t, s, "other")
	u := &store.User{ID: store.NewID("usr"), TenantID: tn.ID, LoginID: "luz", Status: store.StatusActive, CreatedAt: t0, UpdatedAt: t0, Locale: "es"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, s, u).Locale; got != "es" {
		t.Errorf("created with es: %q", got)
	}
	if got := getUser(t, s, newUser(t, s, tn.ID, "ann")).Locale; got != "" {
		t.Errorf("created without a locale: %q, want empty", got)
	}
	if err := s.SetUserLocale(ctx, tn.ID, u.ID, "en"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.UserByLoginID(ctx, tn.ID, "LUZ"); err != nil || got.Locale != "en" {
		t.Errorf("after SetUserLocale(en): %+v, %v", got, err)
	}
	wantErr(t, "SetUserLocale in another tenant", s.SetUserLocale(ctx, other.ID, u.ID, "es"), store.ErrNotFound)
}

// Console roles (issue 13): stored at creation, given, taken away, kept
// within the tenant.
func testConsoleRole(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "acme")
	other := newTenant(t, s, "other")
	u := &store.User{ID: store.NewID("usr"), TenantID: tn.ID, LoginID: "ada", Status: store.StatusActive, CreatedAt: t0, UpdatedAt: t0, ConsoleRole: store.RoleAdmin}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, s, u).ConsoleRole; got != store.RoleAdmin {
		t.Errorf("created as admin: %q", got)
	}
	if err := s.SetConsoleRole(ctx, tn.ID, u.ID, store.RoleSupport); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, s, u).ConsoleRole; got != store.RoleSupport {
		t.Errorf("after SetConsoleRole(support): %q", got)
	}
	if err := s.SetConsoleRole(ctx, tn.ID, u.ID, ""); err != nil {
		t.Fatal(err)
	}
	if got := getUser(t, s, u).ConsoleRole; got != "" {
		t.Errorf("after taking the role away: %q", got)
	}
	wantErr(t, "SetConsoleRole in another tenant", s.SetConsoleRole(ctx, other.ID, u.ID, store.RoleAdmin), store.ErrNotFound)
}

// Counting people for the console's "who is affected": all of a tenant's,
// and those in any of some groups, each person once.
func testCountUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := newTenant(t, s, "acme")
	other := newTenant(t, s, "other")
	for i, groups := range [][]string{{"nurses"}, {"nurses", "doctors"}, {"billing"}, nil} {
		u := &store.User{ID: store.NewID("usr"), TenantID: tn.ID, LoginID: fmt.Sprintf("p%d", i), Status: store.StatusActive, CreatedAt: t0, UpdatedAt: t0, Groups: groups}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	newUser(t, s, other.ID, "elsewhere")
	for _, tc := range []struct {
		groups         []string
		total, members int
	}{
		{nil, 4, 0},
		{[]string{"nurses"}, 4, 2},
		{[]string{"nurses", "doctors"}, 4, 2},
		{[]string{"billing", "doctors"}, 4, 2},
		{[]string{"nobody-here"}, 4, 0},
	} {
		total, members, err := s.CountUsers(ctx, tn.ID, tc.groups)
		if err != nil || total != tc.total || members != tc.members {
			t.Errorf("CountUsers(%v) = %d, %d, %v; want %d, %d", tc.groups, total, members, err, tc.total, tc.members)
		}
	}
}
