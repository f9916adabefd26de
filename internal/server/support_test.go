package server_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/flow"
)

// A13 over HTTP: administrators of the tenant, of either role, read the MFA
// issues people reported; another tenant's administrators see none of them.
func TestSupportRequestsAdminAPI(t *testing.T) {
	ts := start(t, nil)
	ctx := t.Context()
	tn, err := ts.srv.Directory.Tenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	portal := flow.Caller{TenantID: tn.ID, ApplicationID: flow.PortalApplication, Actor: "portal", IP: "203.0.113.40"}
	var tracking []string
	for i := range 3 {
		r, err := ts.srv.Engine.FileSupportRequest(ctx, portal, flow.SupportRequestInput{LoginID: "alice", Name: "Alice Smith",
			Phone: "555-555-0100", Email: "alice@example.org", Subject: fmt.Sprintf("Issue %d", i+1), Message: "My codes are refused."})
		if err != nil {
			t.Fatal(err)
		}
		tracking = append(tracking, r.Tracking)
		time.Sleep(2 * time.Millisecond) // distinct creation times, so the order is defined
	}

	for _, key := range []string{ts.adminKey, ts.support} {
		r := ts.do("GET", "/api/v1/admin/support-requests", key, nil)
		if r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.raw)
		}
		list := r.body["support_requests"].([]any)
		if len(list) != 3 || list[0].(map[string]any)["tracking"] != tracking[2] {
			t.Fatalf("list %s, want three, newest first", r.raw)
		}
	}
	r := ts.do("GET", "/api/v1/admin/support-requests/"+tracking[0], ts.support, nil)
	if r.status != 200 {
		t.Fatalf("get: %d %s", r.status, r.raw)
	}
	want := map[string]string{"tracking": tracking[0], "login_id": "alice", "name": "Alice Smith", "phone": "5555550100",
		"email": "alice@example.org", "subject": "Issue 1", "message": "My codes are refused.", "state": "open"}
	for k, v := range want {
		if r.str(k) != v {
			t.Errorf("%s = %q, want %q (%s)", k, r.str(k), v, r.raw)
		}
	}
	if _, err := time.Parse(time.RFC3339, r.str("created_at")); err != nil {
		t.Errorf("created_at %q: %v", r.str("created_at"), err)
	}

	// Paging.
	r = ts.do("GET", "/api/v1/admin/support-requests?limit=2", ts.adminKey, nil)
	if r.status != 200 || len(r.body["support_requests"].([]any)) != 2 || r.str("next_before") != tracking[1] {
		t.Fatalf("first page: %d %s", r.status, r.raw)
	}
	r = ts.do("GET", "/api/v1/admin/support-requests?limit=2&before="+r.str("next_before"), ts.adminKey, nil)
	if list := r.body["support_requests"].([]any); r.status != 200 || len(list) != 1 || list[0].(map[string]any)["tracking"] != tracking[0] || r.str("next_before") != "" {
		t.Fatalf("second page: %d %s", r.status, r.raw)
	}

	for _, c := range []struct {
		path, key string
		status    int
		code      string
	}{
		{"/api/v1/admin/support-requests/MFA-20000101-AAAAAA", ts.adminKey, 404, "E15"},
		{"/api/v1/admin/support-requests?limit=0", ts.adminKey, 400, "E12"},
		{"/api/v1/admin/support-requests", ts.appKey, 401, "E13"},
		{"/api/v1/admin/support-requests/" + tracking[0], "", 401, "E13"},
	} {
		if r := ts.do("GET", c.path, c.key, nil); r.status != c.status || r.str("error", "code") != c.code {
			t.Errorf("GET %s: %d %s, want %d %s", c.path, r.status, r.raw, c.status, c.code)
		}
	}

	// Another tenant's administrator sees nothing of acme's.
	other, err := ts.srv.Directory.CreateTenant(ctx, "globex", "Globex")
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := ts.srv.Directory.CreateAdminKey(ctx, flow.Caller{TenantID: other.ID, Actor: "test"}, "ops", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if r := ts.do("GET", "/api/v1/admin/support-requests", otherKey, nil); r.status != 200 || len(r.body["support_requests"].([]any)) != 0 {
		t.Fatalf("another tenant's list: %d %s", r.status, r.raw)
	}
	if r := ts.do("GET", "/api/v1/admin/support-requests?before="+tracking[2], otherKey, nil); r.status != 200 || len(r.body["support_requests"].([]any)) != 0 {
		t.Fatalf("another tenant's page: %d %s", r.status, r.raw)
	}
	if r := ts.do("GET", "/api/v1/admin/support-requests/"+tracking[0], otherKey, nil); r.status != 404 || r.str("error", "code") != "E15" {
		t.Fatalf("another tenant reads acme's request: %d %s", r.status, r.raw)
	}
}

// TestHelpDeskCannotRedirectCodes: the help desk (role support) may not
// change where a person's codes and calls go unless policy grants it; an
// administrator may (B2, A12).
func TestHelpDeskCannotRedirectCodes(t *testing.T) {
	ts := start(t, nil)
	r := ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "dana", "password": "Correct-Horse-42"})
	id := r.str("id")
	if r := ts.do("POST", "/api/v1/admin/users/"+id+"/contact", ts.support, map[string]any{"phone": "5550001111"}); r.status != 403 || r.str("error", "code") != "E14" {
		t.Fatalf("support changes the phone: %d %s", r.status, r.raw)
	}
	if r := ts.do("POST", "/api/v1/admin/users/"+id+"/contact", ts.support, map[string]any{"email": "dana@example.org"}); r.status != 403 {
		t.Fatalf("support changes the email: %d %s", r.status, r.raw)
	}
	ts.policy(`{"allowed_factors":["totp","voice"]}`)
	if r := ts.do("POST", "/api/v1/admin/users/"+id+"/enrolments/voice", ts.support, map[string]any{"primary": "5550001111"}); r.status != 403 {
		t.Fatalf("support sets the call numbers: %d %s", r.status, r.raw)
	}
	if r := ts.do("POST", "/api/v1/admin/users/"+id+"/contact", ts.adminKey, map[string]any{"phone": "5550001111"}); r.status != 200 {
		t.Fatalf("admin changes the phone: %d %s", r.status, r.raw)
	}
	ts.policy(`{"allowed_factors":["totp","voice"],"support_may_change_contacts":true}`)
	if r := ts.do("POST", "/api/v1/admin/users/"+id+"/contact", ts.support, map[string]any{"phone": "5550002222"}); r.status != 200 {
		t.Fatalf("support with the policy's grant: %d %s", r.status, r.raw)
	}
}

// TestPolicyPatch: PATCH changes only the settings it names; role admin
// only; a bad setting changes nothing.
func TestPolicyPatch(t *testing.T) {
	ts := start(t, nil)
	ts.policy(`{"mfa_attempts": 5, "allowed_factors": ["totp", "sms"]}`)
	patch := func(key, body string) reply {
		req, _ := http.NewRequest("PATCH", ts.http.URL+"/api/v1/admin/policy", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		r := reply{status: resp.StatusCode, raw: raw}
		_ = json.Unmarshal(raw, &r.body)
		return r
	}
	if r := patch(ts.support, `{"password_attempts": 4}`); r.status != 403 {
		t.Fatalf("support patches the policy: %d %s", r.status, r.raw)
	}
	if r := patch(ts.adminKey, `{"password_attempts": 0}`); r.status != 400 {
		t.Fatalf("a bad setting: %d %s", r.status, r.raw)
	}
	r := patch(ts.adminKey, `{"password_attempts": 4}`)
	if r.status != 200 || r.body["password_attempts"] != float64(4) || r.body["mfa_attempts"] != float64(5) {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	if f, _ := r.body["allowed_factors"].([]any); len(f) != 2 {
		t.Fatalf("allowed_factors after a patch that did not name it: %v", r.body["allowed_factors"])
	}
}

// TestAuditExport (G5): every matching event as CSV or JSON lines, for
// either role; a bad format is E12.
func TestAuditExport(t *testing.T) {
	ts := start(t, nil)
	for i := range 3 {
		r := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "nobody" + strconv.Itoa(i), "password": "wrong-password-1"})
		if r.status != 401 {
			t.Fatalf("login: %d %s", r.status, r.raw)
		}
	}
	get := func(query string) (int, http.Header, string) {
		req, _ := http.NewRequest("GET", ts.http.URL+"/api/v1/admin/audit/export"+query, nil)
		req.Header.Set("Authorization", "Bearer "+ts.support)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	status, h, body := get("?event=login.password&outcome=failure")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if status != 200 || err != nil || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || len(rows) != 4 || rows[0][0] != "id" {
		t.Fatalf("csv export: %d %v %d rows\n%s", status, err, len(rows), body)
	}
	if !strings.Contains(rows[1][8], "unknown_login_id") {
		t.Errorf("detail column %q", rows[1][8])
	}
	status, _, body = get("?format=jsonl&event=login.password")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	var first map[string]any
	if status != 200 || len(lines) != 3 || json.Unmarshal([]byte(lines[0]), &first) != nil || first["event"] != "login.password" {
		t.Fatalf("jsonl export: %d\n%s", status, body)
	}
	if status, _, body := get("?format=xlsx"); status != 400 || !strings.Contains(body, "E12") {
		t.Fatalf("bad format: %d %s", status, body)
	}
}
