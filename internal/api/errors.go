package api

import (
	"net/http"
	"strconv"

	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/requestid"
	"github.com/countersign/countersign/internal/validate"
)

// problemContext is what an error answer needs to know of its reader: the
// language the request asks for and the help desk of the caller's tenant,
// whom messages tell people to contact. A caller not yet known (a refused
// key) gets no help desk.
func (a *API) problemContext(r *http.Request, c *caller) problem.Context {
	ctx := problem.Context{Lang: problem.Negotiate(r.Header.Get("Accept-Language"))}
	if c != nil && c.TenantID != "" && a.Engine != nil {
		if _, p, err := a.Engine.Policy(r.Context(), c.TenantID); err == nil {
			ctx.HelpDesk = problem.HelpDesk(p.HelpDesk)
		}
	}
	return ctx
}

// readerOf defers problemContext until an answer needs it.
func (a *API) readerOf(r *http.Request, c *caller) func() problem.Context {
	return func() problem.Context { return a.problemContext(r, c) }
}

// writeError sends the public form of err, in the language of the request
// or of the person it is about, and logs its cause.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, c *caller, err error) int {
	pe := problem.From(err, a.problemContext(r, c))
	id := requestid.ID(r.Context())
	switch {
	case pe.Status >= 500 && pe.RetryAfter == 0:
		a.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "request_id", id, "err", err)
	case pe.Status >= 500 && pe.Code != "E17":
		// An outage fails every request alike; its cause is worth a line
		// each, but it is no fault of this one.
		a.Log.Warn("request refused for now", "method", r.Method, "path", r.URL.Path, "code", pe.Code, "request_id", id, "err", err)
	case err != nil:
		a.Log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "code", pe.Code, "request_id", id, "err", err)
	}
	if pe.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(pe.RetryAfter))
	}
	w.Header().Set("Content-Language", pe.Lang)
	detail := toErrorDetail(pe)
	detail.RequestID = id
	if pe.Code == "E06" {
		// The person has no second factor: say where to set one up.
		detail.PortalURL = a.portalURL(r, c)
	}
	writeJSON(w, pe.Status, errorBody{Error: detail})
	return pe.Status
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string          `json:"code"`
	Name    string          `json:"name"`
	Message string          `json:"message"`
	Fields  validate.Errors `json:"fields,omitempty"`
	// RequestID names the request's log line, for people to quote.
	RequestID string `json:"request_id,omitempty"`
	// PortalURL, with E06, is the tenant's self-service portal, where the
	// person can register a second factor.
	PortalURL string `json:"portal_url,omitempty"`
}

func toErrorDetail(pe *problem.Problem) errorDetail {
	return errorDetail{Code: pe.Code, Name: pe.Name, Message: pe.Message, Fields: pe.Fields}
}
