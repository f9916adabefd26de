package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
)

type userRef struct {
	ID      string `json:"id"`
	LoginID string `json:"login_id"`
}

type factorRef struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
}

type loginResponse struct {
	Status             string      `json:"status"`
	TrustedDeviceToken string      `json:"trusted_device_token,omitempty"`
	TransactionID      string      `json:"transaction_id,omitempty"`
	ExpiresAt          *time.Time  `json:"expires_at,omitempty"`
	User               userRef     `json:"user"`
	Factors            []factorRef `json:"factors,omitempty"`
	Message            string      `json:"message,omitempty"`
	// PortalURL, with enrolment_required, is the tenant's self-service
	// portal, where the person can set up a second factor.
	PortalURL string `json:"portal_url,omitempty"`
}

// resultBody shows a login step's result; the message of a person who must
// enrol first is worded for pctx's reader.
func resultBody(res *flow.Result, pctx problem.Context) loginResponse {
	body := loginResponse{Status: res.Status, User: userRef{ID: res.User.ID, LoginID: res.User.LoginID}, TrustedDeviceToken: res.TrustedDeviceToken}
	if res.Txn != nil {
		body.TransactionID = res.Txn.ID
		if res.Status != flow.Allowed {
			body.ExpiresAt = &res.Txn.ExpiresAt
		}
	}
	for _, f := range res.Factors {
		body.Factors = append(body.Factors, factorRef{ID: f.ID, Kind: f.Kind})
	}
	if res.Status == flow.EnrolmentRequired {
		body.Message = problem.From(flow.ErrNotRegistered, pctx).Message
	}
	return body
}

// answer writes a login step's result, or returns its error.
func (a *API) answer(w http.ResponseWriter, r *http.Request, c *caller) func(*flow.Result, error) error {
	return func(res *flow.Result, err error) error {
		if err != nil {
			return err
		}
		a.writeResult(w, r, c, res)
		return nil
	}
}

func (a *API) writeResult(w http.ResponseWriter, r *http.Request, c *caller, res *flow.Result) {
	var pctx problem.Context
	var portal string
	if res.Status == flow.EnrolmentRequired {
		pctx = a.problemContext(r, c)
		w.Header().Set("Content-Language", problem.Match(pctx.Lang))
		portal = a.portalURL(r, c)
	}
	body := resultBody(res, pctx)
	body.PortalURL = portal
	writeJSON(w, http.StatusOK, body)
}

func (a *API) login(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		LoginID       string `json:"login_id"`
		Password      string `json:"password"`
		IP            string `json:"ip"`
		TrustedDevice string `json:"trusted_device_token"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	endUserIP(c, in.IP)
	c.TrustedDevice = in.TrustedDevice
	return a.answer(w, r, c)(a.Engine.PasswordLogin(r.Context(), c.Caller, in.LoginID, in.Password))
}

func (a *API) beginMFA(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		LoginID       string `json:"login_id"`
		IP            string `json:"ip"`
		TrustedDevice string `json:"trusted_device_token"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	endUserIP(c, in.IP)
	c.TrustedDevice = in.TrustedDevice
	return a.answer(w, r, c)(a.Engine.BeginMFA(r.Context(), c.Caller, in.LoginID))
}

func (a *API) check(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		LoginID string `json:"login_id"`
		Code    string `json:"code"`
		IP      string `json:"ip"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	endUserIP(c, in.IP)
	return a.answer(w, r, c)(a.Engine.Check(r.Context(), c.Caller, in.LoginID, in.Code))
}

type transactionBody struct {
	ID          string     `json:"id"`
	Status      string     `json:"status"`
	Mode        string     `json:"mode"`
	UserID      string     `json:"user_id"`
	FactorID    string     `json:"factor_id,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	Call        *callBody  `json:"call,omitempty"`
	Push        *pushBody  `json:"push,omitempty"`
}

// transaction reports where a login stands, with its current phone call;
// ?wait=SECONDS long-polls until either changes (A6: applications learn a
// call's outcome by polling).
func (a *API) transaction(w http.ResponseWriter, r *http.Request, c *caller) error {
	wait, err := waitParam(r)
	if err != nil {
		return err
	}
	var t *store.LoginTxn
	var call *store.VoiceCall
	var push *store.PushChallenge
	read := func() (string, error) {
		var err error
		if t, err = a.Engine.Transaction(r.Context(), c.Caller, r.PathValue("id")); err != nil {
			return "", err
		}
		if call, err = a.Engine.LatestCall(r.Context(), c.Caller, t.ID); err != nil {
			return "", err
		}
		if push, err = a.Engine.LatestPush(r.Context(), c.Caller, t.ID); err != nil && !errors.Is(err, flow.ErrPushGone) {
			return "", err
		}
		key := t.State
		if call != nil {
			key += call.ID + call.State
		}
		if push != nil {
			key += push.Nonce + push.State
		}
		return key, nil
	}
	settled := func() bool { return t.State != store.TxnPending || !a.Engine.CurrentTime().Before(t.ExpiresAt) }
	if _, err := poll(r.Context(), a.Stopping, wait, read, settled); err != nil {
		return err
	}
	status := t.State
	if status == store.TxnPending && !a.Engine.CurrentTime().Before(t.ExpiresAt) {
		status = "expired"
	}
	writeJSON(w, http.StatusOK, transactionBody{ID: t.ID, Status: status, Mode: t.Mode, UserID: t.UserID, FactorID: t.FactorID,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, CompletedAt: t.CompletedAt, Call: toCallBody(call, a.readerOf(r, c)), Push: toPushBody(push, a.Engine.CurrentTime())})
	return nil
}

func (a *API) verify(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Code           string `json:"code"`
		FactorID       string `json:"factor_id"`
		OneTimeToken   string `json:"one_time_token"`
		RememberDevice bool   `json:"remember_device"`
		DeviceLabel    string `json:"device_label"`
		IP             string `json:"ip"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	endUserIP(c, in.IP)
	res, err := a.Engine.VerifyTransaction(r.Context(), c.Caller, r.PathValue("id"), flow.Verification{
		FactorID: in.FactorID, Code: in.Code, OneTimeToken: in.OneTimeToken, RememberDevice: in.RememberDevice, DeviceLabel: in.DeviceLabel})
	if err != nil {
		return err
	}
	a.writeResult(w, r, c, res)
	return nil
}

type enrolmentBody struct {
	EnrolmentID string    `json:"enrolment_id"`
	UserID      string    `json:"user_id"`
	Kind        string    `json:"kind"`
	OTPAuthURI  string    `json:"otpauth_uri"`
	Secret      string    `json:"secret"`
	QRPNGBase64 string    `json:"qr_png_base64"`
	ExpiresAt   time.Time `json:"expires_at"`
}

func writeEnrolment(w http.ResponseWriter, en *flow.Enrolment) error {
	png, err := en.QR()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, enrolmentBody{
		EnrolmentID: en.Factor.ID, UserID: en.User.ID, Kind: en.Factor.Kind, OTPAuthURI: en.URI, Secret: en.Secret,
		QRPNGBase64: base64.StdEncoding.EncodeToString(png), ExpiresAt: en.ExpiresAt,
	})
	return nil
}

func (a *API) beginEnrolment(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		TransactionID string `json:"transaction_id"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	en, err := a.Engine.BeginTOTPEnrolment(r.Context(), c.Caller, in.TransactionID)
	if err != nil {
		return err
	}
	return writeEnrolment(w, en)
}

func (a *API) enrolmentQR(w http.ResponseWriter, r *http.Request, c *caller) error {
	en, err := a.Engine.PendingEnrolment(r.Context(), c.Caller, r.PathValue("id"))
	if err != nil {
		return err
	}
	png, err := en.QR()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(png)
	return err
}

type factorBody struct {
	ID          string     `json:"id"`
	Kind        string     `json:"kind"`
	State       string     `json:"state"`
	CreatedAt   time.Time  `json:"created_at"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

func toFactorBody(f *store.Factor) factorBody {
	return factorBody{ID: f.ID, Kind: f.Kind, State: f.State, CreatedAt: f.CreatedAt, ConfirmedAt: f.ConfirmedAt, RevokedAt: f.RevokedAt}
}

func (a *API) confirm(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Code string `json:"code"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	f, err := a.Engine.ConfirmTOTPEnrolment(r.Context(), c.Caller, r.PathValue("id"), in.Code, nil)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"factor": toFactorBody(f)})
	return nil
}
