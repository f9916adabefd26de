package flow_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/delivery"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

const phone, e164 = "5555550123", "+15555550123"

// oobUser has a verified phone and email and, by policy, SMS and email factors.
func (e *env) oobUser(login string) *store.User {
	e.t.Helper()
	e.setPolicy(func(p *policy.Policy) { p.AllowedFactors = []string{"totp", "sms", "email"} })
	u := e.user(login)
	if err := e.eng.SetContact(e.ctx, e.admin, u.ID, delivery.SMS, phone); err != nil {
		e.t.Fatal(err)
	}
	if err := e.eng.SetContact(e.ctx, e.admin, u.ID, delivery.Email, login+"@example.org"); err != nil {
		e.t.Fatal(err)
	}
	// The notices of the administrator's change go out before anything
	// the test sends, so "the newest message" is the test's own.
	e.deliver()
	return e.reload(u)
}

func (e *env) factorOf(u *store.User, kind string) string {
	e.t.Helper()
	fs, err := e.st.ActiveFactors(e.ctx, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range fs {
		if f.Kind == kind {
			return f.ID
		}
	}
	e.t.Fatalf("user has no active %s factor", kind)
	return ""
}

func (e *env) mfaTxn(login string) string {
	e.t.Helper()
	res, err := e.eng.BeginMFA(e.ctx, e.app, login)
	if err != nil || res.Status != flow.MFARequired {
		e.t.Fatalf("begin: %v %+v", err, res)
	}
	return res.Txn.ID
}

// B3, B8: codes by SMS or email; any unexpired code works, a success ends
// them all, and they expire after 15 minutes.
func TestSMSAndEmailCodes(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.oobUser("sam")
		sms, email := e.factorOf(u, "sms"), e.factorOf(u, "email")
		txn := e.mfaTxn("sam")
		sent, err := e.eng.SendCode(e.ctx, e.app, txn, sms)
		if err != nil || sent.SentTo != "***-***-0123" || sent.Channel != "sms" {
			t.Fatalf("send: %v %+v", err, sent)
		}
		first := e.lastCode(e164)
		if _, err := e.eng.SendCode(e.ctx, e.app, txn, email); err != nil {
			t.Fatal(err)
		}
		second := e.lastCode("sam@example.org")
		// The older code still works (B8)…
		if _, err := e.eng.VerifyTransaction(e.ctx, e.app, txn, flow.Verification{FactorID: sms, Code: first}); err != nil {
			t.Fatalf("first code: %v", err)
		}
		// …and its success ended the other one.
		txn2 := e.mfaTxn("sam")
		if _, err := e.eng.VerifyTransaction(e.ctx, e.app, txn2, flow.Verification{FactorID: email, Code: second}); !errors.Is(err, flow.ErrWrongEmailCode) {
			t.Fatalf("second code after a success: %v, want refused", err)
		}
		// A code expires after 15 minutes.
		if _, err := e.eng.SendCode(e.ctx, e.app, txn2, sms); err != nil {
			t.Fatal(err)
		}
		late := e.lastCode(e164)
		e.clock.Add(15*time.Minute + time.Second)
		txn3 := e.mfaTxn("sam")
		if _, err := e.eng.VerifyTransaction(e.ctx, e.app, txn3, flow.Verification{FactorID: sms, Code: late}); !errors.Is(err, flow.ErrWrongSMSCode) {
			t.Fatalf("expired code: %v", err)
		}
		// Failures count on the one counter shared with the authenticator app (B5).
		if got := e.reload(u); got.MFAFailures != 2 {
			t.Fatalf("counter %d, want 2", got.MFAFailures)
		}
		// The message never leaves a code in the database.
		rows, _ := e.st.ListOutbox(e.ctx, store.OutboxFilter{TenantID: e.tenant.ID, Limit: 100})
		for _, m := range rows {
			if m.Payload != nil || m.State != store.OutboxDelivered {
				t.Fatalf("delivered message keeps its payload: %+v", m)
			}
		}
	})
}

// Invariant 3: one code used by 20 parallel requests gives one success.
func TestParallelUseOfOneCode(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.setPolicy(func(p *policy.Policy) { p.MFAAttempts = 50 })
		u := e.oobUser("ola")
		sms := e.factorOf(u, "sms")
		txns := make([]string, 20)
		for i := range txns {
			txns[i] = e.mfaTxn("ola")
		}
		if _, err := e.eng.SendCode(e.ctx, e.app, txns[0], sms); err != nil {
			t.Fatal(err)
		}
		code := e.lastCode(e164)
		errs := race(20, func(i int) error {
			_, err := e.eng.VerifyTransaction(e.ctx, e.app, txns[i], flow.Verification{FactorID: sms, Code: code})
			return err
		})
		if n := count(errs, nil); n != 1 {
			t.Fatalf("%d successes with one code, want 1: %v", n, errs)
		}
	})
}

// X4: 100 parallel send requests never send more than the limits allow.
func TestParallelSendsRespectLimits(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.oobUser("pia")
		sms := e.factorOf(u, "sms")
		txn := e.mfaTxn("pia")
		errs := race(100, func(int) error {
			_, err := e.eng.SendCode(e.ctx, e.app, txn, sms)
			return err
		})
		ok := count(errs, nil)
		limited := 0
		for _, err := range errs {
			var rl *flow.RateLimitedError
			if errors.As(err, &rl) {
				limited++
				if rl.Wait <= 0 || rl.Scope != "user" {
					t.Fatalf("rate limit %+v", rl)
				}
			}
		}
		if ok != 5 || limited != 95 {
			t.Fatalf("%d sent, %d limited; want 5 and 95", ok, limited)
		}
		sent := 0
		for _, m := range e.deliver() {
			if m.To == e164 && strings.Contains(m.Text, "verification code") {
				sent++
			}
		}
		if sent != 5 {
			t.Fatalf("%d messages delivered, want 5", sent)
		}
		// The per-destination limit holds across users sharing a number (B7, X4).
		e.setPolicy(func(p *policy.Policy) { p.SendLimits.PerDestination.Count = 6 })
		other := e.oobUser("quinn") // same phone as pia
		txn2 := e.mfaTxn("quinn")
		if _, err := e.eng.SendCode(e.ctx, e.app, txn2, e.factorOf(other, "sms")); err != nil {
			t.Fatalf("sixth send to the shared number: %v", err)
		}
		_, err := e.eng.SendCode(e.ctx, e.app, txn2, e.factorOf(other, "sms"))
		var rl *flow.RateLimitedError
		if !errors.As(err, &rl) || rl.Scope != "destination" {
			t.Fatalf("seventh send to the shared number: %v, want destination limit", err)
		}
	})
}

var tokenRE = regexp.MustCompile(`[A-Z2-9]{5} [A-Z2-9]{5}`)

// C8: one-time access tokens go only to registered, verified points, work
// once within 10 minutes, at most three logins in a row until the
// authenticator app is used; an unused expired token does not count.
func TestOneTimeAccessTokens(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.oobUser("rosa")
		if _, err := e.eng.RequestOneTimeToken(e.ctx, e.app, "rosa", "email"); !errors.Is(err, flow.ErrNotRegistered) {
			t.Fatalf("token without an authenticator: %v", err)
		}
		secret := e.enrol(u)
		token := func(channel, to string) string {
			if _, err := e.eng.RequestOneTimeToken(e.ctx, e.app, "rosa", channel); err != nil {
				t.Fatal(err)
			}
			// The same batch may hold a notice to the same address (the
			// authenticator's enrolment): take the message with a token.
			for _, m := range e.deliver() {
				if tok := tokenRE.FindString(m.Text); m.To == to && tok != "" {
					return tok
				}
			}
			t.Fatal("no token delivered")
			return ""
		}
		login := func(tok string) error {
			_, err := e.eng.VerifyTransaction(e.ctx, e.app, e.mfaTxn("rosa"), flow.Verification{OneTimeToken: tok})
			return err
		}
		// An expired, unused token does not count.
		expired := token("email", "rosa@example.org")
		e.clock.Add(11 * time.Minute)
		if err := login(expired); !errors.Is(err, flow.ErrWrongToken) {
			t.Fatalf("expired token: %v", err)
		}
		for i := range 3 {
			tok := token([]string{"email", "sms", "email"}[i], []string{"rosa@example.org", e164, "rosa@example.org"}[i])
			if err := login(strings.ToLower(tok)); err != nil {
				t.Fatalf("token login %d: %v", i+1, err)
			}
			if err := login(tok); !errors.Is(err, flow.ErrWrongToken) {
				t.Fatalf("token %d reused: %v", i+1, err)
			}
		}
		if _, err := e.eng.RequestOneTimeToken(e.ctx, e.app, "rosa", "email"); !errors.Is(err, flow.ErrOTASpent) {
			t.Fatalf("fourth token: %v, want ErrOTASpent", err)
		}
		// Only a login with the authenticator app resets the count.
		e.clock.Add(time.Minute)
		if _, err := e.eng.Check(e.ctx, e.app, "rosa", e.code(secret, 0)); err != nil {
			t.Fatal(err)
		}
		if err := login(token("sms", e164)); err != nil {
			t.Fatalf("token after an app login: %v", err)
		}
		if _, err := e.eng.RequestOneTimeToken(e.ctx, e.app, "rosa", "voice"); err == nil {
			t.Fatal("a token over an unregistered channel")
		}
	})
}

// B4: a remembered device skips the second factor for 7 days from the same
// address; another address, a revocation or the expiry ask again.
func TestTrustedDevices(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.user("tess")
		secret := e.enrol(u)
		res, err := e.eng.PasswordLogin(e.ctx, e.app, "tess", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		res, err = e.eng.VerifyTransaction(e.ctx, e.app, res.Txn.ID, flow.Verification{Code: e.code(secret, 0), RememberDevice: true, DeviceLabel: "laptop"})
		if err != nil || !strings.HasPrefix(res.TrustedDeviceToken, "csd_") {
			t.Fatalf("remember: %v %+v", err, res)
		}
		withDevice := e.app
		withDevice.TrustedDevice = res.TrustedDeviceToken
		status := func(c flow.Caller) string {
			t.Helper()
			r, err := e.eng.PasswordLogin(e.ctx, c, "tess", goodPassword)
			if err != nil {
				t.Fatal(err)
			}
			return r.Status
		}
		if s := status(withDevice); s != flow.Allowed {
			t.Fatalf("same device, same IP: %s", s)
		}
		elsewhere := withDevice
		elsewhere.IP = "203.0.113.50"
		if s := status(elsewhere); s != flow.MFARequired {
			t.Fatalf("same device, another IP: %s", s)
		}
		// Another application of the tenant honours it too; a stranger's token does not.
		other := e.app2
		other.IP, other.TrustedDevice = withDevice.IP, res.TrustedDeviceToken
		if s := status(other); s != flow.Allowed {
			t.Fatalf("other application: %s", s)
		}
		forged := withDevice
		forged.TrustedDevice = "csd_forged"
		if s := status(forged); s != flow.MFARequired {
			t.Fatalf("forged token: %s", s)
		}
		e.clock.Add(7*24*time.Hour + time.Minute)
		if s := status(withDevice); s != flow.MFARequired {
			t.Fatalf("after 7 days: %s", s)
		}
		devices, _ := e.st.ListTrustedDevices(e.ctx, u.ID)
		if len(devices) != 1 || devices[0].Label != "laptop" || devices[0].LastUsedAt == nil {
			t.Fatalf("devices %+v", devices)
		}
		if err := e.eng.RevokeTrustedDevice(e.ctx, e.admin, u.ID, devices[0].ID); err != nil {
			t.Fatal(err)
		}
	})
}

// C7, invariant 6: a new number is verified by a code sent to it; resending
// invalidates earlier codes; the old number is told; only active users.
func TestContactChange(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.oobUser("uma")
		secret := e.enrol(u)
		res, _ := e.eng.PasswordLogin(e.ctx, e.app, "uma", goodPassword)
		if _, err := e.eng.BeginContactChange(e.ctx, e.app, res.Txn.ID, "phone", "5555550999"); !errors.Is(err, flow.ErrFreshAuthRequired) {
			t.Fatalf("password-only transaction of a user with factors: %v", err)
		}
		if _, err := e.eng.VerifyTransaction(e.ctx, e.app, res.Txn.ID, flow.Verification{Code: e.code(secret, 0)}); err != nil {
			t.Fatal(err)
		}
		first, err := e.eng.BeginContactChange(e.ctx, e.app, res.Txn.ID, "phone", "(555) 555-0998")
		if err != nil {
			t.Fatal(err)
		}
		firstCode := e.lastCode("+15555550998")
		// The number is edited and the code resent: earlier codes die.
		second, err := e.eng.BeginContactChange(e.ctx, e.app, res.Txn.ID, "phone", "555-555-0999")
		if err != nil {
			t.Fatal(err)
		}
		secondCode := e.lastCode("+15555550999")
		if _, err := e.eng.ConfirmContactChange(e.ctx, e.app, first.ID, firstCode, nil); !errors.Is(err, flow.ErrVerificationGone) {
			t.Fatalf("confirm a replaced verification: %v", err)
		}
		if _, err := e.eng.ConfirmContactChange(e.ctx, e.app, second.ID, "000000", nil); !errors.Is(err, flow.ErrWrongVerificationCode) && secondCode != "000000" {
			t.Fatalf("wrong code: %v", err)
		}
		got, err := e.eng.ConfirmContactChange(e.ctx, e.app, second.ID, secondCode, nil)
		if err != nil || got.Phone != "5555550999" || got.PhoneVerifiedAt == nil {
			t.Fatalf("confirm: %v %+v", err, got)
		}
		notified := false
		for _, m := range e.deliver() {
			if m.To == e164 && strings.Contains(m.Text, "was changed") && strings.Contains(m.Text, "0999") {
				notified = true
			}
		}
		if !notified {
			t.Fatal("the old number was not told of the change")
		}
		// Emails stay unique per tenant (B7).
		e.user("vic")
		res, _ = e.eng.PasswordLogin(e.ctx, e.app, "vic", goodPassword)
		if _, err := e.eng.BeginContactChange(e.ctx, e.app, res.Txn.ID, "email", "UMA@example.org"); err == nil || !strings.Contains(err.Error(), "already used") {
			t.Fatalf("taken email: %v", err)
		}
		// Only active users may change contact points.
		if err := e.dir.SetStatus(e.ctx, e.admin, u.ID, store.StatusDisabled); err != nil {
			t.Fatal(err)
		}
		if _, err := e.eng.ConfirmContactChange(e.ctx, e.app, second.ID, secondCode, nil); err == nil {
			t.Fatal("a disabled user changed a contact point")
		}
	})
}

// B4: people list and revoke their own remembered devices after a full login.
func TestOwnTrustedDevices(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.user("ursa")
		secret := e.enrol(u)
		res, _ := e.eng.PasswordLogin(e.ctx, e.app, "ursa", goodPassword)
		if _, err := e.eng.OwnTrustedDevices(e.ctx, e.app, res.Txn.ID); !errors.Is(err, flow.ErrFreshAuthRequired) {
			t.Fatalf("password-only transaction: %v", err)
		}
		res, err := e.eng.VerifyTransaction(e.ctx, e.app, res.Txn.ID, flow.Verification{Code: e.code(secret, 0), RememberDevice: true})
		if err != nil {
			t.Fatal(err)
		}
		devices, err := e.eng.OwnTrustedDevices(e.ctx, e.app, res.Txn.ID)
		if err != nil || len(devices) != 1 {
			t.Fatalf("own devices %v %v", devices, err)
		}
		if err := e.eng.RevokeOwnTrustedDevice(e.ctx, e.app, res.Txn.ID, devices[0].ID); err != nil {
			t.Fatal(err)
		}
		withDevice := e.app
		withDevice.TrustedDevice = res.TrustedDeviceToken
		if r, _ := e.eng.PasswordLogin(e.ctx, withDevice, "ursa", goodPassword); r.Status != flow.MFARequired {
			t.Fatalf("revoked device still skips the second factor: %s", r.Status)
		}
		if err := e.eng.RevokeOwnTrustedDevice(e.ctx, e.app2, res.Txn.ID, devices[0].ID); !errors.Is(err, flow.ErrFreshAuthRequired) {
			t.Fatalf("another application's transaction: %v", err)
		}
	})
}

// Invariant 6: adding or replacing a sign-in method tells the person on an
// independent channel.
func TestFactorChangesAreNotified(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		u := e.oobUser("ned")
		e.enrol(u)
		e.clock.Add(30 * time.Second)
		e.enrol(u)
		var added, replaced bool
		for _, m := range e.deliver() {
			if m.To != "ned@example.org" {
				continue
			}
			added = added || strings.Contains(m.Text, "authenticator app was added")
			replaced = replaced || strings.Contains(m.Text, "authenticator app was replaced")
		}
		if !added || !replaced {
			t.Fatalf("notices: added %v, replaced %v", added, replaced)
		}
		if evs := e.audit(u.ID, "factor.replaced", "success"); len(evs) != 1 || !strings.Contains(evs[0].Detail, `"notified":true`) {
			t.Fatalf("replacement audit %+v", evs)
		}
	})
}

// B5: once the second factor is locked, no code is sent and no call placed
// for a pending sign-in: none could succeed.
func TestNothingSentWhileLocked(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.setPolicy(func(p *policy.Policy) { p.MFAAttempts = 2 })
		u := e.oobUser("lena")
		txn := e.mfaTxn("lena")
		sms := e.factorOf(u, "sms")
		for range 2 {
			_, _ = e.eng.VerifyTransaction(e.ctx, e.app, txn, flow.Verification{FactorID: sms, Code: "000000"})
		}
		before := len(e.deliver())
		if _, err := e.eng.SendCode(e.ctx, e.app, txn, sms); !errors.Is(err, flow.ErrMFALocked) {
			t.Fatalf("code sent while locked: %v, want ErrMFALocked", err)
		}
		if n := len(e.deliver()); n != before {
			t.Fatalf("%d messages went out while locked", n-before)
		}
		if n := len(e.audit(u.ID, "challenge.sent", "refused")); n != 1 {
			t.Fatalf("%d refusals audited, want 1", n)
		}
	})
}
