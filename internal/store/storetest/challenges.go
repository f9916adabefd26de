package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

func newChallenge(t *testing.T, s store.Store, u *store.User, purpose, code string, created, expires time.Time) *store.Challenge {
	t.Helper()
	c := &store.Challenge{
		ID: store.NewID("chl"), TenantID: u.TenantID, UserID: u.ID, Purpose: purpose, Channel: "sms",
		Destination: "+15550100", CodeHash: []byte("hash:" + code), TxnID: "txn_1", CreatedAt: created, ExpiresAt: expires,
	}
	if err := s.CreateChallenge(t.Context(), c); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	return c
}

// consume calls ConsumeChallenge and fails unless it returns want (nil for none).
func consume(t *testing.T, s store.Store, userID, purpose, code string, now time.Time, want *store.Challenge) {
	t.Helper()
	got, err := s.ConsumeChallenge(t.Context(), userID, purpose, []byte("hash:"+code), now)
	if err != nil {
		t.Fatalf("ConsumeChallenge(%s, %s): %v", purpose, code, err)
	}
	switch {
	case want == nil && got != nil:
		t.Errorf("ConsumeChallenge(%s, %s) = %s, want none", purpose, code, got.ID)
	case want != nil && got == nil:
		t.Errorf("ConsumeChallenge(%s, %s) = none, want %s", purpose, code, want.ID)
	case want != nil && got.ID != want.ID:
		t.Errorf("ConsumeChallenge(%s, %s) = %s, want %s", purpose, code, got.ID, want.ID)
	case want != nil:
		wantTime(t, "ConsumedAt returned by ConsumeChallenge", got.ConsumedAt, now)
	}
}

func wantLive(t *testing.T, s store.Store, c *store.Challenge, now time.Time, live bool) {
	t.Helper()
	got, err := s.LiveChallenge(t.Context(), c.TenantID, c.ID, now)
	switch {
	case live && err != nil:
		t.Errorf("LiveChallenge(%s): %v, want live", c.ID, err)
	case live && got.ID != c.ID:
		t.Errorf("LiveChallenge(%s) = %s", c.ID, got.ID)
	case !live:
		wantErr(t, "LiveChallenge(ended "+c.ID+")", err, store.ErrNotFound)
	}
}

// testChallenges: a code works once, only for its purpose and only while it
// lives; a success ends the rest (B8).
func testChallenges(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	bob := newUser(t, s, tn.ID, "bob")
	other := newTenant(t, s, "other")
	expires := t0.Add(5 * time.Minute)
	a := newChallenge(t, s, u, store.PurposeLogin, "111111", t0, expires)
	b := newChallenge(t, s, u, store.PurposeLogin, "222222", t0.Add(time.Second), expires)
	c := newChallenge(t, s, u, store.PurposeLogin, "333333", t0.Add(2*time.Second), expires)
	old := newChallenge(t, s, u, store.PurposeLogin, "444444", t0, t0.Add(time.Minute))
	verify := newChallenge(t, s, u, store.PurposeVerifyPhone, "555555", t0, expires)
	bobs := newChallenge(t, s, bob, store.PurposeLogin, "666666", t0, expires)
	now := t0.Add(2 * time.Minute)

	got, err := s.LiveChallenge(ctx, tn.ID, a.ID, now)
	if err != nil {
		t.Fatalf("LiveChallenge: %v", err)
	}
	if got.TenantID != tn.ID || got.UserID != u.ID || got.Purpose != store.PurposeLogin || got.Channel != "sms" ||
		got.Destination != a.Destination || !bytes.Equal(got.CodeHash, a.CodeHash) || got.TxnID != "txn_1" ||
		!got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(expires) || got.ConsumedAt != nil {
		t.Errorf("LiveChallenge = %+v, want %+v", got, a)
	}
	_, err = s.LiveChallenge(ctx, other.ID, a.ID, now)
	wantErr(t, "LiveChallenge(other tenant)", err, store.ErrNotFound)
	wantLive(t, s, old, now, false)
	wantLive(t, s, a, expires, false)

	consume(t, s, u.ID, store.PurposeLogin, "444444", now, nil)       // expired
	consume(t, s, u.ID, store.PurposeLogin, "555555", now, nil)       // another purpose's code
	consume(t, s, u.ID, store.PurposeVerifyPhone, "111111", now, nil) // a login code for verification
	consume(t, s, bob.ID, store.PurposeLogin, "111111", now, nil)     // another user's code
	consume(t, s, u.ID, store.PurposeLogin, "999999", now, nil)       // no such code
	consume(t, s, u.ID, store.PurposeLogin, "111111", expires, nil)   // at the moment it expires
	consume(t, s, u.ID, store.PurposeLogin, "222222", now, b)         // either live code works
	consume(t, s, u.ID, store.PurposeLogin, "222222", now, nil)       // once
	consume(t, s, u.ID, store.PurposeLogin, "111111", now.Add(time.Second), a)
	consume(t, s, u.ID, store.PurposeLogin, "111111", now.Add(time.Second), nil)
	wantLive(t, s, a, now, false)
	wantLive(t, s, b, now, false)
	wantLive(t, s, c, now, true)

	end := now.Add(time.Minute)
	if _, err := s.ConsumeAllChallenges(ctx, u.ID, store.PurposeLogin, end); err != nil {
		t.Fatalf("ConsumeAllChallenges: %v", err)
	}
	consume(t, s, u.ID, store.PurposeLogin, "333333", end, nil)
	wantLive(t, s, c, end, false)
	wantLive(t, s, verify, end, true)
	wantLive(t, s, bobs, end, true)
	if n, err := s.ConsumeAllChallenges(ctx, u.ID, store.PurposeLogin, end); err != nil || n != 0 {
		t.Errorf("ConsumeAllChallenges again = %d, %v; want 0", n, err)
	}
	// The earlier consumption is kept, not overwritten by the later sweep.
	for _, ch := range []*store.Challenge{a, b} {
		got, err := s.ConsumeChallenge(ctx, u.ID, store.PurposeLogin, ch.CodeHash, end)
		if err != nil || got != nil {
			t.Errorf("ConsumeChallenge(%s) after sweep = %v, %v", ch.ID, got, err)
		}
	}
	if n, err := s.ConsumeAllChallenges(ctx, u.ID, store.PurposeVerifyPhone, end); err != nil || n != 1 {
		t.Errorf("ConsumeAllChallenges(verify_phone) = %d, %v; want 1", n, err)
	}
	wantLive(t, s, verify, end, false)
	wantLive(t, s, bobs, end, true)
}

// testChallengeSharedCode: two live challenges may share a code by chance;
// each use consumes only one of them.
func testChallengeSharedCode(t *testing.T, s store.Store) {
	_, u := fixture(t, s)
	expires := t0.Add(5 * time.Minute)
	older := newChallenge(t, s, u, store.PurposeLogin, "123456", t0, expires)
	newer := newChallenge(t, s, u, store.PurposeLogin, "123456", t0.Add(time.Second), expires)
	now := t0.Add(time.Minute)
	consume(t, s, u.ID, store.PurposeLogin, "123456", now, newer)
	wantLive(t, s, older, now, true)
	consume(t, s, u.ID, store.PurposeLogin, "123456", now, older)
	consume(t, s, u.ID, store.PurposeLogin, "123456", now, nil)
}

// testChallengeConcurrent: parallel submissions of one code succeed once
// (invariant 3).
func testChallengeConcurrent(t *testing.T, s store.Store) {
	_, u := fixture(t, s)
	c := newChallenge(t, s, u, store.PurposeLogin, "123456", t0, t0.Add(5*time.Minute))
	wins := concurrently(t, 20, func(ctx context.Context) (bool, error) {
		got, err := s.ConsumeChallenge(ctx, u.ID, store.PurposeLogin, c.CodeHash, t0.Add(time.Minute))
		return got != nil, err
	})
	if wins != 1 {
		t.Errorf("%d of 20 parallel uses of one code succeeded, want exactly 1", wins)
	}
	wantLive(t, s, c, t0.Add(time.Minute), false)
}
