package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

func newDevice(t *testing.T, s store.Store, u *store.User, token string, created time.Time) *store.TrustedDevice {
	t.Helper()
	d := &store.TrustedDevice{
		ID: store.NewID("dev"), TenantID: u.TenantID, UserID: u.ID, TokenHash: []byte("hash:" + token),
		IP: "192.0.2.1", Label: "Firefox on Linux", CreatedAt: created, ExpiresAt: created.Add(30 * 24 * time.Hour),
	}
	if err := s.CreateTrustedDevice(t.Context(), d); err != nil {
		t.Fatalf("CreateTrustedDevice: %v", err)
	}
	return d
}

func getDevice(t *testing.T, s store.Store, d *store.TrustedDevice) *store.TrustedDevice {
	t.Helper()
	got, err := s.TrustedDeviceByHash(t.Context(), d.TenantID, d.TokenHash)
	if err != nil {
		t.Fatalf("TrustedDeviceByHash: %v", err)
	}
	return got
}

func deviceIDs(ds []store.TrustedDevice) []string {
	return ids(ds, func(d store.TrustedDevice) string { return d.ID })
}

func testTrustedDevices(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	bob := newUser(t, s, tn.ID, "bob")
	other := newTenant(t, s, "other")
	d1 := newDevice(t, s, u, "one", t0)
	d2 := newDevice(t, s, u, "two", t0.Add(time.Minute))
	theirs := newDevice(t, s, bob, "three", t0)

	got := getDevice(t, s, d1)
	if got.ID != d1.ID || got.UserID != u.ID || !bytes.Equal(got.TokenHash, d1.TokenHash) || got.IP != d1.IP ||
		got.Label != d1.Label || !got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(d1.ExpiresAt) || got.LastUsedAt != nil || got.RevokedAt != nil {
		t.Errorf("TrustedDeviceByHash = %+v, want %+v", got, d1)
	}
	_, err := s.TrustedDeviceByHash(ctx, other.ID, d1.TokenHash)
	wantErr(t, "TrustedDeviceByHash(other tenant)", err, store.ErrNotFound)
	_, err = s.TrustedDeviceByHash(ctx, tn.ID, []byte("hash:none"))
	wantErr(t, "TrustedDeviceByHash(unknown)", err, store.ErrNotFound)

	list, err := s.ListTrustedDevices(ctx, u.ID)
	if err != nil {
		t.Fatalf("ListTrustedDevices: %v", err)
	}
	wantIDs(t, "ListTrustedDevices", deviceIDs(list), []string{d2.ID, d1.ID})

	used := t0.Add(time.Hour)
	if err := s.TouchTrustedDevice(ctx, d1.ID, used); err != nil {
		t.Fatalf("TouchTrustedDevice: %v", err)
	}
	wantTime(t, "LastUsedAt", getDevice(t, s, d1).LastUsedAt, used)
	wantNoTime(t, "LastUsedAt of another device", getDevice(t, s, d2).LastUsedAt)

	revoked := t0.Add(2 * time.Hour)
	if ok, err := s.RevokeTrustedDevice(ctx, bob.ID, d1.ID, revoked); err != nil || ok {
		t.Errorf("RevokeTrustedDevice(another user's) = %v, %v; want false", ok, err)
	}
	if ok, err := s.RevokeTrustedDevice(ctx, u.ID, d1.ID, revoked); err != nil || !ok {
		t.Errorf("RevokeTrustedDevice = %v, %v; want true", ok, err)
	}
	if ok, err := s.RevokeTrustedDevice(ctx, u.ID, d1.ID, revoked.Add(time.Minute)); err != nil || ok {
		t.Errorf("RevokeTrustedDevice again = %v, %v; want false", ok, err)
	}
	wantTime(t, "RevokedAt", getDevice(t, s, d1).RevokedAt, revoked)

	if n, err := s.RevokeAllTrustedDevices(ctx, u.ID, revoked.Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("RevokeAllTrustedDevices = %d, %v; want 1", n, err)
	}
	wantTime(t, "RevokedAt kept", getDevice(t, s, d1).RevokedAt, revoked)
	wantTime(t, "RevokedAt by RevokeAll", getDevice(t, s, d2).RevokedAt, revoked.Add(time.Hour))
	wantNoTime(t, "another user's RevokedAt", getDevice(t, s, theirs).RevokedAt)
	if n, err := s.RevokeAllTrustedDevices(ctx, u.ID, revoked.Add(2*time.Hour)); err != nil || n != 0 {
		t.Errorf("RevokeAllTrustedDevices again = %d, %v; want 0", n, err)
	}
	list, err = s.ListTrustedDevices(ctx, u.ID)
	if err != nil || len(list) != 2 {
		t.Errorf("ListTrustedDevices after revoking = %d devices, %v; want both, revoked", len(list), err)
	}
}
