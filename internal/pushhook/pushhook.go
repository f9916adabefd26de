// Package pushhook is the front door for phone apps of the Mobile App
// method (A9, X3): at {base}/push/{tenant} an app registers with an
// activation code (POST with enrollment_credential), polls for its open
// challenges (GET) and answers one (POST with nonce). The wire format is
// package pushproto's; every decision is the flow engine's. Answers are
// JSON the app reads: result.status and result.value, never a stack trace.
package pushhook

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/pushproto"
	"github.com/countersign/countersign/internal/requestid"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// Handler serves /push/{tenant}.
type Handler struct {
	Engine *flow.Engine
	Log    *slog.Logger
}

// Register mounts the endpoint.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /push/{tenant}", h.poll)
	mux.HandleFunc("POST /push/{tenant}", h.post)
}

// tenant resolves the path's tenant; false when answered already.
func (h *Handler) tenant(w http.ResponseWriter, r *http.Request) (*store.Tenant, bool) {
	slug := r.PathValue("tenant")
	if !validate.Usable(slug) || len(slug) > 100 {
		h.answer(w, http.StatusNotFound, pushproto.ErrorResult(404, "No such tenant."))
		return nil, false
	}
	t, err := h.Engine.TenantBySlug(r.Context(), slug)
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	requestid.SetTenant(r.Context(), t.ID)
	return t, true
}

func (h *Handler) poll(w http.ResponseWriter, r *http.Request) {
	t, ok := h.tenant(w, r)
	if !ok {
		return
	}
	if len(r.URL.RawQuery) > 8<<10 {
		h.answer(w, http.StatusBadRequest, pushproto.ErrorResult(400, "Request too long."))
		return
	}
	p, err := pushproto.ParsePoll(r.URL.Query())
	if err != nil {
		h.answer(w, http.StatusBadRequest, pushproto.ErrorResult(400, err.Error()))
		return
	}
	challenges, err := h.Engine.PushPoll(r.Context(), t.ID, p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.answer(w, http.StatusOK, pushproto.Result(challenges, nil))
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	t, ok := h.tenant(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.answer(w, http.StatusBadRequest, pushproto.ErrorResult(400, "The request could not be read."))
		return
	}
	for k, vs := range r.PostForm {
		for _, v := range append(vs, k) {
			if !validate.Usable(v) {
				h.answer(w, http.StatusBadRequest, pushproto.ErrorResult(400, "The request holds characters that are not allowed."))
				return
			}
		}
	}
	if r.PostForm.Has("enrollment_credential") {
		key, err := h.Engine.RegisterPushApp(r.Context(), t.ID, r.PostForm.Get("serial"), r.PostForm.Get("enrollment_credential"), r.PostForm.Get("pubkey"))
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.answer(w, http.StatusOK, pushproto.Result(true, map[string]any{"public_key": key, "rollout_state": "enrolled", "serial": r.PostForm.Get("serial")}))
		return
	}
	a, err := pushproto.ParseAnswer(r.PostForm)
	if err != nil {
		h.answer(w, http.StatusBadRequest, pushproto.ErrorResult(400, err.Error()))
		return
	}
	taken, err := h.Engine.PushAnswer(r.Context(), t.ID, a)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.answer(w, http.StatusOK, pushproto.Result(taken, nil))
}

// fail answers an error as the app reads it: a stable message, the cause
// only in the log.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	id := requestid.ID(r.Context())
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, flow.ErrPushGone):
		h.answer(w, http.StatusNotFound, pushproto.ErrorResult(404, "No such activation or challenge, or it expired. Generate a new activation code in the MFA portal."))
	case errors.Is(err, flow.ErrPushRefused):
		h.answer(w, http.StatusBadRequest, pushproto.ErrorResult(400, "Could not verify signature!"))
	case errors.Is(err, pushproto.ErrAppKey):
		h.answer(w, http.StatusBadRequest, pushproto.ErrorResult(400, err.Error()))
	case errors.Is(err, store.ErrUnavailable):
		h.Log.Warn("push request refused for now", "request_id", id, "err", err)
		w.Header().Set("Retry-After", "5")
		h.answer(w, http.StatusServiceUnavailable, pushproto.ErrorResult(503, "Countersign cannot reach its database right now; try again in a moment."))
	default:
		h.Log.Error("push request failed", "request_id", id, "err", err)
		h.answer(w, http.StatusInternalServerError, pushproto.ErrorResult(500, "Something went wrong on our side; quote request "+id+" to your help desk."))
	}
}

func (h *Handler) answer(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
