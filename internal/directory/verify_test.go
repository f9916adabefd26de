package directory_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/auditchain"
	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/sqlstore"
)

// Whoever may read the audit log may verify it: the help desk too, not an
// application (X6, B6).
func TestVerifyAuditRoles(t *testing.T) {
	s, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	keys, err := keyring.New(map[string][]byte{"k1": make([]byte, keyring.KeySize)}, "k1", make([]byte, keyring.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	eng := &flow.Engine{Store: s, Keys: keys, Now: func() time.Time { return now }, PolicyTTL: time.Second}
	dir := &directory.Service{Store: s, Engine: eng}
	tn, err := dir.CreateTenant(t.Context(), "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&auditchain.Sealer{Store: s, Keys: keys, Now: eng.Now}).Seal(t.Context()); err != nil {
		t.Fatal(err)
	}
	r, err := dir.VerifyAudit(t.Context(), flow.Caller{TenantID: tn.ID, Role: store.RoleSupport})
	if err != nil || !r.OK || r.Events != 1 || r.Checkpoints != 1 {
		t.Fatalf("the help desk verifying: %+v, %v", r, err)
	}
	if _, err := dir.VerifyAudit(t.Context(), flow.Caller{TenantID: tn.ID, ApplicationID: "app_1"}); !errors.Is(err, flow.ErrForbidden) {
		t.Errorf("an application verifying: %v, want ErrForbidden", err)
	}
}
