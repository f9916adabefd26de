package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"

	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

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
}

// ToUserBody is shared with the command line's --json output.
func ToUserBody(u *store.User) UserBody {
	b := UserBody{ID: u.ID, LoginID: u.LoginID, Email: u.Email, Phone: u.Phone, DisplayName: u.DisplayName, Status: u.Status,
		Groups: u.Groups, Units: u.Units, HasPassword: u.PasswordHash != "",
		MFAFailures: u.MFAFailures, MFALockedAt: u.MFALockedAt, PasswordFailures: u.PasswordFailures, PasswordLockedAt: u.PasswordLockedAt,
		LastLoginAt: u.LastLoginAt, CreatedAt: u.CreatedAt, Locale: u.Locale}
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

func (a *API) user(r *http.Request, c *caller) (*store.User, error) {
	return a.Directory.User(r.Context(), c.TenantID, r.PathValue("id"))
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, c *caller) error {
	limit, err := intParam(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	users, err := a.Directory.Users(r.Context(), c.TenantID, r.URL.Query().Get("after"), limit)
	if err != nil {
		return err
	}
	out := struct {
		Users []UserBody `json:"users"`
		Next  string     `json:"next_after,omitempty"`
	}{Users: []UserBody{}}
	for i := range users {
		out.Users = append(out.Users, ToUserBody(&users[i]))
	}
	if len(users) == limit {
		out.Next = users[len(users)-1].LoginID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in directory.NewUser
	if err := decode(r, &in); err != nil {
		return err
	}
	u, err := a.Directory.CreateUser(r.Context(), c.Caller, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ToUserBody(u))
	return nil
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	u, err := a.user(r, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ToUserBody(u))
	return nil
}

func (a *API) setStatus(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Status string `json:"status"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	u, err := a.user(r, c)
	if err != nil {
		return err
	}
	if err := a.Directory.SetStatus(r.Context(), c.Caller, u.ID, in.Status); err != nil {
		return err
	}
	return a.writeUser(w, r, c, u.ID)
}

func (a *API) writeUser(w http.ResponseWriter, r *http.Request, c *caller, id string) error {
	u, err := a.Directory.UserByID(r.Context(), c.TenantID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ToUserBody(u))
	return nil
}

func (a *API) unlock(w http.ResponseWriter, r *http.Request, c *caller) error {
	u, err := a.user(r, c)
	if err != nil {
		return err
	}
	if err := a.Directory.Unlock(r.Context(), c.Caller, c.role, u.ID); err != nil {
		return err
	}
	return a.writeUser(w, r, c, u.ID)
}

func (a *API) resetFactors(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := mustRole(c, store.RoleAdmin); err != nil {
		return err
	}
	u, err := a.user(r, c)
	if err != nil {
		return err
	}
	n, err := a.Directory.ResetFactors(r.Context(), c.Caller, u.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"revoked": n})
	return nil
}

func (a *API) listFactors(w http.ResponseWriter, r *http.Request, c *caller) error {
	u, err := a.user(r, c)
	if err != nil {
		return err
	}
	factors, err := a.Directory.Factors(r.Context(), u.ID)
	if err != nil {
		return err
	}
	out := []factorBody{}
	for i := range factors {
		out = append(out, toFactorBody(&factors[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"factors": out})
	return nil
}

func (a *API) adminBeginEnrolment(w http.ResponseWriter, r *http.Request, c *caller) error {
	// Whoever sees the secret could produce codes: tenant administrators only.
	if err := mustRole(c, store.RoleAdmin); err != nil {
		return err
	}
	u, err := a.user(r, c)
	if err != nil {
		return err
	}
	en, err := a.Engine.AdminBeginTOTPEnrolment(r.Context(), c.Caller, u.ID)
	if err != nil {
		return err
	}
	return writeEnrolment(w, en)
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

func (a *API) listAudit(w http.ResponseWriter, r *http.Request, c *caller) error {
	q := r.URL.Query()
	var errs validate.Errors
	f := store.AuditFilter{TenantID: c.TenantID, Event: q.Get("event"), Outcome: q.Get("outcome")}
	f.Since = timeParam(&errs, q.Get("since"), "since")
	f.Until = timeParam(&errs, q.Get("until"), "until")
	var err error
	if f.Limit, err = intParam(r, "limit", 100, 1, 1000); err != nil {
		return err
	}
	before, err := intParam(r, "before", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	f.BeforeID = int64(before)
	if err := errs.Err(); err != nil {
		return err
	}
	if ref := q.Get("user"); ref != "" {
		u, err := a.Directory.User(r.Context(), c.TenantID, ref)
		if err != nil {
			return err
		}
		f.UserID = u.ID
	}
	events, err := a.Directory.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	out := struct {
		Events []AuditBody `json:"events"`
		Next   int64       `json:"next_before,omitempty"`
	}{Events: []AuditBody{}}
	for i := range events {
		out.Events = append(out.Events, ToAuditBody(&events[i]))
	}
	if len(events) == f.Limit {
		out.Next = events[len(events)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getPolicy(w http.ResponseWriter, r *http.Request, c *caller) error {
	_, p, err := a.Engine.Policy(r.Context(), c.TenantID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (a *API) putPolicy(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := mustRole(c, store.RoleAdmin); err != nil {
		return err
	}
	doc, err := io.ReadAll(r.Body)
	if err != nil {
		return ToPublic(err)
	}
	p, err := a.Directory.SetPolicy(r.Context(), c.Caller, doc)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// namedBody is a unit or a group.
type namedBody struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	Name     string `json:"name"`
}

func (a *API) createGroup(w http.ResponseWriter, r *http.Request, c *caller) error {
	return a.createNamed(w, r, c, func(name string) (namedBody, error) {
		g, err := a.Directory.CreateGroup(r.Context(), c.Caller, name)
		if err != nil {
			return namedBody{}, err
		}
		return namedBody{g.ID, g.TenantID, g.Name}, nil
	})
}

func (a *API) createUnit(w http.ResponseWriter, r *http.Request, c *caller) error {
	return a.createNamed(w, r, c, func(name string) (namedBody, error) {
		u, err := a.Directory.CreateUnit(r.Context(), c.Caller, name)
		if err != nil {
			return namedBody{}, err
		}
		return namedBody{u.ID, u.TenantID, u.Name}, nil
	})
}

func (a *API) createNamed(w http.ResponseWriter, r *http.Request, c *caller, create func(string) (namedBody, error)) error {
	if err := mustRole(c, store.RoleAdmin); err != nil {
		return err
	}
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := create(in.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
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
	CreatedAt time.Time `json:"created_at"`
	UserID    string    `json:"user_id,omitempty"`
}

// ToSupportRequestBody converts a stored request.
func ToSupportRequestBody(r *store.SupportRequest) SupportRequestBody {
	return SupportRequestBody{Tracking: r.Tracking, LoginID: r.LoginID, Name: r.Name, Phone: r.Phone, Email: r.Email, Subject: r.Subject,
		Message: r.Message, State: r.State, CreatedAt: r.CreatedAt, UserID: r.UserID}
}

// listSupportRequests pages through the tenant's reported issues, newest
// first; both admin roles may read them (the help desk answers them).
func (a *API) listSupportRequests(w http.ResponseWriter, r *http.Request, c *caller) error {
	limit, err := intParam(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	rows, err := a.Directory.SupportRequests(r.Context(), c.TenantID, r.URL.Query().Get("before"), limit)
	if err != nil {
		return err
	}
	out := struct {
		Requests []SupportRequestBody `json:"support_requests"`
		Next     string               `json:"next_before,omitempty"`
	}{Requests: []SupportRequestBody{}}
	for i := range rows {
		out.Requests = append(out.Requests, ToSupportRequestBody(&rows[i]))
	}
	if len(rows) == limit {
		out.Next = rows[len(rows)-1].Tracking
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getSupportRequest(w http.ResponseWriter, r *http.Request, c *caller) error {
	req, err := a.Directory.SupportRequest(r.Context(), c.TenantID, r.PathValue("tracking"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ToSupportRequestBody(req))
	return nil
}

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, validate.Errors{{Field: name, Code: "invalid", Message: name + " must be a whole number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi) + "."}}
	}
	return n, nil
}

func timeParam(errs *validate.Errors, s, field string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		errs.Add(field, "invalid", field+" must be an RFC 3339 time such as 2026-01-02T15:04:05Z.")
	}
	return t
}
