package directory

import (
	"encoding/json"
	"time"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/store"
)

// The shapes in which administrators see users, audit events and reported
// issues, shared by every front door that shows them (the REST API, the
// command line's --json output) so that none has to import another.

// UserBody is the admin view of a user; it never carries a password hash.
type UserBody struct {
	ID               string     `json:"id"`
	LoginID          string     `json:"login_id"`
	Email            string     `json:"email,omitempty"`
	Phone            string     `json:"phone,omitempty"`
	DisplayName      string     `json:"display_name,omitempty"`
	Status           string     `json:"status"`
	Groups           []string   `json:"groups"`
	Units            []string   `json:"units"`
	HasPassword      bool       `json:"has_password"`
	MFAFailures      int        `json:"mfa_failures"`
	MFALockedAt      *time.Time `json:"mfa_locked_at,omitempty"`
	PasswordFailures int        `json:"password_failures"`
	PasswordLockedAt *time.Time `json:"password_locked_at,omitempty"`
	LastLoginAt      *time.Time `json:"last_login_at,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
	// Locale is the language of the person's messages.
	Locale string `json:"locale"`
	// ConsoleRole is the person's role in the admin console, if any.
	ConsoleRole string `json:"console_role,omitempty"`
	// TerminatedAt, TerminatedBy and TerminationReason are set once the
	// account was terminated (C14).
	TerminatedAt      *time.Time `json:"terminated_at,omitempty"`
	TerminatedBy      string     `json:"terminated_by,omitempty"`
	TerminationReason string     `json:"termination_reason,omitempty"`
}

// ToUserBody converts a stored user.
func ToUserBody(u *store.User) UserBody {
	b := UserBody{ID: u.ID, LoginID: u.LoginID, Email: u.Email, Phone: u.Phone, DisplayName: u.DisplayName, Status: u.Status,
		Groups: u.Groups, Units: u.Units, HasPassword: u.PasswordHash != "",
		MFAFailures: u.MFAFailures, MFALockedAt: u.MFALockedAt, PasswordFailures: u.PasswordFailures, PasswordLockedAt: u.PasswordLockedAt,
		LastLoginAt: u.LastLoginAt, CreatedAt: u.CreatedAt, Locale: u.Locale, ConsoleRole: u.ConsoleRole,
		TerminatedAt: u.TerminatedAt, TerminatedBy: u.TerminatedBy, TerminationReason: u.TerminationReason}
	if b.Locale == "" {
		b.Locale = flow.DefaultLanguage
	}
	if b.Groups == nil {
		b.Groups = []string{}
	}
	if b.Units == nil {
		b.Units = []string{}
	}
	return b
}

// AuditBody is one audit event as the API and the command line show it.
type AuditBody struct {
	ID            int64           `json:"id"`
	Time          time.Time       `json:"time"`
	Event         string          `json:"event"`
	Outcome       string          `json:"outcome"`
	UserID        string          `json:"user_id,omitempty"`
	ApplicationID string          `json:"application_id,omitempty"`
	Actor         string          `json:"actor,omitempty"`
	IP            string          `json:"ip,omitempty"`
	Detail        json.RawMessage `json:"detail"`
}

// ToAuditBody converts a stored event.
func ToAuditBody(e *store.AuditEvent) AuditBody {
	return AuditBody{ID: e.ID, Time: e.CreatedAt, Event: e.Event, Outcome: e.Outcome, UserID: e.UserID, ApplicationID: e.ApplicationID,
		Actor: e.Actor, IP: e.IP, Detail: json.RawMessage(e.Detail)}
}

// SupportRequestBody is a reported MFA issue (A13) as administrators see it;
// the command line's --json output shares it.
type SupportRequestBody struct {
	Tracking  string    `json:"tracking"`
	LoginID   string    `json:"login_id"`
	Name      string    `json:"name"`
	Phone     string    `json:"phone"`
	Email     string    `json:"email"`
	Subject   string    `json:"subject"`
	Message   string    `json:"message"`
	State     string    `json:"state"`
	Assignee  string    `json:"assignee"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	UserID    string    `json:"user_id,omitempty"`
	// Notes are the help desk's internal notes, oldest first; only the
	// answer about one request carries them.
	Notes []SupportNoteBody `json:"notes,omitempty"`
}

// SupportNoteBody is an internal note on a reported issue.
type SupportNoteBody struct {
	ID        string    `json:"id"`
	Author    string    `json:"author"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// ToSupportRequestBody converts a stored request.
func ToSupportRequestBody(r *store.SupportRequest) SupportRequestBody {
	return SupportRequestBody{Tracking: r.Tracking, LoginID: r.LoginID, Name: r.Name, Phone: r.Phone, Email: r.Email, Subject: r.Subject,
		Message: r.Message, State: r.State, Assignee: r.Assignee, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, UserID: r.UserID}
}

// ToSupportNoteBody converts a stored note.
func ToSupportNoteBody(n *store.SupportNote) SupportNoteBody {
	return SupportNoteBody{ID: n.ID, Author: n.Author, Body: n.Body, CreatedAt: n.CreatedAt}
}

// ClientView is an application registered with a tenant's OpenID Connect
// provider (X2), as the admin API and the command line show it. It never
// carries the secret's hash; ClientSecret is set only in the answer that
// made a new secret, the one time it is shown. Lifetimes are in seconds; a
// refresh_token_ttl of 0 means no refresh tokens.
type ClientView struct {
	ClientID       string    `json:"client_id"`
	ClientSecret   string    `json:"client_secret,omitempty"`
	Name           string    `json:"name"`
	Issuer         string    `json:"issuer,omitempty"`
	DiscoveryURL   string    `json:"discovery_url,omitempty"`
	Public         bool      `json:"public"`
	RedirectURIs   []string  `json:"redirect_uris"`
	PostLogoutURIs []string  `json:"post_logout_redirect_uris"`
	Scopes         []string  `json:"scopes"`
	SigningAlg     string    `json:"signing_alg"`
	AccessTTL      int64     `json:"access_token_ttl"`
	IDTokenTTL     int64     `json:"id_token_ttl"`
	RefreshTTL     int64     `json:"refresh_token_ttl"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Issuer is a tenant's OpenID Connect issuer under base, the address
// Countersign is reached at.
func Issuer(base, slug string) string { return base + "/oidc/" + slug }

// DiscoveryURL is where an issuer publishes its configuration.
func DiscoveryURL(issuer string) string { return issuer + "/.well-known/openid-configuration" }

// ToClientView converts a stored client; secret is the one just made, if
// any, and issuer the tenant's (empty leaves it out).
func ToClientView(c *store.OIDCClient, secret, issuer string) ClientView {
	v := ClientView{ClientID: c.ID, ClientSecret: secret, Name: c.Name, Issuer: issuer, Public: c.SecretHash == nil,
		RedirectURIs: c.RedirectURIs, PostLogoutURIs: c.PostLogoutURIs, Scopes: c.Scopes, SigningAlg: c.SigningAlg,
		AccessTTL: int64(c.AccessTTL / time.Second), IDTokenTTL: int64(c.IDTokenTTL / time.Second), RefreshTTL: int64(c.RefreshTTL / time.Second),
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if issuer != "" {
		v.DiscoveryURL = DiscoveryURL(issuer)
	}
	for _, l := range []*[]string{&v.RedirectURIs, &v.PostLogoutURIs, &v.Scopes} {
		if *l == nil {
			*l = []string{}
		}
	}
	return v
}

// ClientInputOf is a client's registration as it stands, to change some
// of it and keep the rest.
func ClientInputOf(c *store.OIDCClient) flow.ClientInput {
	in := flow.ClientInput{Name: c.Name, Public: c.SecretHash == nil, RedirectURIs: c.RedirectURIs, PostLogoutURIs: c.PostLogoutURIs,
		Scopes: c.Scopes, SigningAlg: c.SigningAlg, AccessTTL: c.AccessTTL, IDTokenTTL: c.IDTokenTTL, RefreshTTL: c.RefreshTTL}
	if c.RefreshTTL == 0 {
		in.RefreshTTL = -1 // none, not the default
	}
	return in
}

// KeyView is one of a tenant's token-signing keys: its public part only.
type KeyView struct {
	KID       string     `json:"kid"`
	Alg       string     `json:"alg"`
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at,omitempty"`
}

// ToKeyView converts a published key.
func ToKeyView(k *flow.SigningKey) KeyView {
	return KeyView{KID: k.ID, Alg: k.Alg, CreatedAt: k.CreatedAt, RetiredAt: k.RetiredAt}
}

// PhaseBody is an enforcement phase with its progress, as the API and the
// command line's --json show it.
type PhaseBody struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Groups    []string `json:"groups"`
	Units     []string `json:"units"`
	StartsAt  string   `json:"starts_at"`
	CreatedAt string   `json:"created_at"`
	CreatedBy string   `json:"created_by"`
	Started   bool     `json:"started"`
	InScope   int      `json:"in_scope"`
	Enrolled  int      `json:"enrolled"`
}

// ToPhaseBody converts a phase with its progress.
func ToPhaseBody(p PhaseProgress) PhaseBody {
	b := PhaseBody{ID: p.Phase.ID, Name: p.Phase.Name, Groups: p.Phase.Groups, Units: p.Phase.Units,
		StartsAt: p.Phase.StartsAt.UTC().Format(time.RFC3339), CreatedAt: p.Phase.CreatedAt.UTC().Format(time.RFC3339),
		CreatedBy: p.Phase.CreatedBy, Started: p.Started, InScope: p.InScope, Enrolled: p.Enrolled}
	if b.Groups == nil {
		b.Groups = []string{}
	}
	if b.Units == nil {
		b.Units = []string{}
	}
	return b
}
