package flow_test

import (
	"errors"
	"testing"

	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

// C14 through the directory, as the console calls it: only an
// administrator terminates (a refusal is audited); a code sent before the
// termination is never delivered and a login under way cannot complete;
// the person's next login hears E50.
func TestTerminateEndsWhatIsUnderWay(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.oobUser("sam")
		secret := e.enrol(u)
		txn := e.mfaTxn("sam")
		if _, err := e.eng.SendCode(e.ctx, e.app, txn, e.factorOf(u, "sms")); err != nil {
			t.Fatal(err)
		}
		support := flow.Caller{TenantID: e.tenant.ID, Actor: "admin:helpdesk", Role: store.RoleSupport}
		if _, err := e.dir.Terminate(e.ctx, support, u.ID, "sold"); !errors.Is(err, flow.ErrForbidden) {
			t.Fatalf("support terminates: %v", err)
		}
		if got := e.audit(u.ID, "user.terminated", "refused"); len(got) != 1 {
			t.Errorf("refusal audited %d times", len(got))
		}
		res, err := e.dir.Terminate(e.ctx, e.admin, u.ID, "sold")
		if err != nil {
			t.Fatalf("Terminate: %v", err)
		}
		if res.LoginTxns != 1 || res.OutboxMessages < 1 || res.Challenges != 1 || res.Factors < 3 {
			t.Errorf("Terminate = %+v", res)
		}
		for _, m := range e.deliver() {
			if m.To == e164 {
				t.Errorf("a code was delivered after the termination: %q", m.Text)
			}
		}
		_, err = e.eng.VerifyTransaction(e.ctx, e.app, txn, flow.Verification{Code: e.code(secret, 0)})
		if !errors.Is(err, flow.ErrTxnGone) && !errors.Is(err, flow.ErrAccountTerminated) {
			t.Errorf("verify after termination: %v", err)
		}
		if _, err := e.eng.PasswordLogin(e.ctx, e.app, "sam", goodPassword); !errors.Is(err, flow.ErrAccountTerminated) {
			t.Errorf("password login: %v", err)
		}
		if _, err := e.eng.PasswordLogin(e.ctx, e.app, "sam", "Wrong-Horse-42"); !errors.Is(err, flow.ErrInvalidCredentials) {
			t.Errorf("wrong password: %v", err)
		}
		if err := e.dir.SetStatus(e.ctx, e.admin, u.ID, store.StatusActive); err == nil {
			t.Error("SetStatus changed a terminated account")
		}
		if got := e.reload(u); got.Status != store.StatusTerminated || got.TerminatedBy != "admin:test" || got.TerminationReason != "sold" {
			t.Errorf("after: %+v", got)
		}
	})
}

// Issue 13: the help desk works the queue and resends messages; nobody
// without an administrator role does anything.
func TestHelpDeskRoles(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		support := flow.Caller{TenantID: e.tenant.ID, Actor: "admin:helpdesk", Role: store.RoleSupport}
		u := e.oobUser("ivy")
		// Codes by SMS and email are not offered: ivy has no second factor.
		e.setPolicy(func(p *policy.Policy) { p.AllowedFactors = []string{"totp"} })
		if _, err := e.dir.SearchUsers(e.ctx, support, directory.UserSearch{Query: "iv"}); err != nil {
			t.Errorf("support searches: %v", err)
		}
		if _, err := e.dir.SearchUsers(e.ctx, e.app, directory.UserSearch{Query: "iv"}); !errors.Is(err, flow.ErrForbidden) {
			t.Errorf("an application searches: %v", err)
		}
		if err := e.dir.ResendMessage(e.ctx, support, u.ID, flow.ResendEnrolment); err != nil {
			t.Errorf("support resends: %v", err)
		}
		if err := e.dir.ResendMessage(e.ctx, e.app, u.ID, flow.ResendEnrolment); !errors.Is(err, flow.ErrForbidden) {
			t.Errorf("an application resends: %v", err)
		}
		r, err := e.eng.FileSupportRequest(e.ctx, e.portal(), flow.SupportRequestInput{LoginID: "ivy", Name: "Ivy Lee",
			Phone: "555-555-0100", Email: "ivy@example.org", Subject: "Codes", Message: "Refused."})
		if err != nil {
			t.Fatal(err)
		}
		st := store.SupportInProgress
		got, err := e.dir.WorkSupportRequest(e.ctx, support, r.Tracking, directory.SupportChange{State: &st, Note: "Looking."})
		if err != nil || got.State != st {
			t.Fatalf("support works a request: %+v %v", got, err)
		}
		if _, err := e.dir.WorkSupportRequest(e.ctx, e.app, r.Tracking, directory.SupportChange{Note: "x"}); !errors.Is(err, flow.ErrForbidden) {
			t.Errorf("an application works a request: %v", err)
		}
		req, notes, err := e.dir.SupportRequestDetail(e.ctx, support, r.Tracking)
		if err != nil || req.State != st || len(notes) != 1 || notes[0].Author != "admin:helpdesk" {
			t.Errorf("detail: %+v %+v %v", req, notes, err)
		}
		if len(e.audit("", "support.updated", "success")) != 1 || len(e.audit("", "support.noted", "success")) != 1 {
			t.Error("the work was not audited")
		}
	})
}
