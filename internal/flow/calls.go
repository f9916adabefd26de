package flow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/flow/factor/phonecall"
	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

// VoiceNumbers are a voice factor's phones (A4).
type VoiceNumbers = phonecall.Numbers

// Script is what the phone call does next.
type Script = phonecall.Script

// Call purposes and legs.
const (
	CallLogin  = phonecall.CallLogin
	CallEnrol  = phonecall.CallEnrol
	LegPrimary = phonecall.LegPrimary
	LegBackup  = phonecall.LegBackup
)

// StartCall calls the user's primary number for a pending login, or the
// backup when the person picks it at the sign-in prompt (A5).
func (e *Engine) StartCall(ctx context.Context, c Caller, txnID, factorID string, backup bool) (*store.VoiceCall, error) {
	pt, f, err := e.challenge(ctx, c, txnID, factorID)
	if err != nil {
		return nil, err
	}
	t, p, u, txn := pt.tenant, pt.policy, pt.user, pt.txn
	if f.Kind != policy.FactorVoice {
		return nil, ErrFactorNotAllowed
	}
	n, err := phonecall.Config(f)
	if err != nil {
		return nil, err
	}
	leg := LegPrimary
	if backup {
		if n.Backup == "" {
			return nil, ErrNoDestination
		}
		leg = LegBackup
	}
	var call *store.VoiceCall
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		call, err = e.placeCall(ctx, q, c, t, p, u, f, n, CallLogin, txn.ID, leg)
		return err
	})
	if err != nil {
		return nil, e.rateAudited(ctx, c, u, err)
	}
	e.wake()
	return call, nil
}

// placeCall records a call and queues it for the provider. What a voicemail
// would hear is in the message: it holds no secret and asks the person to
// sign in again (A5).
func (e *Engine) placeCall(ctx context.Context, q store.Queries, c Caller, t *store.Tenant, p policy.Policy, u *store.User, f *store.Factor, n VoiceNumbers, purpose, txnID, leg string) (*store.VoiceCall, error) {
	number, ext := n.Leg(leg)
	now := e.now()
	if err := e.takeSendLimits(ctx, q, p, c.TenantID, u.ID, number, now); err != nil {
		return nil, err
	}
	call := &store.VoiceCall{ID: store.NewID("call"), TenantID: c.TenantID, UserID: u.ID, TxnID: txnID, FactorID: f.ID, Purpose: purpose, Leg: leg,
		Number: number, Extension: ext, State: store.CallQueued, CreatedAt: now, UpdatedAt: now}
	if err := q.CreateCall(ctx, call); err != nil {
		return nil, err
	}
	to, err := delivery.E164(number)
	if err != nil {
		return nil, err
	}
	msg := delivery.Message{ID: store.NewID("msg"), TenantID: c.TenantID, Channel: delivery.Voice, To: to, Extension: ext, CallID: call.ID,
		Text: words(languageOf(c, u), "voice.voicemail", e.issuer(t, p))}
	if err := outbox.Enqueue(ctx, q, e.Keys, msg, u.ID, "call_"+purpose, now); err != nil {
		return nil, err
	}
	return call, e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "call.placed", Outcome: "success",
		Detail: map[string]any{"call": call.ID, "leg": leg, "purpose": purpose, "to": MaskPhone(number), "factor": f.ID}})
}

// Call returns a call a caller may see: one of its tenant.
func (e *Engine) Call(ctx context.Context, c Caller, id string) (*store.VoiceCall, error) {
	call, err := e.Store.CallByID(ctx, id)
	if err != nil {
		return nil, notFoundAs(err, ErrCallGone)
	}
	if call.TenantID != c.TenantID {
		return nil, ErrCallGone
	}
	return call, nil
}

// LatestCall is the newest call of a transaction or a pending voice factor.
func (e *Engine) LatestCall(ctx context.Context, c Caller, ref string) (*store.VoiceCall, error) {
	call, err := e.Store.LatestCall(ctx, c.TenantID, ref)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return call, err
}

type callCtx struct {
	call *store.VoiceCall
	t    *store.Tenant
	p    policy.Policy
	u    *store.User
	f    *store.Factor
	c    Caller
}

func (e *Engine) loadCall(ctx context.Context, id string) (*callCtx, error) {
	call, err := e.Store.CallByID(ctx, id)
	if err != nil {
		return nil, notFoundAs(err, ErrCallGone)
	}
	t, p, err := e.Policy(ctx, call.TenantID)
	if err != nil {
		return nil, err
	}
	u, err := e.Store.UserByID(ctx, call.TenantID, call.UserID)
	if err != nil {
		return nil, notFoundAs(err, ErrCallGone)
	}
	f, err := e.Store.FactorByID(ctx, call.TenantID, call.FactorID)
	if err != nil {
		return nil, notFoundAs(err, ErrCallGone)
	}
	return &callCtx{call: call, t: t, p: p, u: u, f: f, c: Caller{TenantID: call.TenantID, Actor: "phone:" + call.Leg}}, nil
}

// say is a script that speaks the message key in the person's language.
func (cc *callCtx) say(key string, args ...any) Script {
	return phonecall.Say(languageOf(cc.c, cc.u), key, args...)
}

// CallAnswered is told the call was answered; machine means a voicemail or
// fax took it, which hears a message without any secret (A5).
func (e *Engine) CallAnswered(ctx context.Context, callID string, machine bool) (Script, error) {
	cc, err := e.loadCall(ctx, callID)
	if err != nil {
		return Script{}, err
	}
	if machine {
		if err := e.endCall(ctx, cc, store.CallNoAnswer, "voicemail"); err != nil {
			return Script{}, err
		}
		return cc.say("voice.voicemail", e.issuer(cc.t, cc.p)), nil
	}
	moved, err := e.Store.MoveCall(ctx, callID, []string{store.CallQueued, store.CallRinging}, store.CallAnswered, "", e.now())
	if err != nil {
		return Script{}, err
	}
	if !moved {
		return Script{}, ErrCallGone
	}
	return phonecall.Prompt(languageOf(cc.c, cc.u), e.issuer(cc.t, cc.p), cc.call.Purpose, len(cc.f.Secret) > 0), nil
}

// CallInput handles the keys the person pressed.
func (e *Engine) CallInput(ctx context.Context, callID, digits string) (Script, error) {
	cc, err := e.loadCall(ctx, callID)
	if err != nil {
		return Script{}, err
	}
	if cc.call.State != store.CallAnswered {
		return Script{}, ErrCallGone
	}
	action, state := phonecall.Press(e.Keys, cc.u.ID, cc.f.Secret, cc.call.Digits, digits)
	switch action {
	case phonecall.Fraud:
		return e.fraud(ctx, cc)
	case phonecall.Approve:
		return e.approve(ctx, cc)
	case phonecall.AwaitHash:
		moved, err := e.Store.MoveCall(ctx, callID, []string{store.CallAnswered}, store.CallAnswered, phonecall.FraudPrefix, e.now())
		if err != nil || !moved {
			return Script{}, errors.Join(ErrCallGone, err)
		}
		return Script{Gather: true, NumDigits: 1, Timeout: 10}, nil
	}
	key := "voice.wrong_key"
	if state == store.CallWrongPIN {
		key = "voice.wrong_pin"
	}
	return e.refuse(ctx, cc, state, key)
}

// CallTimedOut: answered, but nothing pressed in time (A6).
func (e *Engine) CallTimedOut(ctx context.Context, callID string) (Script, error) {
	cc, err := e.loadCall(ctx, callID)
	if err != nil {
		return Script{}, err
	}
	if err := e.endCall(ctx, cc, store.CallNoInput, "timed_out"); err != nil {
		return Script{}, err
	}
	return cc.say("voice.no_input"), nil
}

// CallEnded takes the provider's final status: a call answered and hung up
// without input is disconnected; one not answered (or busy) rolls over to the
// backup number for a login (A5).
func (e *Engine) CallEnded(ctx context.Context, callID, status string) error {
	cc, err := e.loadCall(ctx, callID)
	if err != nil {
		return err
	}
	switch status {
	case "ringing", "initiated", "queued":
		_, err := e.Store.MoveCall(ctx, callID, []string{store.CallQueued}, store.CallRinging, "", e.now())
		return err
	case "in-progress", "answered":
		return nil
	case "completed":
		if cc.call.State == store.CallAnswered {
			return e.endCall(ctx, cc, store.CallDisconnected, "hung_up")
		}
		return e.endCall(ctx, cc, store.CallNoAnswer, "completed_unanswered")
	case "busy", "no-answer", "canceled":
		return e.endCall(ctx, cc, store.CallNoAnswer, status)
	default:
		return e.endCall(ctx, cc, store.CallFailed, status)
	}
}

// endCall moves a call to a final state that is not a guess, records it, and
// calls the backup when a login's primary went unanswered.
func (e *Engine) endCall(ctx context.Context, cc *callCtx, state, reason string) error {
	now := e.now()
	rollover := false
	err := e.Store.InTx(ctx, func(q store.Queries) error {
		moved, err := q.MoveCall(ctx, cc.call.ID, []string{store.CallQueued, store.CallRinging, store.CallAnswered}, state, "", now)
		if err != nil || !moved {
			return err
		}
		if err := e.Audit(ctx, q, cc.c, Event{UserID: cc.u.ID, Event: "call.ended", Outcome: state,
			Detail: map[string]any{"call": cc.call.ID, "leg": cc.call.Leg, "reason": reason, "purpose": cc.call.Purpose}}); err != nil {
			return err
		}
		if state != store.CallNoAnswer || cc.call.Purpose != CallLogin || cc.call.Leg != LegPrimary {
			return nil
		}
		n, err := phonecall.Config(cc.f)
		if err != nil || n.Backup == "" {
			return nil
		}
		txn, err := q.LoginTxnByID(ctx, cc.call.TenantID, cc.call.TxnID)
		if err != nil || txn.State != store.TxnPending || !now.Before(txn.ExpiresAt) {
			return nil
		}
		_, err = e.placeCall(ctx, q, cc.c, cc.t, cc.p, cc.u, cc.f, n, CallLogin, txn.ID, LegBackup)
		var limited *RateLimitedError
		if errors.As(err, &limited) {
			return nil // the person can still choose the backup themselves later
		}
		rollover = err == nil
		return err
	})
	if rollover {
		e.wake()
	}
	return err
}

// approve completes the login or activates the factor, in one transaction
// with the charge (invariant 1).
func (e *Engine) approve(ctx context.Context, cc *callCtx) (Script, error) {
	now := e.now()
	var txn *store.LoginTxn
	if cc.call.Purpose == CallLogin {
		t, err := e.Store.LoginTxnByID(ctx, cc.call.TenantID, cc.call.TxnID)
		if err != nil {
			return Script{}, notFoundAs(err, ErrCallGone)
		}
		txn = t
	}
	var before []store.Factor
	// A4: "Call me now" verifies each number. With a backup, approving the
	// primary places the backup's verification call, and the factor becomes
	// active when that one is approved too.
	var n VoiceNumbers
	if cc.call.Purpose == CallEnrol {
		var err error
		if before, err = e.Store.ActiveFactors(ctx, cc.u.ID); err != nil {
			return Script{}, err
		}
		if n, err = phonecall.Config(cc.f); err != nil {
			return Script{}, err
		}
	}
	thenBackup := cc.call.Purpose == CallEnrol && cc.call.Leg == LegPrimary && n.Backup != ""
	err := e.guess(ctx, cc.c, cc.p, cc.u, factor.Attempt{
		Kind: policy.FactorVoice, Detail: map[string]any{"factor": cc.f.ID, "call": cc.call.ID, "leg": cc.call.Leg},
		Check: func(ctx context.Context, q store.Queries) (bool, string, error) {
			moved, err := q.MoveCall(ctx, cc.call.ID, []string{store.CallAnswered}, store.CallApproved, "", now)
			if err != nil || !moved {
				return false, "call_finished", errors.Join(err, errCallRace)
			}
			return true, "", nil
		},
		Success: func(ctx context.Context, q store.Queries) error {
			if cc.call.Purpose != CallEnrol {
				return nil
			}
			if thenBackup {
				_, err := e.placeCall(ctx, q, cc.c, cc.t, cc.p, cc.u, cc.f, n, CallEnrol, "", LegBackup)
				return err
			}
			ok, err := q.ActivateFactor(ctx, cc.f.ID, -1, now)
			if err != nil || !ok {
				return errors.Join(err, ErrEnrolmentGone)
			}
			return e.factorActivated(ctx, q, cc.c, cc.t, cc.p, cc.u, cc.f, before, now)
		},
	}, txn, nil)
	if errors.Is(err, errCallRace) {
		return Script{}, ErrCallGone
	}
	if err != nil {
		return cc.say("voice.failed"), err
	}
	if thenBackup {
		e.wake()
		return cc.say("voice.backup_next"), nil
	}
	if cc.call.Purpose == CallEnrol {
		return cc.say("voice.enrolled"), nil
	}
	return cc.say("voice.approved"), nil
}

var errCallRace = errors.New("call already finished")

// refuse records a wrong key or PIN: a failed attempt that counts (B5).
func (e *Engine) refuse(ctx context.Context, cc *callCtx, state, sayKey string) (Script, error) {
	now := e.now()
	err := e.guess(ctx, cc.c, cc.p, cc.u, factor.Attempt{
		Kind: policy.FactorVoice, Detail: map[string]any{"factor": cc.f.ID, "call": cc.call.ID, "leg": cc.call.Leg},
		Check: func(ctx context.Context, q store.Queries) (bool, string, error) {
			moved, err := q.MoveCall(ctx, cc.call.ID, []string{store.CallAnswered}, state, "", now)
			if err != nil || !moved {
				return false, "", errors.Join(err, errCallRace)
			}
			return false, state, nil
		},
		// The call's state tells the person why; nothing else is answered.
		Wrong: func(string) error { return factor.ErrRefused },
	}, nil, nil)
	if errors.Is(err, errCallRace) {
		return Script{}, ErrCallGone
	}
	if err != nil && !refused(err) && !errors.Is(err, ErrMFALocked) {
		return Script{}, err
	}
	return cc.say(sayKey), nil
}

// fraud blocks the attempt, records a fraud event and alerts the tenant's
// administrators (X5).
func (e *Engine) fraud(ctx context.Context, cc *callCtx) (Script, error) {
	now := e.now()
	err := e.Store.InTx(ctx, func(q store.Queries) error {
		moved, err := q.MoveCall(ctx, cc.call.ID, []string{store.CallAnswered}, store.CallFraud, "", now)
		if err != nil || !moved {
			return errors.Join(err, errCallRace)
		}
		if cc.call.TxnID != "" {
			if _, err := q.CompleteLoginTxn(ctx, cc.call.TxnID, store.TxnDenied, cc.f.ID, now); err != nil {
				return err
			}
		}
		if cc.call.Purpose == CallEnrol {
			if _, err := q.RevokeFactor(ctx, cc.f.ID, now); err != nil {
				return err
			}
		}
		if err := e.Audit(ctx, q, cc.c, Event{UserID: cc.u.ID, Event: "fraud.reported", Outcome: "blocked",
			Detail: map[string]any{"call": cc.call.ID, "leg": cc.call.Leg, "purpose": cc.call.Purpose, "txn": cc.call.TxnID}}); err != nil {
			return err
		}
		return e.alertFraud(ctx, q, cc.t, cc.p, cc.u, fmt.Sprintf("%s (user %s) answered a sign-in call at %s and reported fraud by pressing 0 then #.\n\nThe sign-in was blocked. Someone may know this user's password: contact the user, reset the password, and review the audit log (event fraud.reported, call %s).\n",
			cc.u.LoginID, cc.u.ID, MaskPhone(cc.call.Number), cc.call.ID), now)
	})
	if errors.Is(err, errCallRace) {
		return Script{}, ErrCallGone
	}
	if err != nil {
		return Script{}, err
	}
	e.observe(policy.FactorVoice, "fraud")
	e.wake()
	return cc.say("voice.fraud"), nil
}

// CallRecord returns a call by id whatever its tenant: the phone provider's
// callbacks name only the call, and are checked against its tenant's
// provider afterwards.
func (e *Engine) CallRecord(ctx context.Context, id string) (*store.VoiceCall, error) {
	call, err := e.Store.CallByID(ctx, id)
	if err != nil {
		return nil, notFoundAs(err, ErrCallGone)
	}
	return call, nil
}

// alertFraud tells the tenant's alert addresses (X5) that u reported fraud.
func (e *Engine) alertFraud(ctx context.Context, q store.Queries, t *store.Tenant, p policy.Policy, u *store.User, text string, now time.Time) error {
	iss := e.issuer(t, p)
	for _, to := range slices.Compact(slices.Sorted(slices.Values(p.AlertEmails))) {
		alert := delivery.Message{ID: store.NewID("msg"), TenantID: t.ID, Channel: delivery.Email, To: to,
			Subject: iss + " security alert: fraud reported by " + u.LoginID, Text: text}
		if err := outbox.Enqueue(ctx, q, e.Keys, alert, u.ID, "fraud_alert", now); err != nil {
			return err
		}
	}
	return nil
}
