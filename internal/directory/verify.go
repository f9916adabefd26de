package directory

import (
	"context"

	"github.com/countersign/countersign/internal/auditchain"
	"github.com/countersign/countersign/internal/flow"
)

// VerifyAudit walks the caller's tenant's audit chain and its signed
// checkpoints and reports the first event altered, inserted, deleted,
// reordered or truncated (X6). Whoever may read the audit log may verify
// it. A problem is the report's, not an error: the error is for a
// verification that could not run.
func (s *Service) VerifyAudit(ctx context.Context, c flow.Caller) (*auditchain.Report, error) {
	if err := s.Allow(ctx, c, flow.ReadPeople); err != nil {
		return nil, err
	}
	return auditchain.Verify(ctx, s.Store, s.Engine.Keys, c.TenantID, auditchain.Options{Now: s.now(), Grace: s.AuditGrace})
}
