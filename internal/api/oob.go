package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

type sentBody struct {
	ID        string    `json:"id"`
	Channel   string    `json:"channel"`
	SentTo    string    `json:"sent_to"`
	ExpiresAt time.Time `json:"expires_at"`
}

func toSentBody(s *flow.Sent) sentBody {
	return sentBody{ID: s.ID, Channel: s.Channel, SentTo: s.SentTo, ExpiresAt: s.ExpiresAt}
}

func (a *API) sendCode(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		FactorID string `json:"factor_id"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	// A push factor's challenge is a push to the phone app (A9): its
	// outcome comes in the transaction's long poll.
	ch, err := a.Engine.SendPush(r.Context(), c.Caller, r.PathValue("id"), in.FactorID)
	if err == nil {
		writeJSON(w, http.StatusAccepted, map[string]any{"kind": "push", "push": toPushBody(ch, a.Engine.CurrentTime())})
		return nil
	}
	if !errors.Is(err, flow.ErrFactorNotAllowed) {
		return err
	}
	sent, err := a.Engine.SendCode(r.Context(), c.Caller, r.PathValue("id"), in.FactorID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, toSentBody(sent))
	return nil
}

func (a *API) requestOneTimeToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		LoginID string `json:"login_id"`
		Channel string `json:"channel"`
		IP      string `json:"ip"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	endUserIP(c, in.IP)
	sent, err := a.Engine.RequestOneTimeToken(r.Context(), c.Caller, in.LoginID, in.Channel)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, toSentBody(sent))
	return nil
}

func (a *API) beginContactChange(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		TransactionID string `json:"transaction_id"`
		Kind          string `json:"kind"`
		Value         string `json:"value"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	sent, err := a.Engine.BeginContactChange(r.Context(), c.Caller, in.TransactionID, in.Kind, in.Value)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toSentBody(sent))
	return nil
}

type contactBody struct {
	UserID          string     `json:"user_id"`
	Phone           string     `json:"phone,omitempty"`
	PhoneVerifiedAt *time.Time `json:"phone_verified_at,omitempty"`
	Email           string     `json:"email,omitempty"`
	EmailVerifiedAt *time.Time `json:"email_verified_at,omitempty"`
}

func toContactBody(u *store.User) contactBody {
	return contactBody{UserID: u.ID, Phone: flow.MaskPhone(u.Phone), PhoneVerifiedAt: u.PhoneVerifiedAt, Email: flow.MaskEmail(u.Email), EmailVerifiedAt: u.EmailVerifiedAt}
}

func (a *API) confirmContactChange(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Code string `json:"code"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	u, err := a.Engine.ConfirmContactChange(r.Context(), c.Caller, r.PathValue("id"), in.Code, nil)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toContactBody(u))
	return nil
}

// setContact lets an administrator record a user's email or mobile number
// (B2); the old contact point is told.
func (a *API) setContact(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Email  *string `json:"email"`
		Phone  *string `json:"phone"`
		Locale *string `json:"locale"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	u, err := a.user(r, c)
	if err != nil {
		return err
	}
	var errs validate.Errors
	var email, phone string
	if in.Email != nil {
		email = validate.Email(&errs, "email", *in.Email, true)
	}
	if in.Phone != nil {
		phone = validate.Phone(&errs, "phone", *in.Phone, true)
	}
	var locale string
	if in.Locale != nil {
		locale = flow.ValidateLanguage(&errs, "locale", *in.Locale)
	}
	if in.Email == nil && in.Phone == nil && in.Locale == nil {
		errs.Add("email", "required", "Send email, phone, locale or any of them.")
	}
	if err := errs.Err(); err != nil {
		return err
	}
	if in.Email != nil {
		if err := a.Engine.SetContact(r.Context(), c.Caller, u.ID, delivery.Email, email); err != nil {
			return err
		}
	}
	if in.Phone != nil {
		if err := a.Engine.SetContact(r.Context(), c.Caller, u.ID, delivery.SMS, phone); err != nil {
			return err
		}
	}
	if in.Locale != nil {
		if err := a.Directory.SetLocale(r.Context(), c.Caller, u.ID, locale); err != nil {
			return err
		}
	}
	return a.writeUser(w, r, c, u.ID)
}

type deviceBody struct {
	ID         string     `json:"id"`
	Label      string     `json:"label,omitempty"`
	IP         string     `json:"ip,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

func writeDevices(w http.ResponseWriter, devices []store.TrustedDevice) {
	out := []deviceBody{}
	for _, d := range devices {
		out = append(out, deviceBody{ID: d.ID, Label: d.Label, IP: d.IP, CreatedAt: d.CreatedAt, ExpiresAt: d.ExpiresAt, LastUsedAt: d.LastUsedAt, RevokedAt: d.RevokedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": out})
}

func (a *API) listTrustedDevices(w http.ResponseWriter, r *http.Request, c *caller) error {
	u, err := a.user(r, c)
	if err != nil {
		return err
	}
	devices, err := a.Directory.TrustedDevices(r.Context(), u.ID)
	if err != nil {
		return err
	}
	writeDevices(w, devices)
	return nil
}

func (a *API) revokeTrustedDevice(w http.ResponseWriter, r *http.Request, c *caller) error {
	u, err := a.user(r, c)
	if err != nil {
		return err
	}
	if err := a.Engine.RevokeTrustedDevice(r.Context(), c.Caller, u.ID, r.PathValue("device")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "revoked"})
	return nil
}

// ownTrustedDevices shows a person their remembered devices, on the strength
// of a fresh login transaction.
func (a *API) ownTrustedDevices(w http.ResponseWriter, r *http.Request, c *caller) error {
	devices, err := a.Engine.OwnTrustedDevices(r.Context(), c.Caller, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeDevices(w, devices)
	return nil
}

func (a *API) revokeOwnTrustedDevice(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := a.Engine.RevokeOwnTrustedDevice(r.Context(), c.Caller, r.PathValue("id"), r.PathValue("device")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "revoked"})
	return nil
}

type outboxBody struct {
	ID          string     `json:"id"`
	UserID      string     `json:"user_id,omitempty"`
	Channel     string     `json:"channel"`
	Purpose     string     `json:"purpose"`
	To          string     `json:"to"`
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	NextAttempt time.Time  `json:"next_attempt_at"`
	LastError   string     `json:"last_error,omitempty"`
	Provider    string     `json:"provider,omitempty"`
	ProviderRef string     `json:"provider_ref,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// listOutbox shows delivery state and failures to administrators; payloads
// (which may hold codes) are never shown.
func (a *API) listOutbox(w http.ResponseWriter, r *http.Request, c *caller) error {
	limit, err := intParam(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	f := store.OutboxFilter{TenantID: c.TenantID, State: r.URL.Query().Get("state"), Limit: limit}
	if ref := r.URL.Query().Get("user"); ref != "" {
		u, err := a.Directory.User(r.Context(), c.TenantID, ref)
		if err != nil {
			return err
		}
		f.UserID = u.ID
	}
	rows, err := a.Directory.Outbox(r.Context(), f)
	if err != nil {
		return err
	}
	out := []outboxBody{}
	for _, m := range rows {
		to := flow.MaskPhone(m.Destination)
		if m.Channel == delivery.Email {
			to = flow.MaskEmail(m.Destination)
		}
		out = append(out, outboxBody{ID: m.ID, UserID: m.UserID, Channel: m.Channel, Purpose: m.Purpose, To: to, State: m.State, Attempts: m.Attempts,
			NextAttempt: m.NextAttemptAt, LastError: m.LastError, Provider: m.Provider, ProviderRef: m.ProviderRef, CreatedAt: m.CreatedAt, DeliveredAt: m.DeliveredAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": out})
	return nil
}
