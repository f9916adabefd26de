package portal_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/countersign/countersign/internal/delivery/devbox"
)

// The portal's failure paths (issue 9, items 4 and 5), each in English and
// in Spanish: what the person reads when something goes wrong, and that the
// page leaves them something that can still work.

// langs are the portal's languages, for tests that run in each.
var langs = []string{"en", "es"}

// inLanguage switches a tab to lang with the footer's language button.
func (b *tab) inLanguage(lang string) {
	b.t.Helper()
	if !b.exists(`form.language`) {
		b.open("/signin")
	}
	if b.attr("html", "lang") == lang {
		return
	}
	b.click(`form.language button[value=` + lang + `]`)
	if got := b.attr("html", "lang"); got != lang {
		b.t.Fatalf("language switch: lang=%q, want %q", got, lang)
	}
}

// pick returns the English or the Spanish of a text.
func pick(lang, en, es string) string {
	if lang == "es" {
		return es
	}
	return en
}

// phoneAction plays a call to number placed since since on the development
// provider, the way its page's buttons do (action press, voicemail, ring…).
func (e *env) phoneAction(number string, since time.Time, action, keys string) {
	e.t.Helper()
	call := e.waitMessage(e164(number), since, func(m devbox.Entry) bool { return m.CallID != "" }).CallID
	resp, err := noRedirects().PostForm(e.url+"/dev/calls/"+call+"/"+action, url.Values{"keys": {keys}})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
}

// withVoice sets up a phone-call factor with a backup number the way the
// help desk does (A12): each number is proved by answering its call.
func (e *env) withVoice(p person, primary, backup string) {
	e.t.Helper()
	since := time.Now()
	if r := e.api("POST", "/api/v1/admin/users/"+p.LoginID+"/enrolments/voice", map[string]any{"primary": primary, "backup": backup}); r.status >= 300 {
		e.t.Fatalf("voice enrolment: %d %s", r.status, r.raw)
	}
	e.phoneAction(primary, since, "press", "#")
	e.phoneAction(backup, since, "press", "#")
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		r := e.api("GET", "/api/v1/admin/users/"+p.LoginID+"/factors", nil)
		if strings.Contains(string(r.raw), `"voice"`) && strings.Contains(string(r.raw), `"active"`) {
			return
		}
	}
	e.t.Fatal("the phone-call factor did not become active")
}

// A5: the call page says which phone is being called, masked, and when the
// primary goes unanswered and the call rolls over, that the backup is now
// being called — updated in place by the page's script, and on the "Check
// again" path without JavaScript.
func TestBrowserCallNamesThePhoneAndTheRolloverA5(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const primary, backup = "555-555-0510", "555-555-0511"
	for i, lang := range langs {
		p := e.newPerson("rollover"+lang, "555555052"+string(rune('0'+i)))
		e.withVoice(p, primary, backup)
		callingPrimary := pick(lang, "We are calling your primary phone ***-***-0510.", "Estamos llamando a su teléfono principal ***-***-0510.")
		rolledOver := pick(lang, "Your primary phone did not answer, so we are now calling your backup phone ***-***-0511.",
			"Su teléfono principal no contestó, así que ahora llamamos a su teléfono de respaldo ***-***-0511.")

		// In the browser, the page follows the call by itself.
		b := e.tab(t)
		b.inLanguage(lang)
		b.signInPassword(p)
		since := time.Now()
		b.click(`form[action$="/signin/call"]:has(input[name=leg][value=primary]) button`)
		b.expectPath("/signin/call")
		if got := b.text("#call-to"); got != callingPrimary {
			t.Errorf("%s: call page says %q, want %q", lang, got, callingPrimary)
		}
		b.audit("call " + lang)
		e.phoneAction(primary, since, "voicemail", "")
		deadline := time.Now().Add(15 * time.Second)
		for b.text("#call-to") != rolledOver && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if got := b.text("#call-to"); got != rolledOver {
			t.Fatalf("%s: after the primary went unanswered the page says %q, want %q\n%s", lang, got, rolledOver, b.where())
		}
		if lang == "en" {
			b.shot("call-rollover")
		}
		e.phoneAction(backup, since, "press", "#")
		b.waitPath("/account")

		// Without JavaScript: "Check again" shows the same.
		c := e.client(t)
		c.header.Set("Accept-Language", lang)
		if pg := c.post("/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}}); pg.location != "/signin/verify" {
			t.Fatalf("%s: password step: %d %s", lang, pg.status, pg.location)
		}
		since = time.Now()
		c.post("/signin/call", url.Values{"factor": {e.factorID(p, "voice")}, "leg": {"primary"}})
		if pg := c.get("/signin/call"); !strings.Contains(text(pg.body), callingPrimary) {
			t.Errorf("%s: no-JS call page lacks %q: %s", lang, callingPrimary, text(pg.body))
		}
		e.phoneAction(primary, since, "voicemail", "")
		var body string
		for deadline := time.Now().Add(15 * time.Second); !strings.Contains(body, rolledOver) && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if pg := c.post("/signin/call/done", nil); pg.location != "/signin/call" {
				t.Fatalf("%s: Check again: %d %s", lang, pg.status, pg.location)
			}
			body = text(c.get("/signin/call").body)
		}
		if !strings.Contains(body, rolledOver) {
			t.Errorf("%s: no-JS call page after the rollover: %s", lang, body)
		}
	}
}

// C11: field errors name fields by the labels on the form, never by the
// program's names for them ("Primary Ext", "Channel"), in both languages.
func TestBrowserFieldErrorsUseTheLabelsOnTheForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, lang := range langs {
		p := e.newPerson("labels"+lang, "5555550530")
		b := e.tab(t)
		b.inLanguage(lang)
		b.signInPassword(p)
		b.chooseMethod("voice")
		b.expectPath("/enrol/phone")
		b.fill("#primary", "555-555-0531")
		b.fill("#primary_ext", "12a")
		b.fill("#backup_ext", "77")
		if st := b.click(`form[action$="/enrol/phone"] button[type=submit]`); st != http.StatusUnprocessableEntity {
			t.Fatalf("%s: bad extensions: status %d\n%s", lang, st, b.where())
		}
		b.audit("phone errors " + lang)
		summary := b.text(".error-summary")
		for _, want := range []string{
			pick(lang, "The primary phone extension may contain only digits.", "La extensión del teléfono principal solo puede contener dígitos."),
			pick(lang, "An extension needs a backup phone number.", "Una extensión requiere un número de teléfono de respaldo."),
		} {
			if !strings.Contains(summary, want) {
				t.Errorf("%s: summary %q lacks %q", lang, summary, want)
			}
		}
		for _, internal := range []string{"Primary Ext", "Backup Ext", "primary_ext", "backup_ext"} {
			if strings.Contains(summary, internal) {
				t.Errorf("%s: summary names the field %q: %q", lang, internal, summary)
			}
		}
		if got := b.attr("#primary", "value"); got != "555-555-0531" {
			t.Errorf("%s: the primary number typed was not kept: %q", lang, got)
		}

		b.open("/recover/login-id")
		b.fill("#email", "someone@example.org")
		b.click(`form[action$="/recover/login-id"] button[type=submit]`)
		channel := b.text(`.error-summary a[href="#channel"]`)
		if want := pick(lang, "Choose how we should send it", "Elija cómo debemos enviarlo"); !strings.Contains(channel, want) || strings.Contains(channel, "Channel") {
			t.Errorf("%s: channel error %q, want %q", lang, channel, want)
		}
		if got := b.attr("#email", "value"); got != "someone@example.org" {
			t.Errorf("%s: the email typed was not kept: %q", lang, got)
		}
	}
}

// A8: after a validation error the security questions come back as typed,
// answers included, so one short answer does not mean typing all four again.
func TestBrowserQuestionAnswersSurviveAnError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, lang := range langs {
		p := e.newPerson("answers"+lang, "5555550540")
		secret, used := e.withTOTP(p)
		b := e.tab(t)
		b.inLanguage(lang)
		b.signInPassword(p)
		code, _ := e.totpCode(secret, used)
		b.submitCode(e.factorID(p, "totp"), code)
		b.open("/enrol/questions")
		ids := []string{"first_pet", "birth_city", "first_school", "first_car"}
		for i, id := range ids {
			n := string(rune('1' + i))
			b.choose("#question_"+n, id)
			b.fill("#answer_"+n, questionAnswers[id])
		}
		b.fill("#answer_4", "V")
		if st := b.click(`form[action$="/enrol/questions"] button[type=submit]`); st != http.StatusUnprocessableEntity {
			t.Fatalf("%s: a 1-character answer: status %d\n%s", lang, st, b.where())
		}
		for i, id := range ids[:3] {
			n := string(rune('1' + i))
			if got := b.attr("#answer_"+n, "value"); got != questionAnswers[id] {
				t.Errorf("%s: answer %s came back as %q, want %q", lang, n, got, questionAnswers[id])
			}
			if got := eval[string](b, `document.querySelector("#question_`+n+`").value`); got != id {
				t.Errorf("%s: question %s came back as %q", lang, n, got)
			}
		}
		if got := b.attr("#answer_4", "value"); got != "V" {
			t.Errorf("%s: the short answer came back as %q", lang, got)
		}
		b.fill("#answer_4", "Volvo")
		b.click(`form[action$="/enrol/questions"] button[type=submit]`)
		b.expectPath("/account")
	}
}

// Removing a method asks first, on a page that works without JavaScript;
// "No" keeps it, "Yes" removes it.
func TestBrowserRemovingQuestionsAsksFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, lang := range langs {
		p := e.newPerson("remover"+lang, "5555550550")
		e.withQuestions(p)
		secret, used := e.withTOTP(p)
		b := e.tab(t)
		b.inLanguage(lang)
		b.signInPassword(p)
		code, _ := e.totpCode(secret, used)
		b.submitCode(e.factorID(p, "totp"), code)
		b.expectPath("/account")
		questions := pick(lang, "Security questions", "Preguntas de seguridad")
		remove := `ul.methods li:has(input[name=factor][value="` + e.factorID(p, "questions") + `"]) button.danger`
		b.click(remove)
		b.contains(pick(lang, "Remove a sign-in method?", "¿Quitar un método de inicio de sesión?"), questions)
		b.shot("remove-confirm-" + lang)
		b.click(`a.button[href$="/account"]`)
		b.expectPath("/account")
		if !strings.Contains(b.text("ul.methods"), questions) {
			t.Fatalf("%s: No removed the questions\n%s", lang, b.where())
		}
		b.click(remove)
		b.click(`form[action$="/account/factors/remove"]:has(input[name=confirm]) button`)
		b.expectPath("/account")
		if strings.Contains(b.text("ul.methods"), questions) {
			t.Errorf("%s: Yes did not remove the questions\n%s", lang, b.where())
		}
	}
}

// The account page and the activity page fit a 375-pixel phone: the tables
// stack, nothing scrolls sideways. People without an authenticator app are
// not told about one-time access tokens (C8).
func TestBrowserActivityFitsAPhoneC8(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, lang := range langs {
		p := e.newPerson("narrow"+lang, "5555550560")
		secret, used := e.withTOTP(p)
		b := e.tab(t)
		b.do("375-pixel phone", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
		b.inLanguage(lang)
		b.signInPassword(p)
		code, _ := e.totpCode(secret, used)
		b.submitCode(e.factorID(p, "totp"), code)
		b.contains(pick(lang, "One-time access tokens left", "Tokens de acceso de un solo uso que le quedan"))
		for _, page := range []string{"/account", "/account/activity"} {
			b.open(page)
			if w := eval[int](b, `document.documentElement.scrollWidth`); w > 375 {
				t.Errorf("%s %s is %d CSS pixels wide on a 375-pixel phone", lang, page, w)
			}
			if n := eval[int](b, `document.querySelectorAll("table.stack tbody tr").length`); n == 0 {
				t.Errorf("%s %s shows no activity\n%s", lang, page, b.where())
			}
		}
		if lang == "en" {
			b.shot("activity-phone")
		} else {
			b.audit("activity-phone " + lang)
		}

		// A person signing in with a text message has no app: no token count.
		q := e.newPerson("noapp"+lang, "555555057"+string(rune('0'+len(lang))))
		e.withCodeFactors(q)
		c := e.client(t)
		c.header.Set("Accept-Language", lang)
		c.post("/signin", url.Values{"login_id": {q.LoginID}, "password": {q.Password}})
		since := time.Now()
		sms := e.factorID(q, "sms")
		c.post("/signin/send", url.Values{"factor": {sms}})
		if pg := c.post("/signin/verify", url.Values{"factor": {sms}, "code": {e.waitCode(e164(q.Phone), since)}}); pg.location != "/account" {
			t.Fatalf("%s: SMS sign-in: %d %s", lang, pg.status, pg.location)
		}
		body := text(c.get("/account").body)
		for _, never := range []string{"One-time access token", "Tokens de acceso de un solo uso", "token"} {
			if strings.Contains(body, never) {
				t.Errorf("%s: a person without an authenticator app reads about tokens (%q): %s", lang, never, body)
			}
		}
	}
}

// E03, B5: after the second-factor lockout the page offers nothing that
// can no longer work — no Verify, no "Send a new code", no call — but says
// what happened and what to do, on every page of the second step and at
// the next sign-in.
func TestBrowserLockoutOffersNoDeadEnds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setPolicy(strings.Replace(testPolicy, "{", `{"mfa_attempts":3,"help_desk":{"name":"Acme IT Help Desk","phone":"555-0100","email":"help@acme.example"},`, 1))
	for i, lang := range langs {
		p := e.newPerson("locked"+lang, "555555058"+string(rune('0'+i)))
		e.withTOTP(p)
		e.withCodeFactors(p)
		b := e.tab(t)
		b.inLanguage(lang)
		b.signInPassword(p)
		totpID := e.factorID(p, "totp")
		for range 2 {
			if st := b.submitCode(totpID, "000000"); st != http.StatusUnauthorized {
				t.Fatalf("%s: wrong code: %d\n%s", lang, st, b.where())
			}
		}
		if st := b.submitCode(totpID, "000000"); st != http.StatusLocked {
			t.Fatalf("%s: third wrong code: %d\n%s", lang, st, b.where())
		}
		title := pick(lang, "Your sign-in is locked", "Su inicio de sesión está bloqueado")
		check := func(where string) {
			t.Helper()
			b.contains(title, "E03", pick(lang, "Only the help desk can end the lock", "Solo la mesa de ayuda puede terminar el bloqueo"),
				// Issue 9 item 4: the lockout names the tenant's help desk.
				"Acme IT Help Desk", "555-0100", "help@acme.example")
			if !b.exists(`main a[href="tel:555-0100"]`) || !b.exists(`main a[href="mailto:help@acme.example"]`) {
				t.Errorf("%s %s: the help desk's phone and email are not links\n%s", lang, where, b.where())
			}
			for _, dead := range []string{`form[action$="/signin/verify"]`, `form[action$="/signin/send"]`, `form[action$="/signin/call"]`, `input[name=code]`} {
				if b.exists(dead) {
					t.Errorf("%s %s: the locked page still offers %s\n%s", lang, where, dead, b.where())
				}
			}
			if !b.exists(`main a[href$="/report"]`) {
				t.Errorf("%s %s: no way to the help desk\n%s", lang, where, b.where())
			}
		}
		check("after the lockout")
		if lang == "en" {
			b.shot("locked")
		} else {
			b.audit("locked " + lang)
		}
		for _, page := range []string{"/signin/verify", "/signin/questions", "/recover/lost/token", "/signin/call"} {
			b.open(page)
			check(page)
		}
		// Signing out, then in again with the right password, lands on the
		// same page rather than on the codes.
		b.click(`main form[action$="/signout"] button`)
		b.expectPath("/signin")
		b.signInPassword(p)
		check("at the next sign-in")
	}
}

// C10: a disabled person who signs in is told the account is disabled and
// how to re-enable it before anything else; the re-enable page knows their
// login ID, and they may still go on to manage their methods (C1).
func TestBrowserDisabledPersonIsToldC10(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, lang := range langs {
		p := e.newPerson("asleep"+lang, "5555550590")
		if r := e.api("POST", "/api/v1/admin/users/"+p.LoginID+"/status", map[string]any{"status": "disabled"}); r.status != 200 {
			t.Fatalf("disable: %d %s", r.status, r.raw)
		}
		b := e.tab(t)
		if lang == "es" {
			// Seen as most people would: in Spanish, on a phone.
			b.do("375-pixel phone", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
		}
		b.inLanguage(lang)
		b.signInPassword(p)
		b.contains(pick(lang, "Your account is disabled", "Su cuenta está deshabilitada"))
		b.shot("disabled-" + lang)
		if !b.exists(`a[href$="/recover/reenable"]`) {
			t.Fatalf("%s: no link to re-enable\n%s", lang, b.where())
		}
		if !b.exists(`main a[href$="/enrol"]`) {
			t.Errorf("%s: no way on to the enrolment\n%s", lang, b.where())
		}
		b.click(`main a.button[href$="/recover/reenable"]`)
		b.expectPath("/recover/reenable")
		if got := b.attr("#login_id", "value"); got != p.LoginID {
			t.Errorf("%s: the re-enable page does not know the login ID: %q", lang, got)
		}
		b.open("/enrol")
		b.expectPath("/enrol")
		// The pages that manage methods keep saying so.
		b.contains(pick(lang, "Your account is disabled: you cannot sign in to applications", "Su cuenta está deshabilitada: no puede iniciar sesión"))
		if !b.exists(`main .warning a[href$="/recover/reenable"]`) {
			t.Errorf("%s: the enrolment page has no way to re-enable\n%s", lang, b.where())
		}
	}
}

var summaryLinkRE = regexp.MustCompile(`<a href="#([a-z_0-9]+)">([^<]*)</a>`)

// summaryMessages are the messages of a page's error summary, by field.
func summaryMessages(body string) map[string]string {
	i := strings.Index(body, `class="error-summary"`)
	if i < 0 {
		return nil
	}
	j := strings.Index(body[i:], "</div>")
	out := map[string]string{}
	for _, m := range summaryLinkRE.FindAllStringSubmatch(body[i:i+j], -1) {
		out[m[1]] += html.UnescapeString(m[2]) + " "
	}
	return out
}

// C11, X8: every field error of every form, in both languages, comes from
// the catalogue and names the field as the form does: never by the
// program's name for it ("Primary Ext", "Channel", "Value"), never in
// English on a Spanish page, never a missing key.
func TestHTTPFieldErrorsSpeakThePersonsWords(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	internal := []string{"Primary Ext", "Backup Ext", "Channel", "Method", "Value", "Kind", "Primary is", "Backup is",
		"Primary must", "Backup must", "Pin ", "Ssn", "Date of Birth", "Login Id", "Enter a valid value in the", "Question_", "Answer_"}
	english := []string{" is required", " must ", "Enter ", "Choose ", " may contain", "characters"}
	for i, lang := range langs {
		p := e.newPerson("words"+lang, "555555060"+string(rune('0'+i)))
		secret, used := e.withTOTP(p)
		full := e.client(t)
		full.header.Set("Accept-Language", lang)
		full.signIn(p, secret, used)
		anon := e.client(t)
		anon.header.Set("Accept-Language", lang)
		verify := e.client(t)
		verify.header.Set("Accept-Language", lang)
		verify.post("/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}})
		long := strings.Repeat("x", 500)
		cases := []struct {
			c    *client
			path string
			form url.Values
		}{
			{anon, "/signin", url.Values{}},
			{anon, "/signin", url.Values{"login_id": {"bad id!" + long}, "password": {"x"}}},
			{anon, "/recover/login-id", url.Values{}},
			{anon, "/recover/login-id", url.Values{"channel": {"sms"}, "phone": {"12ab"}}},
			{anon, "/recover/login-id", url.Values{"channel": {"sms"}, "phone": {"12"}}},
			{anon, "/recover/login-id", url.Values{"channel": {"email"}, "email": {"no at sign"}}},
			{anon, "/recover/password", url.Values{}},
			{anon, "/recover/reenable", url.Values{"login_id": {"é"}}},
			{anon, "/recover/password/reset", url.Values{"kind": {"password"}, "login_id": {"x"}, "channel": {"email"}, "code": {"12"}, "password": {"a"}, "password_confirm": {"b"}}},
			{anon, "/recover/lost", url.Values{}},
			{anon, "/recover/lost", url.Values{"email": {"x@y"}, "date_of_birth": {"13/45/2000"}, "ssn": {"12"}}},
			{anon, "/recover/lost", url.Values{"email": {"x@example.org"}, "date_of_birth": {"2999-01-01"}, "ssn": {"123456789"}}},
			{anon, "/report", url.Values{}},
			{anon, "/report", url.Values{"login_id": {"a b"}, "phone": {"abc"}, "name": {long}, "subject": {long}, "email": {"x"}, "message": {long}}},
			{verify, "/signin/verify", url.Values{"code": {"12"}}},
			{verify, "/signin/verify", url.Values{}},
			{full, "/enrol", url.Values{}},
			{full, "/enrol", url.Values{"method": {"pigeon"}}},
			{full, "/enrol/phone", url.Values{}},
			{full, "/enrol/phone", url.Values{"primary": {"1x"}, "primary_ext": {"x" + long}, "backup": {"2"}, "backup_ext": {"y"}}},
			{full, "/enrol/phone", url.Values{"primary": {"555-555-0601"}, "backup_ext": {"12"}}},
			{full, "/enrol/text", url.Values{}},
			{full, "/enrol/text", url.Values{"phone": {"12ab"}}},
			{full, "/enrol/email", url.Values{"email": {"a b"}}},
			{full, "/enrol/email", url.Values{"email": {"ab"}}},
			{full, "/enrol/questions", url.Values{}},
			{full, "/enrol/questions", url.Values{"question_1": {"first_pet"}, "question_2": {"first_pet"}, "question_3": {"nope"},
				"answer_1": {"a"}, "answer_2": {long}}},
		}
		seen := 0
		for _, tc := range cases {
			pg := tc.c.post(tc.path, tc.form)
			msgs := summaryMessages(pg.body)
			if pg.status != http.StatusUnprocessableEntity || len(msgs) == 0 {
				t.Errorf("%s %s %v: status %d, no field errors: %.300s", lang, tc.path, tc.form, pg.status, text(pg.body))
				continue
			}
			for field, msg := range msgs {
				seen++
				bad := slices.Clone(internal)
				if lang == "es" {
					bad = append(bad, english...)
				}
				for _, b := range bad {
					if strings.Contains(msg, b) {
						t.Errorf("%s %s: the message for %s says %q: %q", lang, tc.path, field, b, msg)
					}
				}
				if missingKeyRE.MatchString(msg) {
					t.Errorf("%s %s: missing string in %q", lang, tc.path, msg)
				}
				if !strings.Contains(pg.body, `id="`+field+`"`) {
					t.Errorf("%s %s: the summary links to #%s, which is not on the page", lang, tc.path, field)
				}
			}
		}
		if seen < 40 {
			t.Errorf("%s: only %d field messages checked", lang, seen)
		}
	}
}

// Plurals (X8): a count of one reads in the singular, in both languages —
// here with policy allowing one one-time token, valid one minute.
func TestHTTPCountsReadInTheSingularC8(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setPolicy(strings.Replace(testPolicy, "{", `{"one_time_token_max_consecutive":1,"one_time_token_ttl":"1m",`, 1))
	for i, lang := range langs {
		p := e.newPerson("single"+lang, "555555061"+string(rune('0'+i)))
		e.withTOTP(p)
		c := e.client(t)
		c.header.Set("Accept-Language", lang)
		if pg := c.post("/recover/lost", url.Values{"email": {p.Email}, "date_of_birth": {p.DOB}, "ssn": {p.SSN}}); pg.location != "/recover/lost/signin" {
			t.Fatalf("%s: identity: %d %s %.300s", lang, pg.status, pg.location, text(pg.body))
		}
		if pg := c.post("/recover/lost/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}}); pg.location != "/recover/lost/token" {
			t.Fatalf("%s: password: %d %s", lang, pg.status, pg.location)
		}
		body := text(c.get("/recover/lost/token").body)
		for _, want := range []string{
			pick(lang, "1 more time in a row (at most 1)", "1 vez más seguida (como máximo 1)"),
			pick(lang, "is valid for 1 minute and works once", "es válido durante 1 minuto y funciona"),
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: token page lacks %q: %s", lang, want, body)
			}
		}
		for _, wrong := range []string{"(s)", "1 times", "1 minutes", "1 veces", "1 minutos"} {
			if strings.Contains(body, wrong) {
				t.Errorf("%s: token page says %q", lang, wrong)
			}
		}
	}
}

// A5, A6: a call that ended badly says what happened and what to do on
// this page (not "log in again", which is for applications). Once fraud is
// reported the sign-in is blocked: no call is offered again, only the help
// desk and signing out.
func TestHTTPCallOutcomesSayWhatToDoA6(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const primary, backup = "555-555-0620", "555-555-0621"
	for i, lang := range langs {
		for j, tc := range []struct {
			action, code, says string
			again              bool
		}{
			{"silence", "E31", pick(lang, "Ask for a new call below", "Pida una llamada nueva abajo"), true},
			{"fraud", "E35", pick(lang, "What you can do now", "Qué puede hacer ahora"), false},
		} {
			p := e.newPerson("oc"+lang+tc.action, "55555506"+string(rune('3'+i))+string(rune('0'+j)))
			e.withVoice(p, primary, backup)
			c := e.client(t)
			c.header.Set("Accept-Language", lang)
			c.post("/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}})
			since := time.Now()
			c.post("/signin/call", url.Values{"factor": {e.factorID(p, "voice")}, "leg": {"primary"}})
			e.phoneAction(primary, since, tc.action, "")
			var pg page
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if pg = c.get("/signin/call"); strings.Contains(pg.body, tc.code) {
					break
				}
			}
			body := text(pg.body)
			if !strings.Contains(body, tc.code) || !strings.Contains(body, tc.says) {
				t.Errorf("%s %s: the call page lacks %s and %q: %s", lang, tc.action, tc.code, tc.says, body)
			}
			if strings.Contains(body, "Log in again") || strings.Contains(body, "Inicie sesión de nuevo") {
				t.Errorf("%s %s: the call page sends the person to log in again: %s", lang, tc.action, body)
			}
			if again := strings.Contains(pg.body, `action="/portal/acme/signin/call"`); again != tc.again {
				t.Errorf("%s %s: a call again is offered: %v, want %v", lang, tc.action, again, tc.again)
			}
			if !tc.again && !strings.Contains(pg.body, `href="/portal/acme/report"`) {
				t.Errorf("%s %s: no way to the help desk: %s", lang, tc.action, body)
			}
		}
	}
}

// A13: the report form's live counter reads "1 character left" and, past
// the limit, says by how much and what to do; the server's error says the
// same — in both languages.
func TestBrowserReportCounterWordsTheLimitA13(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.tab(t)
	for _, lang := range langs {
		b.inLanguage(lang)
		b.open("/report")
		b.fill("#message", strings.Repeat("a", 399))
		if got, want := b.text("#message-count"), pick(lang, "1 character left", "Queda 1 carácter"); got != want {
			t.Errorf("%s: counter at 399: %q, want %q", lang, got, want)
		}
		b.fill("#message", strings.Repeat("a", 410))
		if got, want := b.text("#message-count"), pick(lang, "10 characters over the limit — shorten your message", "Sobran 10 caracteres: acorte su mensaje"); got != want {
			t.Errorf("%s: counter at 410: %q, want %q", lang, got, want)
		}
		if st := b.click(`form[action$="/report"] button[type=submit]`); st != http.StatusUnprocessableEntity {
			t.Fatalf("%s: 410 characters: %d", lang, st)
		}
		want := pick(lang, "Your message is 10 characters over the limit of 400 — shorten it", "Su mensaje tiene 10 caracteres más que el máximo de 400: acórtelo")
		if got := b.text(`.error-summary a[href="#message"]`); !strings.Contains(got, want) {
			t.Errorf("%s: server message %q, want %q", lang, got, want)
		}
	}
}

// B6: with lockout_release the lockout page says when the lock ends.
func TestHTTPTimedLockoutSaysWhenItEnds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setPolicy(strings.Replace(testPolicy, "{", `{"mfa_attempts":1,"lockout_release":"30m",`, 1))
	for i, lang := range langs {
		p := e.newPerson("timed"+lang, "555555065"+string(rune('0'+i)))
		e.withTOTP(p)
		c := e.client(t)
		c.header.Set("Accept-Language", lang)
		c.post("/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}})
		if pg := c.post("/signin/verify", url.Values{"factor": {e.factorID(p, "totp")}, "code": {"000000"}}); pg.status != http.StatusLocked {
			t.Fatalf("%s: wrong code with one attempt: %d", lang, pg.status)
		}
		body := text(c.get("/signin/verify").body)
		if want := pick(lang, "The lock ends by itself at ", "El bloqueo termina automáticamente el "); !strings.Contains(body, want) || !strings.Contains(body, "UTC") {
			t.Errorf("%s: the locked page does not say when the lock ends: %s", lang, body)
		}
		if strings.Contains(body, `name="code"`) {
			t.Errorf("%s: the locked page asks for a code", lang)
		}
	}
}

// Seed 004 Table 1, G4: wrong passwords say only that the login ID or
// password is incorrect; once the right password is given for the
// password-locked login ID, the page says it is locked and offers the
// change of a locked password, in the person's language.
func TestHTTPPasswordLockedToldAfterTheRightPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setPolicy(strings.Replace(testPolicy, "{", `{"password_attempts":2,`, 1))
	for i, lang := range langs {
		p := e.newPerson("pwlock"+lang, "555555067"+string(rune('0'+i)))
		c := e.client(t)
		c.header.Set("Accept-Language", lang)
		for range 2 {
			pg := c.post("/signin", url.Values{"login_id": {p.LoginID}, "password": {"Wrong-Password-1"}})
			if body := text(pg.body); !strings.Contains(body, "E01") || strings.Contains(body, "E43") {
				t.Fatalf("%s: a wrong password: %d %s", lang, pg.status, body)
			}
		}
		pg := c.post("/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}})
		body := text(pg.body)
		want := pick(lang, "the Login ID is locked", "el ID de inicio de sesión está bloqueado")
		if pg.status != http.StatusLocked || !strings.Contains(body, "E43") || !strings.Contains(body, want) {
			t.Fatalf("%s: the right password on a locked login ID: %d, want 423 E43 saying %q: %s", lang, pg.status, want, body)
		}
		if !strings.Contains(string(pg.body), `/recover/locked"`) {
			t.Errorf("%s: no way to change the locked password: %s", lang, body)
		}
	}
}
