package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

type callBody struct {
	ID          string       `json:"id"`
	Leg         string       `json:"leg"`
	To          string       `json:"to"`
	State       string       `json:"state"`
	Error       *errorDetail `json:"error,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	CompletedAt *time.Time   `json:"completed_at,omitempty"`
}

// toCallBody shows a call with the public error of an unsuccessful end
// (A6), worded for the reader pctx describes; pctx is asked only then.
func toCallBody(c *store.VoiceCall, pctx func() problem.Context) *callBody {
	if c == nil {
		return nil
	}
	b := &callBody{ID: c.ID, Leg: c.Leg, To: flow.MaskPhone(c.Number), State: c.State, CreatedAt: c.CreatedAt, CompletedAt: c.CompletedAt}
	if err := problem.CallOutcome(c.State); err != nil {
		d := toErrorDetail(problem.From(err, pctx()))
		b.Error = &d
	}
	return b
}

func (a *API) startCall(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		FactorID string `json:"factor_id"`
		Backup   bool   `json:"backup"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	call, err := a.Engine.StartCall(r.Context(), c.Caller, r.PathValue("id"), in.FactorID, in.Backup)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, toCallBody(call, a.readerOf(r, c)))
	return nil
}

// maxWait bounds a long poll; the shutdown timeout is held above it.
const maxWait = config.LongestWait

// waitParam reads ?wait=SECONDS for long polling.
func waitParam(r *http.Request) (time.Duration, error) {
	s := r.URL.Query().Get("wait")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > int(maxWait/time.Second) {
		return 0, validate.Errors{{Field: "wait", Code: "invalid", Message: "wait must be a whole number of seconds from 0 to 30.", Limit: int(maxWait / time.Second)}}
	}
	return time.Duration(n) * time.Second, nil
}

// poll re-reads a state until it differs from the first reading, or the wait
// ends, so an application learns a call's outcome as soon as it is known. A
// state that is already final (settled) answers at once, and so does every
// poll once stopping is closed: the answer is due before the server goes.
func poll[T comparable](ctx context.Context, stopping <-chan struct{}, wait time.Duration, read func() (T, error), settled func() bool) (T, error) {
	first, err := read()
	if err != nil || wait == 0 || settled() {
		return first, err
	}
	// The wait is a duration, not a reading of the clock, so a test's clock
	// standing still cannot make it endless.
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return first, nil
		case <-stopping:
			return read()
		case <-deadline.C:
			return first, nil
		case <-tick.C:
		}
		now, err := read()
		if err != nil || now != first {
			return now, err
		}
	}
}

func (a *API) beginVoiceEnrolment(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		TransactionID string `json:"transaction_id"`
		flow.VoiceNumbers
		PIN string `json:"pin"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	f, call, err := a.Engine.BeginVoiceEnrolment(r.Context(), c.Caller, in.TransactionID, in.VoiceNumbers, in.PIN)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, enrolmentStatus{EnrolmentID: f.ID, Kind: f.Kind, State: f.State, Call: toCallBody(call, a.readerOf(r, c))})
	return nil
}

func (a *API) adminBeginVoiceEnrolment(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		flow.VoiceNumbers
		PIN string `json:"pin"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	u, err := a.user(r, c)
	if err != nil {
		return err
	}
	f, call, err := a.Engine.AdminBeginVoiceEnrolment(r.Context(), c.Caller, u.ID, in.VoiceNumbers, in.PIN)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, enrolmentStatus{EnrolmentID: f.ID, Kind: f.Kind, State: f.State, Call: toCallBody(call, a.readerOf(r, c))})
	return nil
}

type enrolmentStatus struct {
	EnrolmentID string    `json:"enrolment_id"`
	Kind        string    `json:"kind"`
	State       string    `json:"state"`
	Call        *callBody `json:"call,omitempty"`
}

// enrolment reports a pending or finished enrolment; with ?wait it waits for
// a change, so an application learns when the verification call was answered.
func (a *API) enrolment(w http.ResponseWriter, r *http.Request, c *caller) error {
	wait, err := waitParam(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	type snapshot struct{ state, call string }
	var f *store.Factor
	var call *store.VoiceCall
	read := func() (snapshot, error) {
		var err error
		if f, err = a.Directory.Factor(r.Context(), c.TenantID, id); err != nil {
			return snapshot{}, err
		}
		if call, err = a.Engine.LatestCall(r.Context(), c.Caller, id); err != nil {
			return snapshot{}, err
		}
		s := snapshot{state: f.State}
		if call != nil {
			s.call = call.ID + call.State
		}
		return s, nil
	}
	if _, err := poll(r.Context(), a.Stopping, wait, read, func() bool { return f.State != store.FactorPending }); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, enrolmentStatus{EnrolmentID: f.ID, Kind: f.Kind, State: f.State, Call: toCallBody(call, a.readerOf(r, c))})
	return nil
}
