package cli_test

import (
	"fmt"
	"strings"
	"testing"
)

// audit verify chains what waits, passes an intact log, and after an event
// is altered with SQL exits non-zero naming it (X6).
func TestAuditVerify(t *testing.T) {
	s := newSite(t)
	s.tenant()
	s.ok(nil, "", "group", "create", "--tenant", "acme", "--name", "Billing", "--json")
	s.ok(nil, "", "unit", "create", "--tenant", "acme", "--name", "North", "--json")

	var report struct {
		OK        bool   `json:"ok"`
		Events    int    `json:"events"`
		PublicKey string `json:"public_key"`
	}
	s.ok(&report, "", "audit", "verify", "--tenant", "acme", "--json")
	if !report.OK || report.Events != 3 || report.PublicKey == "" {
		t.Fatalf("audit verify of an intact log: %+v", report)
	}
	out := s.ok(nil, "", "audit", "verify", "--tenant", "acme")
	wantAll(t, out, "events chained:  3", "checkpoint key:", "OK:")

	srv := s.core()
	var id int64
	db := srv.Store.DB()
	if err := db.QueryRowContext(t.Context(), `SELECT id FROM audit_events WHERE seq = 2`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), `UPDATE audit_events SET detail = '{"name":"Payroll"}' WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	srv.Close()

	r := s.run("", "audit", "verify", "--tenant", "acme")
	if r.err == nil {
		t.Fatalf("audit verify after tampering succeeded:\n%s", r.stdout)
	}
	wantAll(t, r.err.Error(), "altered", fmt.Sprintf("event %d", id))
	wantAll(t, r.stdout, "PROBLEM:         altered at seq 2", fmt.Sprintf("event %d", id))
	if strings.Contains(r.stdout, "OK:") {
		t.Errorf("the report says OK:\n%s", r.stdout)
	}
}
