package cli_test

import (
	"testing"
	"time"
)

// B1 and A1 from the command line: the checklist, a refused enablement,
// phases, and — once MFA is enabled — policy set refusing to narrow it,
// with a file or with --key.
func TestEnablementAndPhases(t *testing.T) {
	s := newSite(t)
	tn := s.tenant()
	s.ok(nil, "", "group", "create", "--tenant", "acme", "--name", "Nurses")

	var cl struct {
		Ready bool
		Items []struct {
			Key string
			OK  bool
		}
	}
	s.ok(&cl, "", "enablement", "show", "--tenant", "acme", "--json")
	if cl.Ready || len(cl.Items) != 6 {
		t.Errorf("checklist of a new tenant = %+v", cl)
	}
	wantAll(t, s.fails("", "enablement", "enable", "--tenant", "acme", "--confirm", "acme"), "not complete", "help_desk")
	wantAll(t, s.fails("", "enablement", "enable", "--tenant", "acme"), "--confirm")
	wantAll(t, s.fails("", "enablement", "test-message", "--tenant", "acme", "--channel", "fax", "--to", "x"), "sms or email")
	s.ok(nil, "", "enablement", "test-message", "--tenant", "acme", "--channel", "email", "--to", "it@example.org", "--json")

	starts := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	var ph struct {
		ID     string   `json:"id"`
		Groups []string `json:"groups"`
	}
	s.ok(&ph, "", "phase", "add", "--tenant", "acme", "--name", "Nurses first", "--group", "Nurses", "--starts-at", starts, "--json")
	if ph.ID == "" || len(ph.Groups) != 1 {
		t.Errorf("phase add --json = %+v", ph)
	}
	// The same shape as the admin API's.
	var list []struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		InScope int    `json:"in_scope"`
	}
	s.ok(&list, "", "phase", "list", "--tenant", "acme", "--json")
	if len(list) != 1 || list[0].ID != ph.ID || list[0].Name != "Nurses first" {
		t.Errorf("phase list = %+v, want %s", list, ph.ID)
	}
	wantAll(t, s.fails("", "phase", "add", "--tenant", "acme", "--name", "x", "--group", "Nope", "--starts-at", starts), "Nope")
	wantAll(t, s.fails("", "phase", "add", "--tenant", "acme", "--name", "x", "--group", "Nurses", "--starts-at", "tomorrow"), "RFC 3339")
	s.ok(nil, "", "phase", "delete", "--tenant", "acme", "--phase", ph.ID, "--json")
	wantAll(t, s.fails("", "phase", "delete", "--tenant", "acme", "--phase", ph.ID), "not found")

	// Enabled (as by the admin API once the checklist was ready).
	srv := s.core()
	if _, err := srv.Store.SetTenantMFAEnabled(t.Context(), tn.ID, "admin:test", time.Now()); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	for _, args := range [][]string{
		{"--key", "mfa_required=nobody"},
		{"--key", "mfa_required=groups", "--key", `mfa_groups=["Nurses"]`},
	} {
		wantAll(t, s.fails("", append([]string{"policy", "set", "--tenant", "acme"}, args...)...), "cannot be undone")
	}
	for _, doc := range []string{`{"mfa_required": "nobody"}`, `{"mfa_required": "groups", "mfa_groups": ["Nurses"]}`} {
		wantAll(t, s.fails(doc, "policy", "set", "--tenant", "acme", "--file", "-"), "cannot be undone")
	}
	s.ok(nil, "", "policy", "set", "--tenant", "acme", "--key", "mfa_attempts=5")
	var shown map[string]any
	s.ok(&shown, "", "policy", "show", "--tenant", "acme")
	if shown["mfa_required"] != "everyone" || shown["mfa_attempts"] != float64(5) {
		t.Errorf("policy after enabling = %v", shown)
	}
}
