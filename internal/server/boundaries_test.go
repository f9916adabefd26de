package server_test

import (
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/api"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

// Role and tenant boundaries on every admin route (B6, B2, A12; issue 13):
// the route table is walked, so a route added later is covered too.
//   - A help-desk (support) key is refused with E14 on every route whose
//     action flow.Permits does not give the help desk, before anything is
//     read or changed.
//   - An administrator of one tenant naming another tenant's ids finds
//     nothing (404), never the other tenant's records.
func TestAdminRouteBoundaries(t *testing.T) {
	ts := start(t, nil)
	other := setupTenantNamed(t, ts, "other")
	// Records of the other tenant that routes could name.
	r := other.do("POST", "/api/v1/admin/users", other.adminKey, map[string]any{"login_id": "olga", "email": "olga@example.org", "phone": "2025550166"})
	if r.status != 201 {
		t.Fatalf("other tenant's user: %d %s", r.status, r.raw)
	}
	olga := r.str("id")
	en := other.do("POST", "/api/v1/admin/users/olga/enrolments/totp", other.adminKey, map[string]any{})
	cl := other.do("POST", "/api/v1/admin/oidc/clients", other.adminKey, map[string]any{"name": "Other app", "redirect_uris": []string{"https://app.example.org/cb"}})
	if en.status != 201 || cl.status != 201 || en.str("enrolment_id") == "" || cl.str("client_id") == "" {
		t.Fatalf("other tenant's enrolment %d %s, client %d %s", en.status, en.raw, cl.status, cl.raw)
	}
	otherTenant, err := ts.srv.Directory.Tenant(t.Context(), "other")
	if err != nil {
		t.Fatal(err)
	}
	report, err := ts.srv.Engine.FileSupportRequest(t.Context(), flow.Caller{TenantID: otherTenant.ID, IP: "192.0.2.9"},
		flow.SupportRequestInput{LoginID: "olga", Name: "Olga", Phone: "2025550166", Email: "olga@example.org", Subject: "No code", Message: "No code arrives."})
	if err != nil {
		t.Fatal(err)
	}
	// Bodies that pass validation, for routes that check the body before
	// they look for the record.
	bodies := map[string]any{
		"PATCH /api/v1/admin/support-requests/{tracking}":      map[string]any{"state": "closed"},
		"POST /api/v1/admin/support-requests/{tracking}/notes": map[string]any{"body": "Called back."},
	}
	// Which of the other tenant's ids a route's {id} names.
	idFor := func(path string) string {
		switch {
		case strings.Contains(path, "/enrolments/{id}"):
			return en.str("enrolment_id")
		case strings.Contains(path, "/oidc/clients/{id}"):
			return cl.str("client_id")
		}
		return olga
	}

	pol := policy.Default()
	var checked int
	for _, rt := range api.Routes() {
		if !rt.Admin() {
			continue
		}
		path := strings.NewReplacer("{id}", idFor(rt.Path), "{device}", "tdv_unknown", "{tracking}", report.Tracking).Replace(rt.Path)
		unknown := strings.NewReplacer("{id}", "xyz_unknown", "{device}", "tdv_unknown", "{tracking}", "MFA-20260101-AAAAAA").Replace(rt.Path)
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			if !flow.Permits(store.RoleSupport, pol, rt.Action()) {
				checked++
				r := ts.do(rt.Method, path, ts.support, map[string]any{})
				if r.status != 403 || r.str("error", "code") != "E14" {
					t.Errorf("support key: %d %s, want 403 E14", r.status, r.raw)
				}
			}
			if strings.Contains(rt.Path, "{") {
				// Another tenant's record answers exactly as one that does
				// not exist: 404, or 410 for an enrolment (E19).
				body, ok := bodies[rt.Method+" "+rt.Path]
				if !ok {
					body = map[string]any{}
				}
				r := ts.do(rt.Method, path, ts.adminKey, body)
				none := ts.do(rt.Method, unknown, ts.adminKey, body)
				if (r.status != 404 && r.status != 410) || r.status != none.status || r.str("error", "code") != none.str("error", "code") {
					t.Errorf("another tenant's id with this tenant's admin key: %d %.300s; an unknown id: %d", r.status, r.raw, none.status)
				}
			}
		})
	}
	refused := ts.do("GET", "/api/v1/admin/audit?event=admin.refused&outcome=refused&limit=1000", ts.adminKey, nil)
	if got := strings.Count(string(refused.raw), `"admin.refused"`); got != checked {
		t.Errorf("%d refusals audited, want %d", got, checked)
	}
	if checked < 10 {
		t.Fatalf("only %d routes are closed to the help desk", checked)
	}
}
