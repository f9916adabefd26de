package directory

import (
	"context"

	"github.com/countersign/countersign/internal/policy"

	"github.com/countersign/countersign/internal/store"
)

// What administrators read: the admin API and the command line show these
// records, each in its own form.

// Users lists a tenant's users in login ID order, after the given one.
func (s *Service) Users(ctx context.Context, tenantID, after string, limit int) ([]store.User, error) {
	return s.Store.ListUsers(ctx, tenantID, after, limit)
}

// UserByID returns a user of the tenant.
func (s *Service) UserByID(ctx context.Context, tenantID, id string) (*store.User, error) {
	return s.Store.UserByID(ctx, tenantID, id)
}

// Factors lists every factor of a user, revoked ones included.
func (s *Service) Factors(ctx context.Context, userID string) ([]store.Factor, error) {
	return s.Store.ListFactors(ctx, userID)
}

// Factor returns a factor of the tenant.
func (s *Service) Factor(ctx context.Context, tenantID, id string) (*store.Factor, error) {
	return s.Store.FactorByID(ctx, tenantID, id)
}

// Audit lists audit events matching f, newest first.
func (s *Service) Audit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	return s.Store.ListAudit(ctx, f)
}

// SupportRequests lists a tenant's reported MFA issues, newest first.
func (s *Service) SupportRequests(ctx context.Context, tenantID, before string, limit int) ([]store.SupportRequest, error) {
	return s.Store.ListSupportRequests(ctx, tenantID, before, limit)
}

// SupportRequest returns one reported MFA issue by its tracking number.
func (s *Service) SupportRequest(ctx context.Context, tenantID, tracking string) (*store.SupportRequest, error) {
	return s.Store.SupportRequestByTracking(ctx, tenantID, tracking)
}

// TrustedDevices lists a user's remembered devices.
func (s *Service) TrustedDevices(ctx context.Context, userID string) ([]store.TrustedDevice, error) {
	return s.Store.ListTrustedDevices(ctx, userID)
}

// Outbox lists messages on their way or delivered, for administrators.
func (s *Service) Outbox(ctx context.Context, f store.OutboxFilter) ([]store.OutboxMessage, error) {
	return s.Store.ListOutbox(ctx, f)
}

// Tenants lists every tenant.
func (s *Service) Tenants(ctx context.Context) ([]store.Tenant, error) {
	return s.Store.ListTenants(ctx)
}

// CountPeople counts a tenant's people, and those in any of the groups.
func (s *Service) CountPeople(ctx context.Context, tenantID string, groups []string) (total, members int, err error) {
	return s.Store.CountUsers(ctx, tenantID, groups)
}

// Policy returns a tenant's policy as the engine applies it.
func (s *Service) Policy(ctx context.Context, tenantID string) (policy.Policy, error) {
	_, p, err := s.Engine.Policy(ctx, tenantID)
	return p, err
}
