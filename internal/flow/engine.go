package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/auditchain"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/password"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
)

// Engine runs logins and enrolments. Its dependencies are exported fields so
// tests can inject a clock.
type Engine struct {
	Store  Store
	Hasher *password.Hasher
	Keys   *keyring.Keyring
	Now    func() time.Time
	Log    *slog.Logger
	// Observe, when set, is told the outcome of every guess (for metrics).
	Observe func(kind, outcome string)
	// Notify, when set, wakes the outbox worker after a message is enqueued.
	Notify func()
	// PolicyTTL bounds how long a tenant's policy is cached; several servers
	// see a policy change within this time.
	PolicyTTL time.Duration
	// PublicURL is where people reach Countersign (config public_url); links
	// in messages start with it, and say where to go in words without it.
	PublicURL string
	// PushBase is where phone apps reach this server (the public URL, or
	// the bound address), without a trailing slash (A9).
	PushBase string

	mu       sync.Mutex
	policies map[string]cachedPolicy
	signers  map[string]cachedSigner
}

type cachedPolicy struct {
	tenant  *store.Tenant
	policy  policy.Policy
	fetched time.Time
}

// Caller says who is asking: the tenant and application (or administrator)
// the request was authenticated as, and the end user's address.
type Caller struct {
	TenantID      string
	ApplicationID string
	Actor         string
	IP            string
	// Lang is the language of the page the person is using, when a front
	// door knows it (the portal); messages sent for the request use it.
	Lang string
	// TrustedDevice is the remembered-device token the request presented (B4).
	TrustedDevice string
	// Role is the administrator's role (store.RoleAdmin or RoleSupport)
	// when an administrator acts; the engine's role rules read it.
	Role string
	// Hosted marks a request of the portal's pages working on an
	// application's sign-in (the hosted login, X2): the portal's
	// self-service steps then take that application's transaction, which
	// an application itself never may.
	Hosted bool
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// CurrentTime is the time the engine decides with, for code beside it that
// compares against times the engine gave out, or stamps rows itself.
func (e *Engine) CurrentTime() time.Time { return e.now() }

func (e *Engine) observe(kind, outcome string) {
	if e.Observe != nil {
		e.Observe(kind, outcome)
	}
}

// Policy returns the tenant and its policy, with the tenant's enforcement
// phases, cached for PolicyTTL: a phase starting is decided by the clock at
// each check, a phase added or deleted on another server is seen within PolicyTTL.
func (e *Engine) Policy(ctx context.Context, tenantID string) (*store.Tenant, policy.Policy, error) {
	now := e.now()
	e.mu.Lock()
	c, ok := e.policies[tenantID]
	e.mu.Unlock()
	if ok && now.Sub(c.fetched) < e.PolicyTTL {
		return c.tenant, c.policy, nil
	}
	t, err := e.Store.TenantByID(ctx, tenantID)
	if err != nil {
		return nil, policy.Policy{}, fmt.Errorf("tenant %s: %w", tenantID, err)
	}
	p, err := policy.Parse(t.Policy)
	if err != nil {
		return nil, policy.Policy{}, fmt.Errorf("tenant %s has an invalid stored policy: %w", tenantID, err)
	}
	if t.MFAEnabledAt != nil {
		// Enabled for the whole tenant (B1): nothing stored can narrow it.
		p.MFARequired, p.MFAGroups = policy.MFAEveryone, nil
	}
	phases, err := e.Store.ListPhases(ctx, tenantID)
	if err != nil {
		return nil, policy.Policy{}, fmt.Errorf("tenant %s: phases: %w", tenantID, err)
	}
	for _, ph := range phases {
		p.Phases = append(p.Phases, policy.Phase{Groups: ph.Groups, Units: ph.Units, StartsAt: ph.StartsAt})
	}
	e.mu.Lock()
	if e.policies == nil {
		e.policies = map[string]cachedPolicy{}
	}
	e.policies[tenantID] = cachedPolicy{tenant: t, policy: p, fetched: now}
	e.mu.Unlock()
	return t, p, nil
}

// ForgetPolicy drops a cached policy after this server changed it.
func (e *Engine) ForgetPolicy(tenantID string) {
	e.mu.Lock()
	delete(e.policies, tenantID)
	e.mu.Unlock()
}

// Auditor appends audit records: the store, or a transaction of it.
type Auditor interface {
	AppendAudit(ctx context.Context, e *store.AuditEvent) error
}

// Event is one audit record to write; Detail must never hold a secret.
type Event struct {
	UserID  string
	Event   string
	Outcome string
	Detail  map[string]any
}

// Audit appends ev on q (inside the caller's transaction when q is one).
func (e *Engine) Audit(ctx context.Context, q Auditor, c Caller, ev Event) error {
	detail := "{}"
	if len(ev.Detail) > 0 {
		b, err := json.Marshal(ev.Detail)
		if err != nil {
			return err
		}
		detail = string(b)
	}
	rec := &store.AuditEvent{
		TenantID:      c.TenantID,
		UserID:        ev.UserID,
		ApplicationID: c.ApplicationID,
		Actor:         c.Actor,
		Event:         ev.Event,
		Outcome:       ev.Outcome,
		IP:            c.IP,
		Detail:        detail,
		CreatedAt:     e.now(),
	}
	// The MAC makes the record tamper-evident (X6) without a lock: the
	// sealer chains it after the transaction commits.
	if err := auditchain.Stamp(e.Keys, rec); err != nil {
		return err
	}
	return q.AppendAudit(ctx, rec)
}

// statusErr says why a user in this status cannot reach an application (C1).
func statusErr(status string) error {
	switch status {
	case store.StatusActive:
		return nil
	case store.StatusDisabled:
		return ErrAccountDisabled
	case store.StatusInactive:
		return ErrAccountInactive
	case store.StatusPending:
		return ErrAccountPending
	case store.StatusExpired:
		return ErrAccountExpired
	case store.StatusTerminated:
		return ErrAccountTerminated
	default:
		return ErrAccountLocked
	}
}

// canManageMFA follows C1: pending and expired users may not activate or
// manage MFA; everyone else may, even while they cannot reach applications.
// A terminated account may do nothing at all (C14).
func canManageMFA(status string) error {
	switch status {
	case store.StatusPending:
		return ErrAccountPending
	case store.StatusExpired:
		return ErrAccountExpired
	case store.StatusTerminated:
		return ErrAccountTerminated
	}
	return nil
}

// granted turns the store's refusal to grant a terminated account a login
// (a termination that committed while the login was under way) into the
// person's answer, audited as event refused.
func (e *Engine) granted(ctx context.Context, c Caller, u *store.User, event string, err error) error {
	if !errors.Is(err, store.ErrTerminated) {
		return err
	}
	return errors.Join(inLanguage(ErrAccountTerminated, c, u),
		e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: event, Outcome: "refused", Detail: map[string]any{"reason": "status_" + store.StatusTerminated}}))
}

// lockedErr is the second-factor lockout as the person should hear it: a
// lock policy releases after a time says when, one only the help desk
// ends says whom to ask (B6).
func lockedErr(p policy.Policy) error {
	release := time.Duration(p.LockoutRelease)
	switch {
	case release <= 0:
		return ErrMFALocked
	case release <= time.Minute:
		return problem.Variant(ErrMFALocked, "timed_one")
	}
	return problem.Variant(ErrMFALocked, "timed", "minutes", strconv.Itoa(int(release.Round(time.Minute).Minutes())))
}

// MFALocked reports whether u's second factor is locked now under p: at
// the limit, and not yet released when policy releases locks after a time.
func MFALocked(u *store.User, p policy.Policy, now time.Time) bool {
	if u.MFAFailures < p.MFAAttempts {
		return false
	}
	if p.LockoutRelease > 0 && u.MFALockedAt != nil && !now.Before(u.MFALockedAt.Add(time.Duration(p.LockoutRelease))) {
		return false
	}
	return true
}

// lookup errors other than not-found are infrastructure failures.
func notFoundAs(err, as error) error {
	if errors.Is(err, store.ErrNotFound) {
		return as
	}
	return err
}

func (e *Engine) issuer(t *store.Tenant, p policy.Policy) string {
	if p.Issuer != "" {
		return p.Issuer
	}
	return t.Name
}

func (e *Engine) wake() {
	if e.Notify != nil {
		e.Notify()
	}
}
