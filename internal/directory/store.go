package directory

import (
	"context"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// Store is what administration needs of storage: the records administrators
// read, the credentials it checks, and transactions for every change.
type Store interface {
	AdminKeyByHash(ctx context.Context, hash []byte) (*store.AdminKey, error)
	ApplicationByKeyHash(ctx context.Context, hash []byte) (*store.Application, error)
	ListGroups(ctx context.Context, tenantID string) ([]store.Group, error)
	ListUnits(ctx context.Context, tenantID string) ([]store.Unit, error)
	TenantByID(ctx context.Context, id string) (*store.Tenant, error)
	TenantBySlug(ctx context.Context, slug string) (*store.Tenant, error)
	UserByID(ctx context.Context, tenantID, id string) (*store.User, error)
	UserByLoginID(ctx context.Context, tenantID, loginID string) (*store.User, error)
	FactorByID(ctx context.Context, tenantID, id string) (*store.Factor, error)
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error)
	ListFactors(ctx context.Context, userID string) ([]store.Factor, error)
	ListOutbox(ctx context.Context, f store.OutboxFilter) ([]store.OutboxMessage, error)
	ListSupportRequests(ctx context.Context, tenantID, beforeTracking string, limit int) ([]store.SupportRequest, error)
	ListTenants(ctx context.Context) ([]store.Tenant, error)
	ListTrustedDevices(ctx context.Context, userID string) ([]store.TrustedDevice, error)
	ListUsers(ctx context.Context, tenantID string, afterLoginID string, limit int) ([]store.User, error)
	CountUsers(ctx context.Context, tenantID string, groups []string) (total, members int, err error)
	SupportRequestByTracking(ctx context.Context, tenantID, tracking string) (*store.SupportRequest, error)
	SearchSupportRequests(ctx context.Context, f store.SupportFilter) ([]store.SupportRequest, error)
	SupportNotes(ctx context.Context, tenantID, requestID string) ([]store.SupportNote, error)
	SearchUsers(ctx context.Context, f store.UserFilter) ([]store.User, error)
	AppendAudit(ctx context.Context, e *store.AuditEvent) error
	CountAdministrators(ctx context.Context, tenantID string) (total, enrolled int, err error)
	CountPeople(ctx context.Context, tenantID string) (store.PeopleCounts, error)
	CountDelivered(ctx context.Context, tenantID, channel, purpose string, since time.Time) (int, error)
	ListPhases(ctx context.Context, tenantID string) ([]store.Phase, error)
	PhaseByID(ctx context.Context, tenantID, id string) (*store.Phase, error)
	CountPhase(ctx context.Context, tenantID, id string) (inScope, enrolled int, err error)
	// The audit chain, for verification (auditchain.Source).
	AuditHeadOf(ctx context.Context, tenantID string) (*store.AuditHead, error)
	SealedAudit(ctx context.Context, tenantID string, afterSeq int64, limit int) ([]store.AuditEvent, error)
	AuditCheckpoints(ctx context.Context, tenantID string, afterSeq int64, limit int) ([]store.AuditCheckpoint, error)
	UnsealedAudit(ctx context.Context, tenantID string, afterID int64, limit int) ([]store.AuditEvent, error)
	DuplicateAuditMAC(ctx context.Context, tenantID string) ([]store.AuditEvent, error)
	InTx(ctx context.Context, fn func(q store.Queries) error) error
}
