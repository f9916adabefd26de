package portal_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/countersign/countersign/internal/delivery/devbox"
	"github.com/countersign/countersign/internal/totp"
)

// C11, G4: signing in with empty fields shows one message per field beside
// it and the same messages in an error summary whose links lead to the
// fields; the fields are marked invalid and described by their message.
func TestBrowserSignInFieldErrorsC11(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.tab(t)
	if st := b.open("/signin"); st != 200 {
		t.Fatalf("sign-in page: %d", st)
	}
	b.shot("signin")
	if st := b.click(`form[action$="/signin"] button[type=submit]`); st != 422 {
		t.Fatalf("empty sign-in: status %d, want 422\n%s", st, b.where())
	}
	b.audit("signin with errors")
	for _, f := range []struct{ field, want string }{
		{"login_id", "Login ID is required"},
		{"password", "Password is required"},
	} {
		link := b.text(`.error-summary a[href="#` + f.field + `"]`)
		if !strings.Contains(link, f.want) {
			t.Errorf("summary link to %s: %q, want %q", f.field, link, f.want)
		}
		beside := b.text(`#` + f.field + `-error`)
		if !strings.Contains(beside, f.want) {
			t.Errorf("message beside %s: %q", f.field, beside)
		}
		if b.attr("#"+f.field, "aria-invalid") != "true" || !strings.Contains(b.attr("#"+f.field, "aria-describedby"), f.field+"-error") {
			t.Errorf("%s is not marked invalid and described by its error", f.field)
		}
	}
}

var (
	tokenText    = regexp.MustCompile(`\b[A-Z2-9]{5} [A-Z2-9]{5}\b`)
	trackingText = regexp.MustCompile(`MFA-\d{8}-[A-Z2-9]{6}`)
)

// signInPassword fills and sends the sign-in form.
func (b *tab) signInPassword(p person) int64 {
	b.t.Helper()
	if !strings.HasPrefix(b.path(), "/signin") {
		b.open("/signin")
	}
	b.fill("#login_id", p.LoginID)
	b.fill("#password", p.Password)
	return b.click(`form[action$="/signin"] button[type=submit]`)
}

// submitCode enters a code in the form of a factor on the verify page.
func (b *tab) submitCode(factorID, code string) int64 {
	b.t.Helper()
	form := `form[action$="/signin/verify"]:has(input[name=factor][value="` + factorID + `"])`
	b.fill(form+` input[name=code]`, code)
	return b.click(form + ` button[type=submit]`)
}

// C6, C8, C9: a person whose phone is lost validates their identity (email,
// date of birth, SSN), proves their login ID and password, receives a
// one-time access token by email, signs in with it and replaces their
// authenticator app.
func TestBrowserLostDeviceRecoveryC6C8C9(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("lost", "5555550201")
	e.withTOTP(p)
	b := e.tab(t)

	b.open("/signin")
	b.click(`a[href$="/recover/lost"]`)
	b.expectPath("/recover/lost")
	b.fill("#email", p.Email)
	b.fill("#date_of_birth", p.DOB)
	b.fill("#ssn", p.SSN)
	b.shot("recover-identity")
	if st := b.click(`form[action$="/recover/lost"] button[type=submit]`); st != 200 {
		t.Fatalf("identity validation: %d\n%s", st, b.where())
	}
	b.expectPath("/recover/lost/signin")
	b.fill("#login_id", p.LoginID)
	b.fill("#password", p.Password)
	b.click(`form[action$="/recover/lost/signin"] button[type=submit]`)
	b.expectPath("/recover/lost/token")
	b.contains("3 more times in a row")
	since := time.Now()
	b.check(`input[name=channel][value=email]`)
	b.click(`form[action$="/recover/lost/token"] button[type=submit]`)
	b.expectPath("/recover/lost/token")
	b.contains("We sent a one-time access token to")
	b.shot("recover-token")
	msg := e.waitMessage(p.Email, since, func(m devbox.Entry) bool { return tokenText.MatchString(m.Text) })
	token := tokenText.FindString(msg.Text)
	b.fill("#token", strings.ToLower(token))
	b.click(`form[action$="/recover/lost/token/verify"] button[type=submit]`)
	b.expectPath("/account")
	b.contains("signed in with a one-time access token", "One-time access tokens left before you must sign in with your authenticator app: 2.")

	// The administrator sees the identity validation in the audit log (G5).
	if r := e.api("GET", "/api/v1/admin/audit?user="+p.LoginID+"&limit=100", nil); !strings.Contains(string(r.raw), "identity.validate") {
		t.Errorf("audit lacks the identity validation: %s", r.raw)
	}
	replaceAuthenticator(t, e, b, p)
}

// C10, C13: forgot password by an emailed code, then sign in with the new
// password; forgot login ID by email; re-enable a disabled account by a
// texted code.
func TestBrowserAccountRecoveryC10C13(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("forgetful", "5555550202")
	secret, used := e.withTOTP(p)
	b := e.tab(t)

	// Forgot password.
	b.open("/signin")
	b.click(`a[href$="/recover/password"]`)
	b.fill("#login_id", p.LoginID)
	b.check("#channel")
	since := time.Now()
	if st := b.click(`form[action$="/recover/password"] button[type=submit]`); st != 200 {
		t.Fatalf("request code: %d\n%s", st, b.where())
	}
	b.contains("If the Login ID exists and has a verified email address, we sent a code there.")
	code := e.waitCode(p.Email, since)
	p.Password = "New-Staple-Battery-9"
	b.fill("#code", code)
	b.fill("#password", p.Password)
	b.fill("#password_confirm", p.Password)
	b.click(`form[action$="/recover/password/reset"] button[type=submit]`)
	b.expectPath("/signin?done=password_reset")
	b.contains("Your password was changed")
	b.signInPassword(p)
	b.expectPath("/signin/verify")
	code, _ = e.totpCode(secret, used)
	b.submitCode(e.factorID(p, "totp"), code)
	b.expectPath("/account")

	// Forgot login ID: a fresh browser.
	b = e.tab(t)
	b.open("/recover")
	b.shot("recover")
	b.click(`a[href$="/recover/login-id"]`)
	b.check("#channel")
	b.fill("#email", p.Email)
	since = time.Now()
	b.click(`form[action$="/recover/login-id"] button[type=submit]`)
	b.contains("If an account is registered with " + p.Email)
	if m := e.waitMessage(p.Email, since, nil); !strings.Contains(m.Text, p.LoginID) {
		t.Errorf("login ID reminder %q lacks the login ID", m.Text)
	}

	// Re-enable a disabled account by text message.
	d := e.newPerson("dormant", "5555550203")
	if r := e.api("POST", "/api/v1/admin/users/dormant/status", map[string]any{"status": "disabled"}); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.raw)
	}
	b.open("/recover")
	b.click(`a[href$="/recover/reenable"]`)
	b.fill("#login_id", d.LoginID)
	b.check("#channel-sms")
	since = time.Now()
	b.click(`form[action$="/recover/reenable"] button[type=submit]`)
	b.contains("we sent a code there by text message")
	b.fill("#code", e.waitCode(e164(d.Phone), since))
	b.click(`form[action$="/recover/reenable/confirm"] button[type=submit]`)
	b.expectPath("/signin?done=reenabled")
	b.contains("Your account is enabled again")
	if r := e.api("GET", "/api/v1/admin/users/dormant", nil); r.str("status") != "active" {
		t.Fatalf("after re-enabling: %s", r.raw)
	}
}

// A13: the report form counts characters as they are typed, refuses a
// 401-character message on the server with a message linked to the field,
// then files the report with a tracking number shown on screen, emails an
// acknowledgement and lists it for administrators.
func TestBrowserReportAnIssueA13(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.tab(t)
	b.open("/signin")
	b.click(`a[href$="/report"]`)
	b.expectPath("/report")
	b.contains("Do not include personal or health information.")
	if got := b.text("#message-count"); got != "400 characters left" {
		t.Errorf("counter before typing: %q", got)
	}
	b.fill("#login_id", "reporter")
	b.fill("#phone", "555-555-0204")
	b.fill("#name", "Rita Reporter")
	b.fill("#subject", "No code received")
	b.fill("#email", "rita@example.org")
	long := strings.Repeat("After I answer the call and press # it keeps asking me to press it again. ", 6)[:401]
	b.fill("#message", long)
	if got := b.text("#message-count"); got != "1 character over the limit — shorten your message" || !strings.Contains(b.attr("#message-count", "class"), "over") {
		t.Errorf("counter at 401 characters: %q class %q", got, b.attr("#message-count", "class"))
	}
	if st := b.click(`form[action$="/report"] button[type=submit]`); st != http.StatusUnprocessableEntity {
		t.Fatalf("401 characters: status %d\n%s", st, b.where())
	}
	if link := b.text(`.error-summary a[href="#message"]`); !strings.Contains(link, "1 character over the limit of 400") {
		t.Errorf("summary link for the message: %q", link)
	}
	if got := b.text("#message-count"); got != "1 character over the limit — shorten your message" {
		t.Errorf("the message was not kept for correction: counter %q", got)
	}
	b.shot("report-error")
	b.fill("#message", "I pressed # but the call kept asking me to press it.")
	since := time.Now()
	if st := b.click(`form[action$="/report"] button[type=submit]`); st != 200 {
		t.Fatalf("report: %d\n%s", st, b.where())
	}
	tracking := b.text("#tracking")
	if !trackingText.MatchString(tracking) {
		t.Fatalf("tracking number %q\n%s", tracking, b.where())
	}
	b.contains("We sent an acknowledgement email to rita@example.org")
	b.shot("report-done")
	if ack := e.waitMessage("rita@example.org", since, nil); !strings.Contains(ack.Text+ack.Subject, tracking) {
		t.Errorf("acknowledgement %q lacks %s", ack.Text, tracking)
	}
	r := e.api("GET", "/api/v1/admin/support-requests", nil)
	if r.status != 200 || !strings.Contains(string(r.raw), tracking) || !strings.Contains(string(r.raw), "No code received") {
		t.Fatalf("administrators do not see the report: %d %s", r.status, r.raw)
	}
}

// replaceAuthenticator is C9 and C3 from the account page: a new key at
// the same place as the first, a code from it, and the old app's factor is
// revoked while this session carries on.
func replaceAuthenticator(t *testing.T, e *env, b *tab, p person) {
	t.Helper()
	old := e.factorID(p, "totp")
	b.click(`a[href$="/enrol/app"]`)
	b.expectPath("/enrol/app")
	secret := decodeKey(t, b.text("#totp-secret"))
	code, _ := e.totpCode(secret, 0)
	b.fill(`form[action$="/enrol/app"] input[name=code]`, code)
	b.click(`form[action$="/enrol/app"] button[type=submit]`)
	b.expectPath("/account")
	if now := e.factorID(p, "totp"); now == old {
		t.Fatalf("the authenticator was not replaced: still %s", old)
	}
	r := e.api("GET", "/api/v1/admin/users/"+p.LoginID+"/factors", nil)
	if n := strings.Count(string(r.raw), `"kind":"totp","state":"active"`) + strings.Count(string(r.raw), `"state":"active","kind":"totp"`); n > 1 {
		t.Errorf("C3: more than one active authenticator: %s", r.raw)
	}
}

// chooseMethod picks a method on the enrolment wizard's first page.
func (b *tab) chooseMethod(kind string) {
	b.t.Helper()
	b.expectPath("/enrol")
	b.check(`input[name=method][value=` + kind + `]`)
	b.click(`form[action$="/enrol"] button[type=submit]`)
}

// answerQuestions fills the security questions page (A8) with the test's
// answers and sends it.
func (b *tab) answerQuestions() int64 {
	b.t.Helper()
	b.expectPath("/enrol/questions")
	ids := []string{"first_pet", "birth_city", "first_school", "first_car"}
	for i, id := range ids {
		n := string(rune('1' + i))
		b.choose("#question_"+n, id)
		b.fill("#answer_"+n, questionAnswers[id])
	}
	return b.click(`form[action$="/enrol/questions"] button[type=submit]`)
}

// devPhone answers simulated calls on the development provider's page, in
// a browser window of its own, as a developer would (G7).
type devPhone struct {
	e *env
	b *tab
}

func (e *env) devPhone(t *testing.T) *devPhone { return &devPhone{e: e, b: e.tab(t)} }

// answer waits for the call to number placed since since, and answers it
// on /dev/outbox by pressing keys.
func (d *devPhone) answer(number string, since time.Time, keys string) {
	d.b.t.Helper()
	call := d.e.waitMessage(e164(number), since, func(m devbox.Entry) bool { return m.CallID != "" }).CallID
	d.b.open(d.e.url + "/dev/outbox")
	form := `form[action="/dev/calls/` + call + `/press"]`
	d.b.fill(form+` input[name=keys]`, keys)
	d.b.click(form + ` button`)
	if !strings.Contains(d.b.text(`article:has([id="`+call+`"])`), "You press "+keys+".") {
		d.b.t.Errorf("the development page does not show the key press\n%s", d.b.where())
	}
}

// A2, A8, A10, C2, C4: a person with no second factor signs in with their
// password, is taken through the wizard, chooses the authenticator app,
// reads the key off the page, proves it with a code, answers the security
// questions and is welcomed; the account page lists the method and the
// next sign-in asks for the app.
func TestBrowserFirstEnrolmentAuthenticatorApp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("newbie", "5555550401")
	b := e.tab(t)

	b.signInPassword(p)
	b.expectPath("/enrol")
	b.shot("enrol-methods")
	b.chooseMethod("totp")
	b.expectPath("/enrol/app")
	if src := b.attr("img.qr", "src"); !strings.HasPrefix(src, "data:image/png;base64,") {
		t.Errorf("no QR code image: %.60q", src)
	}
	b.shot("enrol-app")
	secret := decodeKey(t, b.text("#totp-secret"))
	code, used := e.totpCode(secret, 0)
	b.fill(`form[action$="/enrol/app"] input[name=code]`, code)
	b.click(`form[action$="/enrol/app"] button[type=submit]`)
	b.expectPath("/enrol/questions")
	b.shot("enrol-questions")
	b.answerQuestions()
	b.expectPath("/enrol/welcome")
	if b.text(".success") == "" {
		t.Errorf("A10: no welcome message\n%s", b.where())
	}
	b.shot("welcome")
	b.click(`a.button[href$="/account"]`)
	b.expectPath("/account")
	methods := b.text("ul.methods")
	for _, want := range []string{"Authenticator app", "Security questions"} {
		if !strings.Contains(methods, want) {
			t.Errorf("account lists %q, lacks %s", methods, want)
		}
	}
	b.shot("account")

	// A2: enrolling changed nothing about the person but their factors.
	if r := e.api("GET", "/api/v1/admin/users/"+p.LoginID, nil); r.str("status") != "active" {
		t.Errorf("status after enrolment: %s", r.raw)
	}
	// The next sign-in asks for the app; the step used to enrol is spent
	// (invariant 2), the next one works.
	b.signOut()
	b.signInPassword(p)
	b.expectPath("/signin/verify")
	totpID := e.factorID(p, "totp")
	if st := b.submitCode(totpID, totp.CodeAt(secret, used)); st != http.StatusUnauthorized {
		t.Errorf("invariant 2: the enrolment's code was accepted again (status %d)", st)
	}
	code, _ = e.totpCode(secret, used)
	b.submitCode(totpID, code)
	b.expectPath("/account")
}

// C4: every visit to the authenticator page makes a new key; a code from
// the key shown before is refused, the key shown now works.
func TestBrowserAuthenticatorKeyIsNewAtEveryVisitC4(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("reloader", "5555550402")
	b := e.tab(t)
	b.signInPassword(p)
	b.chooseMethod("totp")
	first := b.text("#totp-secret")
	b.do("reload", chromedp.Reload())
	second := b.text("#totp-secret")
	if first == "" || first == second {
		t.Fatalf("the key did not change on reload: %q then %q", first, second)
	}
	code, _ := e.totpCode(decodeKey(t, first), 0)
	if st := b.click(`form[action$="/enrol/app"] button[type=submit]`); st != http.StatusUnprocessableEntity {
		t.Errorf("empty code: %d", st)
	}
	b.fill(`form[action$="/enrol/app"] input[name=code]`, code)
	if st := b.click(`form[action$="/enrol/app"] button[type=submit]`); st < 400 {
		t.Fatalf("a code from the earlier key was accepted (status %d)\n%s", st, b.where())
	}
	b.expectPath("/enrol/app")
	if again := b.text("#totp-secret"); again != second {
		t.Errorf("after a wrong code the page shows %q, want the pending key %q", again, second)
	}
	if b.text(".alert") == "" {
		t.Errorf("no message for the refused code\n%s", b.where())
	}
	code, _ = e.totpCode(decodeKey(t, second), 0)
	b.fill(`form[action$="/enrol/app"] input[name=code]`, code)
	b.click(`form[action$="/enrol/app"] button[type=submit]`)
	b.expectPath("/enrol/questions")
}

// A4, A5, A6: enrolment with a phone call answered on the development
// provider's simulated phone, then signing in with a call to the primary
// number and with a call to the backup number picked at the prompt.
func TestBrowserPhoneCallEnrolmentAndSignInA4A5(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("caller", "5555550403")
	phone := e.devPhone(t)
	b := e.tab(t)
	const primary, backup = "555-555-0410", "555-555-0411"

	b.signInPassword(p)
	b.chooseMethod("voice")
	b.expectPath("/enrol/phone")
	b.fill("#primary", primary)
	b.fill("#backup", backup)
	since := time.Now()
	b.click(`form[action$="/enrol/phone"] button[type=submit]`)
	b.expectPath("/enrol/phone/call")
	b.shot("enrol-phone-call")
	phone.answer(primary, since, "#")
	// A4: then the backup is called to verify it too; the page follows the
	// calls by itself and continues once both are approved.
	phone.answer(backup, since, "#")
	b.waitPath("/enrol/questions")
	b.answerQuestions()
	b.expectPath("/enrol/welcome")
	b.click(`a.button[href$="/account"]`)
	if !strings.Contains(b.text("ul.methods"), "***-***-0410") {
		t.Errorf("account does not show the primary number\n%s", b.where())
	}
	b.signOut()

	// A5: the primary number is called at sign-in.
	b.signInPassword(p)
	voice := e.factorID(p, "voice")
	since = time.Now()
	b.click(`form[action$="/signin/call"]:has(input[name=factor][value="` + voice + `"]):has(input[name=leg][value=primary]) button`)
	b.expectPath("/signin/call")
	phone.answer(primary, since, "#")
	b.waitPath("/account")
	b.signOut()

	// A5: the person picks the backup phone at the prompt; a wrong key
	// first gets its own outcome (A6).
	b.signInPassword(p)
	since = time.Now()
	b.click(`form[action$="/signin/call"]:has(input[name=leg][value=backup]) button`)
	phone.answer(backup, since, "5")
	// The page checks until the call has ended, then shows how it ended.
	deadline := time.Now().Add(10 * time.Second)
	for !b.exists(`form[action$="/signin/call"] input[name=leg][value=backup]`) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(b.text("main"), "E30") {
		t.Errorf("A6: the sign-in call page does not show the wrong-key outcome (E30) after the call ended\n%s", b.where())
	}
	since = time.Now()
	b.click(`form[action$="/signin/call"]:has(input[name=leg][value=backup]) button`)
	phone.answer(backup, since, "#")
	b.waitPath("/account")
}

// C7: registering a text-enabled number with the code sent to it. Resending
// makes the earlier code invalid; the number can be edited and the code
// sent to the new one; the old number is told of the change.
func TestBrowserTextNumberRegistrationC7(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("texter", "5555550404")
	secret, used := e.withTOTP(p)
	b := e.tab(t)
	b.signInPassword(p)
	code, _ := e.totpCode(secret, used)
	b.submitCode(e.factorID(p, "totp"), code)
	b.expectPath("/account")

	b.click(`a[href$="/enrol/text"]`)
	b.expectPath("/enrol/text")
	b.fill("#phone", "555-555-0499")
	since := time.Now()
	b.click(`form[action$="/enrol/text"] button[type=submit]`)
	b.expectPath("/enrol/verify")
	first := e.waitCode("+15555550499", since)

	// Resend: the first code no longer works.
	since = time.Now()
	b.click(`form[action$="/enrol/verify"]:has(input[name=resend]) button`)
	second := e.waitCode("+15555550499", since)
	if first == second {
		t.Skip("two random codes were equal; nothing to compare")
	}
	b.fill(`form[action$="/enrol/verify"] input[name=code]`, first)
	if st := b.click(`form[action$="/enrol/verify"]:has(input[name=code]) button[type=submit]`); st != http.StatusUnauthorized {
		t.Fatalf("a code from before the resend: status %d\n%s", st, b.where())
	}

	// Edit the number: back to the form with the number filled in.
	b.click(`a[href$="/enrol/text"]`)
	if got := b.attr("#phone", "value"); !strings.Contains(got, "0499") {
		t.Errorf("the number to edit is not filled in: %q", got)
	}
	b.fill("#phone", "555-555-0498")
	since = time.Now()
	b.click(`form[action$="/enrol/text"] button[type=submit]`)
	third := e.waitCode("+15555550498", since)
	b.fill(`form[action$="/enrol/verify"] input[name=code]`, second)
	if st := b.click(`form[action$="/enrol/verify"]:has(input[name=code]) button[type=submit]`); st != http.StatusUnauthorized {
		t.Fatalf("the code sent to the number before the edit: status %d", st)
	}
	b.fill(`form[action$="/enrol/verify"] input[name=code]`, third)
	b.click(`form[action$="/enrol/verify"]:has(input[name=code]) button[type=submit]`)
	b.expectPath("/account")
	b.contains("***-***-0498")
	if r := e.api("GET", "/api/v1/admin/users/"+p.LoginID, nil); !strings.Contains(string(r.raw), "0498") {
		t.Errorf("the number was not recorded: %s", r.raw)
	}
	// Invariant 6: the old number hears of the change.
	if m := e.waitMessage(e164(p.Phone), since, nil); !strings.Contains(m.Text, "changed") {
		t.Errorf("notice to the old number: %q", m.Text)
	}
}

// X8, WCAG 2.1: the sign-in form works with the keyboard alone, and after a
// failed submission focus moves to the error summary, whose links lead to
// the fields.
func TestBrowserKeyboardOnlyAndErrorFocus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("keys", "5555550405")
	e.withTOTP(p)
	b := e.tab(t)
	b.open("/signin")
	active := func() string {
		return eval[string](b, `(() => { const a = document.activeElement; return a ? (a.id || a.className || a.tagName) : ""; })()`)
	}
	tabTo := func(id string) {
		t.Helper()
		for range 12 {
			if active() == id {
				return
			}
			b.do("press Tab", chromedp.KeyEvent(kb.Tab))
		}
		t.Fatalf("Tab never reached #%s (at %q)", id, active())
	}
	// The first Tab reaches the skip link.
	b.do("press Tab", chromedp.KeyEvent(kb.Tab))
	if got := b.text(":focus"); got != "Skip to main content" {
		t.Errorf("first Tab focuses %q, want the skip link", got)
	}
	// Submit the empty form with Enter.
	tabTo("login_id")
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	resp, err := chromedp.RunResponse(ctx, chromedp.KeyEvent(kb.Enter))
	cancel()
	if err != nil || resp.Status != http.StatusUnprocessableEntity {
		t.Fatalf("Enter on the empty form: %v %v\n%s", err, resp, b.where())
	}
	if got := active(); !strings.Contains(got, "error-summary") {
		t.Fatalf("focus after the failed submission is on %q, want the error summary", got)
	}
	b.do("press Tab", chromedp.KeyEvent(kb.Tab))
	if href := b.attr(":focus", "href"); href != "#login_id" {
		t.Fatalf("Tab from the summary focuses %q, want the link to the login ID field", href)
	}
	// A link acts on the key going down; the protocol's separate character
	// event would reach whatever has focus next, so only down and up.
	b.do("press Enter on the link", chromedp.KeyEvent(kb.Enter, func(k *input.DispatchKeyEventParams) {
		if k.Type == kb.KeyChar {
			k.Type = kb.KeyUp
		}
	}))
	hash := ""
	for deadline := time.Now().Add(5 * time.Second); hash != "#login_id" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		hash = eval[string](b, `location.hash`)
	}
	if hash != "#login_id" || active() != "login_id" {
		t.Errorf("the summary link leads to %q with focus on %q, want the login ID field", hash, active())
	}
	// Type the credentials with the keyboard and sign in with Enter.
	tabTo("login_id")
	b.do("type login ID", chromedp.KeyEvent(p.LoginID))
	b.do("press Tab", chromedp.KeyEvent(kb.Tab))
	if active() != "password" {
		t.Fatalf("Tab from the login ID focuses %q", active())
	}
	b.do("type password", chromedp.KeyEvent(p.Password))
	ctx, cancel = context.WithTimeout(b.ctx, stepTimeout)
	_, err = chromedp.RunResponse(ctx, chromedp.KeyEvent(kb.Enter))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	b.expectPath("/signin/verify")
}

// signOut presses the header's sign-out button.
func (b *tab) signOut() {
	b.t.Helper()
	b.click(`form.signout button[type=submit]`)
	b.expectPath("/signin?done=signed_out")
}

// sendCode presses "Text a code" or "Email a code" on the verify page.
func (b *tab) sendCode(factorID string) {
	b.t.Helper()
	b.click(`form[action$="/signin/send"]:has(input[name=factor][value="` + factorID + `"]) button[type=submit]`)
	b.expectPath("/signin/verify")
}

// B3, A8: signing in to the portal with a code by text message, with a code
// by email, and with the security questions instead of a second factor;
// wrong answers are refused.
func TestBrowserSignInWithCodesAndQuestionsB3A8(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("coder", "5555550301")
	e.withQuestions(p)
	e.withCodeFactors(p)
	sms, email := e.factorID(p, "sms"), e.factorID(p, "email")
	b := e.tab(t)

	// The sign-in page fits a phone: nothing is wider than the screen.
	ph := e.phoneTab(t)
	ph.open("/signin")
	if w := eval[int](ph, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("the sign-in page is %d CSS pixels wide on a 390-pixel phone", w)
	}
	ph.shot("signin-phone")

	// A text message.
	b.signInPassword(p)
	b.expectPath("/signin/verify")
	since := time.Now()
	b.sendCode(sms)
	b.contains("We sent a code to ***-***-0301.")
	code := e.waitCode(e164(p.Phone), since)
	b.shot("verify")
	b.submitCode(sms, code)
	b.expectPath("/account")
	b.contains("You are signed in.", "Text message", "Email", "Security questions")
	b.signOut()

	// An email; a malformed code first (C11: a code is exactly 6 digits).
	b.signInPassword(p)
	since = time.Now()
	b.sendCode(email)
	code = e.waitCode(p.Email, since)
	if st := b.submitCode(email, "12345"); st != http.StatusUnprocessableEntity || !strings.Contains(b.text(`.error-summary a[href="#code"]`), "6 digits") {
		t.Errorf("C11: a 5-digit code gets status %d without the per-field message \"The code must be exactly 6 digits\"\n%s", st, b.where())
	}
	b.submitCode(email, code)
	b.expectPath("/account")
	b.signOut()

	// The security questions, wrong then right.
	b.signInPassword(p)
	b.click(`a[href$="/signin/questions"]`)
	b.expectPath("/signin/questions")
	ids := eval[[]string](b, `[...document.querySelectorAll("form input[name^=answer_]")].map(el => el.name.slice(7))`)
	if len(ids) != 4 {
		t.Fatalf("questions asked: %v", ids)
	}
	for _, id := range ids {
		b.fill("#answer_"+id, "wrong answer")
	}
	if st := b.click(`form[action$="/signin/questions"] button[type=submit]`); st < 400 {
		t.Fatalf("wrong answers: status %d\n%s", st, b.where())
	}
	b.expectPath("/signin/questions")
	for _, id := range ids {
		// Answers are not case-sensitive.
		b.fill("#answer_"+id, strings.ToUpper(questionAnswers[id]))
	}
	b.click(`form[action$="/signin/questions"] button[type=submit]`)
	b.expectPath("/account")
}

// X8: the switch in the footer turns the portal into Spanish — headings,
// labels and per-field messages — and keeps it for the next pages, until
// the person switches back.
func TestBrowserSpanishX8(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.tab(t)
	b.open("/signin")
	if got := b.attr("html", "lang"); got != "en" {
		t.Fatalf("a browser asking for English gets lang=%q", got)
	}
	b.click(`form.language button[value=es]`)
	b.expectPath("/signin")
	if got := b.attr("html", "lang"); got != "es" {
		t.Fatalf("after choosing Español: lang=%q\n%s", got, b.where())
	}
	b.contains("Iniciar sesión", "ID de inicio de sesión", "Contraseña")
	b.shot("signin-es")
	if st := b.click(`form[action$="/signin"] button[type=submit]`); st != 422 {
		t.Fatalf("empty sign-in in Spanish: %d", st)
	}
	b.audit("signin-es with errors")
	if link := b.text(`.error-summary a[href="#login_id"]`); !strings.Contains(link, "obligatorio") {
		t.Errorf("Spanish summary link to login_id: %q", link)
	}
	b.open("/report")
	b.contains("Reportar un problema de MFA")
	b.click(`form.language button[value=en]`)
	b.expectPath("/report")
	if got := b.attr("html", "lang"); got != "en" {
		t.Fatalf("after choosing English: lang=%q", got)
	}
}
