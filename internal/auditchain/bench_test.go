package auditchain

import (
	"testing"

	"github.com/countersign/countersign/internal/store"
)

// What stamping costs each audited request (the MAC and content hash are
// computed as the event is written, before any chaining).
func BenchmarkStamp(b *testing.B) {
	keys := testKeys(b)
	for b.Loop() {
		e := store.AuditEvent{TenantID: tenant, UserID: "usr_abcdefghijklmnop", ApplicationID: "app_abcdefghijklmnop", Actor: "app:app_abcdefghijklmnop",
			Event: "login.mfa", Outcome: "success", IP: "192.0.2.10", Detail: `{"factor":"fac_abcdefghijklmnop","kind":"totp"}`, CreatedAt: t0}
		if err := Stamp(keys, &e); err != nil {
			b.Fatal(err)
		}
	}
}
