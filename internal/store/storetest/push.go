package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// The Mobile App method's push challenges (A9, X3).

func newPush(t *testing.T, s store.Store, f *store.Factor, txnID, purpose string, created time.Time, ttl time.Duration) *store.PushChallenge {
	t.Helper()
	c := &store.PushChallenge{
		Nonce: store.NewID("psh"), TenantID: f.TenantID, UserID: f.UserID, FactorID: f.ID, TxnID: txnID,
		Purpose: purpose, Title: "Countersign", Question: "Sign in to VPN?",
		Options: []string{"17", "42", "88"}, Answer: "42",
		State: store.PushOpen, CreatedAt: created, ExpiresAt: created.Add(ttl),
	}
	if purpose == store.PushEnrol {
		c.Options, c.Answer = nil, ""
	}
	if err := s.InTx(t.Context(), func(q store.Queries) error { return q.CreatePushChallenge(t.Context(), c, created) }); err != nil {
		t.Fatalf("CreatePushChallenge: %v", err)
	}
	return c
}

func getPush(t *testing.T, s store.Store, c *store.PushChallenge) *store.PushChallenge {
	t.Helper()
	got, err := s.PushChallengeByNonce(t.Context(), c.TenantID, c.Nonce)
	if err != nil {
		t.Fatalf("PushChallengeByNonce: %v", err)
	}
	return got
}

func pushNonces(l []store.PushChallenge) []string {
	return ids(l, func(c store.PushChallenge) string { return c.Nonce })
}

func testPushRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	other := newTenant(t, s, "other")
	f := newActive(t, s, u, "push", 0)
	txn := newTxn(t, s, u, 5*time.Minute)

	login := newPush(t, s, f, txn.ID, store.PushLogin, t0, 2*time.Minute)
	wantSame(t, "login push", *getPush(t, s, login), *login)
	got := getPush(t, s, login)
	if len(got.Options) != 3 || got.Options[1] != "42" {
		t.Errorf("options = %q, want [17 42 88]", got.Options)
	}
	wantNoTime(t, "answered_at of an open push", got.AnsweredAt)

	enrol := newPush(t, s, f, "", store.PushEnrol, t0.Add(time.Second), 2*time.Minute)
	got = getPush(t, s, enrol)
	wantSame(t, "enrolment push", *got, *enrol)
	if got.Options != nil || got.TxnID != "" {
		t.Errorf("enrolment push options %q, txn %q; want none", got.Options, got.TxnID)
	}

	_, err := s.PushChallengeByNonce(ctx, other.ID, enrol.Nonce)
	wantErr(t, "PushChallengeByNonce in another tenant", err, store.ErrNotFound)
	_, err = s.PushChallengeByNonce(ctx, u.TenantID, "psh_unknown")
	wantErr(t, "PushChallengeByNonce of an unknown nonce", err, store.ErrNotFound)
}

// A person has at most one open push: a new one ends the others.
func testPushOnePerUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	bob := newUser(t, s, tn.ID, "bob")
	f, fb := newActive(t, s, u, "push", 0), newActive(t, s, bob, "push", 0)

	first := newPush(t, s, f, "txn_1", store.PushLogin, t0, 2*time.Minute)
	theirs := newPush(t, s, fb, "txn_b", store.PushLogin, t0, 2*time.Minute)
	second := newPush(t, s, f, "txn_2", store.PushLogin, t0.Add(time.Second), 2*time.Minute)

	if got := getPush(t, s, first); got.State != store.PushExpired || got.AnsweredAt != nil {
		t.Errorf("replaced push: state %s, answered %v; want expired, unanswered", got.State, got.AnsweredAt)
	}
	if got := getPush(t, s, second); got.State != store.PushOpen {
		t.Errorf("newest push state %s, want open", got.State)
	}
	if got := getPush(t, s, theirs); got.State != store.PushOpen {
		t.Errorf("another user's push state %s, want open", got.State)
	}
	open, err := s.OpenPushChallenges(ctx, f.ID, t0.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "OpenPushChallenges", pushNonces(open), []string{second.Nonce})
	if ok, err := s.AnswerPushChallenge(ctx, f.ID, first.Nonce, store.PushApproved, t0.Add(2*time.Second)); err != nil || ok {
		t.Errorf("approving a replaced push = %t, %v; want false", ok, err)
	}

	// Outside a transaction it is still both or neither: a duplicate nonce
	// fails the insert and leaves the open push open.
	dup := *second
	dup.TxnID, dup.CreatedAt = "txn_3", t0.Add(3*time.Second)
	if err := s.CreatePushChallenge(ctx, &dup, dup.CreatedAt); err == nil {
		t.Errorf("CreatePushChallenge with a used nonce succeeded")
	}
	if got := getPush(t, s, second); got.State != store.PushOpen || got.TxnID != "txn_2" {
		t.Errorf("push after a failed create: state %s, txn %s; want open, txn_2", got.State, got.TxnID)
	}
}

func testPushAnswer(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	bob := newUser(t, s, tn.ID, "bob")
	f, fb := newActive(t, s, u, "push", 0), newActive(t, s, bob, "push", 0)
	c := newPush(t, s, f, "txn_1", store.PushLogin, t0, 2*time.Minute)

	if ok, err := s.AnswerPushChallenge(ctx, fb.ID, c.Nonce, store.PushApproved, t0.Add(time.Second)); err != nil || ok {
		t.Errorf("another factor's approval = %t, %v; want false", ok, err)
	}
	if got := getPush(t, s, c); got.State != store.PushOpen {
		t.Errorf("state after another factor's approval %s, want open", got.State)
	}
	if _, err := s.AnswerPushChallenge(ctx, f.ID, c.Nonce, store.PushOpen, t0.Add(time.Second)); err == nil {
		t.Errorf("answering with state open succeeded")
	}
	at := t0.Add(10 * time.Second)
	if ok, err := s.AnswerPushChallenge(ctx, f.ID, c.Nonce, store.PushApproved, at); err != nil || !ok {
		t.Fatalf("AnswerPushChallenge = %t, %v; want true", ok, err)
	}
	got := getPush(t, s, c)
	if got.State != store.PushApproved {
		t.Errorf("state %s, want approved", got.State)
	}
	wantTime(t, "answered_at", got.AnsweredAt, at)
	if ok, err := s.AnswerPushChallenge(ctx, f.ID, c.Nonce, store.PushDeclined, at.Add(time.Second)); err != nil || ok {
		t.Errorf("second answer = %t, %v; want false", ok, err)
	}
	if got := getPush(t, s, c); got.State != store.PushApproved {
		t.Errorf("state after a second answer %s, want approved", got.State)
	}

	// An expired push cannot be answered, and is not listed.
	late := newPush(t, s, f, "txn_2", store.PushLogin, t0.Add(time.Minute), 2*time.Minute)
	if open, err := s.OpenPushChallenges(ctx, f.ID, late.ExpiresAt.Add(-time.Microsecond)); err != nil || len(open) != 1 {
		t.Errorf("OpenPushChallenges just before expiry = %d, %v; want 1", len(open), err)
	}
	if open, err := s.OpenPushChallenges(ctx, f.ID, late.ExpiresAt); err != nil || len(open) != 0 {
		t.Errorf("OpenPushChallenges at expiry = %d, %v; want none", len(open), err)
	}
	if ok, err := s.AnswerPushChallenge(ctx, f.ID, late.Nonce, store.PushApproved, late.ExpiresAt); err != nil || ok {
		t.Errorf("approving an expired push = %t, %v; want false", ok, err)
	}
	if got := getPush(t, s, late); got.State != store.PushOpen || got.AnsweredAt != nil {
		t.Errorf("expired push after an approval: state %s, answered %v", got.State, got.AnsweredAt)
	}

	// Ending a push as expired records no answer time; every answer does.
	for _, state := range []string{store.PushExpired, store.PushDeclined, store.PushFraud, store.PushWrong} {
		c := newPush(t, s, f, "txn_"+state, store.PushLogin, t0.Add(time.Hour), 2*time.Minute)
		at := t0.Add(time.Hour + time.Second)
		if ok, err := s.AnswerPushChallenge(ctx, f.ID, c.Nonce, state, at); err != nil || !ok {
			t.Fatalf("AnswerPushChallenge(%s) = %t, %v", state, ok, err)
		}
		got := getPush(t, s, c)
		if got.State != state {
			t.Errorf("state %s, want %s", got.State, state)
		}
		if state == store.PushExpired {
			wantNoTime(t, "answered_at of an expired push", got.AnsweredAt)
		} else {
			wantTime(t, "answered_at of a "+state+" push", got.AnsweredAt, at)
		}
	}
	if open, err := s.OpenPushChallenges(ctx, f.ID, t0.Add(time.Hour+2*time.Second)); err != nil || len(open) != 0 {
		t.Errorf("OpenPushChallenges after every answer = %d, %v; want none", len(open), err)
	}
}

func testPushAnswerConcurrent(t *testing.T, s store.Store) {
	_, u := fixture(t, s)
	f := newActive(t, s, u, "push", 0)
	c := newPush(t, s, f, "txn_1", store.PushLogin, t0, 2*time.Minute)
	wins := concurrently(t, 50, func(ctx context.Context) (bool, error) {
		return s.AnswerPushChallenge(ctx, f.ID, c.Nonce, store.PushApproved, t0.Add(time.Second))
	})
	if wins != 1 {
		t.Errorf("%d of 50 parallel approvals succeeded, want exactly 1", wins)
	}
	if got := getPush(t, s, c); got.State != store.PushApproved {
		t.Errorf("state %s, want approved", got.State)
	}
}

func testTouchPushPoll(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, u := fixture(t, s)
	f := newActive(t, s, u, "push", 0)
	touch := func(at time.Time, want bool, what string) {
		t.Helper()
		if ok, err := s.TouchPushPoll(ctx, f.ID, at); err != nil || ok != want {
			t.Errorf("TouchPushPoll, %s = %t, %v; want %t", what, ok, err, want)
		}
	}
	touch(t0, true, "first poll")
	touch(t0, false, "same timestamp again")
	touch(t0.Add(-time.Second), false, "older timestamp")
	touch(t0.Add(time.Microsecond), true, "newer timestamp")
	touch(t0.Add(time.Microsecond), false, "newer timestamp again")
	if ok, err := s.TouchPushPoll(ctx, "fac_unknown", t0); err != nil || ok {
		t.Errorf("TouchPushPoll of an unknown factor = %t, %v; want false", ok, err)
	}
	// The factor itself reads as before.
	if got := getFactor(t, s, f); got.State != store.FactorActive || got.Kind != "push" {
		t.Errorf("factor after polls: %+v", got)
	}

	at := t0.Add(time.Minute)
	wins := concurrently(t, 20, func(ctx context.Context) (bool, error) { return s.TouchPushPoll(ctx, f.ID, at) })
	if wins != 1 {
		t.Errorf("%d of 20 parallel polls with one timestamp accepted, want exactly 1", wins)
	}
	// A factor that was never polled takes exactly one of them too.
	g := newActive(t, s, newUser(t, s, u.TenantID, "carol"), "push", 0)
	wins = concurrently(t, 20, func(ctx context.Context) (bool, error) { return s.TouchPushPoll(ctx, g.ID, at) })
	if wins != 1 {
		t.Errorf("%d of 20 parallel first polls accepted, want exactly 1", wins)
	}
}

func testCountPushChallenges(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	bob := newUser(t, s, tn.ID, "bob")
	f, fb := newActive(t, s, u, "push", 0), newActive(t, s, bob, "push", 0)

	count := func(since time.Time) (int, *time.Time) {
		t.Helper()
		n, last, err := s.CountPushChallenges(ctx, u.ID, since)
		if err != nil {
			t.Fatalf("CountPushChallenges: %v", err)
		}
		return n, last
	}
	if n, last := count(t0); n != 0 || last != nil {
		t.Errorf("count with no pushes = %d, %v; want 0, none", n, last)
	}

	var pushes []*store.PushChallenge
	for i := range 4 {
		pushes = append(pushes, newPush(t, s, f, fmt.Sprintf("txn_%d", i), store.PushLogin, t0.Add(time.Duration(i)*time.Minute), 5*time.Minute))
		newPush(t, s, fb, fmt.Sprintf("txn_b%d", i), store.PushLogin, t0.Add(time.Duration(i)*time.Minute), 5*time.Minute)
	}
	// pushes[0..2] were replaced (expired); pushes[3] is open.
	if n, last := count(t0); n != 4 || last != nil {
		t.Errorf("count since t0 = %d, %v; want 4, none", n, last)
	}
	if n, _ := count(t0.Add(time.Minute)); n != 3 {
		t.Errorf("count since the second push = %d, want 3 (created_at >= since)", n)
	}
	if n, _ := count(t0.Add(3*time.Minute + time.Microsecond)); n != 0 {
		t.Errorf("count after the last push = %d, want 0", n)
	}

	declined := t0.Add(3*time.Minute + 30*time.Second)
	if ok, err := s.AnswerPushChallenge(ctx, f.ID, pushes[3].Nonce, store.PushFraud, declined); err != nil || !ok {
		t.Fatalf("AnswerPushChallenge(fraud) = %t, %v", ok, err)
	}
	n, last := count(t0)
	if n != 4 {
		t.Errorf("count after a fraud report = %d, want 4", n)
	}
	wantTime(t, "last decline", last, declined)
	if _, last := count(declined); last == nil || !last.Equal(declined) {
		t.Errorf("last decline since its own time = %v, want %v (answered_at >= since)", last, declined)
	}
	if _, last := count(declined.Add(time.Microsecond)); last != nil {
		t.Errorf("last decline since after it = %v, want none", last)
	}

	// The newest of several declines; approvals do not count.
	p := newPush(t, s, f, "txn_4", store.PushLogin, t0.Add(4*time.Minute), 5*time.Minute)
	later := t0.Add(4*time.Minute + time.Second)
	if ok, err := s.AnswerPushChallenge(ctx, f.ID, p.Nonce, store.PushDeclined, later); err != nil || !ok {
		t.Fatalf("AnswerPushChallenge(declined) = %t, %v", ok, err)
	}
	p = newPush(t, s, f, "txn_5", store.PushLogin, t0.Add(5*time.Minute), 5*time.Minute)
	if ok, err := s.AnswerPushChallenge(ctx, f.ID, p.Nonce, store.PushApproved, t0.Add(5*time.Minute+time.Second)); err != nil || !ok {
		t.Fatalf("AnswerPushChallenge(approved) = %t, %v", ok, err)
	}
	n, last = count(t0)
	if n != 6 {
		t.Errorf("count = %d, want 6", n)
	}
	wantTime(t, "last decline after a decline and an approval", last, later)

	// Another user's declines are theirs.
	if n, last, err := s.CountPushChallenges(ctx, bob.ID, t0); err != nil || n != 4 || last != nil {
		t.Errorf("bob's count = %d, %v, %v; want 4, none", n, last, err)
	}
}

func testLatestPushChallenge(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	other := newTenant(t, s, "other")
	f := newActive(t, s, u, "push", 0)
	txn, txn2 := newTxn(t, s, u, 10*time.Minute), newTxn(t, s, u, 10*time.Minute)

	_, err := s.LatestPushChallenge(ctx, tn.ID, txn.ID)
	wantErr(t, "LatestPushChallenge with none", err, store.ErrNotFound)

	newPush(t, s, f, "", store.PushEnrol, t0, 2*time.Minute)
	newPush(t, s, f, txn.ID, store.PushLogin, t0.Add(time.Second), 2*time.Minute)
	second := newPush(t, s, f, txn.ID, store.PushLogin, t0.Add(2*time.Second), 2*time.Minute)
	enrol2 := newPush(t, s, f, "", store.PushEnrol, t0.Add(3*time.Second), 2*time.Minute)
	newPush(t, s, f, txn2.ID, store.PushLogin, t0.Add(4*time.Second), 2*time.Minute)

	latest := func(ref, want, what string) {
		t.Helper()
		got, err := s.LatestPushChallenge(ctx, tn.ID, ref)
		if err != nil {
			t.Errorf("LatestPushChallenge, %s: %v", what, err)
			return
		}
		if got.Nonce != want {
			t.Errorf("LatestPushChallenge, %s = %s, want %s", what, got.Nonce, want)
		}
	}
	latest(txn.ID, second.Nonce, "by transaction")
	latest(f.ID, enrol2.Nonce, "by factor, enrolment pushes only")

	for what, ref := range map[string]string{"unknown reference": "txn_unknown", "empty reference": ""} {
		_, err := s.LatestPushChallenge(ctx, tn.ID, ref)
		wantErr(t, "LatestPushChallenge, "+what, err, store.ErrNotFound)
	}
	_, err = s.LatestPushChallenge(ctx, other.ID, txn.ID)
	wantErr(t, "LatestPushChallenge by transaction in another tenant", err, store.ErrNotFound)
	_, err = s.LatestPushChallenge(ctx, other.ID, f.ID)
	wantErr(t, "LatestPushChallenge by factor in another tenant", err, store.ErrNotFound)

	// A factor with only login pushes has no enrolment push to report.
	g := newActive(t, s, newUser(t, s, tn.ID, "bob"), "push", 0)
	newPush(t, s, g, "txn_bob", store.PushLogin, t0, 2*time.Minute)
	_, err = s.LatestPushChallenge(ctx, tn.ID, g.ID)
	wantErr(t, "LatestPushChallenge by a factor without enrolment pushes", err, store.ErrNotFound)
}

func testDeletePushChallengesBefore(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	f := newActive(t, s, u, "push", 0)
	g := newActive(t, s, newUser(t, s, tn.ID, "bob"), "push", 0)
	old := newPush(t, s, f, "txn_1", store.PushLogin, t0, time.Minute)
	cur := newPush(t, s, g, "txn_2", store.PushLogin, t0, 2*time.Minute)

	if n, err := s.DeletePushChallengesBefore(ctx, old.ExpiresAt); err != nil || n != 0 {
		t.Errorf("DeletePushChallengesBefore its expiry = %d, %v; want 0 (expires_at < t)", n, err)
	}
	if n, err := s.DeletePushChallengesBefore(ctx, old.ExpiresAt.Add(time.Microsecond)); err != nil || n != 1 {
		t.Errorf("DeletePushChallengesBefore = %d, %v; want 1", n, err)
	}
	_, err := s.PushChallengeByNonce(ctx, tn.ID, old.Nonce)
	wantErr(t, "deleted push", err, store.ErrNotFound)
	getPush(t, s, cur)
}
