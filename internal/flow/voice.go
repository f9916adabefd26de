package flow

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/outbox"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// VoiceNumbers are a voice factor's phones (A4): a required primary and an
// optional backup, each with an optional extension, mobile or landline.
type VoiceNumbers struct {
	Primary    string `json:"primary"`
	PrimaryExt string `json:"primary_ext,omitempty"`
	Backup     string `json:"backup,omitempty"`
	BackupExt  string `json:"backup_ext,omitempty"`
}

// Call purposes and legs.
const (
	CallLogin   = "login"
	CallEnrol   = "enrol"
	LegPrimary  = "primary"
	LegBackup   = "backup"
	fraudPrefix = "0"
)

// Script is what the phone call does next; a front door (Twilio's TwiML, the
// development page) renders it.
type Script struct {
	Say string
	// Lang is the language Say is written in ("en", "es"), for the voice
	// that reads it; empty means English.
	Lang string
	// Gather collects keys after Say: NumDigits 1 with no finishing key
	// submits every key at once; FinishOnKey "#" collects a PIN.
	Gather      bool
	NumDigits   int
	FinishOnKey string
	Timeout     int // seconds
}

// ErrCallGone is a callback for an unknown or finished call.
var ErrCallGone = problem.Domain("not_found", "call unknown or finished")

func (e *Engine) validateVoice(p policy.Policy, n VoiceNumbers, pin string) (VoiceNumbers, error) {
	var errs validate.Errors
	n.Primary = validate.Phone(&errs, "primary", n.Primary, true)
	n.PrimaryExt = validate.Extension(&errs, "primary_ext", n.PrimaryExt)
	n.Backup = validate.Phone(&errs, "backup", n.Backup, false)
	n.BackupExt = validate.Extension(&errs, "backup_ext", n.BackupExt)
	if n.Backup == "" && n.BackupExt != "" {
		errs.Add("backup_ext", "invalid", "An extension needs a backup number.")
	}
	if p.VoicePINRequired {
		if len(pin) < 4 || len(pin) > 8 || !allDigits(pin) || pin[0] == '0' {
			errs.Add("pin", "invalid", "PIN must be 4 to 8 digits and must not start with 0 (0 then # reports fraud).")
		}
	}
	return n, errs.Err()
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (e *Engine) pinHash(userID, pin string) []byte {
	if pin == "" {
		return nil
	}
	return e.Keys.MAC("voice-pin", []byte(userID+"\x00"+pin))
}

// BeginVoiceEnrolment sets up the phone-call factor: a pending factor with
// the numbers, and a verification call to the primary number ("Call me now to
// authenticate"); answering with # activates it (A4).
func (e *Engine) BeginVoiceEnrolment(ctx context.Context, c Caller, txnID string, n VoiceNumbers, pin string) (*store.Factor, *store.VoiceCall, error) {
	t, p, u, _, err := e.freshUser(ctx, c, txnID)
	if err != nil {
		return nil, nil, err
	}
	return e.beginVoice(ctx, c, t, p, u, n, pin)
}

// AdminBeginVoiceEnrolment lets the help desk change a user's phone numbers
// (A12); the person still proves the number by answering the call.
func (e *Engine) AdminBeginVoiceEnrolment(ctx context.Context, c Caller, userID string, n VoiceNumbers, pin string) (*store.Factor, *store.VoiceCall, error) {
	t, p, err := e.Policy(ctx, c.TenantID)
	if err != nil {
		return nil, nil, err
	}
	u, err := e.Store.UserByID(ctx, c.TenantID, userID)
	if err != nil {
		return nil, nil, err
	}
	return e.beginVoice(ctx, c, t, p, u, n, pin)
}

func (e *Engine) beginVoice(ctx context.Context, c Caller, t *store.Tenant, p policy.Policy, u *store.User, n VoiceNumbers, pin string) (*store.Factor, *store.VoiceCall, error) {
	if !p.Allows(policy.FactorVoice) {
		return nil, nil, ErrFactorNotAllowed
	}
	if err := canManageMFA(u.Status); err != nil {
		return nil, nil, err
	}
	n, err := e.validateVoice(p, n, pin)
	if err != nil {
		return nil, nil, err
	}
	cfg, _ := json.Marshal(n)
	now := e.now()
	expires := now.Add(time.Duration(p.EnrolmentTTL))
	f := &store.Factor{ID: store.NewID("fac"), TenantID: c.TenantID, UserID: u.ID, Kind: policy.FactorVoice, CreatedAt: now, ExpiresAt: &expires,
		Config: string(cfg), Secret: e.pinHash(u.ID, pin)}
	var call *store.VoiceCall
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		if err := q.CreatePendingFactor(ctx, f, now); err != nil {
			return err
		}
		if err := e.Audit(ctx, q, c, Event{UserID: u.ID, Event: "factor.enrolment_started", Outcome: "success", Detail: map[string]any{"factor": f.ID, "kind": f.Kind}}); err != nil {
			return err
		}
		call, err = e.placeCall(ctx, q, c, t, p, u, f, n, CallEnrol, "", LegPrimary)
		return err
	})
	if err != nil {
		return nil, nil, e.rateAudited(ctx, c, u, err)
	}
	e.wake()
	return f, call, nil
}

// StartCall calls the user's primary number for a pending login, or the
// backup when the person picks it at the sign-in prompt (A5).
func (e *Engine) StartCall(ctx context.Context, c Caller, txnID, factorID string, backup bool) (*store.VoiceCall, error) {
	pt, err := e.pendingTxn(ctx, c, txnID)
	if err != nil {
		return nil, err
	}
	t, p, u, txn := pt.tenant, pt.policy, pt.user, pt.txn
	f, err := pt.factor(ctx, e, factorID, policy.FactorVoice)
	if err != nil {
		return nil, err
	}
	var n VoiceNumbers
	if err := json.Unmarshal([]byte(f.Config), &n); err != nil {
		return nil, fmt.Errorf("voice factor %s config: %w", f.ID, err)
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

func (e *Engine) wake() {
	if e.Notify != nil {
		e.Notify()
	}
}

func (e *Engine) rateAudited(ctx context.Context, c Caller, u *store.User, err error) error {
	var limited *RateLimitedError
	if errors.As(err, &limited) {
		e.observe("send", "rate_limited")
		return errors.Join(err, e.Audit(ctx, e.Store, c, Event{UserID: u.ID, Event: "call.placed", Outcome: "refused",
			Detail: map[string]any{"reason": "rate_limited", "scope": limited.Scope}}))
	}
	return err
}

// placeCall records a call and queues it for the provider. What a voicemail
// would hear is in the message: it holds no secret and asks the person to
// sign in again (A5).
func (e *Engine) placeCall(ctx context.Context, q store.Queries, c Caller, t *store.Tenant, p policy.Policy, u *store.User, f *store.Factor, n VoiceNumbers, purpose, txnID, leg string) (*store.VoiceCall, error) {
	number, ext := n.Primary, n.PrimaryExt
	if leg == LegBackup {
		number, ext = n.Backup, n.BackupExt
	}
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
	if err != nil || call.TenantID != c.TenantID {
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
		return nil, ErrCallGone
	}
	t, p, err := e.Policy(ctx, call.TenantID)
	if err != nil {
		return nil, err
	}
	u, err := e.Store.UserByID(ctx, call.TenantID, call.UserID)
	if err != nil {
		return nil, ErrCallGone
	}
	f, err := e.Store.FactorByID(ctx, call.TenantID, call.FactorID)
	if err != nil {
		return nil, ErrCallGone
	}
	return &callCtx{call: call, t: t, p: p, u: u, f: f, c: Caller{TenantID: call.TenantID, Actor: "phone:" + call.Leg}}, nil
}

func (cc *callCtx) pinMode() bool { return len(cc.f.Secret) > 0 }

// say is a script that speaks the message key in the person's language.
func (cc *callCtx) say(key string, args ...any) Script {
	lang := languageOf(cc.c, cc.u)
	return Script{Say: words(lang, key, args...), Lang: lang}
}

func (e *Engine) prompt(cc *callCtx) Script {
	iss := e.issuer(cc.t, cc.p)
	lang := languageOf(cc.c, cc.u)
	what := words(lang, "voice.what.login")
	if cc.call.Purpose == CallEnrol {
		what = words(lang, "voice.what.enrol")
	}
	if cc.pinMode() {
		s := cc.say("voice.prompt.pin", iss, what)
		s.Gather, s.FinishOnKey, s.Timeout = true, "#", 10
		return s
	}
	s := cc.say("voice.prompt", iss, what)
	s.Gather, s.NumDigits, s.Timeout = true, 1, 10
	return s
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
	return e.prompt(cc), nil
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
	if cc.pinMode() {
		switch {
		case digits == fraudPrefix:
			return e.fraud(ctx, cc)
		case subtle.ConstantTimeCompare(e.pinHash(cc.u.ID, digits), cc.f.Secret) == 1:
			return e.approve(ctx, cc)
		default:
			return e.refuse(ctx, cc, store.CallWrongPIN, "voice.wrong_pin")
		}
	}
	switch {
	case digits == "#" && cc.call.Digits == fraudPrefix:
		return e.fraud(ctx, cc)
	case digits == "#":
		return e.approve(ctx, cc)
	case digits == fraudPrefix && cc.call.Digits == "":
		moved, err := e.Store.MoveCall(ctx, callID, []string{store.CallAnswered}, store.CallAnswered, fraudPrefix, e.now())
		if err != nil || !moved {
			return Script{}, errors.Join(ErrCallGone, err)
		}
		return Script{Gather: true, NumDigits: 1, Timeout: 10}, nil
	default:
		return e.refuse(ctx, cc, store.CallWrongKey, "voice.wrong_key")
	}
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
		var n VoiceNumbers
		if json.Unmarshal([]byte(cc.f.Config), &n) != nil || n.Backup == "" {
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
			return Script{}, ErrCallGone
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
		if err := json.Unmarshal([]byte(cc.f.Config), &n); err != nil {
			return Script{}, fmt.Errorf("voice factor %s config: %w", cc.f.ID, err)
		}
	}
	thenBackup := cc.call.Purpose == CallEnrol && cc.call.Leg == LegPrimary && n.Backup != ""
	err := e.guess(ctx, cc.c, cc.p, cc.u, attempt{
		kind: policy.FactorVoice, txn: txn, detail: map[string]any{"factor": cc.f.ID, "call": cc.call.ID, "leg": cc.call.Leg},
		check: func(q store.Queries) (bool, string, error) {
			moved, err := q.MoveCall(ctx, cc.call.ID, []string{store.CallAnswered}, store.CallApproved, "", now)
			if err != nil || !moved {
				return false, "call_finished", errors.Join(err, errCallRace)
			}
			return true, "", nil
		},
		success: func(q store.Queries) error {
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
	})
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
	err := e.guess(ctx, cc.c, cc.p, cc.u, attempt{
		kind: policy.FactorVoice, detail: map[string]any{"factor": cc.f.ID, "call": cc.call.ID, "leg": cc.call.Leg},
		check: func(q store.Queries) (bool, string, error) {
			moved, err := q.MoveCall(ctx, cc.call.ID, []string{store.CallAnswered}, state, "", now)
			if err != nil || !moved {
				return false, "", errors.Join(err, errCallRace)
			}
			return false, state, nil
		},
	})
	if errors.Is(err, errCallRace) {
		return Script{}, ErrCallGone
	}
	if err != nil && !errors.Is(err, ErrWrongCode) && !errors.Is(err, ErrMFALocked) {
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
		iss := e.issuer(cc.t, cc.p)
		for _, to := range slices.Compact(slices.Sorted(slices.Values(cc.p.AlertEmails))) {
			alert := delivery.Message{ID: store.NewID("msg"), TenantID: cc.call.TenantID, Channel: delivery.Email, To: to,
				Subject: iss + " security alert: fraud reported by " + cc.u.LoginID,
				Text: fmt.Sprintf("%s (user %s) answered a sign-in call at %s and reported fraud by pressing 0 then #.\n\nThe sign-in was blocked. Someone may know this user's password: contact the user, reset the password, and review the audit log (event fraud.reported, call %s).\n",
					cc.u.LoginID, cc.u.ID, MaskPhone(cc.call.Number), cc.call.ID)}
			if err := outbox.Enqueue(ctx, q, e.Keys, alert, cc.u.ID, "fraud_alert", now); err != nil {
				return err
			}
		}
		return nil
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
