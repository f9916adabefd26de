package flow_test

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/problem"

	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/validate"
)

// portal is the caller the self-service portal uses for a browser at ip
// (the default address when ip is empty).
func (e *env) portal(ip ...string) flow.Caller {
	c := flow.Caller{TenantID: e.tenant.ID, ApplicationID: flow.PortalApplication, Actor: "portal", IP: "198.51.100.20"}
	if len(ip) > 0 {
		c.IP = ip[0]
	}
	return c
}

// person creates a user the way an administrator does, with contact points
// (verified, B2) and the identity details of C6.
func (e *env) person(in directory.NewUser) *store.User {
	e.t.Helper()
	if in.Password == "" {
		in.Password = goodPassword
	}
	u, err := e.dir.CreateUser(e.ctx, e.admin, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// portalFull signs login in to the portal with the authenticator app and
// returns the allowed, fresh transaction. It moves the clock to the next
// step first, so each call has an unused code (invariant 2).
func (e *env) portalFull(login string, secret []byte) string {
	e.t.Helper()
	e.clock.Add(30 * time.Second)
	res, err := e.eng.PortalSignIn(e.ctx, e.portal(), login, goodPassword)
	if err != nil || res.Status != flow.MFARequired {
		e.t.Fatalf("portal sign-in of %s: %v %+v", login, err, res)
	}
	if _, err := e.eng.VerifyTransaction(e.ctx, e.portal(), res.Txn.ID, flow.Verification{Code: e.code(secret, 0)}); err != nil {
		e.t.Fatalf("portal second factor of %s: %v", login, err)
	}
	return res.Txn.ID
}

func (e *env) policyNow() policy.Policy {
	e.t.Helper()
	_, p, err := e.eng.Policy(e.ctx, e.tenant.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// fieldErrors asserts err is a validate.Errors and returns it.
func fieldErrors(t *testing.T, err error) validate.Errors {
	t.Helper()
	var v validate.Errors
	if !errors.As(err, &v) {
		t.Fatalf("%v, want field errors", err)
	}
	return v
}

// wantFields asserts err reports each field (with the code, when given as
// "field=code").
func wantFields(t *testing.T, err error, fields ...string) {
	t.Helper()
	v := fieldErrors(t, err)
	for _, f := range fields {
		name, code, _ := strings.Cut(f, "=")
		got := v.For(name)
		if len(got) == 0 {
			t.Errorf("no error for field %s in %v", name, v)
			continue
		}
		if code != "" && got[0].Code != code {
			t.Errorf("field %s: code %s, want %s (%v)", name, got[0].Code, code, got)
		}
	}
}

// goodAnswers answers the first n questions of the catalogue.
func goodAnswers(n int) []flow.Answer {
	out := make([]flow.Answer, n)
	for i := range out {
		out[i] = flow.Answer{QuestionID: flow.QuestionIDs[i], Text: fmt.Sprintf("Answer Number %d", i+1)}
	}
	return out
}

// answerMap turns answers into what a sign-in submits, each text changed by f.
func answerMap(as []flow.Answer, f func(string) string) map[string]string {
	m := map[string]string{}
	for _, a := range as {
		m[a.QuestionID] = f(a.Text)
	}
	return m
}

func same(s string) string { return s }

func kinds(fs []store.Factor) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Kind)
	}
	return out
}

// newestTo returns the text of the newest message delivered to to.
func (e *env) newestTo(to string) string {
	e.t.Helper()
	for _, m := range e.deliver() {
		if m.To == to {
			return m.Text
		}
	}
	e.t.Fatalf("nothing delivered to %s", to)
	return ""
}

func (e *env) deliveredTo(to string) int {
	e.t.Helper()
	n := 0
	for _, m := range e.deliver() {
		if m.To == to {
			n++
		}
	}
	return n
}

func otherCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// A2, C1: the portal admits every status that may manage MFA, even those
// kept out of applications; pending and expired users are refused; a wrong
// password and an unknown login ID look the same (G4).
func TestPortalSignInStatuses(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		pc := e.portal()
		u := e.user("pam")
		e.enrol(u)
		res, err := e.eng.PortalSignIn(e.ctx, pc, "PAM", goodPassword)
		if err != nil || res.Status != flow.MFARequired || res.Txn.Mode != flow.ModePortal || res.Txn.ApplicationID != flow.PortalApplication {
			t.Fatalf("active user with an authenticator: %v %+v", err, res)
		}
		if k := kinds(res.Factors); len(k) != 1 || k[0] != policy.FactorTOTP {
			t.Fatalf("factors %v, want the authenticator", k)
		}
		e.user("newbie")
		res, err = e.eng.PortalSignIn(e.ctx, pc, "newbie", goodPassword)
		if err != nil || res.Status != flow.EnrolmentRequired || len(res.Factors) != 0 {
			t.Fatalf("user without factors: %v %+v", err, res)
		}
		for i, c := range []struct {
			status string
			app    error
		}{
			{store.StatusInactive, flow.ErrAccountInactive},
			{store.StatusDisabled, flow.ErrAccountDisabled},
			{store.StatusLocked, flow.ErrAccountLocked},
		} {
			login := "in" + string(rune('a'+i))
			u := e.user(login)
			e.enrol(u)
			if err := e.dir.SetStatus(e.ctx, e.admin, u.ID, c.status); err != nil {
				t.Fatal(err)
			}
			res, err := e.eng.PortalSignIn(e.ctx, pc, login, goodPassword)
			if err != nil || res.Status != flow.MFARequired {
				t.Errorf("%s user signs in to the portal (C1): %v %+v", c.status, err, res)
			}
			if _, err := e.eng.PasswordLogin(e.ctx, e.app, login, goodPassword); !errors.Is(err, c.app) {
				t.Errorf("%s user logs in to an application: %v, want %v", c.status, err, c.app)
			}
		}
		for i, c := range []struct {
			status string
			want   error
		}{
			{store.StatusPending, flow.ErrAccountPending},
			{store.StatusExpired, flow.ErrAccountExpired},
		} {
			login := "out" + string(rune('a'+i))
			u := e.user(login)
			if err := e.dir.SetStatus(e.ctx, e.admin, u.ID, c.status); err != nil {
				t.Fatal(err)
			}
			if _, err := e.eng.PortalSignIn(e.ctx, pc, login, goodPassword); !errors.Is(err, c.want) {
				t.Errorf("%s user: %v, want %v", c.status, err, c.want)
			}
			if _, err := e.eng.PortalSignIn(e.ctx, pc, login, "wrong-password-9"); !errors.Is(err, flow.ErrInvalidCredentials) {
				t.Errorf("%s user with a wrong password must not reveal the status: %v", c.status, err)
			}
		}
		_, errWrong := e.eng.PortalSignIn(e.ctx, pc, "pam", "not-the-password")
		_, errUnknown := e.eng.PortalSignIn(e.ctx, pc, "nobody", goodPassword)
		if !errors.Is(errWrong, flow.ErrInvalidCredentials) || !errors.Is(errUnknown, flow.ErrInvalidCredentials) {
			t.Fatalf("wrong password %v, unknown login ID %v: both must be ErrInvalidCredentials", errWrong, errUnknown)
		}
		_, err = e.eng.PortalSignIn(e.ctx, pc, "", "")
		wantFields(t, err, "login_id", "password")
	})
}

// C1: an inactive user finishes a portal sign-in with the authenticator
// app, but that never opens an application.
func TestPortalTOTPForInactiveUser(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		pc := e.portal()
		u := e.user("ina")
		secret := e.enrol(u)
		if err := e.dir.SetStatus(e.ctx, e.admin, u.ID, store.StatusInactive); err != nil {
			t.Fatal(err)
		}
		res, err := e.eng.PortalSignIn(e.ctx, pc, "ina", goodPassword)
		if err != nil || res.Status != flow.MFARequired {
			t.Fatalf("%v %+v", err, res)
		}
		// The portal's transaction belongs to the portal alone.
		if _, err := e.eng.VerifyTransaction(e.ctx, e.app, res.Txn.ID, flow.Verification{Code: e.code(secret, 0)}); !errors.Is(err, flow.ErrTxnGone) {
			t.Fatalf("an application verifies the portal's transaction: %v", err)
		}
		if e.eng.FreshTxn(e.ctx, pc, res.Txn.ID) {
			t.Fatal("a pending sign-in of a user with factors is fresh")
		}
		v, err := e.eng.VerifyTransaction(e.ctx, pc, res.Txn.ID, flow.Verification{Code: e.code(secret, 0)})
		if err != nil || v.Status != flow.Allowed {
			t.Fatalf("inactive user's portal sign-in: %v %+v", err, v)
		}
		if !e.eng.FreshTxn(e.ctx, pc, res.Txn.ID) {
			t.Fatal("a completed portal sign-in is not fresh")
		}
		e.clock.Add(30 * time.Second)
		if _, err := e.eng.PasswordLogin(e.ctx, e.app, "ina", goodPassword); !errors.Is(err, flow.ErrAccountInactive) {
			t.Fatalf("application login: %v, want ErrAccountInactive", err)
		}
		if _, err := e.eng.Check(e.ctx, e.app, "ina", e.code(secret, 0)); !errors.Is(err, flow.ErrAccountInactive) {
			t.Fatalf("application check: %v, want ErrAccountInactive", err)
		}
	})
}

// A8: security questions are set on a fresh authentication, validated per
// field, forgiving of case and spacing, replaced as a whole, and open the
// portal, never an application.
func TestSecurityQuestions(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		pc := e.portal()
		p := e.policyNow()
		n := p.Portal.SecurityQuestions
		u := e.user("quinn")
		secret := e.enrol(u)
		txn := e.portalFull("quinn", secret)

		cases := []struct {
			name  string
			mut   func(a []flow.Answer) []flow.Answer
			field string
		}{
			{"too few", func(a []flow.Answer) []flow.Answer { return a[:n-1] }, "questions=count"},
			{"too many", func(a []flow.Answer) []flow.Answer {
				return append(a, flow.Answer{QuestionID: flow.QuestionIDs[n], Text: "one more answer"})
			}, "questions=count"},
			{"duplicate question", func(a []flow.Answer) []flow.Answer { a[1].QuestionID = a[0].QuestionID; return a }, "question_2=duplicate"},
			{"unknown question", func(a []flow.Answer) []flow.Answer { a[2].QuestionID = "favourite_colour"; return a }, "question_3=invalid"},
			{"no question", func(a []flow.Answer) []flow.Answer { a[3].QuestionID = ""; return a }, "question_4=required"},
			{"empty answer", func(a []flow.Answer) []flow.Answer { a[3].Text = "  \t "; return a }, "answer_4=required"},
			{"short answer", func(a []flow.Answer) []flow.Answer { a[0].Text = " Ab "; return a }, "answer_1=too_short"},
			{"long answer", func(a []flow.Answer) []flow.Answer { a[1].Text = strings.Repeat("x", 101); return a }, "answer_2=too_long"},
		}
		for _, c := range cases {
			err := e.eng.SetSecurityAnswers(e.ctx, pc, txn, c.mut(goodAnswers(n)), nil)
			if err == nil {
				t.Fatalf("%s: accepted", c.name)
			}
			wantFields(t, err, c.field)
		}
		if ids, err := e.eng.SecurityQuestions(e.ctx, u.ID); err != nil || len(ids) != 0 {
			t.Fatalf("invalid answers were stored: %v %v", ids, err)
		}

		good := goodAnswers(n)
		if err := e.eng.SetSecurityAnswers(e.ctx, pc, txn, good, nil); err != nil {
			t.Fatal(err)
		}
		ids, err := e.eng.SecurityQuestions(e.ctx, u.ID)
		if err != nil || strings.Join(ids, ",") != strings.Join(flow.QuestionIDs[:n], ",") {
			t.Fatalf("questions %v %v, want the chosen ones in order", ids, err)
		}

		// The answers finish a portal sign-in, typed in any case and spacing.
		res, err := e.eng.PortalSignIn(e.ctx, pc, "quinn", goodPassword)
		if err != nil || !strings.Contains(strings.Join(kinds(res.Factors), ","), flow.FactorQuestions) {
			t.Fatalf("portal factors %v (%v), want the questions offered", kinds(res.Factors), err)
		}
		sloppy := answerMap(good, func(s string) string { return "  " + strings.ToUpper(strings.ReplaceAll(s, " ", "   ")) + " " })
		v, err := e.eng.VerifyTransaction(e.ctx, pc, res.Txn.ID, flow.Verification{Answers: sloppy})
		if err != nil || v.Status != flow.Allowed || !e.eng.FreshTxn(e.ctx, pc, res.Txn.ID) {
			t.Fatalf("sign-in with the answers: %v %+v", err, v)
		}

		// Never into an application: not offered, and refused when sent.
		app, err := e.eng.PasswordLogin(e.ctx, e.app, "quinn", goodPassword)
		if err != nil || app.Status != flow.MFARequired {
			t.Fatalf("%v %+v", err, app)
		}
		if strings.Contains(strings.Join(kinds(app.Factors), ","), flow.FactorQuestions) {
			t.Fatalf("an application is offered the questions: %v", kinds(app.Factors))
		}
		if _, err := e.eng.VerifyTransaction(e.ctx, e.app, app.Txn.ID, flow.Verification{Answers: answerMap(good, same)}); !errors.Is(err, flow.ErrFactorNotAllowed) {
			t.Fatalf("answers on an application's transaction: %v, want ErrFactorNotAllowed", err)
		}
		// Nor does an application's completed transaction, however fresh, change them.
		e.clock.Add(30 * time.Second)
		if _, err := e.eng.VerifyTransaction(e.ctx, e.app, app.Txn.ID, flow.Verification{Code: e.code(secret, 0)}); err != nil {
			t.Fatal(err)
		}
		if err := e.eng.SetSecurityAnswers(e.ctx, e.app, app.Txn.ID, good, nil); !errors.Is(err, flow.ErrFreshAuthRequired) {
			t.Fatalf("application transaction: %v, want ErrFreshAuthRequired", err)
		}

		// Answering again replaces every earlier answer.
		txn = e.portalFull("quinn", secret)
		next := make([]flow.Answer, n)
		for i := range next {
			next[i] = flow.Answer{QuestionID: flow.QuestionIDs[len(flow.QuestionIDs)-1-i], Text: fmt.Sprintf("New answer %d", i)}
		}
		if err := e.eng.SetSecurityAnswers(e.ctx, pc, txn, next, nil); err != nil {
			t.Fatal(err)
		}
		if ids, _ := e.eng.SecurityQuestions(e.ctx, u.ID); ids[0] != next[0].QuestionID {
			t.Fatalf("questions %v after answering again", ids)
		}
		res, _ = e.eng.PortalSignIn(e.ctx, pc, "quinn", goodPassword)
		if _, err := e.eng.VerifyTransaction(e.ctx, pc, res.Txn.ID, flow.Verification{Answers: answerMap(good, same)}); !errors.Is(err, flow.ErrWrongAnswer) {
			t.Fatalf("replaced answers: %v, want ErrWrongAnswer", err)
		}
		if _, err := e.eng.VerifyTransaction(e.ctx, pc, res.Txn.ID, flow.Verification{Answers: answerMap(next, same)}); err != nil {
			t.Fatalf("new answers: %v", err)
		}
		// Both settings are audited: the first as an enrolment, answering
		// again as a replacement.
		if n := len(e.audit(u.ID, "factor.enrolled", "success")); n != 2 {
			t.Fatalf("%d factor.enrolled events (authenticator and the first questions), want 2", n)
		}
		if n := len(e.audit(u.ID, "factor.replaced", "success")); n != 1 {
			t.Fatalf("%d factor.replaced events (questions answered again), want 1", n)
		}

		// Policy can keep the questions out of sign-in.
		e.setPolicy(func(p *policy.Policy) { p.Portal.QuestionsSignIn = false })
		res, _ = e.eng.PortalSignIn(e.ctx, pc, "quinn", goodPassword)
		if strings.Contains(strings.Join(kinds(res.Factors), ","), flow.FactorQuestions) {
			t.Fatalf("questions offered against policy: %v", kinds(res.Factors))
		}
		if _, err := e.eng.VerifyTransaction(e.ctx, pc, res.Txn.ID, flow.Verification{Answers: answerMap(next, same)}); !errors.Is(err, flow.ErrFactorNotAllowed) {
			t.Fatalf("answers against policy: %v", err)
		}

		// A stale sign-in no longer changes them (invariant 6).
		e.clock.Add(time.Duration(p.Portal.FreshAuth) + time.Second)
		if err := e.eng.SetSecurityAnswers(e.ctx, pc, txn, good, nil); !errors.Is(err, flow.ErrFreshAuthRequired) {
			t.Fatalf("stale transaction: %v, want ErrFreshAuthRequired", err)
		}
		if e.eng.FreshTxn(e.ctx, pc, txn) {
			t.Fatal("FreshTxn after portal.fresh_auth")
		}
	})
}

// A8: answers alone never stand in for a first enrolment.
func TestQuestionsAloneAreNoEnrolment(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		pc := e.portal()
		e.user("una")
		res, err := e.eng.PortalSignIn(e.ctx, pc, "una", goodPassword)
		if err != nil || res.Status != flow.EnrolmentRequired {
			t.Fatalf("%v %+v", err, res)
		}
		if err := e.eng.SetSecurityAnswers(e.ctx, pc, res.Txn.ID, goodAnswers(e.policyNow().Portal.SecurityQuestions), nil); err != nil {
			t.Fatal(err)
		}
		res, err = e.eng.PortalSignIn(e.ctx, pc, "una", goodPassword)
		if err != nil || res.Status != flow.EnrolmentRequired || len(res.Factors) != 0 {
			t.Fatalf("questions only: %v %+v, want enrolment_required", err, res)
		}
	})
}

// A8, B5: wrong answers count on the one second-factor counter and lock.
func TestWrongAnswersLock(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.setPolicy(func(p *policy.Policy) { p.MFAAttempts = 3 })
		pc := e.portal()
		u := e.user("rex")
		secret := e.enrol(u)
		good := goodAnswers(e.policyNow().Portal.SecurityQuestions)
		if err := e.eng.SetSecurityAnswers(e.ctx, pc, e.portalFull("rex", secret), good, nil); err != nil {
			t.Fatal(err)
		}
		res, err := e.eng.PortalSignIn(e.ctx, pc, "rex", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		wrong := answerMap(good, func(s string) string { return "not " + s })
		wrong[good[0].QuestionID] = good[0].Text // one right answer is not enough
		for i := range 3 {
			_, err := e.eng.VerifyTransaction(e.ctx, pc, res.Txn.ID, flow.Verification{Answers: wrong})
			want := flow.ErrWrongAnswer
			if i == 2 {
				want = flow.ErrMFALocked
			}
			if !errors.Is(err, want) {
				t.Fatalf("wrong answers %d: %v, want %v", i+1, err, want)
			}
		}
		if got := e.reload(u); got.MFAFailures != 3 || got.MFALockedAt == nil {
			t.Fatalf("counter %d locked %v, want 3 and locked", got.MFAFailures, got.MFALockedAt)
		}
		if _, err := e.eng.VerifyTransaction(e.ctx, pc, res.Txn.ID, flow.Verification{Answers: answerMap(good, same)}); !errors.Is(err, flow.ErrMFALocked) {
			t.Fatalf("right answers while locked: %v", err)
		}
		if _, err := e.eng.PortalSignIn(e.ctx, pc, "rex", goodPassword); !errors.Is(err, flow.ErrMFALocked) {
			t.Fatalf("portal sign-in while locked: %v", err)
		}
		if _, err := e.eng.Check(e.ctx, e.app, "rex", e.code(secret, 1)); !errors.Is(err, flow.ErrMFALocked) {
			t.Fatalf("application while locked (B5): %v", err)
		}
	})
}

// Invariant 1 with the security questions: many parallel wrong answers never
// evaluate more than the limit, and the user ends locked.
func TestParallelWrongAnswers(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		const limit = 5
		e.setPolicy(func(p *policy.Policy) { p.MFAAttempts = limit })
		pc := e.portal()
		u := e.user("sly")
		secret := e.enrol(u)
		good := goodAnswers(e.policyNow().Portal.SecurityQuestions)
		if err := e.eng.SetSecurityAnswers(e.ctx, pc, e.portalFull("sly", secret), good, nil); err != nil {
			t.Fatal(err)
		}
		res, err := e.eng.PortalSignIn(e.ctx, pc, "sly", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		wrong := answerMap(good, func(s string) string { return s + " no" })
		errs := race(40, func(int) error {
			_, err := e.eng.VerifyTransaction(e.ctx, pc, res.Txn.ID, flow.Verification{Answers: wrong})
			return err
		})
		if n := count(errs, nil); n != 0 {
			t.Fatalf("%d wrong answers succeeded", n)
		}
		if n := count(errs, flow.ErrWrongAnswer) + count(errs, flow.ErrMFALocked); n != len(errs) {
			t.Fatalf("unexpected errors: %v", errs)
		}
		got := e.reload(u)
		if got.MFAFailures != limit || got.MFALockedAt == nil {
			t.Fatalf("counter %d locked %v, want exactly %d and locked", got.MFAFailures, got.MFALockedAt, limit)
		}
		if n := len(e.audit(u.ID, "login.mfa", "failure")); n != limit {
			t.Fatalf("evaluated %d wrong answers, want exactly %d", n, limit)
		}
	})
}

// A10 / invariant 6: a person without a factor enrols in the portal's
// sign-in, and proving the new factor completes it; a factor confirmed
// before the sign-in began, or another person's, does not.
func TestCompleteEnrolmentTxn(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		pc := e.portal()
		e.user("cora")
		res, err := e.eng.PortalSignIn(e.ctx, pc, "cora", goodPassword)
		if err != nil || res.Status != flow.EnrolmentRequired {
			t.Fatalf("%v %+v", err, res)
		}
		txn := res.Txn.ID
		if !e.eng.FreshTxn(e.ctx, pc, txn) {
			t.Fatal("the password step of a user without factors is not fresh")
		}
		if _, err := e.eng.BeginTOTPEnrolment(e.ctx, e.app, txn); !errors.Is(err, flow.ErrFreshAuthRequired) {
			t.Fatalf("an application enrols on the portal's transaction: %v", err)
		}
		en, err := e.eng.BeginTOTPEnrolment(e.ctx, pc, txn)
		if err != nil {
			t.Fatal(err)
		}
		f, err := e.eng.ConfirmTOTPEnrolment(e.ctx, pc, en.Factor.ID, e.code(secretOf(t, en), 0), nil)
		if err != nil {
			t.Fatal(err)
		}
		if e.eng.FreshTxn(e.ctx, pc, txn) {
			t.Fatal("a pending sign-in stays fresh once the user has a factor")
		}
		if err := e.eng.CompleteEnrolmentTxn(e.ctx, pc, f.ID, &flow.Step{FinishTxn: txn}); err != nil {
			t.Fatal(err)
		}
		stored, err := e.st.LoginTxnByID(e.ctx, e.tenant.ID, txn)
		if err != nil || stored.State != store.TxnAllowed || stored.FactorID != f.ID {
			t.Fatalf("transaction %+v %v, want allowed with the new factor", stored, err)
		}
		if !e.eng.FreshTxn(e.ctx, pc, txn) {
			t.Fatal("completed sign-in is not fresh")
		}
		if err := e.eng.CompleteEnrolmentTxn(e.ctx, pc, f.ID, &flow.Step{FinishTxn: txn}); !errors.Is(err, flow.ErrTxnGone) {
			t.Fatalf("completed twice: %v", err)
		}

		other := e.user("dina")
		e.enrol(other)
		e.clock.Add(time.Second)
		res, err = e.eng.PortalSignIn(e.ctx, pc, "dina", goodPassword)
		if err != nil || res.Status != flow.MFARequired {
			t.Fatalf("%v %+v", err, res)
		}
		if err := e.eng.CompleteEnrolmentTxn(e.ctx, pc, e.factorOf(other, policy.FactorTOTP), &flow.Step{FinishTxn: res.Txn.ID}); !errors.Is(err, flow.ErrEnrolmentGone) {
			t.Fatalf("a factor confirmed before the sign-in: %v, want ErrEnrolmentGone", err)
		}
		if err := e.eng.CompleteEnrolmentTxn(e.ctx, pc, f.ID, &flow.Step{FinishTxn: res.Txn.ID}); !errors.Is(err, flow.ErrEnrolmentGone) {
			t.Fatalf("another person's factor: %v, want ErrEnrolmentGone", err)
		}
		if err := e.eng.CompleteEnrolmentTxn(e.ctx, pc, "fac_nope", &flow.Step{FinishTxn: res.Txn.ID}); !errors.Is(err, flow.ErrEnrolmentGone) {
			t.Fatalf("unknown factor: %v", err)
		}
		if e.eng.FreshTxn(e.ctx, pc, res.Txn.ID) {
			t.Fatal("the refused transaction became fresh")
		}
	})
}

// C4: every visit of the portal's enrolment page shows a new secret; only
// the newest can be confirmed.
func TestPortalEnrolmentNewSecretEachVisit(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		pc := e.portal()
		e.user("eli")
		res, err := e.eng.PortalSignIn(e.ctx, pc, "eli", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		first, err := e.eng.BeginTOTPEnrolment(e.ctx, pc, res.Txn.ID)
		if err != nil {
			t.Fatal(err)
		}
		second, err := e.eng.BeginTOTPEnrolment(e.ctx, pc, res.Txn.ID)
		if err != nil {
			t.Fatalf("second visit on one fresh portal sign-in: %v", err)
		}
		s1, s2 := secretOf(t, first), secretOf(t, second)
		if string(s1) == string(s2) {
			t.Fatal("the same secret was shown twice")
		}
		if _, err := e.eng.ConfirmTOTPEnrolment(e.ctx, pc, first.Factor.ID, e.code(s1, 0), nil); !errors.Is(err, flow.ErrEnrolmentGone) {
			t.Fatalf("confirm the abandoned secret: %v, want ErrEnrolmentGone", err)
		}
		if _, err := e.eng.ConfirmTOTPEnrolment(e.ctx, pc, second.Factor.ID, e.code(s2, 0), nil); err != nil {
			t.Fatal(err)
		}
	})
}

// Invariant 6: a person removes a factor on a fresh sign-in and is told; the
// last factor that opens applications stays.
func TestRemoveOwnFactor(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		pc := e.portal()
		fay := e.user("fay")
		secret := e.enrol(fay)
		txn := e.portalFull("fay", secret)
		fayTOTP := e.factorOf(fay, policy.FactorTOTP)
		if err := e.eng.RemoveOwnFactor(e.ctx, pc, txn, fayTOTP); !errors.Is(err, flow.ErrLastFactor) {
			t.Fatalf("last factor: %v, want ErrLastFactor", err)
		}
		// Security questions never open an application, so they do not count.
		if err := e.eng.SetSecurityAnswers(e.ctx, pc, txn, goodAnswers(e.policyNow().Portal.SecurityQuestions), nil); err != nil {
			t.Fatal(err)
		}
		if err := e.eng.RemoveOwnFactor(e.ctx, pc, txn, fayTOTP); !errors.Is(err, flow.ErrLastFactor) {
			t.Fatalf("last factor besides the questions: %v, want ErrLastFactor", err)
		}
		if err := e.eng.RemoveOwnFactor(e.ctx, pc, txn, e.factorOf(fay, flow.FactorQuestions)); err != nil {
			t.Fatalf("remove the questions: %v", err)
		}
		if err := e.eng.RemoveOwnFactor(e.ctx, pc, txn, "fac_nope"); !errors.Is(err, flow.ErrEnrolmentGone) {
			t.Fatalf("unknown factor: %v", err)
		}

		gil := e.oobUser("gil") // SMS and email factors
		gs := e.enrol(gil)
		e.deliver()
		gtxn := e.portalFull("gil", gs)
		if err := e.eng.RemoveOwnFactor(e.ctx, pc, gtxn, fayTOTP); !errors.Is(err, flow.ErrEnrolmentGone) {
			t.Fatalf("another person's factor: %v, want ErrEnrolmentGone", err)
		}
		if err := e.eng.RemoveOwnFactor(e.ctx, pc, gtxn, e.factorOf(gil, policy.FactorTOTP)); err != nil {
			t.Fatal(err)
		}
		active, _ := e.st.ActiveFactors(e.ctx, gil.ID)
		if k := strings.Join(kinds(active), ","); strings.Contains(k, policy.FactorTOTP) {
			t.Fatalf("factors after removal: %s", k)
		}
		if !strings.Contains(e.newestTo("gil@example.org"), "was removed") {
			t.Fatal("no notice of the removal on the independent channel")
		}
		if n := len(e.audit(gil.ID, "factor.revoked", "success")); n != 1 {
			t.Fatalf("%d revocation events, want 1", n)
		}
		e.clock.Add(time.Duration(e.policyNow().Portal.FreshAuth) + time.Second)
		if err := e.eng.RemoveOwnFactor(e.ctx, pc, gtxn, e.factorOf(gil, policy.FactorSMS)); !errors.Is(err, flow.ErrFreshAuthRequired) {
			t.Fatalf("stale sign-in: %v, want ErrFreshAuthRequired", err)
		}
	})
}

// C6: identity validation matches email, date of birth and SSN, answers a
// mismatch and an unknown email alike, limits attempts and reports invalid
// input per field.
func TestValidateIdentity(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		limit := e.policyNow().Portal.IdentityAttempts
		vera := e.person(directory.NewUser{LoginID: "vera", Email: "vera@example.org", Phone: "5555550161", DateOfBirth: "1980-02-29", SSN: "123-45-6789"})
		if vera.EmailVerifiedAt == nil || vera.PhoneVerifiedAt == nil || len(vera.DOBHash) == 0 || len(vera.SSNHash) == 0 {
			t.Fatalf("created user %+v: contact points verified and identity hashes recorded expected", vera)
		}
		e.person(directory.NewUser{LoginID: "walt", Email: "walt@example.org"})

		c1 := e.portal("203.0.113.1")
		used := 0 // attempts on c1's address
		got, err := e.eng.ValidateIdentity(e.ctx, c1, " vera@example.org ", "2/29/1980", "123456789")
		used++
		if err != nil || got.ID != vera.ID {
			t.Fatalf("matching details: %v %+v", err, got)
		}
		for _, c := range []struct{ what, email, dob, ssn string }{
			{"wrong SSN", "vera@example.org", "1980-02-29", "123-45-6780"},
			{"wrong date of birth", "vera@example.org", "1980-03-01", "123-45-6789"},
			{"unknown email", "nobody@example.org", "1980-02-29", "123-45-6789"},
			{"no identity on record", "walt@example.org", "1980-02-29", "123-45-6789"},
		} {
			_, err := e.eng.ValidateIdentity(e.ctx, c1, c.email, c.dob, c.ssn)
			used++
			if !errors.Is(err, flow.ErrIdentityNotMatched) {
				t.Fatalf("%s: %v, want ErrIdentityNotMatched", c.what, err)
			}
		}
		// Invalid input is reported per field and costs no attempt.
		_, err = e.eng.ValidateIdentity(e.ctx, c1, "not-an-email", "2999-01-01", "12345")
		wantFields(t, err, "email=invalid_format", "date_of_birth=not_in_past", "ssn=invalid_format")
		_, err = e.eng.ValidateIdentity(e.ctx, c1, "", "", "")
		wantFields(t, err, "email=required", "date_of_birth=required", "ssn=required")
		for ; used < limit; used++ {
			if _, err := e.eng.ValidateIdentity(e.ctx, c1, "walt@example.org", "1980-02-29", "123-45-6789"); !errors.Is(err, flow.ErrIdentityNotMatched) {
				t.Fatalf("attempt %d: %v", used+1, err)
			}
		}
		var rl *flow.RateLimitedError
		if _, err := e.eng.ValidateIdentity(e.ctx, c1, "vera@example.org", "1980-02-29", "123456789"); !errors.As(err, &rl) || rl.Wait <= 0 {
			t.Fatalf("attempt %d from one address: %v, want RateLimitedError", limit+1, err)
		}

		// The limit per email address holds from any address, whatever the
		// case of the email (vera's address had three attempts).
		for i := 3; i < limit; i++ {
			c := e.portal(fmt.Sprintf("203.0.113.%d", 10+i))
			email := []string{"VERA@example.org", "Vera@Example.org", "vera@EXAMPLE.org", "vErA@example.org"}[i%4]
			if _, err := e.eng.ValidateIdentity(e.ctx, c, email, "1980-02-29", "000-00-0000"); !errors.Is(err, flow.ErrIdentityNotMatched) {
				t.Fatalf("email attempt %d: %v", i+1, err)
			}
		}
		if _, err := e.eng.ValidateIdentity(e.ctx, e.portal("203.0.113.99"), "VeRa@example.org", "1980-02-29", "123456789"); !errors.As(err, &rl) {
			t.Fatalf("attempt %d on one email address: %v, want RateLimitedError", limit+1, err)
		}
		if n := len(e.audit(vera.ID, "identity.validate", "failure")); n != 2+limit-3 {
			t.Fatalf("%d failed validations of vera audited, want %d", n, 2+limit-3)
		}
	})
}

// C8: a person whose device is lost finishes the portal's sign-in with a
// one-time access token sent to a registered point.
func TestPortalOneTimeToken(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		pc := e.portal()
		u := e.person(directory.NewUser{LoginID: "otto", Email: "otto@example.org", Phone: "5555550162"})
		secret := e.enrol(u)
		e.deliver() // the enrolment notice
		res, err := e.eng.PortalSignIn(e.ctx, pc, "otto", goodPassword)
		if err != nil || res.Status != flow.MFARequired {
			t.Fatalf("%v %+v", err, res)
		}
		if _, err := e.eng.RequestTxnOneTimeToken(e.ctx, e.app, res.Txn.ID, "email"); !errors.Is(err, flow.ErrTxnGone) {
			t.Fatalf("an application asks on the portal's transaction: %v", err)
		}
		sent, err := e.eng.RequestTxnOneTimeToken(e.ctx, pc, res.Txn.ID, "email")
		if err != nil || sent.SentTo != "o***@example.org" {
			t.Fatalf("request: %v %+v", err, sent)
		}
		tok := tokenRE.FindString(e.newestTo("otto@example.org"))
		if tok == "" {
			t.Fatal("no token in the message")
		}
		v, err := e.eng.VerifyTransaction(e.ctx, pc, res.Txn.ID, flow.Verification{OneTimeToken: tok})
		if err != nil || v.Status != flow.Allowed {
			t.Fatalf("sign-in with the token: %v %+v", err, v)
		}
		p := e.policyNow()
		if got := e.reload(u); got.OTAConsecutive != 1 || flow.OneTimeTokensLeft(p, got) != p.OTAMaxConsecutive-1 {
			t.Fatalf("token logins %d, left %d", got.OTAConsecutive, flow.OneTimeTokensLeft(p, got))
		}
		res, _ = e.eng.PortalSignIn(e.ctx, pc, "otto", goodPassword)
		if _, err := e.eng.VerifyTransaction(e.ctx, pc, res.Txn.ID, flow.Verification{OneTimeToken: tok}); !errors.Is(err, flow.ErrWrongToken) {
			t.Fatalf("token used twice: %v", err)
		}
		if _, err := e.eng.RequestTxnOneTimeToken(e.ctx, pc, res.Txn.ID, "sms"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.eng.VerifyTransaction(e.ctx, pc, res.Txn.ID, flow.Verification{OneTimeToken: tokenRE.FindString(e.newestTo("+15555550162"))}); err != nil {
			t.Fatalf("token by SMS: %v", err)
		}
		if got := e.reload(u).OTAConsecutive; got != 2 {
			t.Fatalf("token logins %d, want 2", got)
		}
		// A login with the app ends the run, in the statement that records it.
		if _, err := e.eng.Check(e.ctx, e.app, "otto", e.code(secret, 0)); err != nil {
			t.Fatalf("login with the app: %v", err)
		}
		if got := e.reload(u).OTAConsecutive; got != 0 {
			t.Fatalf("token logins %d after a login with the app, want 0", got)
		}
	})
}

// C13, invariant 3: forgot password. The same answer whether or not the
// login ID exists; the code sets a new password once, clears the password
// lock and ends the person's portal sessions.
func TestResetPasswordWithCode(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.setPolicy(func(p *policy.Policy) { p.Portal.IdentityAttempts = 100 })
		pc := e.portal()
		u := e.person(directory.NewUser{LoginID: "rita", Email: "rita@example.org", Phone: "5555550163"})
		const newPassword = "Battery-Staple-77"
		before := len(e.deliver())
		if err := e.eng.SendRecoveryCode(e.ctx, pc, flow.PurposeResetPassword, "nobody", "email"); err != nil {
			t.Fatalf("unknown login ID: %v", err)
		}
		if n := len(e.deliver()); n != before {
			t.Fatalf("%d messages sent for an unknown login ID", n-before)
		}
		if err := e.eng.SendRecoveryCode(e.ctx, pc, flow.PurposeResetPassword, "RITA", "email"); err != nil {
			t.Fatal(err)
		}
		if n := len(e.deliver()); n != before+1 {
			t.Fatalf("%d messages sent, want 1", n-before)
		}
		code := e.lastCode("rita@example.org")

		// The person locked themselves out with wrong passwords.
		for range e.policyNow().PasswordAttempts {
			_, _ = e.eng.PasswordLogin(e.ctx, e.app, "rita", "wrong-password-1")
		}
		if _, err := e.eng.PortalSignIn(e.ctx, pc, "rita", goodPassword); !errors.Is(err, flow.ErrPasswordLocked) {
			t.Fatalf("password-locked: %v", err)
		}
		if got := e.reload(u); got.PasswordLockedAt == nil {
			t.Fatal("not password-locked")
		}
		now := e.clock.Now()
		sess := &store.PortalSession{ID: store.NewID("pss"), TokenHash: e.eng.Keys.MAC("portal-session", []byte("rita-browser")), TenantID: e.tenant.ID,
			UserID: u.ID, Level: store.SessionFull, AuthAt: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(8 * time.Hour), IP: pc.IP, Data: "{}"}
		if err := e.st.CreatePortalSession(e.ctx, sess); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.PortalSessionByHash(e.ctx, sess.TokenHash, now, time.Hour); err != nil {
			t.Fatalf("session before the reset: %v", err)
		}

		if err := e.eng.ResetPasswordWithCode(e.ctx, pc, "rita", otherCode(code), newPassword); !errors.Is(err, flow.ErrWrongVerificationCode) {
			t.Fatalf("wrong code: %v", err)
		}
		if err := e.eng.ResetPasswordWithCode(e.ctx, pc, "nobody", code, newPassword); !errors.Is(err, flow.ErrWrongVerificationCode) {
			t.Fatalf("unknown login ID: %v, want ErrWrongVerificationCode", err)
		}
		err := e.eng.ResetPasswordWithCode(e.ctx, pc, "rita", code, "short")
		wantFields(t, err, "password=too_short")
		err = e.eng.ResetPasswordWithCode(e.ctx, pc, "rita", "12345", "")
		wantFields(t, err, "password=required", "code=invalid_format")

		if err := e.eng.ResetPasswordWithCode(e.ctx, pc, "rita", code, newPassword); err != nil {
			t.Fatalf("reset with the code: %v", err)
		}
		got := e.reload(u)
		if got.PasswordLockedAt != nil || got.PasswordFailures != 0 {
			t.Fatalf("password lock %v, failures %d after the reset", got.PasswordLockedAt, got.PasswordFailures)
		}
		if _, err := e.st.PortalSessionByHash(e.ctx, sess.TokenHash, e.clock.Now(), time.Hour); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("portal session after the reset: %v, want ended", err)
		}
		if err := e.eng.ResetPasswordWithCode(e.ctx, pc, "rita", code, "Another-Pass-99"); !errors.Is(err, flow.ErrWrongVerificationCode) {
			t.Fatalf("code used twice: %v", err)
		}
		if _, err := e.eng.PortalSignIn(e.ctx, pc, "rita", newPassword); err != nil {
			t.Fatalf("new password: %v", err)
		}
		if _, err := e.eng.PortalSignIn(e.ctx, pc, "rita", goodPassword); !errors.Is(err, flow.ErrInvalidCredentials) {
			t.Fatalf("old password: %v", err)
		}
		if !strings.Contains(e.newestTo("rita@example.org"), "password was changed") {
			t.Fatal("no notice of the change")
		}
		if n := len(e.audit(u.ID, "password.reset", "success")); n != 1 {
			t.Fatalf("%d password.reset events", n)
		}
		// An expired code is refused.
		if err := e.eng.SendRecoveryCode(e.ctx, pc, flow.PurposeResetPassword, "rita", "sms"); err != nil {
			t.Fatal(err)
		}
		late := e.lastCode("+15555550163")
		e.clock.Add(time.Duration(e.policyNow().Portal.RecoveryTTL) + time.Second)
		if err := e.eng.ResetPasswordWithCode(e.ctx, pc, "rita", late, "Third-Pass-word-3"); !errors.Is(err, flow.ErrWrongVerificationCode) {
			t.Fatalf("expired code: %v", err)
		}
	})
}

// Invariant 3: one recovery code used by parallel requests succeeds once.
func TestParallelUseOfOneRecoveryCode(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.setPolicy(func(p *policy.Policy) { p.MFAAttempts = 50; p.Portal.IdentityAttempts = 100 })
		pc := e.portal()
		e.person(directory.NewUser{LoginID: "pete", Email: "pete@example.org"})
		if err := e.eng.SendRecoveryCode(e.ctx, pc, flow.PurposeResetPassword, "pete", "email"); err != nil {
			t.Fatal(err)
		}
		code := e.lastCode("pete@example.org")
		pw := func(i int) string { return fmt.Sprintf("Parallel-Pass-%02d", i) }
		errs := race(20, func(i int) error { return e.eng.ResetPasswordWithCode(e.ctx, pc, "pete", code, pw(i)) })
		if n := count(errs, nil); n != 1 {
			t.Fatalf("%d successes with one code, want 1: %v", n, errs)
		}
		if n := count(errs, flow.ErrWrongVerificationCode); n != len(errs)-1 {
			t.Fatalf("the others must be ErrWrongVerificationCode: %v", errs)
		}
		for i, err := range errs {
			if err == nil {
				if _, err := e.eng.PortalSignIn(e.ctx, pc, "pete", pw(i)); err != nil {
					t.Fatalf("the winning password: %v", err)
				}
			}
		}
	})
}

// C10: a disabled person re-enables the account with a code; an active
// person gets no code, and a password-reset code does not re-enable.
func TestReenableWithCode(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.setPolicy(func(p *policy.Policy) { p.Portal.IdentityAttempts = 100 })
		pc := e.portal()
		u := e.person(directory.NewUser{LoginID: "dora", Email: "dora@example.org", Phone: "5555550164"})
		if err := e.dir.SetStatus(e.ctx, e.admin, u.ID, store.StatusDisabled); err != nil {
			t.Fatal(err)
		}
		if _, err := e.eng.PasswordLogin(e.ctx, e.app, "dora", goodPassword); !errors.Is(err, flow.ErrAccountDisabled) {
			t.Fatal(err)
		}
		if err := e.eng.SendRecoveryCode(e.ctx, pc, flow.PurposeResetPassword, "dora", "email"); err != nil {
			t.Fatal(err)
		}
		resetCode := e.lastCode("dora@example.org")
		if err := e.eng.ReenableWithCode(e.ctx, pc, "dora", resetCode); !errors.Is(err, flow.ErrWrongVerificationCode) {
			t.Fatalf("a password-reset code re-enables: %v", err)
		}
		if err := e.eng.SendRecoveryCode(e.ctx, pc, flow.PurposeReenable, "dora", "sms"); err != nil {
			t.Fatal(err)
		}
		code := e.lastCode("+15555550164")
		if err := e.eng.ReenableWithCode(e.ctx, pc, "dora", otherCode(code)); !errors.Is(err, flow.ErrWrongVerificationCode) {
			t.Fatalf("wrong code: %v", err)
		}
		if err := e.eng.ReenableWithCode(e.ctx, pc, "dora", code); err != nil {
			t.Fatal(err)
		}
		if got := e.reload(u); got.Status != store.StatusActive {
			t.Fatalf("status %s after re-enabling", got.Status)
		}
		if res, err := e.eng.PasswordLogin(e.ctx, e.app, "dora", goodPassword); err != nil || res.Status != flow.EnrolmentRequired {
			t.Fatalf("login after re-enabling: %v %+v", err, res)
		}
		if n := len(e.audit(u.ID, "user.reenabled", "success")); n != 1 {
			t.Fatalf("%d user.reenabled events", n)
		}
		before := len(e.deliver())
		if err := e.eng.SendRecoveryCode(e.ctx, pc, flow.PurposeReenable, "dora", "email"); err != nil {
			t.Fatalf("active user: %v", err)
		}
		if n := len(e.deliver()); n != before {
			t.Fatalf("an active user received %d re-enable messages", n-before)
		}
		err := e.eng.SendRecoveryCode(e.ctx, pc, "unlock", "", "fax")
		wantFields(t, err, "login_id=required", "channel", "purpose")
	})
}

// C13, B7: forgot login ID, by email or by text to a shared number; an
// unknown address gets the same answer and nothing is sent.
func TestLoginIDReminder(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.setPolicy(func(p *policy.Policy) { p.Portal.IdentityAttempts = 100 })
		pc := e.portal()
		e.person(directory.NewUser{LoginID: "lena", Email: "lena@example.org"})
		e.person(directory.NewUser{LoginID: "sid1", Phone: "5555550142"})
		e.person(directory.NewUser{LoginID: "sid2", Phone: "555-555-0142"})
		if err := e.eng.SendLoginIDReminder(e.ctx, pc, "email", "LENA@example.org"); err != nil {
			t.Fatal(err)
		}
		if n := e.deliveredTo("lena@example.org") + e.deliveredTo("LENA@example.org"); n != 1 {
			t.Fatalf("%d reminders to lena", n)
		}
		if msg := e.deliver()[0].Text; !strings.Contains(msg, "lena") {
			t.Fatalf("reminder %q does not name the login ID", msg)
		}
		if err := e.eng.SendLoginIDReminder(e.ctx, pc, "sms", "(555) 555-0142"); err != nil {
			t.Fatal(err)
		}
		if msg := e.newestTo("+15555550142"); !strings.Contains(msg, "sid1") || !strings.Contains(msg, "sid2") {
			t.Fatalf("reminder %q must list both login IDs sharing the number", msg)
		}
		before := len(e.deliver())
		if err := e.eng.SendLoginIDReminder(e.ctx, pc, "email", "nobody@example.org"); err != nil {
			t.Fatalf("unknown email: %v", err)
		}
		if err := e.eng.SendLoginIDReminder(e.ctx, pc, "sms", "5555550100"); err != nil {
			t.Fatalf("unknown number: %v", err)
		}
		if n := len(e.deliver()); n != before {
			t.Fatalf("%d messages sent to unknown addresses", n-before)
		}
		wantFields(t, e.eng.SendLoginIDReminder(e.ctx, pc, "fax", "x"), "channel")
		wantFields(t, e.eng.SendLoginIDReminder(e.ctx, pc, "email", "lena@"), "email")
		wantFields(t, e.eng.SendLoginIDReminder(e.ctx, pc, "sms", "12345"), "phone")
	})
}

var trackingRE = regexp.MustCompile(`^MFA-(\d{8})-[A-Z2-9]{6}$`)

// A13: "Report an MFA issue" validates each field, files the request with a
// tracking number, acknowledges it and copies it to the support address.
func TestFileSupportRequest(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		pc := e.portal()
		_, err := e.eng.FileSupportRequest(e.ctx, pc, flow.SupportRequestInput{Phone: "12345", Email: "alice@", Message: strings.Repeat("x", flow.SupportMessageMax+1)})
		wantFields(t, err, "login_id=required", "name=required", "subject=required", "phone", "email", "message=too_long")
		_, err = e.eng.FileSupportRequest(e.ctx, pc, flow.SupportRequestInput{})
		wantFields(t, err, "login_id", "name", "subject", "phone", "email", "message=required")

		in := flow.SupportRequestInput{LoginID: "alice", Name: "Alice Smith", Phone: "555-555-0100", Email: "alice@example.org",
			Subject: "Lost phone", Message: strings.Repeat("é", flow.SupportMessageMax)}
		r1, err := e.eng.FileSupportRequest(e.ctx, pc, in)
		if err != nil {
			t.Fatalf("a message of exactly %d characters: %v", flow.SupportMessageMax, err)
		}
		m := trackingRE.FindStringSubmatch(r1.Tracking)
		if m == nil || m[1] != e.clock.Now().UTC().Format("20060102") {
			t.Fatalf("tracking number %q, want MFA-YYYYMMDD-XXXXXX of today", r1.Tracking)
		}
		got, err := e.st.SupportRequestByTracking(e.ctx, e.tenant.ID, r1.Tracking)
		if err != nil {
			t.Fatal(err)
		}
		if got.LoginID != "alice" || got.Name != in.Name || got.Phone != "5555550100" || got.Email != in.Email || got.Subject != in.Subject ||
			got.Message != in.Message || got.State != "open" || got.IP != pc.IP || got.TenantID != e.tenant.ID {
			t.Fatalf("stored %+v", got)
		}
		if ack := e.newestTo("alice@example.org"); !strings.Contains(ack, r1.Tracking) {
			t.Fatalf("acknowledgement %q lacks the tracking number", ack)
		}
		if n := e.deliveredTo("helpdesk@example.org"); n != 0 {
			t.Fatalf("%d copies without a support address", n)
		}

		e.setPolicy(func(p *policy.Policy) { p.Portal.SupportEmail = "helpdesk@example.org" })
		e.clock.Add(time.Minute)
		in.Subject, in.Message = "Codes fail", "My codes are always wrong."
		r2, err := e.eng.FileSupportRequest(e.ctx, pc, in)
		if err != nil {
			t.Fatal(err)
		}
		if r2.Tracking == r1.Tracking {
			t.Fatal("two requests share a tracking number")
		}
		if cp := e.newestTo("helpdesk@example.org"); !strings.Contains(cp, r2.Tracking) || !strings.Contains(cp, in.Message) {
			t.Fatalf("copy %q lacks the tracking number or message", cp)
		}
		if ack := e.newestTo("alice@example.org"); !strings.Contains(ack, r2.Tracking) {
			t.Fatalf("second acknowledgement %q", ack)
		}
		list, err := e.st.ListSupportRequests(e.ctx, e.tenant.ID, "", 10)
		if err != nil || len(list) != 2 || list[0].Tracking != r2.Tracking || list[1].Tracking != r1.Tracking {
			t.Fatalf("list %+v %v, want both, newest first", list, err)
		}
		list, err = e.st.ListSupportRequests(e.ctx, e.tenant.ID, r2.Tracking, 10)
		if err != nil || len(list) != 1 || list[0].Tracking != r1.Tracking {
			t.Fatalf("page before %s: %+v %v", r2.Tracking, list, err)
		}
	})
}

// C6, C13: the attempt limits per email address and per login ID do not
// depend on how the person types their case.
func TestRecoveryLimitsIgnoreCase(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		const limit = 3
		e.setPolicy(func(p *policy.Policy) { p.Portal.IdentityAttempts = limit })
		e.person(directory.NewUser{LoginID: "kim", Email: "kim@example.org"})
		variants := []string{"kim", "KIM", "Kim", "kIm"}
		var rl *flow.RateLimitedError
		for i, id := range variants {
			err := e.eng.SendRecoveryCode(e.ctx, e.portal(fmt.Sprintf("203.0.113.%d", 30+i)), flow.PurposeResetPassword, id, "email")
			if i < limit && err != nil {
				t.Fatalf("request %d: %v", i+1, err)
			}
			if i == limit && !errors.As(err, &rl) {
				t.Fatalf("request %d for %q: %v, want RateLimitedError", i+1, id, err)
			}
		}
		for i, id := range variants {
			err := e.eng.SendLoginIDReminder(e.ctx, e.portal(fmt.Sprintf("203.0.113.%d", 40+i)), "email", strings.ToUpper(id[:i%2+1])+id[i%2+1:]+"@example.org")
			if i < limit && err != nil {
				t.Fatalf("reminder %d: %v", i+1, err)
			}
			if i == limit && !errors.As(err, &rl) {
				t.Fatalf("reminder %d: %v, want RateLimitedError", i+1, err)
			}
		}
	})
}

// Issue 9 item 6: a portal wizard step is one engine call in one write
// transaction. Confirming the first authenticator completes the sign-in it
// was set up in and renews the session together; when the sign-in can no
// longer be completed, nothing happens: the factor stays pending, no
// session begins and the old one goes on. Racing confirmations of one step
// give one success.
func TestPortalStepIsOneTransaction(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		pc := e.portal()
		e.user("sofia")
		u := e.reload(e.user("sam"))
		start := func(id string) *store.PortalSession {
			now := e.clock.Now()
			return &store.PortalSession{ID: id, TokenHash: []byte(id), TenantID: e.tenant.ID, UserID: u.ID, Level: store.SessionFull,
				AuthAt: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), Data: "{}"}
		}
		sessionLive := func(id string) bool {
			s, err := e.st.PortalSessionByHash(e.ctx, []byte(id), e.clock.Now(), time.Hour)
			return err == nil && s.ID == id
		}
		if err := e.eng.ChangeSession(e.ctx, &flow.SessionChange{Start: start("pss_old")}); err != nil {
			t.Fatal(err)
		}

		// The sign-in was completed elsewhere meanwhile: the step changes nothing.
		res, err := e.eng.PortalSignIn(e.ctx, pc, "sam", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		en, err := e.eng.BeginTOTPEnrolment(e.ctx, pc, res.Txn.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.CompleteLoginTxn(e.ctx, res.Txn.ID, store.TxnDenied, "", e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		step := &flow.Step{FinishTxn: res.Txn.ID, Session: &flow.SessionChange{End: "pss_old", Start: start("pss_new")}}
		if _, err := e.eng.ConfirmTOTPEnrolment(e.ctx, pc, en.Factor.ID, e.code(secretOf(t, en), 0), step); !errors.Is(err, flow.ErrTxnGone) {
			t.Fatalf("confirm on a finished sign-in: %v, want ErrTxnGone", err)
		}
		if f, err := e.st.FactorByID(e.ctx, e.tenant.ID, en.Factor.ID); err != nil || f.State != store.FactorPending {
			t.Fatalf("factor %+v %v, want still pending", f, err)
		}
		if sessionLive("pss_new") || !sessionLive("pss_old") {
			t.Fatalf("sessions changed by a step that failed: new %v old %v", sessionLive("pss_new"), sessionLive("pss_old"))
		}

		// A fresh sign-in: the same step completes all of it at once, and
		// of racing confirmations with the same code exactly one does.
		e.clock.Add(time.Second)
		res, err = e.eng.PortalSignIn(e.ctx, pc, "sam", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		en, err = e.eng.BeginTOTPEnrolment(e.ctx, pc, res.Txn.ID)
		if err != nil {
			t.Fatal(err)
		}
		code := e.code(secretOf(t, en), 0)
		errs := race(8, func(i int) error {
			step := &flow.Step{FinishTxn: res.Txn.ID, Session: &flow.SessionChange{End: "pss_old", Start: start(fmt.Sprintf("pss_r%d", i))}}
			_, err := e.eng.ConfirmTOTPEnrolment(e.ctx, pc, en.Factor.ID, code, step)
			return err
		})
		if n := count(errs, nil); n != 1 {
			t.Fatalf("%d confirmations succeeded, want 1: %v", n, errs)
		}
		won := ""
		for i, err := range errs {
			if err == nil {
				won = fmt.Sprintf("pss_r%d", i)
			}
		}
		for i := range errs {
			if id := fmt.Sprintf("pss_r%d", i); sessionLive(id) != (id == won) {
				t.Errorf("session %s live %v; only the winner's session may begin", id, sessionLive(id))
			}
		}
		if sessionLive("pss_old") {
			t.Error("the old session goes on after the step renewed it")
		}
		txn, err := e.st.LoginTxnByID(e.ctx, e.tenant.ID, res.Txn.ID)
		if err != nil || txn.State != store.TxnAllowed || txn.FactorID != en.Factor.ID {
			t.Fatalf("sign-in %+v %v, want allowed by the new factor", txn, err)
		}
	})
}

// G4: a wrong recovery code for a login ID that exists is answered word for
// word as for one that does not — no attempts left, no recorded language —
// whichever front door renders it.
func TestRecoveryCodeAnswerRevealsNoAccount(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.setPolicy(func(p *policy.Policy) { p.MFAAttempts = 3 })
		u := e.oobUser("rosalind")
		if err := e.st.SetUserLocale(e.ctx, e.tenant.ID, u.ID, "es"); err != nil {
			t.Fatal(err)
		}
		pc := e.portal()
		pc.Lang = ""
		known := e.eng.ResetPasswordWithCode(e.ctx, pc, "rosalind", "000000", "Another-Pass-99")
		unknown := e.eng.ResetPasswordWithCode(e.ctx, pc, "nobody", "000000", "Another-Pass-99")
		for _, lang := range []string{"en", "es"} {
			a := problem.From(known, problem.Context{Lang: lang})
			b := problem.From(unknown, problem.Context{Lang: lang})
			if a.Code != "E44" || a.Message != b.Message || a.Lang != b.Lang {
				t.Errorf("%s: known %s %q (%s), unknown %s %q (%s): must be the same", lang, a.Code, a.Message, a.Lang, b.Code, b.Message, b.Lang)
			}
		}
	})
}

// C8, B5: a run of one-time-token logins used up (E26) is not a wrong
// answer, so it is not told how many attempts remain.
func TestSpentTokensAreNotToldAttemptsLeft(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.setPolicy(func(p *policy.Policy) { p.MFAAttempts = 3; p.OTAMaxConsecutive = 1 })
		u := e.oobUser("tomas")
		e.enrol(u)
		e.deliver()
		// Two tokens asked for before either is used: the second comes
		// after the run is spent.
		var tokens []string
		for range 2 {
			if _, err := e.eng.RequestOneTimeToken(e.ctx, e.app, "tomas", "email"); err != nil {
				t.Fatal(err)
			}
			for _, m := range e.deliver() {
				if tok := tokenRE.FindString(m.Text); tok != "" && !slices.Contains(tokens, tok) {
					tokens = append(tokens, tok)
				}
			}
		}
		if len(tokens) != 2 {
			t.Fatalf("tokens %v", tokens)
		}
		if _, err := e.eng.VerifyTransaction(e.ctx, e.app, e.mfaTxn("tomas"), flow.Verification{OneTimeToken: tokens[0]}); err != nil {
			t.Fatal(err)
		}
		_, err := e.eng.VerifyTransaction(e.ctx, e.app, e.mfaTxn("tomas"), flow.Verification{OneTimeToken: tokens[1]})
		if !errors.Is(err, flow.ErrOTASpent) {
			t.Fatalf("a token after the run is spent: %v, want ErrOTASpent", err)
		}
		if left, ok := problem.AttemptsLeft(err); ok {
			t.Errorf("spent tokens told %d attempts left", left)
		}
		if msg := problem.From(err, problem.Context{Lang: "en"}).Message; strings.Contains(msg, "attempt") {
			t.Errorf("E26 speaks of attempts: %q", msg)
		}
	})
}

// B6: a lock that policy releases after a time says when it ends, not
// that only the help desk can end it; in both languages.
func TestTimedLockSaysWhenItEnds(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.setPolicy(func(p *policy.Policy) { p.MFAAttempts = 1; p.LockoutRelease = policy.Duration(30 * time.Minute) })
		u := e.user("tilda")
		e.enrol(u)
		_, err := e.eng.Check(e.ctx, e.app, "tilda", "000000")
		if !errors.Is(err, flow.ErrMFALocked) {
			t.Fatalf("the wrong code that reaches the limit: %v, want ErrMFALocked", err)
		}
		for lang, want := range map[string]string{"en": "ends by itself 30 minutes after it began", "es": "termina automáticamente 30 minutos después"} {
			if msg := problem.From(err, problem.Context{Lang: lang}).Message; !strings.Contains(msg, want) {
				t.Errorf("%s: %q, want it to say %q", lang, msg, want)
			}
		}
		e.setPolicy(func(p *policy.Policy) { p.LockoutRelease = 0 })
		_, err = e.eng.Check(e.ctx, e.app, "tilda", "000000")
		if msg := problem.From(err, problem.Context{Lang: "en"}).Message; !strings.Contains(msg, "To have it unlocked, contact") {
			t.Errorf("a lock only the help desk ends: %q", msg)
		}
	})
}
