package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/config"
)

// X2: the admin API registers applications with the tenant's OpenID
// Connect provider and rotates its signing keys; the help desk may look,
// only tenant administrators may change anything.
func TestOIDCAdminAPI(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.PublicURL = "https://mfa.example.org/" })
	const clients = "/api/v1/admin/oidc/clients"

	r := ts.do("POST", clients, ts.adminKey, map[string]any{
		"name": "Wiki", "redirect_uris": []string{"https://wiki.example.org/cb"}, "signing_alg": "RS256",
		"access_token_ttl": 300, "refresh_token_ttl": -1})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id, secret := r.str("client_id"), r.str("client_secret")
	if !strings.HasPrefix(id, "csc_") || !strings.HasPrefix(secret, "css_") || r.body["public"] != false ||
		r.str("issuer") != "https://mfa.example.org/oidc/acme" || r.body["access_token_ttl"] != 300.0 ||
		r.body["refresh_token_ttl"] != 0.0 || r.body["id_token_ttl"] != 3600.0 || r.str("signing_alg") != "RS256" {
		t.Fatalf("create answered %s", r.raw)
	}
	r = ts.do("POST", clients, ts.adminKey, map[string]any{"name": "App", "public": true, "redirect_uris": []string{"com.example.app:/cb"}})
	if r.status != http.StatusCreated || r.body["public"] != true || strings.Contains(string(r.raw), "client_secret") {
		t.Fatalf("public create: %d %s", r.status, r.raw)
	}
	pub := r.str("client_id")

	// Reads: both roles, never a secret.
	for _, key := range []string{ts.adminKey, ts.support} {
		r = ts.do("GET", clients, key, nil)
		list, _ := r.body["clients"].([]any)
		if r.status != 200 || len(list) != 2 || strings.Contains(string(r.raw), "css_") {
			t.Errorf("list: %d %s", r.status, r.raw)
		}
		r = ts.do("GET", clients+"/"+id, key, nil)
		if r.status != 200 || r.str("name") != "Wiki" || strings.Contains(string(r.raw), "css_") {
			t.Errorf("show: %d %s", r.status, r.raw)
		}
	}

	// Changes: administrators only.
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", clients, map[string]any{"name": "X", "redirect_uris": []string{"https://x.example.org/cb"}}},
		{"PUT", clients + "/" + id, map[string]any{"name": "X"}},
		{"DELETE", clients + "/" + id, nil},
		{"POST", clients + "/" + id + "/secret", nil},
		{"POST", "/api/v1/admin/oidc/keys/rotate", map[string]any{"alg": "ES256"}},
	} {
		if r = ts.do(c.method, c.path, ts.support, c.body); r.status != 403 || r.str("error", "code") != "E14" {
			t.Errorf("support %s %s: %d %s, want 403 E14", c.method, c.path, r.status, r.raw)
		}
	}
	if r = ts.do("GET", clients, ts.appKey, nil); r.status != 401 {
		t.Errorf("an application key listed clients: %d", r.status)
	}

	// Update keeps what is left out, the secret included.
	r = ts.do("PUT", clients+"/"+id, ts.adminKey, map[string]any{"name": "Team wiki", "refresh_token_ttl": 0})
	if r.status != 200 || r.str("name") != "Team wiki" || r.str("signing_alg") != "RS256" || r.body["access_token_ttl"] != 300.0 ||
		r.body["refresh_token_ttl"] != 2592000.0 || r.str("client_secret") != "" {
		t.Fatalf("update: %d %s", r.status, r.raw)
	}
	cl, err := ts.srv.Engine.Client(t.Context(), tenantOf(t, ts), id)
	if err != nil || !ts.srv.Engine.ClientSecretMatches(cl, secret) {
		t.Fatal("update changed the secret")
	}
	if r = ts.do("PUT", clients+"/"+id, ts.adminKey, map[string]any{"public": true}); r.status != 400 || r.str("error", "code") != "E12" {
		t.Errorf("switching to public: %d %s", r.status, r.raw)
	}

	// Bad input: field errors and strict bodies.
	r = ts.do("POST", clients, ts.adminKey, map[string]any{"name": "Bad", "redirect_uris": []string{"http://evil.example.org/cb"}})
	if r.status != 400 || r.str("error", "code") != "E12" || !strings.Contains(string(r.raw), "redirect_uris") {
		t.Errorf("bad redirect URI: %d %s", r.status, r.raw)
	}
	if r = ts.do("POST", clients, ts.adminKey, `{"name":"x","redirect_uri":["https://x.example.org/"]}`); r.status != 400 || r.str("error", "code") != "E18" {
		t.Errorf("unknown field: %d %s", r.status, r.raw)
	}
	if r = ts.do("POST", clients, ts.adminKey, `{"name":"`+strings.Repeat("a", 70000)+`"}`); r.status != 413 {
		t.Errorf("too large: %d %s", r.status, r.raw)
	}
	if r = ts.do("GET", clients+"/csc_nope", ts.adminKey, nil); r.status != 404 || r.str("error", "code") != "E15" {
		t.Errorf("unknown client: %d %s", r.status, r.raw)
	}

	// A new secret replaces the old one and is shown once.
	r = ts.do("POST", clients+"/"+id+"/secret", ts.adminKey, nil)
	if r.status != 200 || !strings.HasPrefix(r.str("client_secret"), "css_") || r.str("client_secret") == secret {
		t.Fatalf("new secret: %d %s", r.status, r.raw)
	}
	cl, _ = ts.srv.Engine.Client(t.Context(), tenantOf(t, ts), id)
	if ts.srv.Engine.ClientSecretMatches(cl, secret) || !ts.srv.Engine.ClientSecretMatches(cl, r.str("client_secret")) {
		t.Error("the new secret did not replace the old one")
	}
	if r = ts.do("POST", clients+"/"+pub+"/secret", ts.adminKey, nil); r.status != 400 || r.str("error", "code") != "E12" {
		t.Errorf("a public client's secret: %d %s", r.status, r.raw)
	}

	// Keys: rotate twice, the first is retired but still published.
	r = ts.do("POST", "/api/v1/admin/oidc/keys/rotate", ts.adminKey, map[string]any{"alg": "ES256"})
	first := r.str("kid")
	if r.status != 201 || first == "" || r.str("alg") != "ES256" {
		t.Fatalf("rotate: %d %s", r.status, r.raw)
	}
	if r = ts.do("POST", "/api/v1/admin/oidc/keys/rotate", ts.adminKey, map[string]any{}); r.status != 201 || r.str("kid") == first {
		t.Fatalf("second rotate: %d %s", r.status, r.raw)
	}
	if r = ts.do("POST", "/api/v1/admin/oidc/keys/rotate", ts.adminKey, map[string]any{"alg": "HS256"}); r.status != 400 || r.str("error", "code") != "E12" {
		t.Errorf("rotate HS256: %d %s", r.status, r.raw)
	}
	r = ts.do("GET", "/api/v1/admin/oidc/keys", ts.support, nil)
	keys, _ := r.body["keys"].([]any)
	if r.status != 200 || len(keys) != 2 {
		t.Fatalf("keys: %d %s", r.status, r.raw)
	}
	for _, k := range keys {
		k := k.(map[string]any)
		if _, retired := k["retired_at"]; retired != (k["kid"] == first) {
			t.Errorf("key %v: only the first key should be retired", k)
		}
	}

	// Delete.
	if r = ts.do("DELETE", clients+"/"+id, ts.adminKey, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if r = ts.do("GET", clients+"/"+id, ts.adminKey, nil); r.status != 404 {
		t.Errorf("deleted client still shown: %d", r.status)
	}
}

func tenantOf(t *testing.T, ts *testServer) string {
	t.Helper()
	tn, err := ts.srv.Directory.Tenant(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID
}
