package flow

import (
	"context"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// Store is what the engine needs of storage outside its write transactions,
// and the transactions themselves; store.Store satisfies it. Reads happen
// here; every change happens inside InTx, with the audit record.
type Store interface {
	ActiveFactors(ctx context.Context, userID string) ([]store.Factor, error)
	CallByID(ctx context.Context, id string) (*store.VoiceCall, error)
	FactorByID(ctx context.Context, tenantID, id string) (*store.Factor, error)
	LatestCall(ctx context.Context, tenantID, txnOrFactorID string) (*store.VoiceCall, error)
	LoginTxnByID(ctx context.Context, tenantID, id string) (*store.LoginTxn, error)
	MoveCall(ctx context.Context, id string, from []string, to, digits string, now time.Time) (bool, error)
	UserByID(ctx context.Context, tenantID, id string) (*store.User, error)
	LiveChallenge(ctx context.Context, tenantID, id string, now time.Time) (*store.Challenge, error)
	TouchTrustedDevice(ctx context.Context, id string, now time.Time) error
	TrustedDeviceByHash(ctx context.Context, tenantID string, hash []byte) (*store.TrustedDevice, error)
	UserByEmail(ctx context.Context, tenantID, email string) (*store.User, error)
	ListTrustedDevices(ctx context.Context, userID string) ([]store.TrustedDevice, error)
	ActivateFactor(ctx context.Context, factorID string, step int64, now time.Time) (bool, error)
	ListTenants(ctx context.Context) ([]store.Tenant, error)
	TenantByID(ctx context.Context, id string) (*store.Tenant, error)
	UseTxnForEnrolment(ctx context.Context, id string, now time.Time) (bool, error)
	UserByLoginID(ctx context.Context, tenantID, loginID string) (*store.User, error)
	UserWithFactors(ctx context.Context, tenantID, loginID string) (*store.User, []store.Factor, error)
	ChargePassword(ctx context.Context, userID string, limit int, releaseAfter time.Duration, now time.Time) (store.Charge, error)
	RefundPassword(ctx context.Context, userID string) error
	ResetPassword(ctx context.Context, userID string) error
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error)
	PortalSessionByHash(ctx context.Context, hash []byte, now time.Time, idle time.Duration) (*store.PortalSession, error)
	SetPasswordHash(ctx context.Context, tenantID, id, hash string) error
	SetUserLocale(ctx context.Context, tenantID, userID, locale string) error
	TakeRate(ctx context.Context, key string, windowStart time.Time, limit int) (bool, error)
	TenantBySlug(ctx context.Context, slug string) (*store.Tenant, error)
	UsersByPhone(ctx context.Context, tenantID, phone string, limit int) ([]store.User, error)
	AppendAudit(ctx context.Context, e *store.AuditEvent) error
	ListOIDCKeys(ctx context.Context, tenantID string) ([]store.OIDCKey, error)
	OIDCClientByID(ctx context.Context, tenantID, id string) (*store.OIDCClient, error)
	ListOIDCClients(ctx context.Context, tenantID string) ([]store.OIDCClient, error)
	OIDCAuthRequestByID(ctx context.Context, tenantID, id string) (*store.OIDCAuthRequest, error)
	OIDCTokenByID(ctx context.Context, tenantID, id string) (*store.OIDCToken, error)
	OIDCRefreshByHash(ctx context.Context, tenantID string, hash []byte) (*store.OIDCToken, error)
	PushChallengeByNonce(ctx context.Context, tenantID, nonce string) (*store.PushChallenge, error)
	OpenPushChallenges(ctx context.Context, factorID string, now time.Time) ([]store.PushChallenge, error)
	LatestPushChallenge(ctx context.Context, tenantID, txnOrFactorID string) (*store.PushChallenge, error)
	CountPushChallenges(ctx context.Context, userID string, since time.Time) (int, *time.Time, error)
	TouchPushPoll(ctx context.Context, factorID string, at time.Time) (bool, error)
	ListPhases(ctx context.Context, tenantID string) ([]store.Phase, error)
	PendingPhases(ctx context.Context, now time.Time, limit int) ([]store.Phase, error)
	PhaseAudience(ctx context.Context, tenantID, phaseID, kind string, unenrolledOnly bool, limit int) ([]store.User, error)
	InTx(ctx context.Context, fn func(q store.Queries) error) error
}
