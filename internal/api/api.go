package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/requestid"
)

// MaxBody bounds every request body.
const MaxBody = 64 << 10

// API serves /api/v1.
type API struct {
	Engine    *flow.Engine
	Directory *directory.Service
	Log       *slog.Logger
	// ClientIP resolves the connecting address, honouring trusted proxies.
	ClientIP func(r *http.Request) string
	// Observe, when set, records each request's route and status (metrics).
	Observe func(route string, status int, r *http.Request)
	// Stopping is closed when the server begins to stop; a long poll then
	// answers with the state it has instead of holding the stop up.
	Stopping <-chan struct{}
	// PublicBase is the address Countersign is reached at (server.PublicBase),
	// from which the OpenID Connect issuers shown with clients are made.
	PublicBase string
}

// Route is one documented endpoint; the OpenAPI test compares this list with
// the published document.
type Route struct {
	Method, Path string
	auth         authKind
	// action is what an admin route does; flow.Allow decides whether the
	// key's role may, before the handler runs.
	action flow.Action
	handle func(a *API, w http.ResponseWriter, r *http.Request, c *caller) error
}

// Action is what an admin route does (flow.Allow decides who may); empty
// for the other routes.
func (rt Route) Action() flow.Action { return rt.action }

// Admin reports whether the route is authenticated with an admin key.
func (rt Route) Admin() bool { return rt.auth == authAdmin }

type authKind int

const (
	authNone authKind = iota
	authApp
	authAdmin
)

// caller is the authenticated party of a request.
type caller struct {
	flow.Caller
}

// Routes lists every endpoint of the REST API.
func Routes() []Route {
	return []Route{
		{"GET", "/api/v1/openapi.json", authNone, "", (*API).openAPI},
		{"POST", "/api/v1/auth/login", authApp, "", (*API).login},
		{"POST", "/api/v1/auth/mfa", authApp, "", (*API).beginMFA},
		{"POST", "/api/v1/auth/check", authApp, "", (*API).check},
		{"GET", "/api/v1/auth/transactions/{id}", authApp, "", (*API).transaction},
		{"POST", "/api/v1/auth/transactions/{id}/verify", authApp, "", (*API).verify},
		{"POST", "/api/v1/auth/transactions/{id}/challenges", authApp, "", (*API).sendCode},
		{"POST", "/api/v1/auth/transactions/{id}/calls", authApp, "", (*API).startCall},
		{"POST", "/api/v1/auth/transactions/{id}/pushes", authApp, "", (*API).sendPush},
		{"GET", "/api/v1/auth/transactions/{id}/trusted-devices", authApp, "", (*API).ownTrustedDevices},
		{"POST", "/api/v1/auth/transactions/{id}/trusted-devices/{device}/revoke", authApp, "", (*API).revokeOwnTrustedDevice},
		{"POST", "/api/v1/auth/one-time-tokens", authApp, "", (*API).requestOneTimeToken},
		{"POST", "/api/v1/enrolments/totp", authApp, "", (*API).beginEnrolment},
		{"POST", "/api/v1/contacts/verifications", authApp, "", (*API).beginContactChange},
		{"POST", "/api/v1/contacts/verifications/{id}/confirm", authApp, "", (*API).confirmContactChange},
		{"POST", "/api/v1/enrolments/voice", authApp, "", (*API).beginVoiceEnrolment},
		{"POST", "/api/v1/enrolments/push", authApp, "", (*API).beginPushEnrolment},
		{"POST", "/api/v1/enrolments/{id}/push", authApp, "", (*API).testPush},
		{"GET", "/api/v1/enrolments/{id}", authApp, "", (*API).enrolment},
		{"GET", "/api/v1/enrolments/{id}/qr.png", authApp, "", (*API).enrolmentQR},
		{"POST", "/api/v1/enrolments/{id}/confirm", authApp, "", (*API).confirm},
		{"GET", "/api/v1/admin/users", authAdmin, flow.ReadPeople, (*API).listUsers},
		{"POST", "/api/v1/admin/users", authAdmin, flow.ManagePeople, (*API).createUser},
		{"GET", "/api/v1/admin/users/{id}", authAdmin, flow.ReadPeople, (*API).getUser},
		{"POST", "/api/v1/admin/users/{id}/status", authAdmin, flow.ChangeStatus, (*API).setStatus},
		{"POST", "/api/v1/admin/users/{id}/console-role", authAdmin, flow.ManagePeople, (*API).setConsoleRole},
		{"POST", "/api/v1/admin/users/{id}/unlock", authAdmin, flow.Unlock, (*API).unlock},
		{"POST", "/api/v1/admin/users/{id}/terminate", authAdmin, flow.Terminate, (*API).terminate},
		{"POST", "/api/v1/admin/users/{id}/messages", authAdmin, flow.ResendMessage, (*API).resendMessage},
		{"POST", "/api/v1/admin/users/{id}/reset-factors", authAdmin, flow.ResetFactors, (*API).resetFactors},
		{"GET", "/api/v1/admin/users/{id}/factors", authAdmin, flow.ReadPeople, (*API).listFactors},
		{"POST", "/api/v1/admin/users/{id}/enrolments/totp", authAdmin, flow.EnrolForPerson, (*API).adminBeginEnrolment},
		{"POST", "/api/v1/admin/enrolments/{id}/confirm", authAdmin, flow.EnrolForPerson, (*API).confirm},
		{"POST", "/api/v1/admin/users/{id}/enrolments/voice", authAdmin, flow.EnrolForPerson, (*API).adminBeginVoiceEnrolment},
		{"POST", "/api/v1/admin/users/{id}/enrolments/push", authAdmin, flow.EnrolForPerson, (*API).adminBeginPushEnrolment},
		{"POST", "/api/v1/admin/enrolments/{id}/push", authAdmin, flow.EnrolForPerson, (*API).adminTestPush},
		{"POST", "/api/v1/admin/users/{id}/contact", authAdmin, flow.ReadPeople, (*API).setContact},
		{"GET", "/api/v1/admin/users/{id}/trusted-devices", authAdmin, flow.ReadPeople, (*API).listTrustedDevices},
		{"POST", "/api/v1/admin/users/{id}/trusted-devices/{device}/revoke", authAdmin, flow.ReadPeople, (*API).revokeTrustedDevice},
		{"GET", "/api/v1/admin/outbox", authAdmin, flow.ReadPeople, (*API).listOutbox},
		{"GET", "/api/v1/admin/audit", authAdmin, flow.ReadPeople, (*API).listAudit},
		{"GET", "/api/v1/admin/audit/export", authAdmin, flow.ReadPeople, (*API).exportAudit},
		{"GET", "/api/v1/admin/audit/verify", authAdmin, flow.ReadPeople, (*API).verifyAudit},
		{"GET", "/api/v1/admin/support-requests", authAdmin, flow.ReadPeople, (*API).listSupportRequests},
		{"GET", "/api/v1/admin/support-requests/{tracking}", authAdmin, flow.ReadPeople, (*API).getSupportRequest},
		{"PATCH", "/api/v1/admin/support-requests/{tracking}", authAdmin, flow.WorkReports, (*API).patchSupportRequest},
		{"POST", "/api/v1/admin/support-requests/{tracking}/notes", authAdmin, flow.WorkReports, (*API).addSupportNote},
		{"GET", "/api/v1/admin/policy", authAdmin, flow.ReadPeople, (*API).getPolicy},
		{"PUT", "/api/v1/admin/policy", authAdmin, flow.ChangePolicy, (*API).putPolicy},
		{"PATCH", "/api/v1/admin/policy", authAdmin, flow.ChangePolicy, (*API).patchPolicy},
		{"GET", "/api/v1/admin/enablement", authAdmin, flow.ReadPeople, (*API).getEnablement},
		{"POST", "/api/v1/admin/enablement", authAdmin, flow.ChangePolicy, (*API).enable},
		{"POST", "/api/v1/admin/enablement/test-message", authAdmin, flow.ChangePolicy, (*API).sendTestMessage},
		{"GET", "/api/v1/admin/phases", authAdmin, flow.ReadPeople, (*API).listPhases},
		{"POST", "/api/v1/admin/phases", authAdmin, flow.ChangePolicy, (*API).addPhase},
		{"DELETE", "/api/v1/admin/phases/{id}", authAdmin, flow.ChangePolicy, (*API).deletePhase},
		{"POST", "/api/v1/admin/groups", authAdmin, flow.ManagePeople, (*API).createGroup},
		{"POST", "/api/v1/admin/units", authAdmin, flow.ManagePeople, (*API).createUnit},
		{"GET", "/api/v1/admin/oidc/clients", authAdmin, flow.ReadPeople, (*API).listClients},
		{"POST", "/api/v1/admin/oidc/clients", authAdmin, flow.ManageApplications, (*API).createClient},
		{"GET", "/api/v1/admin/oidc/clients/{id}", authAdmin, flow.ReadPeople, (*API).getClient},
		{"PUT", "/api/v1/admin/oidc/clients/{id}", authAdmin, flow.ManageApplications, (*API).updateClient},
		{"DELETE", "/api/v1/admin/oidc/clients/{id}", authAdmin, flow.ManageApplications, (*API).deleteClient},
		{"POST", "/api/v1/admin/oidc/clients/{id}/secret", authAdmin, flow.ManageApplications, (*API).newClientSecret},
		{"GET", "/api/v1/admin/oidc/keys", authAdmin, flow.ReadPeople, (*API).listSigningKeys},
		{"POST", "/api/v1/admin/oidc/keys/rotate", authAdmin, flow.ManageApplications, (*API).rotateSigningKey},
	}
}

// Register adds every route to mux, plus JSON answers for unknown paths and
// wrong methods under /api/.
func (a *API) Register(mux *http.ServeMux) {
	routes := Routes()
	for _, rt := range routes {
		mux.HandleFunc(rt.Method+" "+rt.Path, func(w http.ResponseWriter, r *http.Request) { a.serve(w, r, rt) })
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(routes, r.URL.Path); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			a.writeError(w, r, nil, problem.Named("method_not_allowed", nil))
			return
		}
		a.writeError(w, r, nil, problem.Named("not_found", nil))
	})
}

// allowedMethods lists the methods of the routes whose pattern matches path;
// {name} matches one non-empty segment.
func allowedMethods(routes []Route, path string) []string {
	got := strings.Split(path, "/")
	var out []string
	for _, rt := range routes {
		want := strings.Split(rt.Path, "/")
		if len(want) != len(got) {
			continue
		}
		match := true
		for i := range want {
			if strings.HasPrefix(want[i], "{") {
				match = match && got[i] != ""
			} else {
				match = match && want[i] == got[i]
			}
		}
		if match && !slices.Contains(out, rt.Method) {
			out = append(out, rt.Method)
		}
	}
	return out
}

func (a *API) serve(w http.ResponseWriter, r *http.Request, rt Route) {
	status := http.StatusOK
	defer func() {
		if a.Observe != nil {
			a.Observe(rt.Method+" "+rt.Path, status, r)
		}
	}()
	var c *caller
	defer func() {
		if v := recover(); v != nil {
			a.Log.Error("panic in handler", "route", rt.Path, "panic", fmt.Sprint(v))
			status = a.writeError(w, r, c, fmt.Errorf("panic: %v", v))
		}
	}()
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	c, err := a.authenticate(r, rt.auth)
	if err == nil && rt.auth == authAdmin {
		if err = a.Directory.Allow(r.Context(), c.Caller, rt.action); errors.Is(err, flow.ErrForbidden) {
			err = a.Directory.Refuse(r.Context(), c.Caller, rt.action, err)
		}
	}
	if err == nil {
		err = checkInput(r, rt)
	}
	if err == nil {
		err = rt.handle(a, w, r, c)
	}
	if err != nil {
		status = a.writeError(w, r, c, err)
	}
}

func (a *API) authenticate(r *http.Request, kind authKind) (*caller, error) {
	c := &caller{Caller: flow.Caller{IP: a.clientIP(r)}}
	if kind == authNone {
		return c, nil
	}
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, problem.Named("unauthenticated", nil)
	}
	switch kind {
	case authApp:
		app, err := a.Directory.AuthenticateApplication(r.Context(), key)
		if err != nil {
			return nil, err
		}
		c.TenantID, c.ApplicationID, c.Actor = app.TenantID, app.ID, "app:"+app.ID
	case authAdmin:
		k, err := a.Directory.AuthenticateAdmin(r.Context(), key)
		if err != nil {
			return nil, err
		}
		c.TenantID, c.Actor, c.Role = k.TenantID, "admin:"+k.ID, k.Role
	}
	requestid.SetTenant(r.Context(), c.TenantID)
	return c, nil
}

func (a *API) clientIP(r *http.Request) string {
	if a.ClientIP != nil {
		return a.ClientIP(r)
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().String()
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client may have gone; nothing useful to do
}

// decode reads exactly one JSON object into v, refusing unknown fields, so a
// misspelt field is reported instead of silently ignored, and refusing any
// string that is not usable text, so none reaches the database.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return problem.Named("unsupported_media_type", err)
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return problem.Named("too_large", err)
		}
		return problem.Named("bad_request", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badJSON(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return problem.Variant(problem.Named("bad_request", err), "trailing")
	}
	return checkJSONText(body)
}

// badJSON says what is wrong with a body without echoing the input.
func badJSON(err error) error {
	bad := problem.Named("bad_request", err)
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return problem.Variant(bad, "syntax", "offset", strconv.FormatInt(se.Offset, 10))
	case errors.As(err, &te):
		return problem.Variant(bad, "type", "field", te.Field, "type", te.Type.String())
	case errors.Is(err, io.EOF):
		return problem.Variant(bad, "empty")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return problem.Variant(bad, "unknown_field", "field", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return bad
}

// endUserIP prefers the address the application reports for its user, when it
// is a valid IP, over the application's own connection.
func endUserIP(c *caller, reported string) {
	if reported == "" {
		return
	}
	if addr, err := netip.ParseAddr(strings.TrimSpace(reported)); err == nil {
		c.IP = addr.String()
	}
}

func (a *API) openAPI(w http.ResponseWriter, _ *http.Request, _ *caller) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(OpenAPIDocument)
	return err
}
