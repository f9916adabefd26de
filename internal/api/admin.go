package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

func (a *API) user(r *http.Request, c *caller) (*store.User, error) {
	return a.Directory.User(r.Context(), c.TenantID, r.PathValue("id"))
}

// listUsers pages through the tenant's people in login ID order; q and
// status make it the help desk's search.
func (a *API) listUsers(w http.ResponseWriter, r *http.Request, c *caller) error {
	limit, err := intParam(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	users, err := a.Directory.SearchUsers(r.Context(), c.Caller, directory.UserSearch{Query: qv.Get("q"), Status: qv.Get("status"), After: qv.Get("after"), Limit: limit})
	if err != nil {
		return err
	}
	out := struct {
		Users []directory.UserBody `json:"users"`
		Next  string               `json:"next_after,omitempty"`
	}{Users: []directory.UserBody{}}
	for i := range users {
		out.Users = append(out.Users, directory.ToUserBody(&users[i]))
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
	writeJSON(w, http.StatusCreated, directory.ToUserBody(u))
	return nil
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	u, err := a.user(r, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, directory.ToUserBody(u))
	return nil
}

func (a *API) setConsoleRole(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Role string `json:"role"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	u, err := a.user(r, c)
	if err != nil {
		return err
	}
	if err := a.Directory.SetConsoleRole(r.Context(), c.Caller, u.ID, in.Role); err != nil {
		return err
	}
	return a.writeUser(w, r, c, u.ID)
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
	writeJSON(w, http.StatusOK, directory.ToUserBody(u))
	return nil
}

func (a *API) unlock(w http.ResponseWriter, r *http.Request, c *caller) error {
	u, err := a.user(r, c)
	if err != nil {
		return err
	}
	if err := a.Directory.Unlock(r.Context(), c.Caller, u.ID); err != nil {
		return err
	}
	return a.writeUser(w, r, c, u.ID)
}

func (a *API) resetFactors(w http.ResponseWriter, r *http.Request, c *caller) error {
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

// exportAudit streams every event the filters match as CSV or JSON lines
// (G5), newest first, at most directory.MaxExport.
func (a *API) exportAudit(w http.ResponseWriter, r *http.Request, c *caller) error {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = directory.ExportCSV
	}
	if format != directory.ExportCSV && format != directory.ExportJSONL {
		var errs validate.Errors
		errs.Add("format", "invalid", "Format must be csv or jsonl.")
		return errs
	}
	f, err := a.auditFilter(r, c)
	if err != nil {
		return err
	}
	ctype := directory.ExportContentType(format)
	started, err := a.Directory.ExportAuditTo(r.Context(), f, format, w, func() {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Disposition", `attachment; filename="audit.`+format+`"`)
		w.Header().Set("Cache-Control", "no-store")
	})
	if err != nil {
		if !started {
			return err // nothing sent: the error is the answer
		}
		// The file has begun: the log has the cause; the file ends early.
		a.Log.Error("audit export failed", "err", err)
	}
	return nil
}

// verifyAudit checks the tenant's audit chain (X6). A problem found is
// the report's, still 200: the verification itself succeeded.
func (a *API) verifyAudit(w http.ResponseWriter, r *http.Request, c *caller) error {
	report, err := a.Directory.VerifyAudit(r.Context(), c.Caller)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, report)
	return nil
}

// auditFilter reads the audit filters of a request.
func (a *API) auditFilter(r *http.Request, c *caller) (store.AuditFilter, error) {
	q := r.URL.Query()
	var errs validate.Errors
	f := store.AuditFilter{TenantID: c.TenantID, Event: q.Get("event"), Outcome: q.Get("outcome"), IP: q.Get("ip")}
	f.Since = timeParam(&errs, q.Get("since"), "since")
	f.Until = timeParam(&errs, q.Get("until"), "until")
	if err := errs.Err(); err != nil {
		return f, err
	}
	if ref := q.Get("user"); ref != "" {
		u, err := a.Directory.User(r.Context(), c.TenantID, ref)
		if err != nil {
			return f, err
		}
		f.UserID = u.ID
	}
	return f, nil
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request, c *caller) error {
	limit, err := intParam(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	before, err := intParam(r, "before", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	f, err := a.auditFilter(r, c)
	if err != nil {
		return err
	}
	f.Limit, f.BeforeID = limit, int64(before)
	events, err := a.Directory.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	out := struct {
		Events []directory.AuditBody `json:"events"`
		Next   int64                 `json:"next_before,omitempty"`
	}{Events: []directory.AuditBody{}}
	for i := range events {
		out.Events = append(out.Events, directory.ToAuditBody(&events[i]))
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
	doc, err := policyDocument(r)
	if err != nil {
		return err
	}
	p, err := a.Directory.SetPolicy(r.Context(), c.Caller, doc)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// policyDocument reads a policy document or patch; a body that is not JSON
// is the policy's to explain.
func policyDocument(r *http.Request) ([]byte, error) {
	doc, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, problem.Named("too_large", err)
		}
		return nil, err
	}
	if json.Valid(doc) {
		if err := checkJSONText(doc); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// patchPolicy changes only the settings the body names (a JSON merge
// patch; null puts one back to its default).
func (a *API) patchPolicy(w http.ResponseWriter, r *http.Request, c *caller) error {
	doc, err := policyDocument(r)
	if err != nil {
		return err
	}
	p, err := a.Directory.PatchPolicy(r.Context(), c.Caller, doc)
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

// listSupportRequests pages through the tenant's reported issues, newest
// first, narrowed by state, assignee and q; both admin roles may read them
// (the help desk answers them).
func (a *API) listSupportRequests(w http.ResponseWriter, r *http.Request, c *caller) error {
	limit, err := intParam(r, "limit", 100, 1, 500)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	rows, err := a.Directory.SupportQueue(r.Context(), c.Caller, store.SupportFilter{
		State: qv.Get("state"), Assignee: qv.Get("assignee"), Query: qv.Get("q"), Before: qv.Get("before"), Limit: limit})
	if err != nil {
		return err
	}
	out := struct {
		Requests []directory.SupportRequestBody `json:"support_requests"`
		Next     string                         `json:"next_before,omitempty"`
	}{Requests: []directory.SupportRequestBody{}}
	for i := range rows {
		out.Requests = append(out.Requests, directory.ToSupportRequestBody(&rows[i]))
	}
	if len(rows) == limit {
		out.Next = rows[len(rows)-1].Tracking
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getSupportRequest(w http.ResponseWriter, r *http.Request, c *caller) error {
	req, notes, err := a.Directory.SupportRequestDetail(r.Context(), c.Caller, r.PathValue("tracking"))
	if err != nil {
		return err
	}
	return writeSupportRequest(w, http.StatusOK, req, notes)
}

func writeSupportRequest(w http.ResponseWriter, status int, req *store.SupportRequest, notes []store.SupportNote) error {
	body := directory.ToSupportRequestBody(req)
	body.Notes = []directory.SupportNoteBody{}
	for i := range notes {
		body.Notes = append(body.Notes, directory.ToSupportNoteBody(&notes[i]))
	}
	writeJSON(w, status, body)
	return nil
}

// patchSupportRequest moves a reported issue to another state or assigns
// it; a field left out stays as it is, an assignee of "" unassigns.
func (a *API) patchSupportRequest(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		State    *string `json:"state"`
		Assignee *string `json:"assignee"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.State == nil && in.Assignee == nil {
		return validate.Errors{{Field: "state", Code: "required", Message: "Give a new state or an assignee."}}
	}
	return a.workSupportRequest(w, r, c, directory.SupportChange{State: in.State, Assignee: in.Assignee}, http.StatusOK)
}

// addSupportNote adds an internal note to a reported issue.
func (a *API) addSupportNote(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Body string `json:"body"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Body) == "" {
		return validate.Errors{{Field: "body", Code: "required", Message: "Body is required. Write the note."}}
	}
	return a.workSupportRequest(w, r, c, directory.SupportChange{Note: in.Body}, http.StatusCreated)
}

func (a *API) workSupportRequest(w http.ResponseWriter, r *http.Request, c *caller, ch directory.SupportChange, status int) error {
	tracking := r.PathValue("tracking")
	if _, err := a.Directory.WorkSupportRequest(r.Context(), c.Caller, tracking, ch); err != nil {
		var fe validate.Errors
		if ch.Note != "" && errors.As(err, &fe) {
			for i := range fe {
				if fe[i].Field == "note" {
					fe[i].Field = "body"
				}
			}
			return fe
		}
		return err
	}
	req, notes, err := a.Directory.SupportRequestDetail(r.Context(), c.Caller, tracking)
	if err != nil {
		return err
	}
	return writeSupportRequest(w, status, req, notes)
}

// terminate ends a compromised account for good (C14). The body repeats
// the person's login ID, so that a wrong id in the path cannot end the
// wrong account.
func (a *API) terminate(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Reason         string `json:"reason"`
		ConfirmLoginID string `json:"confirm_login_id"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	u, err := a.user(r, c)
	if err != nil {
		return err
	}
	if !strings.EqualFold(strings.TrimSpace(in.ConfirmLoginID), u.LoginID) {
		return validate.Errors{{Field: "confirm_login_id", Code: "mismatch",
			Message: "Confirm login ID must be the Login ID of the account to terminate. Termination cannot be undone."}}
	}
	res, err := a.Directory.Terminate(r.Context(), c.Caller, u.ID, in.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// resendMessage sends a person their enrolment invitation or re-enable
// message again.
func (a *API) resendMessage(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Kind string `json:"kind"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	u, err := a.user(r, c)
	if err != nil {
		return err
	}
	if err := a.Directory.ResendMessage(r.Context(), c.Caller, u.ID, in.Kind); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"kind": in.Kind, "status": "queued"})
	return nil
}

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, validate.Errors{{Field: name, Code: "invalid", Message: name + " must be a whole number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi) + ".", Limit: hi}}
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
