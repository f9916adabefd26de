package flow

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

// trustDevice issues a remembered-device token (B4), stored as a keyed hash.
func (e *Engine) trustDevice(ctx context.Context, q store.Queries, c Caller, p policy.Policy, u *store.User, label string) (string, error) {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	token := "csd_" + base64.RawURLEncoding.EncodeToString(raw)
	now := e.now()
	if len(label) > 100 {
		label = label[:100]
	}
	d := &store.TrustedDevice{ID: store.NewID("dev"), TenantID: c.TenantID, UserID: u.ID, TokenHash: e.Keys.MAC("device", []byte(token)),
		IP: c.IP, Label: label, CreatedAt: now, ExpiresAt: now.Add(time.Duration(p.TrustedDeviceTTL))}
	if err := q.CreateTrustedDevice(ctx, d); err != nil {
		return "", err
	}
	return token, e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "trusted_device.created", Outcome: "success", Detail: map[string]any{"device": d.ID, "expires_at": d.ExpiresAt}})
}

// trustedDevice reports whether the presented token remembers this user here.
func (e *Engine) trustedDevice(ctx context.Context, c Caller, p policy.Policy, u *store.User) (string, bool) {
	if c.TrustedDevice == "" || p.TrustedDeviceTTL == 0 || len(c.TrustedDevice) > 200 {
		return "", false
	}
	d, err := e.Store.TrustedDeviceByHash(ctx, c.TenantID, e.Keys.MAC("device", []byte(c.TrustedDevice)))
	if err != nil || d.UserID != u.ID || d.RevokedAt != nil || !e.now().Before(d.ExpiresAt) {
		return "", false
	}
	if p.TrustedDeviceBindIP && d.IP != c.IP {
		return "", false
	}
	if err := e.Store.TouchTrustedDevice(ctx, d.ID, e.now()); err != nil && e.Log != nil {
		e.Log.Warn("touch trusted device", "err", err)
	}
	return d.ID, true
}

// RevokeTrustedDevice ends a remembered device of a user.
func (e *Engine) RevokeTrustedDevice(ctx context.Context, c Caller, userID, deviceID string) error {
	return e.Store.InTx(ctx, func(q store.Queries) error {
		ok, err := q.RevokeTrustedDevice(ctx, userID, deviceID, e.now())
		if err != nil {
			return err
		}
		if !ok {
			return store.ErrNotFound
		}
		return e.Audit(ctx, q, c, Event{UserID: userID, Event: "trusted_device.revoked", Outcome: "success", Detail: map[string]any{"device": deviceID}})
	})
}

// OwnTrustedDevices lists the remembered devices of the person a fresh
// transaction proves (B4: users see their own devices).
func (e *Engine) OwnTrustedDevices(ctx context.Context, c Caller, txnID string) ([]store.TrustedDevice, error) {
	_, _, u, _, err := e.freshUser(ctx, c, txnID)
	if err != nil {
		return nil, err
	}
	return e.Store.ListTrustedDevices(ctx, u.ID)
}

// RevokeOwnTrustedDevice lets that person forget one of their devices.
func (e *Engine) RevokeOwnTrustedDevice(ctx context.Context, c Caller, txnID, deviceID string) error {
	_, _, u, _, err := e.freshUser(ctx, c, txnID)
	if err != nil {
		return err
	}
	return e.RevokeTrustedDevice(ctx, c, u.ID, deviceID)
}

// TrustedDevices lists a user's remembered devices (B4).
func (e *Engine) TrustedDevices(ctx context.Context, userID string) ([]store.TrustedDevice, error) {
	return e.Store.ListTrustedDevices(ctx, userID)
}
