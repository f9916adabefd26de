package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// The OpenID Connect provider's records (X2).

func newOIDCKey(t *testing.T, s store.Store, tenantID, alg string, created time.Time) *store.OIDCKey {
	t.Helper()
	k := &store.OIDCKey{
		ID: store.NewID("key"), TenantID: tenantID, Alg: alg,
		Private: []byte("sealed\x00private " + alg), Public: []byte("public\x00" + alg), CreatedAt: created,
	}
	if err := s.CreateOIDCKey(t.Context(), k); err != nil {
		t.Fatalf("CreateOIDCKey: %v", err)
	}
	return k
}

func newOIDCClient(t *testing.T, s store.Store, tenantID, name string, secretHash []byte) *store.OIDCClient {
	t.Helper()
	c := &store.OIDCClient{
		ID: store.NewID("cli"), TenantID: tenantID, Name: name, SecretHash: secretHash,
		RedirectURIs:   []string{"https://" + name + ".example/cb", "https://" + name + ".example/cb2"},
		PostLogoutURIs: []string{"https://" + name + ".example/bye"},
		Scopes:         []string{"openid", "profile", "email"},
		SigningAlg:     store.AlgES256,
		AccessTTL:      10 * time.Minute, IDTokenTTL: 5 * time.Minute, RefreshTTL: 30 * 24 * time.Hour,
		CreatedAt: t0, UpdatedAt: t0,
	}
	if err := s.CreateOIDCClient(t.Context(), c); err != nil {
		t.Fatalf("CreateOIDCClient(%s): %v", name, err)
	}
	return c
}

func newOIDCAuthRequest(t *testing.T, s store.Store, tenantID, clientID string, expires time.Time) *store.OIDCAuthRequest {
	t.Helper()
	r := &store.OIDCAuthRequest{
		ID: store.NewID("azr"), TenantID: tenantID, ClientID: clientID,
		Request:   `{"redirect_uri":"https://app.example/cb","scope":"openid","nonce":"n-0S6"}`,
		CreatedAt: t0, ExpiresAt: expires,
	}
	if err := s.CreateOIDCAuthRequest(t.Context(), r); err != nil {
		t.Fatalf("CreateOIDCAuthRequest: %v", err)
	}
	return r
}

// codedRequest is an authorization request completed by u at t0 whose code
// hashes to hash and expires at codeExpires.
func codedRequest(t *testing.T, s store.Store, u *store.User, clientID string, hash []byte, codeExpires time.Time) *store.OIDCAuthRequest {
	t.Helper()
	ctx := t.Context()
	r := newOIDCAuthRequest(t, s, u.TenantID, clientID, t0.Add(10*time.Minute))
	if ok, err := s.CompleteOIDCAuthRequest(ctx, u.TenantID, r.ID, u.ID, t0, []string{"pwd", "otp"}, "mfa", t0); err != nil || !ok {
		t.Fatalf("CompleteOIDCAuthRequest = %t, %v", ok, err)
	}
	if ok, err := s.SetOIDCCode(ctx, u.TenantID, r.ID, hash, codeExpires, t0); err != nil || !ok {
		t.Fatalf("SetOIDCCode = %t, %v", ok, err)
	}
	return r
}

func newOIDCToken(t *testing.T, s store.Store, u *store.User, clientID, authRequestID, kind string, expires time.Time) *store.OIDCToken {
	t.Helper()
	k := &store.OIDCToken{
		ID: store.NewID("tok"), TenantID: u.TenantID, ClientID: clientID, UserID: u.ID, Kind: kind,
		AuthRequestID: authRequestID, Scopes: []string{"openid", "email"}, AMR: []string{"pwd", "otp"}, ACR: "mfa",
		AuthTime: t0, CreatedAt: t0, ExpiresAt: expires,
	}
	if kind == store.TokenRefresh {
		k.Hash = []byte("refresh\x00" + k.ID)
	}
	if err := s.CreateOIDCToken(t.Context(), k); err != nil {
		t.Fatalf("CreateOIDCToken(%s): %v", kind, err)
	}
	return k
}

func getOIDCToken(t *testing.T, s store.Store, k *store.OIDCToken) *store.OIDCToken {
	t.Helper()
	got, err := s.OIDCTokenByID(t.Context(), k.TenantID, k.ID)
	if err != nil {
		t.Fatalf("OIDCTokenByID: %v", err)
	}
	return got
}

func wantSame(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s =\n %+v\nwant\n %+v", what, got, want)
	}
}

func testOIDCKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newTenant(t, s, "a"), newTenant(t, s, "b")
	old := newOIDCKey(t, s, a.ID, store.AlgES256, t0)
	rsa := newOIDCKey(t, s, a.ID, store.AlgRS256, t0.Add(time.Hour))
	cur := newOIDCKey(t, s, a.ID, store.AlgES256, t0.Add(2*time.Hour))
	other := newOIDCKey(t, s, b.ID, store.AlgES256, t0.Add(3*time.Hour))

	keys, err := s.ListOIDCKeys(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "ListOIDCKeys, newest first", ids(keys, func(k store.OIDCKey) string { return k.ID }), []string{cur.ID, rsa.ID, old.ID})
	if len(keys) == 3 {
		wantSame(t, "oldest key", keys[2], *old)
	}

	// Retiring ES256 keys retires the tenant's unretired ES256 keys only.
	if err := s.RetireOIDCKeys(ctx, a.ID, store.AlgES256, t0.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RetireOIDCKeys(ctx, a.ID, store.AlgES256, t0.Add(5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	newest := newOIDCKey(t, s, a.ID, store.AlgES256, t0.Add(4*time.Hour))
	keys, err = s.ListOIDCKeys(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	retired := map[string]*time.Time{}
	for _, k := range keys {
		retired[k.ID] = k.RetiredAt
	}
	wantTime(t, "older ES256 key retired", retired[old.ID], t0.Add(4*time.Hour))
	wantTime(t, "current ES256 key retired", retired[cur.ID], t0.Add(4*time.Hour))
	wantNoTime(t, "RS256 key retired", retired[rsa.ID])
	wantNoTime(t, "new ES256 key retired", retired[newest.ID])
	if keys, err := s.ListOIDCKeys(ctx, b.ID); err != nil || len(keys) != 1 || keys[0].RetiredAt != nil {
		t.Errorf("other tenant's keys after retiring = %+v, %v; want its one key unretired", keys, err)
	}

	// Keys created together list by id, descending.
	tie1 := newOIDCKey(t, s, b.ID, store.AlgRS256, other.CreatedAt)
	keys, err = s.ListOIDCKeys(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{other.ID, tie1.ID}
	if tie1.ID > other.ID {
		want = []string{tie1.ID, other.ID}
	}
	wantIDs(t, "keys created together", ids(keys, func(k store.OIDCKey) string { return k.ID }), want)

	// Deleting keys retired before a time keeps unretired keys and keys
	// retired later.
	if err := s.DeleteOIDCKeysRetiredBefore(ctx, a.ID, t0.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	keys, _ = s.ListOIDCKeys(ctx, a.ID)
	wantIDs(t, "keys after deleting none retired before", ids(keys, func(k store.OIDCKey) string { return k.ID }),
		[]string{newest.ID, cur.ID, rsa.ID, old.ID})
	if err := s.DeleteOIDCKeysRetiredBefore(ctx, a.ID, t0.Add(4*time.Hour+time.Microsecond)); err != nil {
		t.Fatal(err)
	}
	keys, _ = s.ListOIDCKeys(ctx, a.ID)
	wantIDs(t, "keys after deleting retired ones", ids(keys, func(k store.OIDCKey) string { return k.ID }), []string{newest.ID, rsa.ID})
	if keys, _ := s.ListOIDCKeys(ctx, b.ID); len(keys) != 2 {
		t.Errorf("other tenant has %d keys after the delete, want 2", len(keys))
	}
}

func testOIDCClients(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newTenant(t, s, "a"), newTenant(t, s, "b")
	conf := newOIDCClient(t, s, a.ID, "wiki", []byte("secret\x00hash"))
	pub := &store.OIDCClient{
		ID: store.NewID("cli"), TenantID: a.ID, Name: "app", SigningAlg: store.AlgRS256,
		AccessTTL: time.Minute, IDTokenTTL: time.Minute, CreatedAt: t0, UpdatedAt: t0,
	}
	if err := s.CreateOIDCClient(ctx, pub); err != nil {
		t.Fatal(err)
	}

	for _, c := range []*store.OIDCClient{conf, pub} {
		got, err := s.OIDCClientByID(ctx, a.ID, c.ID)
		if err != nil {
			t.Fatalf("OIDCClientByID(%s): %v", c.Name, err)
		}
		wantSame(t, "client "+c.Name, *got, *c)
	}
	if got, _ := s.OIDCClientByID(ctx, a.ID, pub.ID); got != nil && (got.SecretHash != nil || got.RefreshTTL != 0) {
		t.Errorf("public client: secret hash %v, refresh TTL %v; want none", got.SecretHash, got.RefreshTTL)
	}

	_, err := s.OIDCClientByID(ctx, b.ID, conf.ID)
	wantErr(t, "OIDCClientByID in another tenant", err, store.ErrNotFound)
	_, err = s.OIDCClientByID(ctx, a.ID, "cli_missing")
	wantErr(t, "OIDCClientByID(unknown)", err, store.ErrNotFound)

	dup := *conf
	dup.Name = "again"
	wantErr(t, "CreateOIDCClient with a client id in use", s.CreateOIDCClient(ctx, &dup), store.ErrConflict)
	dup.TenantID = b.ID
	wantErr(t, "CreateOIDCClient with another tenant's client id", s.CreateOIDCClient(ctx, &dup), store.ErrConflict)

	// A second client named like the first lists after it, by id.
	twin := newOIDCClient(t, s, a.ID, "wiki", nil)
	newOIDCClient(t, s, b.ID, "other", nil)
	list, err := s.ListOIDCClients(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	wikis := []string{conf.ID, twin.ID}
	if twin.ID < conf.ID {
		wikis = []string{twin.ID, conf.ID}
	}
	wantIDs(t, "ListOIDCClients", ids(list, func(c store.OIDCClient) string { return c.ID }), append([]string{pub.ID}, wikis...))

	upd := *conf
	upd.Name, upd.SecretHash = "wiki 2", nil
	upd.RedirectURIs, upd.PostLogoutURIs, upd.Scopes = []string{"https://wiki2.example/cb"}, nil, []string{"openid"}
	upd.SigningAlg, upd.AccessTTL, upd.IDTokenTTL, upd.RefreshTTL = store.AlgRS256, time.Hour, 2*time.Minute, 0
	upd.UpdatedAt = t0.Add(time.Hour)
	if err := s.UpdateOIDCClient(ctx, &upd); err != nil {
		t.Fatalf("UpdateOIDCClient: %v", err)
	}
	if got, err := s.OIDCClientByID(ctx, a.ID, conf.ID); err != nil {
		t.Fatal(err)
	} else {
		wantSame(t, "updated client", *got, upd)
	}
	stray := upd
	stray.TenantID, stray.Name = b.ID, "stolen"
	wantErr(t, "UpdateOIDCClient in another tenant", s.UpdateOIDCClient(ctx, &stray), store.ErrNotFound)
	if got, _ := s.OIDCClientByID(ctx, a.ID, conf.ID); got != nil && got.Name != "wiki 2" {
		t.Errorf("client renamed by another tenant's update: %q", got.Name)
	}
}

// testOIDCDeleteClient: deleting a client revokes its tokens, and only its.
func testOIDCDeleteClient(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	b := newTenant(t, s, "b")
	gone, kept := newOIDCClient(t, s, tn.ID, "gone", nil), newOIDCClient(t, s, tn.ID, "kept", nil)
	expires := t0.Add(time.Hour)
	access := newOIDCToken(t, s, u, gone.ID, "azr_1", store.TokenAccess, expires)
	refresh := newOIDCToken(t, s, u, gone.ID, "azr_1", store.TokenRefresh, expires)
	earlier := newOIDCToken(t, s, u, gone.ID, "azr_0", store.TokenAccess, expires)
	if ok, err := s.RevokeOIDCToken(ctx, tn.ID, earlier.ID, t0); err != nil || !ok {
		t.Fatalf("RevokeOIDCToken = %t, %v", ok, err)
	}
	other := newOIDCToken(t, s, u, kept.ID, "azr_2", store.TokenAccess, expires)

	wantErr(t, "DeleteOIDCClient in another tenant", s.DeleteOIDCClient(ctx, b.ID, gone.ID, t0.Add(time.Minute)), store.ErrNotFound)
	if got := getOIDCToken(t, s, access); got.RevokedAt != nil {
		t.Errorf("token revoked by another tenant's delete")
	}
	err := s.InTx(ctx, func(q store.Queries) error { return q.DeleteOIDCClient(ctx, tn.ID, gone.ID, t0.Add(time.Minute)) })
	if err != nil {
		t.Fatalf("DeleteOIDCClient: %v", err)
	}
	_, err = s.OIDCClientByID(ctx, tn.ID, gone.ID)
	wantErr(t, "OIDCClientByID after delete", err, store.ErrNotFound)
	wantTime(t, "access token revoked", getOIDCToken(t, s, access).RevokedAt, t0.Add(time.Minute))
	wantTime(t, "refresh token revoked", getOIDCToken(t, s, refresh).RevokedAt, t0.Add(time.Minute))
	wantTime(t, "token revoked before keeps its time", getOIDCToken(t, s, earlier).RevokedAt, t0)
	wantNoTime(t, "other client's token revoked", getOIDCToken(t, s, other).RevokedAt)
	if _, err := s.OIDCClientByID(ctx, tn.ID, kept.ID); err != nil {
		t.Errorf("other client after delete: %v", err)
	}
	wantErr(t, "DeleteOIDCClient again", s.DeleteOIDCClient(ctx, tn.ID, gone.ID, t0.Add(time.Minute)), store.ErrNotFound)
}

func testOIDCAuthRequest(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	b := newTenant(t, s, "b")
	c := newOIDCClient(t, s, tn.ID, "wiki", nil)
	expires := t0.Add(10 * time.Minute)
	r := newOIDCAuthRequest(t, s, tn.ID, c.ID, expires)

	got, err := s.OIDCAuthRequestByID(ctx, tn.ID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantSame(t, "new authorization request", *got, *r)
	_, err = s.OIDCAuthRequestByID(ctx, b.ID, r.ID)
	wantErr(t, "OIDCAuthRequestByID in another tenant", err, store.ErrNotFound)

	// No code before the request is done.
	if ok, err := s.SetOIDCCode(ctx, tn.ID, r.ID, []byte("code\x00early"), t0.Add(time.Minute), t0); err != nil || ok {
		t.Errorf("SetOIDCCode before completion = %t, %v; want false", ok, err)
	}

	// Complete once, in the tenant, before it expires.
	now := t0.Add(time.Minute)
	if ok, err := s.CompleteOIDCAuthRequest(ctx, b.ID, r.ID, u.ID, t0, []string{"pwd"}, "", now); err != nil || ok {
		t.Errorf("CompleteOIDCAuthRequest in another tenant = %t, %v; want false", ok, err)
	}
	if ok, err := s.CompleteOIDCAuthRequest(ctx, tn.ID, r.ID, u.ID, t0.Add(30*time.Second), []string{"pwd", "otp"}, "mfa", now); err != nil || !ok {
		t.Fatalf("CompleteOIDCAuthRequest = %t, %v; want true", ok, err)
	}
	if ok, err := s.CompleteOIDCAuthRequest(ctx, tn.ID, r.ID, "usr_other", now, nil, "", now); err != nil || ok {
		t.Errorf("CompleteOIDCAuthRequest again = %t, %v; want false", ok, err)
	}
	late := newOIDCAuthRequest(t, s, tn.ID, c.ID, t0.Add(time.Minute))
	if ok, err := s.CompleteOIDCAuthRequest(ctx, tn.ID, late.ID, u.ID, now, nil, "", t0.Add(time.Minute)); err != nil || ok {
		t.Errorf("CompleteOIDCAuthRequest at expiry = %t, %v; want false", ok, err)
	}
	got, err = s.OIDCAuthRequestByID(ctx, tn.ID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *r
	at := t0.Add(30 * time.Second)
	want.UserID, want.AuthTime, want.AMR, want.ACR, want.DoneAt = u.ID, &at, []string{"pwd", "otp"}, "mfa", &now
	wantSame(t, "completed request", *got, want)

	// The code is set once, in the tenant, before the request expires.
	hash := []byte("code\x00one")
	codeExpires := now.Add(time.Minute)
	if ok, err := s.SetOIDCCode(ctx, b.ID, r.ID, hash, codeExpires, now); err != nil || ok {
		t.Errorf("SetOIDCCode in another tenant = %t, %v; want false", ok, err)
	}
	if ok, err := s.SetOIDCCode(ctx, tn.ID, r.ID, hash, codeExpires, now); err != nil || !ok {
		t.Fatalf("SetOIDCCode = %t, %v; want true", ok, err)
	}
	if ok, err := s.SetOIDCCode(ctx, tn.ID, r.ID, []byte("code\x00two"), codeExpires, now); err != nil || ok {
		t.Errorf("SetOIDCCode again = %t, %v; want false", ok, err)
	}
	expiring := newOIDCAuthRequest(t, s, tn.ID, c.ID, now.Add(time.Second))
	if ok, err := s.CompleteOIDCAuthRequest(ctx, tn.ID, expiring.ID, u.ID, now, nil, "", now); err != nil || !ok {
		t.Fatalf("CompleteOIDCAuthRequest = %t, %v", ok, err)
	}
	if ok, err := s.SetOIDCCode(ctx, tn.ID, expiring.ID, []byte("code\x00late"), codeExpires, now.Add(time.Second)); err != nil || ok {
		t.Errorf("SetOIDCCode at expiry = %t, %v; want false", ok, err)
	}
	got, _ = s.OIDCAuthRequestByID(ctx, tn.ID, r.ID)
	want.CodeHash, want.CodeExpiresAt = hash, &codeExpires
	wantSame(t, "request with its code", *got, want)

	// Redeeming: another tenant's code is unknown, the first use wins and
	// a replay returns the request with false.
	_, _, err = s.UseOIDCCode(ctx, b.ID, hash, now)
	wantErr(t, "UseOIDCCode in another tenant", err, store.ErrNotFound)
	_, _, err = s.UseOIDCCode(ctx, tn.ID, []byte("code\x00unknown"), now)
	wantErr(t, "UseOIDCCode(unknown)", err, store.ErrNotFound)
	used := now.Add(5 * time.Second)
	got, ok, err := s.UseOIDCCode(ctx, tn.ID, hash, used)
	if err != nil || !ok {
		t.Fatalf("UseOIDCCode = %t, %v; want true", ok, err)
	}
	want.CodeUsedAt = &used
	wantSame(t, "redeemed request", *got, want)
	got, ok, err = s.UseOIDCCode(ctx, tn.ID, hash, used.Add(time.Second))
	if err != nil || ok || got == nil || got.ID != r.ID {
		t.Errorf("UseOIDCCode replayed = %+v, %t, %v; want the request and false", got, ok, err)
	} else {
		wantTime(t, "code used at after a replay", got.CodeUsedAt, used)
	}
}

// testOIDCCodeExpired: an expired code is a replay, not an unknown code.
func testOIDCCodeExpired(t *testing.T, s store.Store) {
	_, u := fixture(t, s)
	c := newOIDCClient(t, s, u.TenantID, "wiki", nil)
	hash := []byte("code\x00expiring")
	r := codedRequest(t, s, u, c.ID, hash, t0.Add(time.Minute))
	got, ok, err := s.UseOIDCCode(t.Context(), u.TenantID, hash, t0.Add(time.Minute))
	if err != nil || ok || got == nil || got.ID != r.ID {
		t.Fatalf("UseOIDCCode of an expired code = %+v, %t, %v; want the request and false", got, ok, err)
	}
	wantNoTime(t, "expired code used at", got.CodeUsedAt)
}

// testOIDCCodeConcurrent: parallel redemptions of one code succeed once.
func testOIDCCodeConcurrent(t *testing.T, s store.Store) {
	_, u := fixture(t, s)
	c := newOIDCClient(t, s, u.TenantID, "wiki", nil)
	hash := []byte("code\x00raced")
	r := codedRequest(t, s, u, c.ID, hash, t0.Add(time.Minute))
	const n = 50
	wins := concurrently(t, n, func(ctx context.Context) (bool, error) {
		got, ok, err := s.UseOIDCCode(ctx, u.TenantID, hash, t0.Add(time.Second))
		if err == nil && (got == nil || got.ID != r.ID) {
			err = fmt.Errorf("UseOIDCCode = %+v, want request %s", got, r.ID)
		}
		return ok, err
	})
	if wins != 1 {
		t.Errorf("%d of %d parallel redemptions of one code succeeded, want exactly 1", wins, n)
	}
}

func testOIDCTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	b := newTenant(t, s, "b")
	c := newOIDCClient(t, s, tn.ID, "wiki", nil)
	expires := t0.Add(time.Hour)
	access := newOIDCToken(t, s, u, c.ID, "azr_1", store.TokenAccess, expires)
	access2 := newOIDCToken(t, s, u, c.ID, "azr_1", store.TokenAccess, expires) // a second NULL hash
	refresh := newOIDCToken(t, s, u, c.ID, "azr_1", store.TokenRefresh, expires)

	for _, k := range []*store.OIDCToken{access, access2, refresh} {
		wantSame(t, "token "+k.Kind, *getOIDCToken(t, s, k), *k)
	}
	if got := getOIDCToken(t, s, access); got.Hash != nil {
		t.Errorf("access token hash = %x, want none", got.Hash)
	}
	_, err := s.OIDCTokenByID(ctx, b.ID, access.ID)
	wantErr(t, "OIDCTokenByID in another tenant", err, store.ErrNotFound)

	got, err := s.OIDCRefreshByHash(ctx, tn.ID, refresh.Hash)
	if err != nil {
		t.Fatalf("OIDCRefreshByHash: %v", err)
	}
	wantSame(t, "refresh token by hash", *got, *refresh)
	_, err = s.OIDCRefreshByHash(ctx, b.ID, refresh.Hash)
	wantErr(t, "OIDCRefreshByHash in another tenant", err, store.ErrNotFound)
	_, err = s.OIDCRefreshByHash(ctx, tn.ID, []byte("refresh\x00unknown"))
	wantErr(t, "OIDCRefreshByHash(unknown)", err, store.ErrNotFound)

	dup := *refresh
	dup.ID = store.NewID("tok")
	wantErr(t, "CreateOIDCToken with a hash in use", s.CreateOIDCToken(ctx, &dup), store.ErrConflict)

	// Rotation: once, refresh tokens only, in the tenant, unexpired.
	now := t0.Add(time.Minute)
	if ok, err := s.UseOIDCRefresh(ctx, tn.ID, access.ID, now); err != nil || ok {
		t.Errorf("UseOIDCRefresh of an access token = %t, %v; want false", ok, err)
	}
	if ok, err := s.UseOIDCRefresh(ctx, b.ID, refresh.ID, now); err != nil || ok {
		t.Errorf("UseOIDCRefresh in another tenant = %t, %v; want false", ok, err)
	}
	if ok, err := s.UseOIDCRefresh(ctx, tn.ID, refresh.ID, now); err != nil || !ok {
		t.Fatalf("UseOIDCRefresh = %t, %v; want true", ok, err)
	}
	if ok, err := s.UseOIDCRefresh(ctx, tn.ID, refresh.ID, now); err != nil || ok {
		t.Errorf("UseOIDCRefresh again = %t, %v; want false", ok, err)
	}
	wantTime(t, "refresh used at", getOIDCToken(t, s, refresh).UsedAt, now)
	wantNoTime(t, "refresh revoked at", getOIDCToken(t, s, refresh).RevokedAt)

	expiring := newOIDCToken(t, s, u, c.ID, "azr_2", store.TokenRefresh, now)
	if ok, err := s.UseOIDCRefresh(ctx, tn.ID, expiring.ID, now); err != nil || ok {
		t.Errorf("UseOIDCRefresh at expiry = %t, %v; want false", ok, err)
	}
	revoked := newOIDCToken(t, s, u, c.ID, "azr_3", store.TokenRefresh, expires)
	if ok, err := s.RevokeOIDCToken(ctx, b.ID, revoked.ID, now); err != nil || ok {
		t.Errorf("RevokeOIDCToken in another tenant = %t, %v; want false", ok, err)
	}
	if ok, err := s.RevokeOIDCToken(ctx, tn.ID, revoked.ID, now); err != nil || !ok {
		t.Fatalf("RevokeOIDCToken = %t, %v; want true", ok, err)
	}
	if ok, err := s.RevokeOIDCToken(ctx, tn.ID, revoked.ID, now.Add(time.Minute)); err != nil || ok {
		t.Errorf("RevokeOIDCToken again = %t, %v; want false", ok, err)
	}
	wantTime(t, "revoked at after revoking twice", getOIDCToken(t, s, revoked).RevokedAt, now)
	if ok, err := s.UseOIDCRefresh(ctx, tn.ID, revoked.ID, now); err != nil || ok {
		t.Errorf("UseOIDCRefresh of a revoked token = %t, %v; want false", ok, err)
	}
}

// testOIDCRefreshConcurrent: parallel rotations of one refresh token
// succeed once.
func testOIDCRefreshConcurrent(t *testing.T, s store.Store) {
	_, u := fixture(t, s)
	c := newOIDCClient(t, s, u.TenantID, "wiki", nil)
	k := newOIDCToken(t, s, u, c.ID, "azr_1", store.TokenRefresh, t0.Add(time.Hour))
	const n = 50
	wins := concurrently(t, n, func(ctx context.Context) (bool, error) {
		return s.UseOIDCRefresh(ctx, u.TenantID, k.ID, t0.Add(time.Minute))
	})
	if wins != 1 {
		t.Errorf("%d of %d parallel rotations of one refresh token succeeded, want exactly 1", wins, n)
	}
}

func testOIDCRevoke(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	v := newUser(t, s, tn.ID, "victor")
	b := newTenant(t, s, "b")
	c1, c2 := newOIDCClient(t, s, tn.ID, "one", nil), newOIDCClient(t, s, tn.ID, "two", nil)
	expires := t0.Add(time.Hour)
	now := t0.Add(time.Minute)

	// A grant: its access and refresh tokens are revoked together, and
	// nothing else.
	ga := newOIDCToken(t, s, u, c1.ID, "azr_grant", store.TokenAccess, expires)
	gr := newOIDCToken(t, s, u, c1.ID, "azr_grant", store.TokenRefresh, expires)
	other := newOIDCToken(t, s, u, c1.ID, "azr_other", store.TokenRefresh, expires)
	if n, err := s.RevokeOIDCGrant(ctx, b.ID, "azr_grant", now); err != nil || n != 0 {
		t.Errorf("RevokeOIDCGrant in another tenant = %d, %v; want 0", n, err)
	}
	if n, err := s.RevokeOIDCGrant(ctx, tn.ID, "azr_grant", now); err != nil || n != 2 {
		t.Errorf("RevokeOIDCGrant = %d, %v; want 2", n, err)
	}
	if n, err := s.RevokeOIDCGrant(ctx, tn.ID, "azr_grant", now.Add(time.Minute)); err != nil || n != 0 {
		t.Errorf("RevokeOIDCGrant again = %d, %v; want 0", n, err)
	}
	wantTime(t, "grant's access token revoked", getOIDCToken(t, s, ga).RevokedAt, now)
	wantTime(t, "grant's refresh token revoked", getOIDCToken(t, s, gr).RevokedAt, now)
	wantNoTime(t, "other grant's token revoked", getOIDCToken(t, s, other).RevokedAt)

	// A user at one client, then at every client.
	u2 := newOIDCToken(t, s, u, c2.ID, "azr_c2", store.TokenAccess, expires)
	vt := newOIDCToken(t, s, v, c1.ID, "azr_v", store.TokenAccess, expires)
	if n, err := s.RevokeOIDCUser(ctx, b.ID, u.ID, "", now); err != nil || n != 0 {
		t.Errorf("RevokeOIDCUser in another tenant = %d, %v; want 0", n, err)
	}
	if n, err := s.RevokeOIDCUser(ctx, tn.ID, u.ID, c1.ID, now); err != nil || n != 1 {
		t.Errorf("RevokeOIDCUser at one client = %d, %v; want 1", n, err)
	}
	wantTime(t, "user's token at the client revoked", getOIDCToken(t, s, other).RevokedAt, now)
	wantNoTime(t, "user's token at another client revoked", getOIDCToken(t, s, u2).RevokedAt)
	if n, err := s.RevokeOIDCUser(ctx, tn.ID, u.ID, "", now); err != nil || n != 1 {
		t.Errorf("RevokeOIDCUser at every client = %d, %v; want 1", n, err)
	}
	wantTime(t, "user's token at another client revoked", getOIDCToken(t, s, u2).RevokedAt, now)
	wantNoTime(t, "other user's token revoked", getOIDCToken(t, s, vt).RevokedAt)
}

func testOIDCDeleteBefore(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn, u := fixture(t, s)
	c := newOIDCClient(t, s, tn.ID, "wiki", nil)
	cutoff := t0.Add(time.Hour)

	// Tokens: those that expired before the cutoff go.
	oldTok := newOIDCToken(t, s, u, c.ID, "azr_x", store.TokenAccess, cutoff.Add(-time.Microsecond))
	atCutoff := newOIDCToken(t, s, u, c.ID, "azr_x", store.TokenRefresh, cutoff)
	if n, err := s.DeleteOIDCTokensBefore(ctx, cutoff); err != nil || n != 1 {
		t.Errorf("DeleteOIDCTokensBefore = %d, %v; want 1", n, err)
	}
	_, err := s.OIDCTokenByID(ctx, tn.ID, oldTok.ID)
	wantErr(t, "expired token after delete", err, store.ErrNotFound)
	if _, err := s.OIDCTokenByID(ctx, tn.ID, atCutoff.ID); err != nil {
		t.Errorf("token expiring at the cutoff: %v", err)
	}

	// Requests: those that expired before the cutoff go, unless a token
	// of theirs is still unexpired.
	expired := newOIDCAuthRequest(t, s, tn.ID, c.ID, cutoff.Add(-time.Second))
	live := newOIDCAuthRequest(t, s, tn.ID, c.ID, cutoff)
	granted := newOIDCAuthRequest(t, s, tn.ID, c.ID, cutoff.Add(-time.Second))
	newOIDCToken(t, s, u, c.ID, granted.ID, store.TokenRefresh, cutoff.Add(time.Hour))
	spent := newOIDCAuthRequest(t, s, tn.ID, c.ID, cutoff.Add(-time.Second))
	newOIDCToken(t, s, u, c.ID, spent.ID, store.TokenAccess, cutoff.Add(-time.Second))
	if n, err := s.DeleteOIDCAuthRequestsBefore(ctx, cutoff); err != nil || n != 2 {
		t.Errorf("DeleteOIDCAuthRequestsBefore = %d, %v; want 2", n, err)
	}
	for _, r := range []struct {
		req  *store.OIDCAuthRequest
		kept bool
	}{{expired, false}, {live, true}, {granted, true}, {spent, false}} {
		_, err := s.OIDCAuthRequestByID(ctx, tn.ID, r.req.ID)
		if gone := errors.Is(err, store.ErrNotFound); gone == r.kept || (err != nil && !gone) {
			t.Errorf("request %s after delete: %v, want kept %t", r.req.ID, err, r.kept)
		}
	}
}
