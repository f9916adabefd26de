package server_test

import (
	"testing"
	"time"

	"github.com/countersign/countersign/internal/flow"
)

// TestEnablementAdminAPI (B1, A1): the help desk reads the checklist and
// the phases but may not enable, test or schedule; another tenant's phase
// is not found; bad input is a 4xx, never a 500; once enabled, PUT and
// PATCH refuse to narrow MFA.
func TestEnablementAdminAPI(t *testing.T) {
	ts := start(t, nil)
	ctx := t.Context()
	if r := ts.do("POST", "/api/v1/admin/groups", ts.adminKey, map[string]any{"name": "Nurses"}); r.status != 201 {
		t.Fatalf("group: %d %s", r.status, r.raw)
	}
	for _, key := range []string{ts.adminKey, ts.support} {
		if r := ts.do("GET", "/api/v1/admin/enablement", key, nil); r.status != 200 || r.body["ready"] != false || len(r.body["items"].([]any)) != 6 {
			t.Fatalf("checklist: %d %s", r.status, r.raw)
		}
		if r := ts.do("GET", "/api/v1/admin/phases", key, nil); r.status != 200 {
			t.Fatalf("phases: %d %s", r.status, r.raw)
		}
	}
	starts := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	phase := map[string]any{"name": "Nurses first", "groups": []string{"Nurses"}, "starts_at": starts}
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/v1/admin/enablement"}, {"POST", "/api/v1/admin/enablement/test-message"}, {"POST", "/api/v1/admin/phases"},
	} {
		if r := ts.do(c.method, c.path, ts.support, map[string]any{}); r.status != 403 || r.str("error", "code") != "E14" {
			t.Fatalf("support %s %s: %d %s", c.method, c.path, r.status, r.raw)
		}
	}
	if r := ts.do("POST", "/api/v1/admin/enablement", ts.adminKey, map[string]any{"confirm": "acme"}); r.status != 409 || r.str("error", "code") != "E55" {
		t.Fatalf("enable while not ready: %d %s", r.status, r.raw)
	}
	r := ts.do("POST", "/api/v1/admin/phases", ts.adminKey, phase)
	if r.status != 201 || r.str("name") != "Nurses first" {
		t.Fatalf("add phase: %d %s", r.status, r.raw)
	}
	id := r.str("id")
	if r := ts.do("DELETE", "/api/v1/admin/phases/"+id, ts.support, nil); r.status != 403 {
		t.Fatalf("support deletes a phase: %d %s", r.status, r.raw)
	}
	other, err := ts.srv.Directory.CreateTenant(ctx, "other", "Other")
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := ts.srv.Directory.CreateAdminKey(ctx, flow.Caller{TenantID: other.ID, Actor: "test"}, "ops", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if r := ts.do("DELETE", "/api/v1/admin/phases/"+id, otherKey, nil); r.status != 404 || r.str("error", "code") != "E15" {
		t.Fatalf("another tenant deletes acme's phase: %d %s", r.status, r.raw)
	}
	for _, body := range []any{
		`{"name":"x","groups":["Nurses"],"starts_at":"tomorrow"}`,
		`{"name":"x","groups":"Nurses","starts_at":"` + starts + `"}`,
		`{"name":"x","groups":["Nope"],"starts_at":"` + starts + `"}`,
		`{"name":"","groups":[],"units":[]}`,
		`{"name":"x","groups":["Nurses"],"starts_at":"2001-01-01T00:00:00Z"}`,
		`[]`, `null`, `{"unknown":1}`,
	} {
		if r := ts.do("POST", "/api/v1/admin/phases", ts.adminKey, body); r.status != 400 {
			t.Errorf("bad phase %v: %d %s", body, r.status, r.raw)
		}
	}
	for _, body := range []any{`{"channel":"fax","to":"x"}`, `{"channel":"sms","to":"not a number"}`, `{"channel":"email"}`, `{"channel":"voice","to":"5550001111"}`, `{}`} {
		if r := ts.do("POST", "/api/v1/admin/enablement/test-message", ts.adminKey, body); r.status != 400 {
			t.Errorf("bad test message %v: %d %s", body, r.status, r.raw)
		}
	}
	if r := ts.do("POST", "/api/v1/admin/enablement/test-message", ts.adminKey, map[string]any{"channel": "email", "to": "it@example.org"}); r.status != 202 {
		t.Fatalf("test message: %d %s", r.status, r.raw)
	}
	if r := ts.do("POST", "/api/v1/admin/enablement", ts.adminKey, `{"confirm":5}`); r.status != 400 {
		t.Fatalf("bad confirmation: %d %s", r.status, r.raw)
	}
	if r := ts.do("DELETE", "/api/v1/admin/phases/"+id, ts.adminKey, nil); r.status != 204 {
		t.Fatalf("delete phase: %d %s", r.status, r.raw)
	}

	// Enabled (the checklist is the directory's to test): PUT and PATCH refuse.
	tn, err := ts.srv.Directory.Tenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.srv.Store.SetTenantMFAEnabled(ctx, tn.ID, "admin:test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := ts.do("PUT", "/api/v1/admin/policy", ts.adminKey, `{"mfa_required":"nobody"}`); r.status != 409 || r.str("error", "code") != "E56" {
		t.Fatalf("PUT nobody after enabling: %d %s", r.status, r.raw)
	}
	if r := ts.do("PATCH", "/api/v1/admin/policy", ts.adminKey, `{"mfa_required":"groups","mfa_groups":["Nurses"]}`); r.status != 409 || r.str("error", "code") != "E56" {
		t.Fatalf("PATCH groups after enabling: %d %s", r.status, r.raw)
	}
}
