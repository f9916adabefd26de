package flow_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

const primary, backupNo = "5555550101", "5555550102"

// voiceUser has an active voice factor with a primary and a backup number.
func (e *env) voiceUser(login string, pin string) (*store.User, string) {
	e.t.Helper()
	e.setPolicy(func(p *policy.Policy) {
		p.AllowedFactors = []string{"totp", "voice"}
		p.VoicePINRequired = pin != ""
		p.AlertEmails = []string{"security@example.org"}
	})
	u := e.user(login)
	f, call, err := e.eng.AdminBeginVoiceEnrolment(e.ctx, e.admin, u.ID, flow.VoiceNumbers{Primary: primary, PrimaryExt: "12", Backup: backupNo}, pin)
	if err != nil {
		e.t.Fatal(err)
	}
	// "Call me now to authenticate": the person answers and approves (A4).
	if _, err := e.eng.CallAnswered(e.ctx, call.ID, false); err != nil {
		e.t.Fatal(err)
	}
	keys := "#"
	if pin != "" {
		keys = pin
	}
	if s, err := e.eng.CallInput(e.ctx, call.ID, keys); err != nil || !strings.Contains(s.Say, "backup number") {
		e.t.Fatalf("primary's verification call: %v %+v", err, s)
	}
	// A4: then the backup is called to verify it too.
	if st := e.factorState(f.ID); st != store.FactorPending {
		e.t.Fatalf("factor %s before the backup is verified", st)
	}
	next := e.latestCall(f.ID)
	if next.Leg != flow.LegBackup || next.Number != backupNo || next.Purpose != flow.CallEnrol {
		e.t.Fatalf("after the primary: call %+v, want the backup's verification call", next)
	}
	if _, err := e.eng.CallAnswered(e.ctx, next.ID, false); err != nil {
		e.t.Fatal(err)
	}
	if s, err := e.eng.CallInput(e.ctx, next.ID, keys); err != nil || !strings.Contains(s.Say, "set up") {
		e.t.Fatalf("backup's verification call: %v %+v", err, s)
	}
	// The tests' own calls start with a fresh per-user send budget.
	e.clock.Add(time.Duration(e.policyNow().SendLimits.PerUser.Window) + time.Second)
	return u, f.ID
}

func (e *env) latestCall(ref string) *store.VoiceCall {
	e.t.Helper()
	c, err := e.eng.LatestCall(e.ctx, e.admin, ref)
	if err != nil || c == nil {
		e.t.Fatalf("latest call of %s: %v %v", ref, c, err)
	}
	return c
}

func (e *env) factorState(id string) string {
	e.t.Helper()
	f, err := e.st.FactorByID(e.ctx, e.tenant.ID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return f.State
}

func (e *env) callState(id string) string {
	e.t.Helper()
	c, err := e.st.CallByID(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.State
}

// A4–A6: the primary is called; the person presses # and the login is
// allowed; the call carries the extension and the caller gets each outcome.
func TestVoiceLoginApproved(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u, factor := e.voiceUser("walt", "")
		txn := e.mfaTxn("walt")
		call, err := e.eng.StartCall(e.ctx, e.app, txn, factor, false)
		if err != nil {
			t.Fatal(err)
		}
		placed := false
		for _, m := range e.deliver() {
			if m.CallID == call.ID {
				placed = m.To == "+15555550101" && m.Extension == "12" && !strings.ContainsAny(m.Text, "0123456789")
			}
		}
		if !placed {
			t.Fatal("the call was not handed to the provider with the number and extension, or its voicemail text holds digits")
		}
		s, err := e.eng.CallAnswered(e.ctx, call.ID, false)
		if err != nil || !s.Gather || !strings.Contains(s.Say, "press pound") {
			t.Fatalf("answered: %v %+v", err, s)
		}
		if _, err := e.eng.CallInput(e.ctx, call.ID, "#"); err != nil {
			t.Fatal(err)
		}
		got, _ := e.eng.Transaction(e.ctx, e.app, txn)
		if got.State != store.TxnAllowed || e.callState(call.ID) != store.CallApproved {
			t.Fatalf("txn %s call %s", got.State, e.callState(call.ID))
		}
		// Late or repeated callbacks change nothing.
		if _, err := e.eng.CallInput(e.ctx, call.ID, "#"); !errors.Is(err, flow.ErrCallGone) {
			t.Fatalf("second input: %v", err)
		}
		_ = u
	})
}

// A6: every failure outcome is distinguished.
func TestVoiceOutcomes(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u, factor := e.voiceUser("xena", "")
		cases := []struct {
			name  string
			act   func(id string)
			state string
		}{
			{"other key", func(id string) { e.eng.CallAnswered(e.ctx, id, false); e.eng.CallInput(e.ctx, id, "5") }, store.CallWrongKey},
			{"no input", func(id string) { e.eng.CallAnswered(e.ctx, id, false); e.eng.CallTimedOut(e.ctx, id) }, store.CallNoInput},
			{"hung up", func(id string) { e.eng.CallAnswered(e.ctx, id, false); e.eng.CallEnded(e.ctx, id, "completed") }, store.CallDisconnected},
			{"busy", func(id string) { e.eng.CallEnded(e.ctx, id, "busy") }, store.CallNoAnswer},
		}
		for _, c := range cases {
			txn := e.mfaTxn("xena")
			call, err := e.eng.StartCall(e.ctx, e.app, txn, factor, true) // the backup, chosen at the prompt
			if err != nil {
				t.Fatal(err)
			}
			if call.Leg != "backup" || call.Number != backupNo {
				t.Fatalf("backup leg %+v", call)
			}
			c.act(call.ID)
			if got := e.callState(call.ID); got != c.state {
				t.Errorf("%s: state %s, want %s", c.name, got, c.state)
			}
			if got, _ := e.eng.Transaction(e.ctx, e.app, txn); got.State != store.TxnPending {
				t.Errorf("%s: transaction %s, want still pending", c.name, got.State)
			}
		}
		// Only the wrong key counted as a failed attempt.
		if got := e.reload(u); got.MFAFailures != 1 {
			t.Fatalf("counter %d, want 1", got.MFAFailures)
		}
	})
}

// A5: an unanswered primary (or a voicemail) rolls over to the backup; a
// voicemail hears no secret.
func TestVoiceRollsOverToBackup(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		_, factor := e.voiceUser("yuri", "")
		for _, machine := range []bool{false, true} {
			txn := e.mfaTxn("yuri")
			call, err := e.eng.StartCall(e.ctx, e.app, txn, factor, false)
			if err != nil {
				t.Fatal(err)
			}
			if machine {
				s, err := e.eng.CallAnswered(e.ctx, call.ID, true)
				if err != nil || s.Gather || strings.ContainsAny(s.Say, "0123456789") {
					t.Fatalf("voicemail script %+v %v", s, err)
				}
			} else if err := e.eng.CallEnded(e.ctx, call.ID, "no-answer"); err != nil {
				t.Fatal(err)
			}
			latest, err := e.eng.LatestCall(e.ctx, e.app, txn)
			if err != nil || latest.Leg != "backup" || latest.ID == call.ID {
				t.Fatalf("machine=%v: latest call %+v %v, want a backup call", machine, latest, err)
			}
			e.eng.CallAnswered(e.ctx, latest.ID, false)
			if _, err := e.eng.CallInput(e.ctx, latest.ID, "#"); err != nil {
				t.Fatal(err)
			}
			if got, _ := e.eng.Transaction(e.ctx, e.app, txn); got.State != store.TxnAllowed {
				t.Fatalf("approved on the backup: %s", got.State)
			}
		}
	})
}

// A4, A6: with a PIN, the right PIN then # approves; a wrong one is its own
// outcome and counts as a failed attempt.
func TestVoicePIN(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u, factor := e.voiceUser("zoe", "4321")
		txn := e.mfaTxn("zoe")
		call, _ := e.eng.StartCall(e.ctx, e.app, txn, factor, false)
		s, _ := e.eng.CallAnswered(e.ctx, call.ID, false)
		if s.FinishOnKey != "#" || !strings.Contains(s.Say, "PIN") {
			t.Fatalf("PIN prompt %+v", s)
		}
		e.eng.CallInput(e.ctx, call.ID, "1234")
		if e.callState(call.ID) != store.CallWrongPIN || e.reload(u).MFAFailures != 1 {
			t.Fatal("wrong PIN not recorded as a failed attempt")
		}
		call, _ = e.eng.StartCall(e.ctx, e.app, txn, factor, false)
		e.eng.CallAnswered(e.ctx, call.ID, false)
		e.eng.CallInput(e.ctx, call.ID, "4321")
		if got, _ := e.eng.Transaction(e.ctx, e.app, txn); got.State != store.TxnAllowed {
			t.Fatalf("right PIN: %s", got.State)
		}
	})
}

// X5: 0 then # reports fraud: the attempt is blocked, a fraud event is
// recorded and the tenant's administrators are alerted.
func TestVoiceFraudReport(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u, factor := e.voiceUser("abe", "")
		txn := e.mfaTxn("abe")
		call, _ := e.eng.StartCall(e.ctx, e.app, txn, factor, false)
		e.eng.CallAnswered(e.ctx, call.ID, false)
		if s, err := e.eng.CallInput(e.ctx, call.ID, "0"); err != nil || !s.Gather {
			t.Fatalf("after 0: %+v %v", s, err)
		}
		if s, err := e.eng.CallInput(e.ctx, call.ID, "#"); err != nil || !strings.Contains(s.Say, "blocked") {
			t.Fatalf("after 0#: %+v %v", s, err)
		}
		got, _ := e.eng.Transaction(e.ctx, e.app, txn)
		if got.State != store.TxnDenied || e.callState(call.ID) != store.CallFraud {
			t.Fatalf("txn %s call %s", got.State, e.callState(call.ID))
		}
		if len(e.audit(u.ID, "fraud.reported", "blocked")) != 1 {
			t.Fatal("no fraud event")
		}
		alerted := false
		for _, m := range e.deliver() {
			alerted = alerted || (m.To == "security@example.org" && strings.Contains(m.Subject, "fraud"))
		}
		if !alerted {
			t.Fatal("administrators not alerted")
		}
		if _, err := e.eng.VerifyTransaction(e.ctx, e.app, txn, flow.Verification{FactorID: factor}); !errors.Is(err, flow.ErrTxnGone) {
			t.Fatalf("the blocked attempt can still complete: %v", err)
		}
	})
}

// A4: a person sets up the phone call themselves after a fresh login; the
// numbers follow C11 and the PIN follows policy.
func TestVoiceSelfEnrolment(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.setPolicy(func(p *policy.Policy) { p.AllowedFactors = []string{"voice"}; p.VoicePINRequired = true })
		e.user("ivan")
		res, err := e.eng.PasswordLogin(e.ctx, e.app, "ivan", goodPassword)
		if err != nil || res.Status != flow.EnrolmentRequired {
			t.Fatalf("%v %+v", err, res)
		}
		_, _, err = e.eng.BeginVoiceEnrolment(e.ctx, e.app, res.Txn.ID, flow.VoiceNumbers{Primary: "12345", BackupExt: "9"}, "0123")
		for _, field := range []string{"primary", "backup_ext", "pin"} {
			if err == nil || !strings.Contains(err.Error(), field) {
				t.Fatalf("invalid enrolment %v does not name %s", err, field)
			}
		}
		f, call, err := e.eng.BeginVoiceEnrolment(e.ctx, e.app, res.Txn.ID, flow.VoiceNumbers{Primary: "555-555-0101", Backup: "(555) 555-0102", BackupExt: "44"}, "2468")
		if err != nil || f.State != store.FactorPending || call.Number != primary {
			t.Fatalf("%v %+v %+v", err, f, call)
		}
		e.eng.CallAnswered(e.ctx, call.ID, false)
		if s, err := e.eng.CallInput(e.ctx, call.ID, "2468"); err != nil || !strings.Contains(s.Say, "backup") {
			t.Fatalf("%+v %v", s, err)
		}
		// A4: the backup, with its extension, is verified by its own call;
		// a wrong key there leaves the factor pending.
		backupCall := e.latestCall(f.ID)
		if backupCall.Leg != flow.LegBackup || backupCall.Extension != "44" {
			t.Fatalf("backup verification call %+v", backupCall)
		}
		e.eng.CallAnswered(e.ctx, backupCall.ID, false)
		e.eng.CallInput(e.ctx, backupCall.ID, "1111")
		if st := e.callState(backupCall.ID); st != store.CallWrongPIN {
			t.Fatalf("a wrong PIN on the backup's call: %s", st)
		}
		if st := e.factorState(f.ID); st != store.FactorPending {
			t.Fatalf("factor %s after a failed backup verification", st)
		}
		f, call, err = e.eng.BeginVoiceEnrolment(e.ctx, e.app, res.Txn.ID, flow.VoiceNumbers{Primary: "555-555-0101", Backup: "(555) 555-0102", BackupExt: "44"}, "2468")
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []string{"backup", "set up"} {
			e.eng.CallAnswered(e.ctx, call.ID, false)
			if s, err := e.eng.CallInput(e.ctx, call.ID, "2468"); err != nil || !strings.Contains(s.Say, want) {
				t.Fatalf("verification call %d: %+v %v", i, s, err)
			}
			call = e.latestCall(f.ID)
		}
		active, _ := e.st.ActiveFactors(e.ctx, f.UserID)
		if len(active) != 1 || active[0].Kind != "voice" || !strings.Contains(active[0].Config, `"backup_ext":"44"`) {
			t.Fatalf("active factors %+v", active)
		}
	})
}
