package cli_test

import (
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/flow"
)

// The help desk's commands (issue 13): search, terminate (C14), resend,
// and the reported-issues queue (A13).
func TestPeopleCommands(t *testing.T) {
	s := newSite(t)
	tn := s.tenant()
	for _, u := range [][]string{
		{"--login-id", "alice", "--display-name", "Alice Smith", "--email", "alice@example.org", "--phone", "5551230001"},
		{"--login-id", "bob", "--display-name", "Bob Smith", "--status", "disabled", "--email", "bob@example.org"},
		{"--login-id", "carol", "--display-name", "Carol Jones"},
	} {
		s.ok(nil, "", append(append([]string{"user", "create", "--tenant", "acme"}, u...), "--json")...)
	}

	var users []map[string]any
	s.ok(&users, "", "user", "list", "--tenant", "acme", "--search", "smith", "--json")
	if len(users) != 2 || users[0]["login_id"] != "alice" || users[1]["login_id"] != "bob" {
		t.Fatalf("search smith = %v", users)
	}
	s.ok(&users, "", "user", "list", "--tenant", "acme", "--search", "0001", "--json")
	if len(users) != 1 || users[0]["login_id"] != "alice" {
		t.Fatalf("search by phone = %v", users)
	}
	s.ok(&users, "", "user", "list", "--tenant", "acme", "--status", "disabled", "--json")
	if len(users) != 1 || users[0]["login_id"] != "bob" {
		t.Fatalf("--status disabled = %v", users)
	}
	wantAll(t, s.fails("", "user", "list", "--tenant", "acme", "--search", strings.Repeat("x", 101)), "q")

	// Resend.
	wantAll(t, s.ok(nil, "", "user", "resend", "--tenant", "acme", "--user", "bob", "--kind", "reenable"), "queued", "bob")
	wantAll(t, s.ok(nil, "", "user", "resend", "--tenant", "acme", "--user", "alice", "--kind", "enrolment"), "queued", "alice")
	wantAll(t, s.fails("", "user", "resend", "--tenant", "acme", "--user", "alice", "--kind", "reenable"), "disabled")
	wantAll(t, s.fails("", "user", "resend", "--tenant", "acme", "--user", "carol", "--kind", "enrolment"), "verified")
	wantAll(t, s.fails("", "user", "resend", "--tenant", "acme", "--user", "alice"), "--kind")

	// Terminate.
	wantAll(t, s.fails("", "user", "terminate", "--tenant", "acme", "--login-id", "alice", "--reason", "sold"), "--yes", "cannot be undone")
	wantAll(t, s.fails("", "user", "terminate", "--tenant", "acme", "--login-id", "alice", "--yes"), "--reason")
	wantAll(t, s.fails("", "user", "terminate", "--tenant", "acme", "--login-id", "nobody", "--reason", "x", "--yes"), "nobody")
	var res map[string]any
	s.ok(&res, "", "user", "terminate", "--tenant", "acme", "--login-id", "ALICE", "--reason", "credentials sold", "--yes", "--json")
	if res["login_id"] != "alice" || res["factors_revoked"] != float64(0) || res["messages_cancelled"] != float64(1) {
		t.Fatalf("terminate = %v", res)
	}
	wantAll(t, s.fails("", "user", "terminate", "--tenant", "acme", "--login-id", "alice", "--reason", "again", "--yes"), "terminated")
	wantAll(t, s.fails("", "user", "set-status", "--tenant", "acme", "--user", "alice", "--status", "active"), "terminated")
	wantAll(t, s.ok(nil, "", "user", "show", "--tenant", "acme", "--user", "alice"), `"status": "terminated"`, `"termination_reason": "credentials sold"`)

	// The queue.
	core := s.core()
	portal := flow.Caller{TenantID: tn.ID, ApplicationID: flow.PortalApplication, Actor: "portal", IP: "192.0.2.7"}
	r, err := core.Engine.FileSupportRequest(t.Context(), portal, flow.SupportRequestInput{LoginID: "carol", Name: "Carol Jones",
		Phone: "5551234567", Email: "carol@example.org", Subject: "Lost phone", Message: "Stolen."})
	if err != nil {
		t.Fatal(err)
	}
	var req map[string]any
	s.ok(&req, "", "support", "update", "--tenant", "acme", "--tracking", r.Tracking, "--state", "in_progress", "--assignee", "Dana at the desk", "--json")
	if req["state"] != "in_progress" || req["assignee"] != "Dana at the desk" {
		t.Fatalf("support update = %v", req)
	}
	s.ok(&req, "", "support", "note", "--tenant", "acme", "--tracking", r.Tracking, "--note", "Called back; sent a one-time token.", "--json")
	s.ok(&req, "", "support", "update", "--tenant", "acme", "--tracking", r.Tracking, "--assignee", "", "--json")
	if req["assignee"] != "" {
		t.Fatalf("unassign = %v", req)
	}
	text := s.ok(nil, "", "support", "show", "--tenant", "acme", "--tracking", r.Tracking)
	wantAll(t, text, "Called back", `"author": "cli@`, `"state": "in_progress"`)
	var list []map[string]any
	s.ok(&list, "", "support", "list", "--tenant", "acme", "--state", "in_progress", "--search", "carol", "--json")
	if len(list) != 1 || list[0]["tracking"] != r.Tracking {
		t.Fatalf("support list --state --search = %v", list)
	}
	s.ok(&list, "", "support", "list", "--tenant", "acme", "--state", "closed", "--json")
	if len(list) != 0 {
		t.Fatalf("support list --state closed = %v", list)
	}
	wantAll(t, s.fails("", "support", "update", "--tenant", "acme", "--tracking", r.Tracking), "--state")
	wantAll(t, s.fails("", "support", "update", "--tenant", "acme", "--tracking", r.Tracking, "--state", "done"), "state")
	wantAll(t, s.fails("", "support", "note", "--tenant", "acme", "--tracking", r.Tracking), "--note")
	wantAll(t, s.fails("", "support", "show", "--tenant", "acme", "--tracking", "MFA-20000101-AAAAAA"), "MFA-20000101-AAAAAA")
}
