package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/password"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// Service carries out administrative changes.
type Service struct {
	Store  Store
	Hasher *password.Hasher
	Engine *flow.Engine
	// KeyCacheTTL bounds how long an authenticated key is remembered; a revoked
	// key stops working within this time.
	KeyCacheTTL time.Duration
	// Providers tells the enablement checklist which delivery provider
	// serves each channel; nil means none is known.
	Providers Provider
	// AuditGrace is how long an audit event may wait for the sealer before
	// VerifyAudit reports it; 0 means auditchain.DefaultGrace.
	AuditGrace time.Duration

	mu   sync.Mutex
	apps map[string]cachedApp
}

type cachedApp struct {
	app     *store.Application
	fetched time.Time
}

func (s *Service) now() time.Time {
	if s.Engine != nil && s.Engine.Now != nil {
		return s.Engine.Now()
	}
	return time.Now()
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func name(errs *validate.Errors, field, v string) string {
	return validate.Text(errs, field, v, true, 100)
}

// CreateTenant adds an organisation with the default policy.
func (s *Service) CreateTenant(ctx context.Context, slug, displayName string) (*store.Tenant, error) {
	var errs validate.Errors
	slug = strings.TrimSpace(slug)
	if !slugRE.MatchString(slug) {
		errs.Add("slug", "invalid", "Slug must be 1–63 lower-case letters, digits or hyphens, starting with a letter or digit.")
	}
	displayName = name(&errs, "name", displayName)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	pol, err := json.Marshal(policy.Default())
	if err != nil {
		return nil, err
	}
	t := &store.Tenant{ID: store.NewID("ten"), Slug: slug, Name: displayName, Policy: pol, CreatedAt: s.now()}
	err = s.Store.InTx(ctx, func(q store.Queries) error {
		if err := q.CreateTenant(ctx, t); err != nil {
			return err
		}
		return s.Engine.Audit(ctx, q, flow.Caller{TenantID: t.ID, Actor: "cli"}, flow.Event{Event: "tenant.created", Outcome: "success", Detail: map[string]any{"slug": slug}})
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Tenant finds a tenant by id or slug.
func (s *Service) Tenant(ctx context.Context, ref string) (*store.Tenant, error) {
	t, err := s.Store.TenantBySlug(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return s.Store.TenantByID(ctx, ref)
	}
	return t, err
}

// CreateUnit adds a unit (practice, NPI, plan sponsor) to a tenant.
func (s *Service) CreateUnit(ctx context.Context, c flow.Caller, unitName string) (*store.Unit, error) {
	var errs validate.Errors
	unitName = name(&errs, "name", unitName)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	u := &store.Unit{ID: store.NewID("unt"), TenantID: c.TenantID, Name: unitName}
	return u, s.audited(ctx, c, flow.Event{Event: "unit.created", Outcome: "success", Detail: map[string]any{"name": unitName}},
		func(q store.Queries) error { return q.CreateUnit(ctx, u) })
}

// CreateGroup adds a group (role) to a tenant.
func (s *Service) CreateGroup(ctx context.Context, c flow.Caller, groupName string) (*store.Group, error) {
	var errs validate.Errors
	groupName = name(&errs, "name", groupName)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	g := &store.Group{ID: store.NewID("grp"), TenantID: c.TenantID, Name: groupName}
	return g, s.audited(ctx, c, flow.Event{Event: "group.created", Outcome: "success", Detail: map[string]any{"name": groupName}},
		func(q store.Queries) error { return q.CreateGroup(ctx, g) })
}

// CreateApplication registers a relying application and returns its API key,
// which is shown once and stored only as a hash.
func (s *Service) CreateApplication(ctx context.Context, c flow.Caller, appName string) (*store.Application, string, error) {
	var errs validate.Errors
	appName = name(&errs, "name", appName)
	if err := errs.Err(); err != nil {
		return nil, "", err
	}
	plain, hash := newKey(appKeyPrefix)
	a := &store.Application{ID: store.NewID("app"), TenantID: c.TenantID, Name: appName, KeyHash: hash, CreatedAt: s.now()}
	err := s.audited(ctx, c, flow.Event{Event: "application.created", Outcome: "success", Detail: map[string]any{"application": a.ID, "name": appName}},
		func(q store.Queries) error { return q.CreateApplication(ctx, a) })
	if err != nil {
		return nil, "", err
	}
	return a, plain, nil
}

// CreateAdminKey issues a key for the admin API with a role: admin (tenant
// administrator) or support (help desk, who may not unlock: B6).
func (s *Service) CreateAdminKey(ctx context.Context, c flow.Caller, keyName, role string) (*store.AdminKey, string, error) {
	var errs validate.Errors
	keyName = name(&errs, "name", keyName)
	if role != store.RoleAdmin && role != store.RoleSupport {
		errs.Add("role", "invalid", "Role must be admin or support.")
	}
	if err := errs.Err(); err != nil {
		return nil, "", err
	}
	plain, hash := newKey(adminKeyPrefix)
	k := &store.AdminKey{ID: store.NewID("adk"), TenantID: c.TenantID, Name: keyName, Role: role, KeyHash: hash, CreatedAt: s.now()}
	err := s.audited(ctx, c, flow.Event{Event: "admin_key.created", Outcome: "success", Detail: map[string]any{"key": k.ID, "name": keyName, "role": role}},
		func(q store.Queries) error { return q.CreateAdminKey(ctx, k) })
	if err != nil {
		return nil, "", err
	}
	return k, plain, nil
}

// ErrBadKey is any unknown, malformed or revoked key.
var ErrBadKey = problem.Domain("unauthenticated", "invalid key")

// AuthenticateApplication resolves an application API key, remembering
// answers for KeyCacheTTL so the hot path does not read the database.
func (s *Service) AuthenticateApplication(ctx context.Context, plain string) (*store.Application, error) {
	if !strings.HasPrefix(plain, appKeyPrefix) || len(plain) > 200 {
		return nil, ErrBadKey
	}
	hash := HashKey(plain)
	now := s.now()
	s.mu.Lock()
	c, ok := s.apps[string(hash)]
	s.mu.Unlock()
	if ok && now.Sub(c.fetched) < s.KeyCacheTTL {
		return c.app, nil
	}
	a, err := s.Store.ApplicationByKeyHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.RevokedAt != nil) {
		return nil, ErrBadKey
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.apps == nil {
		s.apps = map[string]cachedApp{}
	}
	s.apps[string(hash)] = cachedApp{app: a, fetched: now}
	s.mu.Unlock()
	return a, nil
}

// AuthenticateAdmin resolves an admin API key.
func (s *Service) AuthenticateAdmin(ctx context.Context, plain string) (*store.AdminKey, error) {
	if !strings.HasPrefix(plain, adminKeyPrefix) || len(plain) > 200 {
		return nil, ErrBadKey
	}
	k, err := s.Store.AdminKeyByHash(ctx, HashKey(plain))
	if errors.Is(err, store.ErrNotFound) || (err == nil && k.RevokedAt != nil) {
		return nil, ErrBadKey
	}
	return k, err
}

// NewUser is what an administrator supplies to create a user.
type NewUser struct {
	LoginID     string   `json:"login_id"`
	Email       string   `json:"email"`
	Phone       string   `json:"phone"`
	DisplayName string   `json:"display_name"`
	Password    string   `json:"password"`
	Status      string   `json:"status"`
	Groups      []string `json:"groups"`
	Units       []string `json:"units"`
	// DateOfBirth (YYYY-MM-DD) and SSN (9 digits) let the person validate
	// their identity in the portal (C6); only keyed hashes are stored.
	DateOfBirth string `json:"date_of_birth"`
	SSN         string `json:"ssn"`
	// Locale is the language of the person's messages ("en", "es"); the
	// portal also records the language the person uses it in.
	Locale string `json:"locale"`
	// ConsoleRole lets the person into the admin console: admin, support
	// or empty.
	ConsoleRole string `json:"console_role"`
}

// CreateUser validates every field (C11), reporting each problem, checks the
// password against the tenant's policy and stores its argon2id hash. A user
// without a password can only use applications that check passwords
// themselves (MFA-only mode).
func (s *Service) CreateUser(ctx context.Context, c flow.Caller, in NewUser) (*store.User, error) {
	_, p, err := s.Engine.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	var errs validate.Errors
	u := &store.User{ID: store.NewID("usr"), TenantID: c.TenantID}
	u.LoginID = validate.LoginID(&errs, "login_id", in.LoginID, p.LoginIDMaxLength)
	u.Email = validate.Email(&errs, "email", in.Email, false)
	u.Phone = validate.Phone(&errs, "phone", in.Phone, false)
	u.DisplayName = validate.Text(&errs, "display_name", in.DisplayName, false, 100)
	u.Locale = flow.ValidateLanguage(&errs, "locale", in.Locale)
	var dob, ssn string
	if in.DateOfBirth != "" {
		if born := validate.DateOfBirth(&errs, "date_of_birth", in.DateOfBirth, s.now()); !born.IsZero() {
			dob = born.Format(time.DateOnly)
		}
	}
	if in.SSN != "" {
		ssn = validate.SSN(&errs, "ssn", in.SSN)
	}
	u.ConsoleRole = in.ConsoleRole
	if u.ConsoleRole != "" && u.ConsoleRole != store.RoleAdmin && u.ConsoleRole != store.RoleSupport {
		errs.Add("console_role", "invalid", "Console role must be admin, support or empty.")
	}
	if u.ConsoleRole != "" && !flow.Permits(c.Role, p, flow.ManagePeople) {
		errs.Add("console_role", "forbidden", "Only an administrator may give a console role.")
	}
	u.Status = in.Status
	if u.Status == "" {
		u.Status = store.StatusActive
	}
	if !slices.Contains(store.Statuses, u.Status) {
		errs.Add("status", "invalid", "Status must be one of "+strings.Join(store.Statuses, ", ")+".")
	}
	if in.Password != "" {
		for _, pr := range p.Password.Check(in.Password, in.LoginID) {
			errs.AddLimit("password", pr.Code, pr.Message, pr.Limit)
		}
	}
	if err := s.checkMemberships(ctx, &errs, c.TenantID, in.Groups, in.Units); err != nil {
		return nil, err
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	u.Groups, u.Units = in.Groups, in.Units
	if in.Password != "" {
		if u.PasswordHash, err = s.Hasher.Hash(ctx, in.Password); err != nil {
			if errors.Is(err, password.ErrBusy) {
				return nil, flow.ErrBusy
			}
			return nil, err
		}
	}
	u.CreatedAt = s.now()
	u.UpdatedAt = u.CreatedAt
	u.DOBHash, u.SSNHash = s.Engine.IdentityHashes(c.TenantID, dob, ssn)
	// The administrator vouches for the contact points they enter (B2), as
	// when they change them later.
	if u.Email != "" {
		u.EmailVerifiedAt = &u.CreatedAt
	}
	if u.Phone != "" {
		u.PhoneVerifiedAt = &u.CreatedAt
	}
	err = s.audited(ctx, c, flow.Event{UserID: u.ID, Event: "user.created", Outcome: "success", Detail: map[string]any{"login_id": u.LoginID, "status": u.Status}},
		func(q store.Queries) error { return q.CreateUser(ctx, u) })
	if errors.Is(err, store.ErrConflict) {
		var errs validate.Errors
		if strings.Contains(err.Error(), "email") {
			errs.Add("email", "taken", "This email address is already used by another user of this organisation. Each user needs their own email address.")
		} else {
			errs.Add("login_id", "taken", "This Login ID is already taken. Choose another Login ID.")
		}
		return nil, errs
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Service) checkMemberships(ctx context.Context, errs *validate.Errors, tenantID string, groups, units []string) error {
	if len(groups) > 0 {
		known, err := s.Store.ListGroups(ctx, tenantID)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if !slices.ContainsFunc(known, func(k store.Group) bool { return k.Name == g }) {
				errs.Add("groups", "unknown", fmt.Sprintf("Group %q does not exist in this organisation. Create it first.", g))
			}
		}
	}
	if len(units) > 0 {
		known, err := s.Store.ListUnits(ctx, tenantID)
		if err != nil {
			return err
		}
		for _, n := range units {
			if !slices.ContainsFunc(known, func(k store.Unit) bool { return k.Name == n }) {
				errs.Add("units", "unknown", fmt.Sprintf("Unit %q does not exist in this organisation. Create it first.", n))
			}
		}
	}
	return nil
}

// User finds a user by id or login ID.
func (s *Service) User(ctx context.Context, tenantID, ref string) (*store.User, error) {
	if strings.HasPrefix(ref, "usr_") {
		u, err := s.Store.UserByID(ctx, tenantID, ref)
		if !errors.Is(err, store.ErrNotFound) {
			return u, err
		}
	}
	return s.Store.UserByLoginID(ctx, tenantID, ref)
}

// SetStatus changes a user's status (C1). Terminated is not a status it
// sets, nor one it leaves (C14: see Terminate).
func (s *Service) SetStatus(ctx context.Context, c flow.Caller, userID, status string) error {
	if !slices.Contains(store.Statuses, status) {
		return validate.Errors{{Field: "status", Code: "invalid", Message: "Status must be one of " + strings.Join(store.Statuses, ", ") + "."}}
	}
	err := s.audited(ctx, c, flow.Event{UserID: userID, Event: "user.status_changed", Outcome: "success", Detail: map[string]any{"status": status}},
		func(q store.Queries) error { return q.SetUserStatus(ctx, c.TenantID, userID, status, s.now()) })
	if errors.Is(err, store.ErrTerminated) {
		return errTerminated()
	}
	return err
}

// SetConsoleRole lets a person into the admin console as an administrator
// (store.RoleAdmin) or the help desk (store.RoleSupport), or takes the role
// away (""). Only an administrator may; the last administrator of a tenant
// keeps their role only through the command line's operator.
func (s *Service) SetConsoleRole(ctx context.Context, c flow.Caller, userID, role string) error {
	if err := s.Allow(ctx, c, flow.ManagePeople); err != nil {
		return err
	}
	if role != "" && role != store.RoleAdmin && role != store.RoleSupport {
		return validate.Errors{{Field: "role", Code: "invalid", Message: "Role must be admin, support or none."}}
	}
	return s.audited(ctx, c, flow.Event{UserID: userID, Event: "user.console_role_changed", Outcome: "success", Detail: map[string]any{"role": role}},
		func(q store.Queries) error { return q.SetConsoleRole(ctx, c.TenantID, userID, role) })
}

// SetLocale changes the language of a person's messages (X8).
func (s *Service) SetLocale(ctx context.Context, c flow.Caller, userID, locale string) error {
	var errs validate.Errors
	locale = flow.ValidateLanguage(&errs, "locale", locale)
	if err := errs.Err(); err != nil {
		return err
	}
	return s.audited(ctx, c, flow.Event{UserID: userID, Event: "user.locale_changed", Outcome: "success", Detail: map[string]any{"locale": locale}},
		func(q store.Queries) error { return q.SetUserLocale(ctx, c.TenantID, userID, locale) })
}

// Unlock clears a user's lockouts. Only a tenant administrator may (B6).
func (s *Service) Unlock(ctx context.Context, c flow.Caller, userID string) error {
	if err := s.Allow(ctx, c, flow.Unlock); err != nil {
		return errors.Join(err, s.Engine.Audit(ctx, s.Store, c, flow.Event{UserID: userID, Event: "user.unlock", Outcome: "refused", Detail: map[string]any{"reason": "role_" + c.Role}}))
	}
	return s.audited(ctx, c, flow.Event{UserID: userID, Event: "user.unlock", Outcome: "success"},
		func(q store.Queries) error { return q.Unlock(ctx, c.TenantID, userID) })
}

// ResetFactors revokes every factor of a user, who must then enrol again.
func (s *Service) ResetFactors(ctx context.Context, c flow.Caller, userID string) (int, error) {
	if _, err := s.Store.UserByID(ctx, c.TenantID, userID); err != nil {
		return 0, err
	}
	var n int
	err := s.Store.InTx(ctx, func(q store.Queries) error {
		var err error
		if n, err = q.RevokeAllFactors(ctx, userID, s.now()); err != nil {
			return err
		}
		return s.Engine.Audit(ctx, q, c, flow.Event{UserID: userID, Event: "factor.revoked", Outcome: "success", Detail: map[string]any{"reason": "reset", "count": n}})
	})
	return n, err
}

// SetPolicy replaces a tenant's policy after validating it. Once MFA is
// enabled for the whole tenant, a policy with mfa_required other than
// everyone is refused (E56).
func (s *Service) SetPolicy(ctx context.Context, c flow.Caller, doc []byte) (policy.Policy, error) {
	p, err := policy.Parse(doc)
	if err != nil {
		return p, validate.Errors{{Field: "policy", Code: "invalid", Message: err.Error()}}
	}
	return s.writePolicy(ctx, c, func(policy.Policy) (policy.Policy, error) { return p, nil },
		func(canonical []byte) map[string]any { return map[string]any{"policy": json.RawMessage(canonical)} })
}

// PatchPolicy changes the settings a JSON merge patch names (RFC 7396; a
// null puts a setting back to its default) and keeps every other one. The
// current policy is read in the write transaction, so two administrators'
// patches both apply. Once MFA is enabled for the whole tenant, a patch
// narrowing it is refused (E56).
func (s *Service) PatchPolicy(ctx context.Context, c flow.Caller, patch []byte) (policy.Policy, error) {
	return s.writePolicy(ctx, c, func(cur policy.Policy) (policy.Policy, error) {
		p, err := policy.Patch(cur, patch)
		if err != nil {
			return p, validate.Errors{{Field: "policy", Code: "invalid", Message: err.Error()}}
		}
		return p, nil
	}, func(canonical []byte) map[string]any {
		return map[string]any{"patch": json.RawMessage(patch), "policy": json.RawMessage(canonical)}
	})
}

// Allow asks the engine's role rules (flow.Allow) with the tenant's policy:
// front doors call it for each administrator action.
func (s *Service) Allow(ctx context.Context, c flow.Caller, a flow.Action) error {
	_, p, err := s.Engine.Policy(ctx, c.TenantID)
	if err != nil {
		return err
	}
	return flow.Allow(c, p, a)
}

// Refuse records that a front door refused an administrator's action
// before it reached the directory (the admin API checks each route's
// action first), and returns the refusal.
func (s *Service) Refuse(ctx context.Context, c flow.Caller, a flow.Action, refusal error) error {
	return errors.Join(refusal, s.Engine.Audit(ctx, s.Store, c, flow.Event{Event: "admin.refused", Outcome: "refused",
		Detail: map[string]any{"action": string(a), "role": c.Role}}))
}

func (s *Service) audited(ctx context.Context, c flow.Caller, ev flow.Event, change func(q store.Queries) error) error {
	return s.Store.InTx(ctx, func(q store.Queries) error {
		if err := change(q); err != nil {
			return err
		}
		return s.Engine.Audit(ctx, q, c, ev)
	})
}
