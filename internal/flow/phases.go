package flow

import (
	"context"
	"strings"

	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/store"
)

// phaseBatch bounds the people told of a phase in one transaction, and
// phaseRounds the batches one sweep sends per phase, so a sweep stays short.
const (
	phaseBatch  = 100
	phaseRounds = 10
)

// NotifyPhases tells people of enforcement phases (A1), in their language,
// by verified email or else SMS: when a phase is scheduled, everyone it
// covers hears from which date they need a second factor and where to
// enrol; when it starts, everyone it covers who still has none hears that
// it started — people added to its groups or units meanwhile too. Each
// person is told of each once: the notice is recorded with a unique key in
// the transaction that queues the message, so servers sweeping at once
// never send it twice. People with neither contact point are recorded as
// told, with nothing sent. It returns how many messages were queued.
func (e *Engine) NotifyPhases(ctx context.Context) (int, error) {
	now := e.now()
	phases, err := e.Store.PendingPhases(ctx, now, 50)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, ph := range phases {
		kind := store.PhaseNoticeScheduled
		if !now.Before(ph.StartsAt) {
			kind = store.PhaseNoticeStarted
		}
		done := false
		for range phaseRounds {
			n, more, err := e.notifyPhaseBatch(ctx, ph, kind)
			total += n
			if err != nil {
				return total, err
			}
			if !more {
				done = true
				break
			}
		}
		if !done {
			continue
		}
		err := e.Store.InTx(ctx, func(q store.Queries) error {
			if kind == store.PhaseNoticeStarted && ph.ScheduledNotifiedAt == nil {
				// Started before every scheduled notice went out: the
				// started notice says it all.
				if err := q.MarkPhaseNotified(ctx, ph.ID, store.PhaseNoticeScheduled, now); err != nil {
					return err
				}
			}
			return q.MarkPhaseNotified(ctx, ph.ID, kind, now)
		})
		if err != nil {
			return total, err
		}
	}
	if total > 0 {
		e.wake()
	}
	return total, nil
}

// notifyPhaseBatch tells one batch of the phase's audience; more is true
// while a full batch was found.
func (e *Engine) notifyPhaseBatch(ctx context.Context, ph store.Phase, kind string) (sent int, more bool, err error) {
	people, err := e.Store.PhaseAudience(ctx, ph.TenantID, ph.ID, kind, kind == store.PhaseNoticeStarted, phaseBatch)
	if err != nil || len(people) == 0 {
		return 0, false, err
	}
	t, p, err := e.Policy(ctx, ph.TenantID)
	if err != nil {
		return 0, false, err
	}
	iss := e.issuer(t, p)
	where := ""
	if e.PublicURL != "" {
		where = strings.TrimRight(e.PublicURL, "/") + "/portal/" + t.Slug
	}
	c := Caller{TenantID: t.ID, Actor: "system"}
	now := e.now()
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		sent = 0
		for i := range people {
			u := &people[i]
			first, err := q.RecordPhaseNotice(ctx, ph.ID, u.ID, kind, now)
			if err != nil {
				return err
			}
			if !first {
				continue
			}
			channel, to := noticeDestination(u)
			if to == "" {
				continue
			}
			lang := languageOf(c, u)
			portal := where
			if portal == "" {
				portal = words(lang, "phase.where", iss)
			}
			day := when(lang, ph.StartsAt)
			m := message(t.ID, channel, to, iss+": "+words(lang, "phase."+kind+".subject"),
				words(lang, "phase."+kind+".sms", iss, day, portal))
			if channel == "email" {
				m.Text = words(lang, "phase."+kind+".email", iss, u.LoginID, day, portal)
			}
			if err := outbox.Enqueue(ctx, q, e.Keys, m, u.ID, "phase_"+kind, now); err != nil {
				return err
			}
			sent++
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return sent, len(people) == phaseBatch, nil
}
