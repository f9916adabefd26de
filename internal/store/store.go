package store

import (
	"context"
	"time"

	"github.com/countersign/countersign/internal/problem"
)

// Sentinel errors; implementations wrap them with %w.
var (
	ErrNotFound = problem.Domain("not_found", "not found")
	// ErrConflict means a uniqueness rule was violated (login ID, email, name).
	ErrConflict = problem.Domain("conflict", "already exists")
	// ErrUnavailable means the database cannot be used for now (down,
	// refusing connections, read-only, out of disk): the same request may
	// succeed later, so front doors ask the caller to come back.
	ErrUnavailable = problem.Domain("temporarily_unavailable", "database unavailable")
	// ErrTerminated means the person's account was terminated (C14): its
	// status can no longer change.
	ErrTerminated = problem.Domain("account_terminated", "account terminated")
)

// User statuses (C1).
const (
	StatusPending  = "pending"
	StatusActive   = "active"
	StatusInactive = "inactive"
	StatusDisabled = "disabled"
	StatusLocked   = "locked"
	StatusExpired  = "expired"
	// StatusTerminated is final (C14): only TerminateUser sets it, and no
	// path changes it back, so it is not among Statuses, the statuses an
	// administrator may set. The login ID stays taken.
	StatusTerminated = "terminated"
)

// Statuses lists every user status an administrator may set.
var Statuses = []string{StatusPending, StatusActive, StatusInactive, StatusDisabled, StatusLocked, StatusExpired}

// Factor states.
const (
	FactorPending = "pending"
	FactorActive  = "active"
	FactorRevoked = "revoked"
)

// Login transaction states.
const (
	TxnPending = "pending"
	TxnAllowed = "allowed"
	TxnDenied  = "denied"
)

// Admin key roles: a tenant administrator may unlock users (B6); support staff may not.
const (
	RoleAdmin   = "admin"
	RoleSupport = "support"
)

type Tenant struct {
	ID        string
	Slug      string
	Name      string
	Policy    []byte // JSON document, see package policy
	CreatedAt time.Time
	// MFAEnabledAt is when an administrator enabled MFA for the whole
	// tenant (B1); from then on it cannot be turned off. MFAEnabledBy is
	// the actor who did.
	MFAEnabledAt *time.Time
	MFAEnabledBy string
}

type Unit struct {
	ID, TenantID, Name string
}

type Group struct {
	ID, TenantID, Name string
}

type Application struct {
	ID        string
	TenantID  string
	Name      string
	KeyHash   []byte
	CreatedAt time.Time
	RevokedAt *time.Time
}

type AdminKey struct {
	ID        string
	TenantID  string
	Name      string
	Role      string
	KeyHash   []byte
	CreatedAt time.Time
	RevokedAt *time.Time
}

type User struct {
	ID           string
	TenantID     string
	LoginID      string // as given; uniqueness is on the lower-cased form
	Email        string
	Phone        string
	DisplayName  string
	Status       string
	PasswordHash string
	Groups       []string // group names
	Units        []string // unit names

	PasswordFailures int
	PasswordLockedAt *time.Time
	MFAFailures      int
	MFALockedAt      *time.Time
	LastLoginAt      *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time

	// PhoneVerifiedAt and EmailVerifiedAt are set when the person proved they
	// receive messages there (C7); codes and tokens go only to verified points.
	PhoneVerifiedAt *time.Time
	EmailVerifiedAt *time.Time
	// OTAConsecutive counts logins with one-time access tokens since the last
	// login with the authenticator app (C8).
	OTAConsecutive int
	// DOBHash and SSNHash are keyed hashes of the date of birth and social
	// security number used for identity validation (C6); nil when unknown.
	// The values themselves are never stored.
	DOBHash []byte
	SSNHash []byte
	// Locale is the language messages to the person are written in ("en",
	// "es"); empty means the default, English. The portal records the
	// language the person uses it in.
	Locale string
	// ConsoleRole lets the person into the admin console: RoleAdmin,
	// RoleSupport, or empty for none.
	ConsoleRole string
	// TerminatedAt, TerminatedBy (the administrator's actor) and
	// TerminationReason are set when the account was terminated (C14).
	TerminatedAt      *time.Time
	TerminatedBy      string
	TerminationReason string
}

// UserFilter narrows a search of a tenant's people (the help desk's search).
// TenantID is required. Query matches, case-insensitively, the start of the
// login ID, the start of the email address, the start of any word of the
// display name, and, when it looks like a phone number, the phone: all 10
// digits exactly, or its last digits (at least 4). Status, when set, must
// match exactly. Results are in login ID order, after After.
type UserFilter struct {
	TenantID string
	Query    string
	Status   string
	After    string
	Limit    int
}

// Termination is what terminating an account ended, for the audit record
// and the administrator (C14).
type Termination struct {
	Factors        int
	PortalSessions int
	TrustedDevices int
	LoginTxns      int
	OutboxMessages int
	PushChallenges int
	Challenges     int
	OIDCTokens     int
	OIDCCodes      int
}

type Factor struct {
	ID          string
	TenantID    string
	UserID      string
	Kind        string
	State       string
	Secret      []byte // sealed by the keyring, never plaintext
	LastStep    int64  // last TOTP step accepted, -1 when none
	Attempts    int    // wrong codes against a pending factor
	CreatedAt   time.Time
	ConfirmedAt *time.Time
	RevokedAt   *time.Time
	ExpiresAt   *time.Time // pending factors only
	// Config holds a factor's non-secret settings as JSON (a voice factor's
	// numbers and extensions).
	Config string
}

type LoginTxn struct {
	ID            string
	TenantID      string
	UserID        string
	ApplicationID string
	Mode          string // "password" or "mfa_only"
	State         string
	IP            string
	FactorID      string // factor that completed it
	CreatedAt     time.Time
	ExpiresAt     time.Time
	CompletedAt   *time.Time
	// EnrolUsedAt marks an allowed transaction already spent on beginning an enrolment.
	EnrolUsedAt *time.Time
}

type AuditEvent struct {
	ID            int64
	TenantID      string
	UserID        string
	ApplicationID string
	Actor         string // "user", "app:<id>", "admin:<key id>", "cli"
	Event         string
	Outcome       string
	IP            string
	Detail        string // JSON, never a secret
	CreatedAt     time.Time

	// The tamper evidence (X6, package auditchain). Nonce, ContentHash, MAC
	// and KeyID are set when the event is appended; Seq, PrevHash and Hash
	// when the sealer chains it (Seq 0: not sealed yet). Genesis marks an
	// event that existed before the chain did, MACed when it was sealed.
	Nonce       []byte
	ContentHash []byte
	MAC         []byte
	KeyID       string
	Genesis     bool
	Seq         int64
	PrevHash    []byte
	Hash        []byte
}

// AuditHead is a tenant's chain head: the last sealed event's seq and hash.
type AuditHead struct {
	TenantID string
	Seq      int64
	Hash     []byte
	// LegacyUntil is, until the sealer chained them, the newest event id
	// that existed when the chain was introduced: unsealed events up to it
	// have no MAC and are the chain's genesis. 0 once they are sealed.
	LegacyUntil int64
	UpdatedAt   time.Time
}

// AuditCheckpoint is a signed statement of a chain head at a time.
type AuditCheckpoint struct {
	TenantID  string
	Seq       int64
	Hash      []byte
	CreatedAt time.Time
	KeyID     string
	Signature []byte
}

// AuditFilter narrows a listing. TenantID is required (an empty one matches
// nothing, so a listing can never cross tenants); other zero fields match everything.
type AuditFilter struct {
	TenantID string
	UserID   string
	Event    string
	Outcome  string
	IP       string // the client address, exactly
	Since    time.Time
	Until    time.Time
	BeforeID int64 // for paging backwards
	Limit    int
}

// Charge is the result of charging one guess against a user's counter.
type Charge struct {
	// Allowed is false when the user was already at the limit: nothing may be evaluated.
	Allowed bool
	// Failures is the counter after this charge.
	Failures int
}

// Settle is a guess's outcome for SettleMFA.
type Settle struct {
	// Seen is the failure counter as read before the transaction; the
	// statement changes the row only while it still holds Seen and no lock.
	Seen    int
	Success bool
	// EndsOTARun makes a success also end a run of one-time access logins.
	EndsOTARun bool
	// Limit locks the counter when a failure reaches it.
	Limit int
	Now   time.Time
}

// Tenants are the organisations hosted by one server (G1).
type Tenants interface {
	CreateTenant(ctx context.Context, t *Tenant) error
	TenantByID(ctx context.Context, id string) (*Tenant, error)
	TenantBySlug(ctx context.Context, slug string) (*Tenant, error)
	ListTenants(ctx context.Context) ([]Tenant, error)
	UpdateTenantPolicy(ctx context.Context, id string, policy []byte) error
	CreateUnit(ctx context.Context, u *Unit) error
	CreateGroup(ctx context.Context, g *Group) error
	ListUnits(ctx context.Context, tenantID string) ([]Unit, error)
	ListGroups(ctx context.Context, tenantID string) ([]Group, error)
}

// Credentials are the keys applications and administrators present.
type Credentials interface {
	CreateApplication(ctx context.Context, a *Application) error
	ApplicationByKeyHash(ctx context.Context, hash []byte) (*Application, error)
	ListApplications(ctx context.Context, tenantID string) ([]Application, error)
	CreateAdminKey(ctx context.Context, k *AdminKey) error
	AdminKeyByHash(ctx context.Context, hash []byte) (*AdminKey, error)
}

// Users holds people and their counters.
type Users interface {
	CreateUser(ctx context.Context, u *User) error
	UserByID(ctx context.Context, tenantID, id string) (*User, error)
	UserByLoginID(ctx context.Context, tenantID, loginID string) (*User, error)
	// UserWithFactors reads the user and their active factors (oldest
	// first) in one statement.
	UserWithFactors(ctx context.Context, tenantID, loginID string) (*User, []Factor, error)
	UserByEmail(ctx context.Context, tenantID, email string) (*User, error)
	ListUsers(ctx context.Context, tenantID string, afterLoginID string, limit int) ([]User, error)
	// CountUsers counts a tenant's people, and those who belong to any of
	// the groups.
	CountUsers(ctx context.Context, tenantID string, groups []string) (total, members int, err error)
	// SetUserStatus also records when the status changed, which counts as
	// activity for DisableInactiveUsers.
	SetUserStatus(ctx context.Context, tenantID, id, status string, now time.Time) error
	SetPasswordHash(ctx context.Context, tenantID, id, hash string) error
	SetUserGroups(ctx context.Context, tenantID, id string, groups, units []string) error
	// DisableInactiveUsers sets Disabled on at most limit of the tenant's
	// Active users whose last login — or creation, for those who never logged
	// in — and last status change are before cutoff, and returns their IDs (C10). One statement: a
	// user is returned to exactly one caller however many run at once, and a
	// login recorded before the statement keeps the user Active.
	DisableInactiveUsers(ctx context.Context, tenantID string, cutoff, now time.Time, limit int) ([]string, error)

	// ChargeMFA increments the second-factor failure counter unless it is at
	// limit; a lock older than releaseAfter (when > 0) is released by the same
	// statement, which then counts this guess as the first.
	ChargeMFA(ctx context.Context, userID string, limit int, releaseAfter time.Duration, now time.Time) (Charge, error)
	ChargePassword(ctx context.Context, userID string, limit int, releaseAfter time.Duration, now time.Time) (Charge, error)
	// MarkMFALocked and MarkPasswordLocked record when a lock began (for timed release).
	MarkMFALocked(ctx context.Context, userID string, now time.Time) error
	MarkPasswordLocked(ctx context.Context, userID string, now time.Time) error
	// ResetMFA clears the second-factor counter after a success and records the login.
	ResetMFA(ctx context.Context, userID string, now time.Time) error
	// SettleMFA records a guess's outcome in one conditional statement when
	// the counter still holds what was read before the transaction
	// (s.Seen failures, no lock): a success clears it and records the login
	// (not for a terminated account), a failure adds one and, reaching
	// s.Limit, locks. It reports false, changing nothing, when the counter
	// moved since it was read; the caller then charges before it checks.
	SettleMFA(ctx context.Context, userID string, s Settle) (bool, error)
	ResetPassword(ctx context.Context, userID string) error
	// RefundPassword gives back a charged guess that could not be evaluated
	// (the hashing pool was full).
	RefundPassword(ctx context.Context, userID string) error
	RecordLogin(ctx context.Context, userID string, now time.Time) error
	// Unlock clears both counters and both locks.
	Unlock(ctx context.Context, tenantID, userID string) error
	// UnlockPassword clears only the password counter and its lock (a
	// password changed through a recovery code, C13).
	UnlockPassword(ctx context.Context, tenantID, userID string) error
	// SetIdentity records the keyed hashes of a user's date of birth and SSN (C6).
	SetIdentity(ctx context.Context, tenantID, userID string, dobHash, ssnHash []byte) error
	// SetConsoleRole gives a person a console role (store.RoleAdmin,
	// store.RoleSupport) or takes it away ("").
	SetConsoleRole(ctx context.Context, tenantID, userID, role string) error
	// SetUserLocale records the language of the person's messages.
	SetUserLocale(ctx context.Context, tenantID, userID, locale string) error
	// UsersByPhone lists the users whose verified phone is phone (B7: a number
	// may be shared), at most limit.
	UsersByPhone(ctx context.Context, tenantID, phone string, limit int) ([]User, error)
	// SearchUsers lists the users f matches, in login ID order.
	SearchUsers(ctx context.Context, f UserFilter) ([]User, error)
	// TerminateUser ends an account for good (C14), in one transaction: the
	// status becomes terminated with who, when and why; every factor,
	// portal session, trusted device, pending login transaction, live code,
	// open push, unsent message, OpenID Connect token and unused
	// authorization code of the user ends. ErrNotFound when the user is not
	// the tenant's, ErrTerminated when it already was terminated.
	TerminateUser(ctx context.Context, tenantID, userID, by, reason string, now time.Time) (Termination, error)
}

// Factors holds enrolled and pending authenticators.
type Factors interface {
	// CreatePendingFactor revokes any pending factor of the same kind for the
	// user and inserts f, so only the newest pending secret can be confirmed (C4).
	CreatePendingFactor(ctx context.Context, f *Factor, now time.Time) error
	FactorByID(ctx context.Context, tenantID, id string) (*Factor, error)
	ListFactors(ctx context.Context, userID string) ([]Factor, error)
	ActiveFactors(ctx context.Context, userID string) ([]Factor, error)
	// ChargeEnrolment counts a wrong code against a pending factor; false when spent.
	ChargeEnrolment(ctx context.Context, factorID string, limit int) (bool, error)
	// ActivateFactor turns the pending factor active, records the step used to
	// confirm it and revokes every other active factor of the same kind (C3).
	// It reports false when the factor was no longer pending.
	ActivateFactor(ctx context.Context, factorID string, step int64, now time.Time) (bool, error)
	// UseStep records a TOTP step if it is newer than the last one used; false
	// means the step was already used (replay).
	UseStep(ctx context.Context, factorID string, step int64) (bool, error)
	RevokeFactor(ctx context.Context, factorID string, now time.Time) (bool, error)
	// SetPendingFactorSecret stores the secret and config of a pending
	// factor (a phone app's keys once it registered); false when the factor
	// is no longer pending.
	SetPendingFactorSecret(ctx context.Context, factorID string, secret []byte, config string) (bool, error)
	RevokeAllFactors(ctx context.Context, userID string, now time.Time) (int, error)
}

// LoginTxns holds login attempts between the password and the second factor.
type LoginTxns interface {
	CreateLoginTxn(ctx context.Context, t *LoginTxn) error
	LoginTxnByID(ctx context.Context, tenantID, id string) (*LoginTxn, error)
	// CompleteLoginTxn moves a pending, unexpired transaction to state; false
	// when it was not pending any more.
	CompleteLoginTxn(ctx context.Context, id, state, factorID string, now time.Time) (bool, error)
	// UseTxnForEnrolment marks a transaction as spent on one enrolment; it
	// reports false when it already was. Whether the transaction is fresh
	// enough to enrol is the flow engine's decision.
	UseTxnForEnrolment(ctx context.Context, id string, now time.Time) (bool, error)
	DeleteExpiredLoginTxns(ctx context.Context, before time.Time) (int, error)
}

// Audit is the append-only record of security events (G5).
type Audit interface {
	AppendAudit(ctx context.Context, e *AuditEvent) error
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}

// AuditChain seals audit events into one hash chain per tenant and reads
// the chain back for verification (X6).
type AuditChain interface {
	// UnsealedAuditTenants lists, at most limit, the tenants with events
	// not sealed yet.
	UnsealedAuditTenants(ctx context.Context, limit int) ([]string, error)
	// LockAuditHead returns the tenant's chain head, locked until the
	// transaction ends (call it in InTx): sealers of several servers take
	// turns. A tenant without a head gets an empty one, unless some of its
	// events are sealed already (the head was deleted): then ErrNotFound.
	LockAuditHead(ctx context.Context, tenantID string) (*AuditHead, error)
	// SetAuditHead moves the tenant's chain head.
	SetAuditHead(ctx context.Context, h *AuditHead) error
	// UnsealedAudit lists, at most limit, the tenant's unsealed events with
	// an id above afterID, in id order.
	UnsealedAudit(ctx context.Context, tenantID string, afterID int64, limit int) ([]AuditEvent, error)
	// SealAuditEvent records e's Seq, PrevHash and Hash (and, for a genesis
	// event, its ContentHash, MAC and KeyID); ErrConflict when it was
	// sealed already.
	SealAuditEvent(ctx context.Context, e *AuditEvent) error
	AppendAuditCheckpoint(ctx context.Context, c *AuditCheckpoint) error
	// LastAuditCheckpoint is the tenant's newest checkpoint, ErrNotFound
	// when there is none.
	LastAuditCheckpoint(ctx context.Context, tenantID string) (*AuditCheckpoint, error)

	// AuditHeadOf reads the tenant's head without locking it; ErrNotFound
	// when there is none.
	AuditHeadOf(ctx context.Context, tenantID string) (*AuditHead, error)
	// SealedAudit lists, at most limit, the tenant's sealed events with a
	// seq above afterSeq, in seq order.
	SealedAudit(ctx context.Context, tenantID string, afterSeq int64, limit int) ([]AuditEvent, error)
	// AuditCheckpoints lists, at most limit, the tenant's checkpoints with
	// a seq above afterSeq, in seq order.
	AuditCheckpoints(ctx context.Context, tenantID string, afterSeq int64, limit int) ([]AuditCheckpoint, error)
	// DuplicateAuditMAC returns the events (at most two) of the first MAC
	// the tenant's events share, none when every MAC is unique: a copied
	// event.
	DuplicateAuditMAC(ctx context.Context, tenantID string) ([]AuditEvent, error)
}

// Outbox message states.
const (
	OutboxPending   = "pending"   // waiting for its first attempt
	OutboxSending   = "sending"   // claimed by a worker until its lease ends
	OutboxRetry     = "retry"     // failed, waiting for the next attempt
	OutboxDelivered = "delivered" // accepted by the provider; payload erased
	OutboxDead      = "dead"      // given up: permanent failure or attempts spent
)

// OutboxMessage is an SMS, call or email waiting for, or past, delivery.
type OutboxMessage struct {
	ID            string
	TenantID      string
	UserID        string
	Channel       string
	Purpose       string
	Destination   string // phone number or email address, shown to administrators
	Payload       []byte // sealed by the keyring: it may hold a one-time code
	State         string
	Attempts      int
	NextAttemptAt time.Time
	LeaseUntil    *time.Time
	ClaimedBy     string
	LastError     string
	Provider      string
	ProviderRef   string
	CreatedAt     time.Time
	DeliveredAt   *time.Time
}

// OutboxFilter narrows an administrator's listing of the outbox.
type OutboxFilter struct {
	TenantID string // required
	State    string
	UserID   string
	Limit    int
}

// Outbox is the durable queue between a state change and its message.
type Outbox interface {
	// EnqueueOutbox inserts m; call it in the transaction that caused it.
	EnqueueOutbox(ctx context.Context, m *OutboxMessage) error
	// ClaimOutbox atomically takes up to limit due messages (pending, retry,
	// or sending with an expired lease) for worker until leaseUntil; two
	// workers never hold one message at once (SKIP LOCKED on PostgreSQL).
	ClaimOutbox(ctx context.Context, worker string, now, leaseUntil time.Time, limit int) ([]OutboxMessage, error)
	// MarkOutboxDelivered records success and erases the payload; false when
	// the worker no longer held the message.
	MarkOutboxDelivered(ctx context.Context, id, worker, provider, ref string, now time.Time) (bool, error)
	// MarkOutboxFailed records a failure: retry at next, or dead when dead.
	MarkOutboxFailed(ctx context.Context, id, worker, provider, reason string, next time.Time, dead bool) (bool, error)
	// RenewOutboxLeases extends to until the leases worker still holds among
	// ids and returns those ids: a message missing from the answer was lost to
	// another worker after its lease ended, and must not be sent.
	RenewOutboxLeases(ctx context.Context, worker string, ids []string, until time.Time) ([]string, error)
	// ReleaseOutbox hands back messages among ids that worker still holds and
	// never attempted: due again at once, in the state they were claimed from,
	// the claim's attempt not counted. It returns how many were released.
	ReleaseOutbox(ctx context.Context, worker string, ids []string) (int, error)
	ListOutbox(ctx context.Context, f OutboxFilter) ([]OutboxMessage, error)
	// CountOutbox counts messages by state, for metrics.
	CountOutbox(ctx context.Context) (map[string]int, error)
}

// Challenge purposes.
const (
	PurposeLogin       = "login"        // an SMS or email code for a login (B3, B8)
	PurposeVerifyPhone = "verify_phone" // proving a new phone number (C7)
	PurposeVerifyEmail = "verify_email" // proving a new email address
	PurposeOTA         = "ota"          // a one-time access token (C8)
)

// Challenge is one code or token sent to a person, stored only as a keyed hash.
type Challenge struct {
	ID          string
	TenantID    string
	UserID      string
	Purpose     string
	Channel     string
	Destination string
	CodeHash    []byte
	TxnID       string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	ConsumedAt  *time.Time
}

// Challenges holds sent codes.
type Challenges interface {
	CreateChallenge(ctx context.Context, c *Challenge) error
	// ConsumeChallenge uses a live challenge with this hash once; the row
	// count decides between parallel attempts (invariant 3).
	ConsumeChallenge(ctx context.Context, userID, purpose string, codeHash []byte, now time.Time) (*Challenge, error)
	// ConsumeAllChallenges ends every unconsumed challenge of the purpose: a success
	// invalidates them all (B8), a resend invalidates earlier codes (C7).
	ConsumeAllChallenges(ctx context.Context, userID, purpose string, now time.Time) (int, error)
	LiveChallenge(ctx context.Context, tenantID, id string, now time.Time) (*Challenge, error)
}

// RateLimits counts sends per key in fixed windows.
type RateLimits interface {
	// TakeRate adds one to key's counter for the window starting at
	// windowStart unless it already reached limit; false means refused.
	TakeRate(ctx context.Context, key string, windowStart time.Time, limit int) (bool, error)
	DeleteRateWindows(ctx context.Context, before time.Time) (int, error)
}

// TrustedDevice is a remembered device that may skip the second factor (B4).
type TrustedDevice struct {
	ID         string
	TenantID   string
	UserID     string
	TokenHash  []byte
	IP         string
	Label      string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// TrustedDevices holds remembered devices.
type TrustedDevices interface {
	CreateTrustedDevice(ctx context.Context, d *TrustedDevice) error
	TrustedDeviceByHash(ctx context.Context, tenantID string, hash []byte) (*TrustedDevice, error)
	ListTrustedDevices(ctx context.Context, userID string) ([]TrustedDevice, error)
	TouchTrustedDevice(ctx context.Context, id string, now time.Time) error
	RevokeTrustedDevice(ctx context.Context, userID, id string, now time.Time) (bool, error)
	RevokeAllTrustedDevices(ctx context.Context, userID string, now time.Time) (int, error)
}

// Contacts changes a user's verified contact points and token count.
type Contacts interface {
	// SetPhone and SetEmail record a contact point; verifiedAt nil leaves it
	// unverified. SetEmail answers ErrConflict when another user has the email.
	SetPhone(ctx context.Context, tenantID, userID, phone string, verifiedAt *time.Time) error
	SetEmail(ctx context.Context, tenantID, userID, email string, verifiedAt *time.Time) error
	// TakeOTA counts one more consecutive one-time-token login unless limit
	// is reached; false means refused.
	TakeOTA(ctx context.Context, userID string, limit int) (bool, error)
	ResetOTA(ctx context.Context, userID string) error
	// UpsertFactor creates an active factor of a kind, or updates the config
	// of the existing one (SMS, email and voice factors follow contact points).
	UpsertFactor(ctx context.Context, f *Factor, now time.Time) error
}

// Voice call states. A call ends in exactly one of the final states (A6).
const (
	CallQueued       = "queued"
	CallRinging      = "ringing"
	CallAnswered     = "answered"
	CallApproved     = "approved"
	CallWrongKey     = "wrong_key"    // a key other than # was pressed
	CallNoInput      = "no_input"     // answered, nothing pressed before the timeout
	CallDisconnected = "disconnected" // answered, then hung up without input
	CallNoAnswer     = "no_answer"    // not answered, busy, or a voicemail took it
	CallWrongPIN     = "wrong_pin"
	CallFraud        = "fraud" // the person reported fraud (0#)
	CallFailed       = "failed"
)

// VoiceCall is one phone call placed to approve a login or verify a number.
type VoiceCall struct {
	ID          string
	TenantID    string
	UserID      string
	TxnID       string // login calls
	FactorID    string
	Purpose     string // "login" or "enrol"
	Leg         string // "primary" or "backup"
	Number      string
	Extension   string
	State       string
	Digits      string // only the fraud-code prefix "0" while it waits for "#"; never a PIN
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt *time.Time
}

// VoiceCalls holds placed calls.
type VoiceCalls interface {
	CreateCall(ctx context.Context, c *VoiceCall) error
	CallByID(ctx context.Context, id string) (*VoiceCall, error)
	// MoveCall changes a call's state only from one of from (a final state is
	// never left), so duplicate or late callbacks change nothing.
	MoveCall(ctx context.Context, id string, from []string, to, digits string, now time.Time) (bool, error)
	// LatestCall is the call in progress, else the newest, of a transaction or factor.
	LatestCall(ctx context.Context, tenantID, txnOrFactorID string) (*VoiceCall, error)
}

// Portal session levels.
const (
	// SessionEnrol: the password is proven and the user has no second factor
	// yet; only the enrolment wizard is open.
	SessionEnrol = "enrol"
	// SessionFull: the password and a second factor (or, by policy, the
	// security questions) are proven.
	SessionFull = "full"
	// SessionRecovery: a recovery in progress (identity validated, or a code
	// requested); no account page is open.
	SessionRecovery = "recovery"
)

// PortalSession is a browser signed in to the self-service portal. Only a
// keyed hash of its cookie token is stored.
type PortalSession struct {
	ID        string
	TokenHash []byte
	TenantID  string
	UserID    string
	Level     string
	// TxnID is the portal login transaction of the latest authentication;
	// the flow engine decides from it whether a change is fresh enough.
	TxnID string
	// AuthAt is the time of the latest authentication. A confirmed factor of
	// the user revoked after AuthAt ends the session (on every server).
	AuthAt     time.Time
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute end, whatever the activity
	IP         string
	UserAgent  string
	// Data is the page flow's own state as JSON (the pending enrolment, the
	// code just sent); never a secret.
	Data    string
	EndedAt *time.Time
}

// PortalSessions holds portal sign-ins.
type PortalSessions interface {
	CreatePortalSession(ctx context.Context, s *PortalSession) error
	// PortalSessionByHash returns the live session with this token hash: not
	// ended, not past ExpiresAt, seen within idle of now, and with no
	// confirmed factor of its user revoked after AuthAt. Otherwise ErrNotFound.
	PortalSessionByHash(ctx context.Context, hash []byte, now time.Time, idle time.Duration) (*PortalSession, error)
	// UpdatePortalSession writes Level, UserID, TxnID, AuthAt, LastSeenAt and
	// Data of a live session; false when it has ended.
	UpdatePortalSession(ctx context.Context, s *PortalSession) (bool, error)
	EndPortalSession(ctx context.Context, id string, now time.Time) error
	// EndUserPortalSessions ends every live session of the user but keep
	// (which may be empty) and reports how many ended.
	EndUserPortalSessions(ctx context.Context, userID, keep string, now time.Time) (int, error)
	DeleteExpiredPortalSessions(ctx context.Context, before time.Time) (int, error)
}

// SupportRequest is an "MFA issue" a person reported from the portal (A13).
type SupportRequest struct {
	ID       string
	TenantID string
	// Tracking is the number shown to the person and quoted in the
	// acknowledgement; unique.
	Tracking string
	UserID   string // set when the person was signed in
	LoginID  string
	Name     string
	Phone    string
	Email    string
	Subject  string
	Message  string
	IP       string
	State    string // SupportOpen, SupportInProgress or SupportClosed
	// Assignee is who on the help desk works the request ("" when nobody):
	// an administrator's actor ("user:<id>", "admin:<key id>") or a name.
	Assignee  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Reported issue states (A13).
const (
	SupportOpen       = "open"
	SupportInProgress = "in_progress"
	SupportClosed     = "closed"
)

// SupportStates lists every reported issue state.
var SupportStates = []string{SupportOpen, SupportInProgress, SupportClosed}

// SupportNote is the help desk's internal note on a reported issue; the
// person who reported it never sees it.
type SupportNote struct {
	ID        string
	TenantID  string
	RequestID string
	Author    string // the actor who wrote it
	Body      string
	CreatedAt time.Time
}

// SupportFilter narrows the help desk's queue. TenantID is required; other
// zero fields match everything. Query matches the tracking number (exactly
// or its start), and the start of the login ID, email address or name,
// case-insensitively. Before is the tracking number of the last row of the
// previous page.
type SupportFilter struct {
	TenantID string
	State    string
	Assignee string
	Query    string
	Before   string
	Limit    int
}

// SupportUpdate is a change to a reported issue; nil fields stay as they are.
type SupportUpdate struct {
	State    *string
	Assignee *string
	// From, when set, is the state the request must still be in: the change
	// is refused (ErrConflict) when another one got there first.
	From string
}

// SupportRequests holds reported issues for administrators.
type SupportRequests interface {
	CreateSupportRequest(ctx context.Context, r *SupportRequest) error
	// ListSupportRequests lists newest first, at most limit, older than
	// beforeTracking when it is not empty.
	ListSupportRequests(ctx context.Context, tenantID, beforeTracking string, limit int) ([]SupportRequest, error)
	// SearchSupportRequests lists the requests f matches, newest first.
	SearchSupportRequests(ctx context.Context, f SupportFilter) ([]SupportRequest, error)
	SupportRequestByTracking(ctx context.Context, tenantID, tracking string) (*SupportRequest, error)
	// UpdateSupportRequest changes state and assignee in one statement and
	// records updated_at; ErrNotFound when unknown, ErrConflict when From
	// no longer holds.
	UpdateSupportRequest(ctx context.Context, tenantID, tracking string, u SupportUpdate, now time.Time) (*SupportRequest, error)
	// AddSupportNote inserts a note and records updated_at on its request.
	AddSupportNote(ctx context.Context, n *SupportNote) error
	// SupportNotes lists a request's notes, oldest first.
	SupportNotes(ctx context.Context, tenantID, requestID string) ([]SupportNote, error)
}

// Phase brings the members of some groups or units into MFA's scope from
// StartsAt (A1).
type Phase struct {
	ID        string
	TenantID  string
	Name      string
	Groups    []string // group names
	Units     []string // unit names
	StartsAt  time.Time
	CreatedAt time.Time
	CreatedBy string
	// ScheduledNotifiedAt and StartedNotifiedAt are set once every person
	// the phase covers was told it is scheduled, and that it started.
	ScheduledNotifiedAt *time.Time
	StartedNotifiedAt   *time.Time
}

// Phase notice kinds.
const (
	PhaseNoticeScheduled = "scheduled"
	PhaseNoticeStarted   = "started"
)

// PeopleCounts describe a tenant's people for the enablement checklist;
// disabled and expired accounts are left out.
type PeopleCounts struct {
	Total int
	// Enrolled have an active second factor.
	Enrolled int
	// NoContact have neither a verified phone nor a verified email.
	NoContact int
}

// Enablement holds what tenant-wide enablement (B1) and phased enforcement
// (A1) keep.
type Enablement interface {
	// TenantForUpdate reads the tenant and, inside a write transaction,
	// holds its row until the transaction ends, so two writers of the
	// tenant's policy or enablement run one after the other.
	TenantForUpdate(ctx context.Context, id string) (*Tenant, error)
	// SetTenantMFAEnabled records the enablement unless one is recorded;
	// false when it already was.
	SetTenantMFAEnabled(ctx context.Context, id, by string, at time.Time) (bool, error)
	// CountAdministrators counts the tenant's people whose console role is
	// admin, and how many of them have an active second factor.
	CountAdministrators(ctx context.Context, tenantID string) (total, enrolled int, err error)
	CountPeople(ctx context.Context, tenantID string) (PeopleCounts, error)
	// CountDelivered counts the tenant's outbox messages of the channel and
	// purpose (any purpose when empty) delivered since then.
	CountDelivered(ctx context.Context, tenantID, channel, purpose string, since time.Time) (int, error)

	CreatePhase(ctx context.Context, p *Phase) error
	PhaseByID(ctx context.Context, tenantID, id string) (*Phase, error)
	// ListPhases lists the tenant's phases by start.
	ListPhases(ctx context.Context, tenantID string) ([]Phase, error)
	// DeletePhase deletes the phase if it starts after now; false when it
	// had started (or is not the tenant's).
	DeletePhase(ctx context.Context, tenantID, id string, now time.Time) (bool, error)
	// CountPhase counts the people the phase covers and how many of them
	// have an active second factor.
	CountPhase(ctx context.Context, tenantID, id string) (inScope, enrolled int, err error)
	// PendingPhases lists, across tenants, at most limit phases whose
	// scheduled notices (starting after now) or started notices (started
	// by now) are not all sent.
	PendingPhases(ctx context.Context, now time.Time, limit int) ([]Phase, error)
	// PhaseAudience lists at most limit people the phase covers who have no
	// notice of kind yet; with unenrolledOnly, only those without an active
	// second factor.
	PhaseAudience(ctx context.Context, tenantID, phaseID, kind string, unenrolledOnly bool, limit int) ([]User, error)
	// RecordPhaseNotice records that the person was told of the phase;
	// false when they already were.
	RecordPhaseNotice(ctx context.Context, phaseID, userID, kind string, now time.Time) (bool, error)
	// MarkPhaseNotified records that every notice of kind went out.
	MarkPhaseNotified(ctx context.Context, phaseID, kind string, now time.Time) error
}

// Queries is everything that can run either alone or inside a write transaction.
type Queries interface {
	Enablement
	Tenants
	Credentials
	Users
	Factors
	LoginTxns
	Audit
	AuditChain
	Outbox
	Challenges
	RateLimits
	TrustedDevices
	Contacts
	VoiceCalls
	PortalSessions
	SupportRequests
	OIDC
	PushChallenges
}

// Store is a database.
type Store interface {
	Queries
	// InTx runs fn in one write transaction: every change in it commits or none
	// does. On SQLite it begins IMMEDIATE so writers queue instead of failing.
	InTx(ctx context.Context, fn func(q Queries) error) error
	Ping(ctx context.Context) error
	Dialect() string
	Close() error
}
