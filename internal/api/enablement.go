package api

import (
	"net/http"

	"github.com/countersign/countersign/internal/directory"
)

// Tenant-wide enablement (B1) and phased enforcement (A1).

func (a *API) getEnablement(w http.ResponseWriter, r *http.Request, c *caller) error {
	cl, err := a.Directory.Enablement(r.Context(), c.Caller)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cl)
	return nil
}

func (a *API) enable(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Confirm string `json:"confirm"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	cl, err := a.Directory.Enable(r.Context(), c.Caller, in.Confirm)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cl)
	return nil
}

func (a *API) sendTestMessage(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in struct {
		Channel string `json:"channel"`
		To      string `json:"to"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := a.Directory.SendTestMessage(r.Context(), c.Caller, in.Channel, in.To); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "queued"})
	return nil
}

func (a *API) listPhases(w http.ResponseWriter, r *http.Request, c *caller) error {
	list, err := a.Directory.Phases(r.Context(), c.Caller)
	if err != nil {
		return err
	}
	out := struct {
		Phases []directory.PhaseBody `json:"phases"`
	}{Phases: []directory.PhaseBody{}}
	for _, p := range list {
		out.Phases = append(out.Phases, directory.ToPhaseBody(p))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) addPhase(w http.ResponseWriter, r *http.Request, c *caller) error {
	var in directory.NewPhase
	if err := decode(r, &in); err != nil {
		return err
	}
	p, err := a.Directory.AddPhase(r.Context(), c.Caller, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, directory.ToPhaseBody(directory.PhaseProgress{Phase: *p}))
	return nil
}

func (a *API) deletePhase(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := a.Directory.DeletePhase(r.Context(), c.Caller, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
