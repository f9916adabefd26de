package server_test

import (
	"context"
	"testing"
	"time"
)

// A serving server chains the audit log within about a second, and the
// admin API's verification names an event altered behind its back (X6).
func TestAuditChainedAndVerified(t *testing.T) {
	ts := start(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	ts.srv.Start(ctx)
	t.Cleanup(cancel)

	var r reply
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = ts.do("GET", "/api/v1/admin/audit/verify", ts.support, nil)
		if r.status != 200 {
			t.Fatalf("verify: %d %s", r.status, r.raw)
		}
		if r.body["ok"] == true && r.body["unsealed"] == 0.0 && r.body["events"].(float64) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit log was not chained: %s", r.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.str("public_key") == "" || r.body["checkpoints"].(float64) < 1 {
		t.Errorf("report without a checkpoint or its key: %s", r.raw)
	}

	var id int64
	db := ts.srv.Store.DB()
	if err := db.QueryRowContext(t.Context(), `SELECT id FROM audit_events WHERE seq = 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), `UPDATE audit_events SET actor = 'someone else' WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	r = ts.do("GET", "/api/v1/admin/audit/verify", ts.adminKey, nil)
	if r.status != 200 || r.body["ok"] != false || r.str("problem", "kind") != "altered" {
		t.Fatalf("verify after tampering: %d %s", r.status, r.raw)
	}
	if p := r.body["problem"].(map[string]any); p["event_id"] != float64(id) || p["seq"] != 1.0 {
		t.Errorf("problem %v, want event %d at seq 1", p, id)
	}
	if r = ts.do("GET", "/api/v1/admin/audit/verify", ts.appKey, nil); r.status != 401 {
		t.Errorf("an application key: %d %s", r.status, r.raw)
	}
}
