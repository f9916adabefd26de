package voicehook

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/countersign/countersign/internal/delivery/twilio"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/validate"
)

// Provider is what the hooks need of a tenant's voice provider.
type Provider struct {
	AuthToken string
	PublicURL string // as configured, without a trailing slash
}

// Handler serves /hooks/twilio/….
type Handler struct {
	Engine *flow.Engine
	// Provider finds the voice provider of a call's tenant; ok is false when
	// the tenant does not use a Twilio-compatible provider.
	Provider func(tenantID string) (Provider, bool)
	Log      *slog.Logger
}

// Register mounts the hooks.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /hooks/twilio/voice/{call}", h.hook(h.answered))
	mux.HandleFunc("POST /hooks/twilio/gather/{call}", h.hook(h.gathered))
	mux.HandleFunc("POST /hooks/twilio/noinput/{call}", h.hook(h.noInput))
	mux.HandleFunc("POST /hooks/twilio/status/{call}", h.hook(h.status))
}

type step func(r *http.Request, id string) (flow.Script, bool, error)

// hook checks the signature, runs one step and answers with TwiML (or 204
// for status callbacks).
func (h *Handler) hook(next step) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		id := r.PathValue("call")
		if !validate.Usable(id) {
			// No call has such an id, and PostgreSQL would refuse to look.
			h.twiml(w, twilio.Say("Goodbye.", ""))
			return
		}
		call, err := h.Engine.CallRecord(r.Context(), id)
		if err != nil {
			h.twiml(w, twilio.Say("Goodbye.", ""))
			return
		}
		p, ok := h.Provider(call.TenantID)
		if !ok || !twilio.Valid(p.AuthToken, p.PublicURL+r.URL.RequestURI(), r.PostForm, r.Header.Get("X-Twilio-Signature")) {
			h.Log.Warn("voice callback with a bad signature", "call", id, "path", r.URL.Path)
			http.Error(w, "invalid signature", http.StatusForbidden)
			return
		}
		script, respond, err := next(r, id)
		if errors.Is(err, flow.ErrCallGone) {
			err = nil
			script = flow.Script{Say: "Goodbye."}
		}
		if err != nil {
			h.Log.Error("voice callback", "call", id, "err", err)
			script = flow.Script{Say: "Sorry, something went wrong. Please sign in again. Goodbye."}
		}
		if !respond {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.twiml(w, Render(script, p.PublicURL, id))
	}
}

func (h *Handler) twiml(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(b)
}

// voices maps a script's language to the tag the call's voice reads it in.
var voices = map[string]string{"en": "en-US", "es": "es-US"}

// Render turns a script into TwiML whose callbacks return to this call.
func Render(s flow.Script, publicURL, callID string) []byte {
	if !s.Gather {
		return twilio.Say(s.Say, voices[s.Lang])
	}
	return twilio.Gather(twilio.GatherSpec{Prompt: s.Say, Language: voices[s.Lang], Action: publicURL + "/hooks/twilio/gather/" + callID, Timeout: s.Timeout,
		FinishOnKey: s.FinishOnKey, NumDigits: s.NumDigits, NoInput: publicURL + "/hooks/twilio/noinput/" + callID})
}

func (h *Handler) answered(r *http.Request, id string) (flow.Script, bool, error) {
	by := r.PostForm.Get("AnsweredBy")
	machine := strings.HasPrefix(by, "machine") || by == "fax"
	s, err := h.Engine.CallAnswered(r.Context(), id, machine)
	return s, true, err
}

func (h *Handler) gathered(r *http.Request, id string) (flow.Script, bool, error) {
	s, err := h.Engine.CallInput(r.Context(), id, r.PostForm.Get("Digits"))
	return s, true, err
}

func (h *Handler) noInput(r *http.Request, id string) (flow.Script, bool, error) {
	s, err := h.Engine.CallTimedOut(r.Context(), id)
	return s, true, err
}

func (h *Handler) status(r *http.Request, id string) (flow.Script, bool, error) {
	return flow.Script{}, false, h.Engine.CallEnded(r.Context(), id, r.PostForm.Get("CallStatus"))
}
