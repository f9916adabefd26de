package portal_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/countersign/countersign/internal/delivery/devbox"
)

// The admin console in Chromium (issue 13), on a 375-pixel-wide screen,
// each page checked with axe-core and photographed for docs/admin.md.

// consoleTab is a tab as narrow as a small phone.
func (e *env) consoleTab(t *testing.T) *tab {
	t.Helper()
	b := e.tab(t)
	b.do("small phone viewport", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
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
