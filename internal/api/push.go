package api

import (
	"encoding/base64"
	"net/http"
	"time"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/store"
)

// The Mobile App method (A9, X3) through the REST API: an application
// enrols the phone app with an activation code and its QR code, sends the
// test push that activates it, and sends sign-in pushes whose outcome it
// learns by long-polling the transaction.

type pushEnrolmentBody struct {
	EnrolmentID    string    `json:"enrolment_id"`
	Kind           string    `json:"kind"`
	OTPAuthURI     string    `json:"otpauth_uri"`
	ActivationCode string    `json:"activation_code"`
	URL            string    `json:"url"`
	QRPNGBase64    string    `json:"qr_png_base64"`
	ExpiresAt      time.Time `json:"expires_at"`
}

func (a *API) beginPushEnrolment(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		TransactionID string `json:"transaction_id"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	en, err := a.Engine.BeginPushEnrolment(r.Context(), c.Caller, in.TransactionID)
	if err != nil {
		return err
	}
	return writePushEnrolment(w, en)
}

// adminBeginPushEnrolment makes a user's activation code; whoever holds it
// could register a phone of their own: tenant administrators only.
func (a *API) adminBeginPushEnrolment(w http.ResponseWriter, r *http.Request, c *caller) error {
	u, err := a.user(r, c)
	if err != nil {
		return err
	}
	en, err := a.Engine.AdminBeginPushEnrolment(r.Context(), c.Caller, u.ID)
	if err != nil {
		return err
	}
	return writePushEnrolment(w, en)
}

func (a *API) adminTestPush(w http.ResponseWriter, r *http.Request, c *caller) error {
	ch, err := a.Engine.AdminSendTestPush(r.Context(), c.Caller, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"push": toPushBody(ch, a.Engine.CurrentTime())})
	return nil
}

func writePushEnrolment(w http.ResponseWriter, en *flow.PushEnrolment) error {
	png, err := en.QR()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, pushEnrolmentBody{EnrolmentID: en.Factor.ID, Kind: en.Factor.Kind, OTPAuthURI: en.URI, ActivationCode: en.Code,
		URL: en.URL, QRPNGBase64: base64.StdEncoding.EncodeToString(png), ExpiresAt: en.ExpiresAt})
	return nil
}

// pushBody is a push as the person's page shows it: the number to pick in
// the app (number matching) and where it stands.
type pushBody struct {
	State     string    `json:"state"`
	Number    string    `json:"number,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

func toPushBody(ch *store.PushChallenge, now time.Time) *pushBody {
	if ch == nil {
		return nil
	}
	state := ch.State
	if state == store.PushOpen && !now.Before(ch.ExpiresAt) {
		state = store.PushExpired
	}
	return &pushBody{State: state, Number: ch.Answer, ExpiresAt: ch.ExpiresAt}
}

// testPush is "Authenticate me now": the push that activates the factor.
func (a *API) testPush(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		TransactionID string `json:"transaction_id"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	ch, err := a.Engine.SendTestPush(r.Context(), c.Caller, in.TransactionID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"push": toPushBody(ch, a.Engine.CurrentTime())})
	return nil
}

// sendPush sends a sign-in push; the transaction's long poll tells its
// outcome.
func (a *API) sendPush(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		FactorID string `json:"factor_id"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	ch, err := a.Engine.SendPush(r.Context(), c.Caller, r.PathValue("id"), in.FactorID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"push": toPushBody(ch, a.Engine.CurrentTime())})
	return nil
}
