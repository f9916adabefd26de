package portal_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/delivery/devbox"
	"github.com/countersign/countersign/internal/testutil/mailsink"
)

// The admin console in Chromium (issue 13), on a 375-pixel-wide screen,
// each page checked with axe-core and photographed for docs/admin.md.

// consoleTab is a tab as narrow as a small phone.
func (e *env) consoleTab(t *testing.T) *tab {
	t.Helper()
	b := e.tab(t)
	b.do("small phone viewport", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulateScale(1)))
	return b
}

// signInToConsole starts at the console's door, signs in on the portal with
// the password and the authenticator app, and arrives in the console.
func (b *tab) signInToConsole(a *consoleAdmin, shot string) {
	b.t.Helper()
	b.open(b.e.console() + "/")
	b.expectPath("/signin")
	b.contains("admin console")
	if shot != "" {
		b.shot(shot)
	}
	b.fill("#login_id", a.LoginID)
	b.fill("#password", a.Password)
	b.click(`form[action$="/signin"] button[type=submit]`)
	b.expectPath("/signin/verify")
	code, step := b.e.totpCode(a.secret, a.used)
	a.used = step
	b.submitCode(b.e.factorID(a.person, "totp"), code)
	b.waitPath("/admin/" + tenantSlug + "/")
}

// lockSecondFactor makes the person's second factor lock with wrong codes
// at the portal's sign-in (B5).
func (e *env) lockSecondFactor(p person) {
	e.t.Helper()
	c := e.client(e.t)
	c.post("/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}})
	for range 7 {
		c.post("/signin/verify", url.Values{"factor": {e.factorID(p, "totp")}, "code": {"000000"}})
	}
}

// The help desk's paths end to end: search → person → what the help desk
// may not do (unlock, change the phone) is not offered; an administrator
// unlocks, changes the phone (the person told on both numbers) and resets
// a lost phone's factors, and the person enrols again in the portal.
func TestBrowserConsoleHelpDesk(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ada := e.consolePerson("ada", "2025550101", "admin")
	sam := e.consolePerson("sam", "2025550104", "support")
	pat := e.consolePerson("pat", "2025550102", "")
	e.withCodeFactors(pat.person)
	e.lockSecondFactor(pat.person)

	desk := e.consoleTab(t)
	desk.signInToConsole(&sam, "console-signin")
	desk.contains("Signed in as sam", "help desk")
	desk.shot("console-home")
	desk.fill("#q", "pat")
	desk.click(`form[action$="/people"] button[type=submit]`)
	desk.contains("pat@example.org")
	desk.shot("console-people")
	desk.click(`a[href$="/people/` + pat.id + `"]`)
	desk.contains("Second factor locked", "Only an administrator can unlock this person", "Only an administrator can change where")
	if desk.exists(`form[action$="/unlock"]`) || desk.exists(`form[action$="/contact"]`) || desk.exists(`form[action$="/reset"]`) {
		t.Fatalf("the help desk is offered an administrator's action\n%s", desk.where())
	}
	desk.shot("console-person-support")

	admin := e.consoleTab(t)
	admin.signInToConsole(&ada, "")
	admin.open(e.console() + "/people/" + pat.id)
	admin.shot("console-person")
	admin.click(`form[action$="/unlock"] button[type=submit]`)
	admin.contains("Unlocked. The person can sign in again.")
	if admin.exists(".badge.bad") {
		t.Fatalf("still shown locked after the unlock\n%s", admin.where())
	}

	since := time.Now()
	admin.fill("#phone", "202-555-0199")
	admin.click(`form[action$="/contact"]:has(#phone) button[type=submit]`)
	admin.contains("Phone number changed. The person was told on the old and the new number.", "2025550199")
	e.waitMessage("+12025550102", since, func(m devbox.Entry) bool { return strings.Contains(m.Text, "changed") })
	e.waitMessage("+12025550199", since, func(m devbox.Entry) bool { return strings.Contains(m.Text, "administrator changed") })

	// A wrong address is explained beside its field.
	admin.fill("#email", "not-an-address")
	if st := admin.click(`form[action$="/contact"]:has(#email) button[type=submit]`); st != 422 {
		t.Fatalf("bad email: %d\n%s", st, admin.where())
	}
	admin.shot("console-person-error")

	// Lost phone: the administrator resets the factors once sure who is
	// calling; the person enrols again at their next sign-in.
	admin.check("#confirm")
	admin.click(`form[action$="/reset"] button[type=submit]`)
	admin.contains("Every second factor was removed")
	person := e.tab(t)
	person.signInPassword(pat.person)
	person.expectPath("/enrol")

	// Spanish, as the console's footer switch sets it.
	admin.click(`form.language button[value=es]`)
	admin.contains("Resumen", "Adónde van los códigos y las llamadas")
	admin.shot("console-person-es")
	admin.click(`form.language button[value=en]`)

	// Activity and the audit log name the administrator as the actor.
	admin.open(e.console() + "/audit?login_id=pat")
	admin.contains("contact.changed", "user.unlock", "console:"+ada.id)
	admin.shot("console-audit")
	// The tamper-evident log (X6) checked from the console.
	admin.click(`a[href$="/audit/verify"]`)
	admin.contains("The audit log is intact", "Checkpoint public key")
	admin.shot("console-verify")
}

// Policy one setting at a time: the page shows the current value and
// default, checks the new one, says whom it affects, and changes it only
// when confirmed.
func TestBrowserConsolePolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ada := e.consolePerson("ada", "2025550101", "admin")
	b := e.consoleTab(t)
	b.signInToConsole(&ada, "")
	b.open(e.console() + "/policy")
	b.contains("mfa_attempts", "Wrong second-factor attempts")
	b.shot("console-policy")
	b.click(`a[href$="/policy/change?key=mfa_attempts"]`)
	b.fill("#value", "0")
	if st := b.click(`form[action$="/policy/change"] button[type=submit]`); st != 422 {
		t.Fatalf("invalid value: %d\n%s", st, b.where())
	}
	b.shot("console-policy-error")
	b.fill("#value", "5")
	b.click(`form[action$="/policy/change"] button[type=submit]`)
	b.contains("mfa_attempts changes from 7 to 5.", "everyone in the organisation")
	b.shot("console-policy-confirm")
	b.click(`form[action$="/policy/change"] button[type=submit]`)
	b.contains("The setting was changed.")
	if r := e.api("GET", "/api/v1/admin/policy", nil); !strings.Contains(string(r.raw), `"mfa_attempts":5`) {
		t.Fatalf("policy after the change: %s", r.raw)
	}
}

// B1 and A1 in the console: the checklist is computed from the tenant's
// real state (a provider that delivered a test message to a real SMTP
// server, the help desk, alert addresses, administrators enrolled); a phase
// is scheduled for a group; once everything is ready an administrator
// types the organisation's short name and MFA is on for everyone, after
// which no page can narrow it.
func TestBrowserConsoleEnablement(t *testing.T) {
	t.Parallel()
	sink := mailsink.Start(t)
	e := newEnv(t, func(c *config.Config) {
		c.Delivery.Providers["mail"] = config.Provider{Type: "smtp", Host: sink.Host, Port: sink.Port, TLS: "none", From: "Countersign <no-reply@example.org>"}
		c.Delivery.Default.Email = "mail"
	})
	e.setPolicy(`{"allowed_factors":["totp","email"],"mfa_required":"groups","mfa_groups":["pilot"]}`)
	if r := e.api("POST", "/api/v1/admin/groups", map[string]any{"name": "nurses"}); r.status != 201 {
		t.Fatalf("group: %d %s", r.status, r.raw)
	}
	ada := e.consolePerson("ada", "2025550101", "admin")
	b := e.consoleTab(t)
	b.signInToConsole(&ada, "")
	b.open(e.console() + "/enablement")
	b.contains("Preparation checklist", "To do", "Finish the checklist items")
	if b.exists(`form[action$="/enablement"]`) {
		t.Fatalf("the switch is offered before the checklist is done\n%s", b.where())
	}
	b.shot("console-enablement")

	// A phase for the nurses, from a date in the future.
	b.fill("#name", "Nurses first")
	b.fill("#groups", "nurses")
	b.fill("#starts", e.now().AddDate(0, 0, 14).Format(time.DateOnly))
	b.click(`form[action$="/phases"] button[type=submit]`)
	b.contains("The phase is scheduled", "Nurses first", "0 of 0 set up")
	// A group that does not exist is named.
	b.fill("#name", "Ghosts")
	b.fill("#groups", "ghosts")
	b.fill("#starts", e.now().AddDate(0, 0, 14).Format(time.DateOnly))
	if st := b.click(`form[action$="/phases"] button[type=submit]`); st != 422 {
		t.Fatalf("phase of an unknown group: %d\n%s", st, b.where())
	}
	b.shot("console-phases-error")

	// The rest of the checklist, as the administrator would do it.
	if r := e.api("PATCH", "/api/v1/admin/policy", `{"help_desk":{"name":"IT help desk","phone":"2025550100"},"alert_emails":["security@example.org"]}`); r.status != 200 {
		t.Fatalf("policy: %d %s", r.status, r.raw)
	}
	b.choose("#channel", "email")
	b.fill("#to", "it@example.org")
	b.click(`form[action$="/enablement/test"] button[type=submit]`)
	b.contains("The test message is on its way")
	sink.Wait(t, 15*time.Second, func(m string) bool { return strings.Contains(m, "it@example.org") })
	deadline := time.Now().Add(15 * time.Second)
	for !b.exists(`form[action$="/enablement"]`) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		b.open(e.console() + "/enablement")
	}
	b.shot("console-enablement-ready")
	b.fill("#confirm", "wrong")
	if st := b.click(`form[action$="/enablement"] button[type=submit]`); st != 422 && st != 409 && st != 400 {
		t.Fatalf("enable with the wrong name: %d\n%s", st, b.where())
	}
	b.fill("#confirm", tenantSlug)
	b.click(`form[action$="/enablement"] button[type=submit]`)
	b.contains("MFA is now on for everyone", "cannot be turned off")
	b.shot("console-enabled")

	// No page can narrow it now.
	b.open(e.console() + "/policy/change?key=mfa_required")
	b.fill("#value", "nobody")
	b.click(`form[action$="/policy/change"] button[type=submit]`)
	b.click(`form[action$="/policy/change"] button[type=submit]`)
	b.contains("E56")
	if r := e.api("GET", "/api/v1/admin/policy", nil); !strings.Contains(string(r.raw), `"mfa_required":"everyone"`) {
		t.Fatalf("policy after enabling: %s", r.raw)
	}
}

// A13, G5, C14: a reported issue reaches the help desk's queue, found by
// its tracking number, taken, annotated and moved on; an administrator
// terminates a compromised account, which then opens nothing.
func TestBrowserConsoleReportsAndTermination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ada := e.consolePerson("ada", "2025550101", "admin")
	sam := e.consolePerson("sam", "2025550104", "support")
	pat := e.consolePerson("pat", "2025550102", "")

	// Pat reports an issue from the portal.
	pb := e.tab(t)
	pb.open("/report")
	pb.fill("#login_id", "pat")
	pb.fill("#phone", "202-555-0102")
	pb.fill("#name", "Pat Example")
	pb.fill("#subject", "Lost my phone")
	pb.fill("#email", "pat@example.org")
	pb.fill("#message", "My phone was stolen yesterday; I cannot sign in.")
	pb.click(`form[action$="/report"] button[type=submit]`)
	tracking := pb.text("#tracking")
	if !trackingText.MatchString(tracking) {
		t.Fatalf("tracking number %q\n%s", tracking, pb.where())
	}

	desk := e.consoleTab(t)
	desk.signInToConsole(&sam, "")
	desk.open(e.console() + "/reports")
	desk.contains(tracking, "Lost my phone", "Open")
	desk.shot("console-reports")
	desk.fill("#q", tracking)
	desk.click(`form[action$="/reports"] button[type=submit]`)
	desk.click(`a[href$="/reports/` + tracking + `"]`)
	desk.click(`button[name=take]`)
	desk.contains("Saved.", "sam")
	desk.fill("#note", "Called Pat back on the number in the report; identity checked. Asked an administrator to reset.")
	desk.click(`form[action$="/notes"] button[type=submit]`)
	desk.contains("The note was added.", "identity checked")
	desk.choose("#state", "in_progress")
	desk.click(`form[action$="/reports/` + tracking + `"] button[type=submit]:not([name])`)
	desk.contains("In progress")
	desk.shot("console-report")
	// The help desk cannot terminate: the page does not offer it.
	desk.open(e.console() + "/people/" + pat.id)
	if desk.exists(`a[href$="/terminate"]`) {
		t.Fatalf("termination offered to the help desk\n%s", desk.where())
	}

	admin := e.consoleTab(t)
	admin.signInToConsole(&ada, "")
	admin.open(e.console() + "/people/" + pat.id)
	admin.click(`a[href$="/terminate"]`)
	admin.contains("It cannot be undone", "create a new account with a new login ID")
	admin.fill("#reason", "Phone stolen and password seen in a phishing kit.")
	admin.fill("#confirm_login_id", "PAT ")
	if st := admin.click(`form[action$="/terminate"] button[type=submit]`); st != 422 {
		t.Fatalf("wrong confirmation: %d\n%s", st, admin.where())
	}
	admin.shot("console-terminate")
	admin.fill("#confirm_login_id", "pat")
	admin.click(`form[action$="/terminate"] button[type=submit]`)
	admin.contains("The account is terminated", "Terminated", "phishing kit")
	if admin.exists(`form[action$="/status"]`) || admin.exists(`form[action$="/reset"]`) || admin.exists(`a[href$="/terminate"]`) {
		t.Fatalf("a terminated account still offers changes\n%s", admin.where())
	}
	admin.shot("console-person-terminated")

	// Pat's password now hears that the account is closed (E50).
	pb.signInPassword(pat.person)
	pb.contains("E50")
}
