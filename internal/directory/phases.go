package directory

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// Phased enforcement (A1): from each phase's start, the members of the
// groups or units it names must present a second factor. The engine reads
// phases with the policy; the sweep tells the people they cover.

// ErrPhaseStarted refuses deleting a phase that has started.
var ErrPhaseStarted = problem.Domain("phase_started", "the enforcement phase has started")

// NewPhase is what an administrator supplies to schedule a phase.
type NewPhase struct {
	Name     string    `json:"name"`
	Groups   []string  `json:"groups"`
	Units    []string  `json:"units"`
	StartsAt time.Time `json:"starts_at"`
}

// PhaseProgress is a phase with how many people it covers and how many of
// them have enrolled a second factor.
type PhaseProgress struct {
	Phase    store.Phase `json:"phase"`
	InScope  int         `json:"in_scope"`
	Enrolled int         `json:"enrolled"`
	Started  bool        `json:"started"`
}

// Phases lists the tenant's phases by start, with their progress.
func (s *Service) Phases(ctx context.Context, c flow.Caller) ([]PhaseProgress, error) {
	if err := s.Allow(ctx, c, flow.ReadPeople); err != nil {
		return nil, err
	}
	list, err := s.Store.ListPhases(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]PhaseProgress, 0, len(list))
	for _, ph := range list {
		in, en, err := s.Store.CountPhase(ctx, c.TenantID, ph.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, PhaseProgress{Phase: ph, InScope: in, Enrolled: en, Started: !now.Before(ph.StartsAt)})
	}
	return out, nil
}

// maxPhaseNames bounds the groups and units one phase names.
const maxPhaseNames = 100

// AddPhase schedules a phase: a name, at least one existing group or unit,
// and a start not in the past (a minute's leeway) — nor after MFA was
// enabled for the whole tenant, which already covers everyone. The people
// it covers are told by the sweep, in their language.
func (s *Service) AddPhase(ctx context.Context, c flow.Caller, in NewPhase) (*store.Phase, error) {
	if err := s.Allow(ctx, c, flow.ChangePolicy); err != nil {
		return nil, err
	}
	t, err := s.Store.TenantByID(ctx, c.TenantID)
	if err != nil {
		return nil, err
	}
	var errs validate.Errors
	phaseName := name(&errs, "name", in.Name)
	groups, units := dedupe(in.Groups), dedupe(in.Units)
	if len(groups)+len(units) == 0 {
		errs.Add("groups", "required", "Name at least one group or unit the phase brings into MFA's scope.")
	}
	if len(groups) > maxPhaseNames || len(units) > maxPhaseNames {
		errs.Add("groups", "too_long", "A phase names at most 100 groups and 100 units.")
	}
	now := s.now()
	switch {
	case in.StartsAt.IsZero():
		errs.Add("starts_at", "required", "Give the date and time the phase starts, such as 2030-01-31T08:00:00Z.")
	case in.StartsAt.Before(now.Add(-time.Minute)):
		errs.Add("starts_at", "invalid", "The start is in the past; choose a time from now on.")
	case in.StartsAt.After(now.Add(10 * 365 * 24 * time.Hour)):
		errs.Add("starts_at", "invalid", "The start is more than 10 years away.")
	}
	if t.MFAEnabledAt != nil {
		errs.Add("starts_at", "invalid", "MFA is already enabled for the whole organisation, which covers everyone: no phase is needed.")
	}
	if len(groups)+len(units) <= 2*maxPhaseNames {
		if err := s.checkMemberships(ctx, &errs, c.TenantID, groups, units); err != nil {
			return nil, err
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	p := &store.Phase{ID: store.NewID("phs"), TenantID: c.TenantID, Name: phaseName, Groups: groups, Units: units,
		StartsAt: in.StartsAt.UTC().Truncate(time.Microsecond), CreatedAt: now, CreatedBy: c.Actor}
	err = s.audited(ctx, c, flow.Event{Event: "phase.added", Outcome: "success",
		Detail: map[string]any{"phase": p.ID, "name": p.Name, "groups": groups, "units": units, "starts_at": p.StartsAt.Format(time.RFC3339)}},
		func(q store.Queries) error { return q.CreatePhase(ctx, p) })
	s.Engine.ForgetPolicy(c.TenantID)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// DeletePhase deletes a phase that has not started; a started one is
// refused (E57), another tenant's or an unknown one is not found.
func (s *Service) DeletePhase(ctx context.Context, c flow.Caller, id string) error {
	if err := s.Allow(ctx, c, flow.ChangePolicy); err != nil {
		return err
	}
	if _, err := s.Store.PhaseByID(ctx, c.TenantID, id); err != nil {
		return err
	}
	err := s.Store.InTx(ctx, func(q store.Queries) error {
		ok, err := q.DeletePhase(ctx, c.TenantID, id, s.now())
		if err != nil {
			return err
		}
		if !ok {
			return ErrPhaseStarted
		}
		return s.Engine.Audit(ctx, q, c, flow.Event{Event: "phase.deleted", Outcome: "success", Detail: map[string]any{"phase": id}})
	})
	s.Engine.ForgetPolicy(c.TenantID)
	if errors.Is(err, ErrPhaseStarted) {
		// Gone meanwhile, or started: tell which.
		if _, err := s.Store.PhaseByID(ctx, c.TenantID, id); err != nil {
			return err
		}
	}
	return err
}

func dedupe(names []string) []string {
	var out []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
