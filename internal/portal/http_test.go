package portal_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/flow"
)

// The portal's security over plain HTTP, without a browser (issue 4, item 7).

// Every portal page carries strict security headers: scripts and styles only
// from the portal, no framing, nothing cached.
func TestHTTPSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(t)
	for _, path := range []string{"/signin", "/recover", "/recover/lost", "/report"} {
		pg := c.get(path)
		if pg.status != http.StatusOK {
			t.Fatalf("GET %s: %d", path, pg.status)
		}
		h := pg.header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline code: %q", path, csp)
		}
		for name, want := range map[string]string{
			"X-Frame-Options":        "DENY",
			"Cache-Control":          "no-store",
			"Referrer-Policy":        "no-referrer",
			"X-Content-Type-Options": "nosniff",
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s: %s = %q, want %q", path, name, got, want)
			}
		}
		if hsts := h.Get("Strict-Transport-Security"); hsts != "" {
			t.Errorf("%s: HSTS %q on plain HTTP", path, hsts)
		}
		if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Errorf("%s: Content-Type %q", path, h.Get("Content-Type"))
		}
	}
	// No secret travels in a URL: every form that takes one posts it.
	body := c.get("/signin").body
	if !regexp.MustCompile(`<form method="post" action="/portal/acme/signin"`).MatchString(body) {
		t.Errorf("sign-in form does not post:\n%s", body)
	}
}

// Behind TLS (public_url https) the cookie is __Secure- and Secure, and HSTS
// is sent.
func TestHTTPSecureCookieAndHSTSBehindTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Config) { c.PublicURL = "https://mfa.example.org" })
	p := e.newPerson("tls", "5555550100")
	e.withTOTP(p)
	c := e.client(t)
	pg := c.post("/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}})
	if pg.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %.300s", pg.status, pg.body)
	}
	ck := setCookie(t, pg, "__Secure-cs_portal")
	if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie %+v: want Secure, HttpOnly, SameSite=Lax", ck)
	}
	if hsts := pg.header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Errorf("HSTS = %q", hsts)
	}
}

// setCookie finds the Set-Cookie header of one cookie.
func setCookie(t *testing.T, pg page, name string) *http.Cookie {
	t.Helper()
	for _, line := range pg.header.Values("Set-Cookie") {
		ck, err := http.ParseSetCookie(line)
		if err == nil && ck.Name == name {
			return ck
		}
	}
	t.Fatalf("no Set-Cookie for %s in %v", name, pg.header.Values("Set-Cookie"))
	return nil
}

// The session cookie is HttpOnly, SameSite=Lax, scoped to the tenant's
// portal, and renewed whenever the level of the session changes: the token
// of the password step is worth nothing once the second factor is proven.
func TestHTTPCookieAttributesAndRenewalOnSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("renew", "5555550101")
	secret, used := e.withTOTP(p)
	c := e.client(t)
	if pg := c.get("/signin"); len(pg.header.Values("Set-Cookie")) != 0 {
		t.Errorf("a session was started before signing in: %v", pg.header.Values("Set-Cookie"))
	}
	pg := c.post("/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}})
	if pg.status != http.StatusSeeOther || pg.location != "/signin/verify" {
		t.Fatalf("password step: %d %s", pg.status, pg.location)
	}
	ck := setCookie(t, pg, "cs_portal")
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/portal/acme/" || ck.Secure {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/portal/acme/, not Secure on plain HTTP", ck)
	}
	if len(ck.Value) < 40 {
		t.Errorf("session token %q is too short to be unguessable", ck.Value)
	}
	passwordStep := c.cookie()

	code, _ := e.totpCode(secret, used)
	pg = c.post("/signin/verify", url.Values{"factor": {e.factorID(p, "totp")}, "code": {code}})
	if pg.status != http.StatusSeeOther || pg.location != "/account" {
		t.Fatalf("second step: %d %s %.300s", pg.status, pg.location, pg.body)
	}
	full := c.cookie()
	if full == "" || full == passwordStep {
		t.Fatalf("the session was not renewed on sign-in: %q then %q", passwordStep, full)
	}
	if pg := c.get("/account"); pg.status != http.StatusOK {
		t.Fatalf("account with the full session: %d %s", pg.status, pg.location)
	}
	// The password step's token no longer opens anything.
	old := e.client(t)
	old.header.Set("Cookie", "cs_portal="+passwordStep)
	for _, path := range []string{"/account", "/signin/verify"} {
		if pg := old.get(path); pg.status != http.StatusSeeOther || !strings.HasPrefix(pg.location, "/signin") {
			t.Errorf("old token on %s: %d %s", path, pg.status, pg.location)
		}
	}
}

// CSRF: a state-changing request from another site is refused with 403 and
// changes nothing, whether the browser says so with Sec-Fetch-Site or only
// with a foreign Origin.
func TestHTTPCrossOriginPostRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("csrf", "5555550102")
	secret, used := e.withTOTP(p)
	c := e.client(t)
	c.signIn(p, secret, used)
	before := c.cookie()

	for name, hdr := range map[string][2]string{
		"sec-fetch-site": {"Sec-Fetch-Site", "cross-site"},
		"foreign origin": {"Origin", "https://attacker.example"},
	} {
		t.Run(name, func(t *testing.T) {
			c.header = http.Header{}
			c.header.Set(hdr[0], hdr[1])
			defer func() { c.header = http.Header{} }()
			pg := c.post("/signout", nil)
			if pg.status != http.StatusForbidden {
				t.Fatalf("cross-site sign-out: %d %s", pg.status, pg.location)
			}
			if !strings.Contains(pg.body, "another site") {
				t.Errorf("refusal does not say why: %q", pg.body)
			}
			if len(pg.header.Values("Set-Cookie")) != 0 {
				t.Errorf("refused request set a cookie: %v", pg.header.Values("Set-Cookie"))
			}
			if pg.header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("refusal lacks the security headers")
			}
			// A cross-site sign-in with the right password starts nothing.
			other := e.client(t)
			other.header.Set(hdr[0], hdr[1])
			if pg := other.post("/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}}); pg.status != http.StatusForbidden || other.cookie() != "" {
				t.Errorf("cross-site sign-in: %d, cookie %q", pg.status, other.cookie())
			}
		})
	}
	if pg := c.get("/account"); pg.status != http.StatusOK || c.cookie() != before {
		t.Fatalf("the session did not survive the refused requests: %d %s", pg.status, pg.location)
	}
	// The same request from the portal itself works.
	c.header.Set("Sec-Fetch-Site", "same-origin")
	if pg := c.post("/signout", nil); pg.status != http.StatusSeeOther || pg.location != "/signin?done=signed_out" {
		t.Fatalf("same-origin sign-out: %d %s", pg.status, pg.location)
	}
}

// GET never changes state: signing out and removing a factor only answer a
// POST; a GET to them gets 405 and the session and factor stay.
func TestHTTPGetChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("getter", "5555550103")
	secret, used := e.withTOTP(p)
	c := e.client(t)
	c.signIn(p, secret, used)
	totpID := e.factorID(p, "totp")
	for _, path := range []string{"/signout", "/account/factors/remove?factor=" + totpID, "/account/devices/revoke", "/signin/send", "/signin/call/done"} {
		if pg := c.get(path); pg.status != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d, want 405", path, pg.status)
		}
	}
	if pg := c.get("/account"); pg.status != http.StatusOK {
		t.Fatalf("signed out by a GET: %d %s", pg.status, pg.location)
	}
	if e.factorID(p, "totp") != totpID {
		t.Fatal("the factor changed")
	}
}

// A session ends after the policy's idle time without a request, and
// activity keeps it alive (portal.session_idle, default 15 minutes).
func TestHTTPIdleSessionExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("idle", "5555550104")
	secret, used := e.withTOTP(p)
	c := e.client(t)
	c.signIn(p, secret, used)
	for range 2 {
		e.shift(10 * time.Minute)
		if pg := c.get("/account"); pg.status != http.StatusOK {
			t.Fatalf("active session ended after 10 idle minutes: %d %s", pg.status, pg.location)
		}
	}
	e.shift(16 * time.Minute)
	pg := c.get("/account")
	if pg.status != http.StatusSeeOther || pg.location != "/signin?ended=1" {
		t.Fatalf("after 16 idle minutes: %d %s", pg.status, pg.location)
	}
	if !strings.Contains(c.get(pg.location).body, "Your session has ended") {
		t.Error("the sign-in page does not say the session ended")
	}
}

// Revoking a factor through the admin API ends the person's portal sessions
// everywhere (issue 4, item 2).
func TestHTTPRevokedFactorEndsSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("revoked", "5555550105")
	secret, used := e.withTOTP(p)
	c := e.client(t)
	c.signIn(p, secret, used)
	if pg := c.get("/account"); pg.status != http.StatusOK {
		t.Fatalf("account: %d", pg.status)
	}
	if r := e.api("POST", "/api/v1/admin/users/"+p.LoginID+"/reset-factors", nil); r.status != 200 {
		t.Fatalf("reset factors: %d %s", r.status, r.raw)
	}
	if pg := c.get("/account"); pg.status != http.StatusSeeOther || !strings.HasPrefix(pg.location, "/signin") {
		t.Fatalf("after the factor was revoked: %d %s", pg.status, pg.location)
	}
}

// Every portal form that sends a message or checks a secret is limited per
// client address: the 31st submission within 10 minutes gets E25.
func TestHTTPFormsAreRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Start at the beginning of a 10-minute window so that the count cannot
	// straddle two.
	now := time.Now()
	e.shift(now.Truncate(10 * time.Minute).Add(time.Second).Sub(now))
	p := e.newPerson("limited", "5555550106")
	e.withTOTP(p)

	// The second step first: it needs a sign-in before /signin is spent.
	t.Run("signin/verify", func(t *testing.T) {
		c := e.client(t)
		if pg := c.post("/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}}); pg.location != "/signin/verify" {
			t.Fatalf("sign-in: %d %s", pg.status, pg.location)
		}
		factor := e.factorID(p, "totp")
		var pg page
		for i := 1; i <= 31; i++ {
			pg = c.post("/signin/verify", url.Values{"factor": {factor}, "code": {""}})
			if pg.status == http.StatusTooManyRequests && i != 31 {
				t.Fatalf("limited at submission %d", i)
			}
		}
		if pg.status != http.StatusTooManyRequests || !strings.Contains(pg.body, "E25") {
			t.Fatalf("31st code: %d %s\n%.600s", pg.status, pg.location, text(pg.body))
		}
	})
	// The enrolment forms that send a call or a code, or check one.
	t.Run("enrol", func(t *testing.T) {
		n := e.newPerson("enroller", "5555550109")
		c := e.client(t)
		if pg := c.post("/signin", url.Values{"login_id": {n.LoginID}, "password": {n.Password}}); pg.location != "/enrol" {
			t.Fatalf("sign-in: %d %s", pg.status, pg.location)
		}
		if pg := c.get("/enrol/app"); pg.status != http.StatusOK {
			t.Fatalf("authenticator page: %d", pg.status)
		}
		for _, path := range []string{"/enrol/app", "/enrol/phone", "/enrol/text"} {
			var pg page
			for i := 1; i <= 31; i++ {
				pg = c.post(path, url.Values{})
				if pg.status == http.StatusTooManyRequests && i != 31 {
					t.Fatalf("%s limited at submission %d", path, i)
				}
			}
			if pg.status != http.StatusTooManyRequests || !strings.Contains(pg.body, "E25") {
				t.Errorf("%s, 31st submission: %d %s\n%.600s", path, pg.status, pg.location, text(pg.body))
			}
		}
	})
	// /recover/reenable/confirm shares its count with /recover/password/reset
	// (both check a recovery code).
	// The value is how many submissions the window already counted.
	forms := map[string]int{"/signin": 2, "/recover/lost": 0, "/recover/login-id": 0, "/recover/password": 0, "/recover/password/reset": 0, "/report": 0}
	for path, before := range forms {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			c := e.client(t)
			for i := before + 1; i <= 30; i++ {
				if pg := c.post(path, url.Values{}); pg.status == http.StatusTooManyRequests {
					t.Fatalf("submission %d already limited", i)
				}
			}
			pg := c.post(path, url.Values{})
			if pg.status != http.StatusTooManyRequests || !strings.Contains(pg.body, "E25") {
				t.Fatalf("31st submission: %d\n%.600s", pg.status, text(pg.body))
			}
			if pg.header.Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
		})
	}
}

// G4: a recovery form gives the same answer whether or not the login ID,
// email address or identity exists.
func TestHTTPRecoveryDoesNotRevealAccounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("known", "5555550107")
	cases := []struct {
		name, path       string
		known, unknown   url.Values
		knownV, unknownV string // the typed value, shown back on the page
	}{
		{"forgot password", "/recover/password",
			url.Values{"login_id": {"known"}, "channel": {"email"}}, url.Values{"login_id": {"nobody"}, "channel": {"email"}}, "known", "nobody"},
		{"re-enable", "/recover/reenable",
			url.Values{"login_id": {"known"}, "channel": {"sms"}}, url.Values{"login_id": {"nobody"}, "channel": {"sms"}}, "known", "nobody"},
		{"forgot login ID", "/recover/login-id",
			url.Values{"channel": {"email"}, "email": {p.Email}}, url.Values{"channel": {"email"}, "email": {"nobody@example.org"}}, p.Email, "nobody@example.org"},
		{"identity", "/recover/lost",
			url.Values{"email": {p.Email}, "date_of_birth": {p.DOB}, "ssn": {"987654321"}}, url.Values{"email": {"nobody@example.org"}, "date_of_birth": {p.DOB}, "ssn": {"987654321"}}, p.Email, "nobody@example.org"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := e.client(t).post(tc.path, tc.known)
			u := e.client(t).post(tc.path, tc.unknown)
			kb := strings.ReplaceAll(k.body, tc.knownV, "VALUE")
			ub := strings.ReplaceAll(u.body, tc.unknownV, "VALUE")
			if k.status != u.status || kb != ub || k.location != u.location {
				t.Fatalf("known and unknown differ: %d %s vs %d %s\n--- known\n%s\n--- unknown\n%s", k.status, k.location, u.status, u.location, text(kb), text(ub))
			}
		})
	}
}

// C6: identity validation allows a limited number of attempts (policy
// portal.identity_attempts, default 5 per hour); after that even the right
// details are refused, and no session starts.
func TestHTTPIdentityValidationAttemptLimitC6(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("guessed", "5555550108")
	c := e.client(t)
	wrong := url.Values{"email": {p.Email}, "date_of_birth": {p.DOB}, "ssn": {"111223333"}}
	for i := 1; i <= 5; i++ {
		pg := c.post("/recover/lost", wrong)
		if pg.status == http.StatusSeeOther || pg.status == http.StatusTooManyRequests {
			t.Fatalf("wrong SSN, attempt %d: %d %s", i, pg.status, pg.location)
		}
	}
	pg := c.post("/recover/lost", url.Values{"email": {p.Email}, "date_of_birth": {p.DOB}, "ssn": {p.SSN}})
	if pg.status != http.StatusTooManyRequests || !strings.Contains(pg.body, "exceeded the allowed number of attempts") || c.cookie() != "" {
		t.Fatalf("6th attempt with the right details: %d %s\n%.500s", pg.status, pg.location, text(pg.body))
	}
}

// An unknown tenant gets the portal's own 404 page, with its headers.
func TestHTTPUnknownTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(t)
	pg := c.get(e.url + "/portal/no-such-org/signin")
	if pg.status != http.StatusNotFound || !strings.Contains(pg.body, "Page not found") {
		t.Fatalf("unknown tenant: %d %.300s", pg.status, pg.body)
	}
	if !strings.Contains(pg.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Error("404 page lacks the CSP")
	}
}

var tags = regexp.MustCompile(`(?s)<[^>]*>|\s+`)

// text reduces HTML to its words, for failure messages.
func text(html string) string { return strings.TrimSpace(tags.ReplaceAllString(html, " ")) }

var missingKeyRE = regexp.MustCompile(`\[[a-z_]+\.[a-z0-9_.]+\]`)

// X8: the portal speaks English and Spanish. The browser's Accept-Language
// chooses, the switch in the footer (a form, like every change) overrides it
// for a year, and it only ever returns to a page of the same portal. Every
// page renders in Spanish with no string missing.
func TestHTTPLanguageX8(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(t)
	c.header.Set("Accept-Language", "es-MX,es;q=0.9,en;q=0.5")
	pg := c.get("/signin")
	if !strings.Contains(pg.body, `<html lang="es">`) || !strings.Contains(pg.body, "Iniciar sesión") {
		t.Fatalf("Accept-Language es: the sign-in page is not in Spanish:\n%.600s", pg.body)
	}
	if !strings.Contains(pg.body, `name="lang" value="en"`) || !strings.Contains(pg.body, `name="back" value="/portal/acme/signin"`) {
		t.Fatalf("no switch to English on the Spanish page:\n%s", pg.body)
	}

	pg = c.post("/language", url.Values{"lang": {"en"}, "back": {"/portal/acme/recover/lost"}})
	if pg.status != http.StatusSeeOther || pg.location != "/recover/lost" {
		t.Fatalf("switch: %d %q, want 303 back to /recover/lost", pg.status, pg.location)
	}
	if sc := pg.header.Get("Set-Cookie"); !strings.Contains(sc, "cs_lang=en") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") {
		t.Fatalf("language cookie %q", sc)
	}
	if pg = c.get("/recover/lost"); !strings.Contains(pg.body, `<html lang="en">`) {
		t.Fatalf("the chosen English does not win over Accept-Language es:\n%.400s", pg.body)
	}
	for _, back := range []string{"https://evil.example/", "//evil.example/x", "/portal/other/signin", "/portal/acme/\\evil"} {
		pg = c.post("/language", url.Values{"lang": {"es"}, "back": {back}})
		if pg.status != http.StatusSeeOther || pg.location != "/" {
			t.Errorf("back=%q: %d %q, want the portal's home", back, pg.status, pg.location)
		}
	}
	if pg = c.post("/language", url.Values{"lang": {"xx"}, "back": {"/portal/acme/signin"}}); !strings.Contains(pg.header.Get("Set-Cookie"), "cs_lang=en") {
		t.Errorf("unknown language: cookie %q, want English", pg.header.Get("Set-Cookie"))
	}

	// Every page a person can reach, signed out and signed in, in Spanish.
	es := e.client(t)
	es.header.Set("Accept-Language", "es")
	public := []string{"/signin", "/recover", "/recover/lost", "/recover/login-id", "/recover/password", "/recover/locked", "/recover/reenable", "/report", "/nowhere"}
	p := e.newPerson("lucia", "5555550181")
	secret, used := e.withTOTP(p)
	es.signIn(p, secret, used)
	signedIn := []string{"/account", "/account/activity", "/enrol", "/enrol/app", "/enrol/phone", "/enrol/text", "/enrol/email", "/enrol/questions"}
	for _, path := range append(public, signedIn...) {
		pg := es.get(path)
		if pg.status >= 500 || pg.status == http.StatusSeeOther {
			t.Errorf("GET %s in Spanish: %d %s", path, pg.status, pg.location)
			continue
		}
		if !strings.Contains(pg.body, `<html lang="es">`) {
			t.Errorf("GET %s: not in Spanish", path)
		}
		if m := missingKeyRE.FindAllString(pg.body, -1); len(m) > 0 {
			t.Errorf("GET %s in Spanish: missing strings %v", path, m)
		}
	}
	// The sign-in step's error messages come from the catalogue too.
	es2 := e.client(t)
	es2.header.Set("Accept-Language", "es")
	pg = es2.post("/signin", url.Values{"login_id": {"this-is-far-too-long"}, "password": {""}})
	if pg.status != http.StatusUnprocessableEntity || !strings.Contains(pg.body, `<html lang="es">`) || strings.Contains(pg.body, "at most 15") {
		t.Errorf("field errors in Spanish: %d\n%.1500s", pg.status, pg.body)
	}
}

// A field breaking several rules shows each message, in one element with
// one id that the field is described by (C11; ids stay unique, WCAG 4.1.1).
func TestHTTPSeveralErrorsOnOneField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pg := e.client(t).post("/signin", url.Values{"login_id": {"far too long and spaced"}, "password": {"x"}})
	if pg.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d", pg.status)
	}
	if n := strings.Count(pg.body, `id="login_id-error"`); n != 1 {
		t.Errorf("%d elements with id login_id-error, want 1\n%s", n, pg.body)
	}
	block := pg.body[strings.Index(pg.body, `id="login_id-error"`):]
	block = block[:strings.Index(block, "</div>")]
	if strings.Count(block, `class="field-error"`) != 2 || !strings.Contains(block, "at most 15") || !strings.Contains(block, "letters, digits") {
		t.Errorf("login_id's messages: %s", block)
	}
	if !strings.Contains(pg.body, `aria-describedby="login_id-hint login_id-error"`) {
		t.Errorf("login_id is not described by its hint and errors")
	}
}

// X8: what the portal sends is in the page's language, and signing in in
// Spanish records it, so a later code sent at an application's sign-in is
// in Spanish too.
func TestHTTPMessagesFollowThePortalLanguageX8(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("sofia", "5555550191")
	secret, used := e.withTOTP(p)
	e.withCodeFactors(p)
	es := e.client(t)
	es.header.Set("Accept-Language", "es-US,es;q=0.9")

	since := time.Now()
	if pg := es.post("/recover/password", url.Values{"login_id": {p.LoginID}, "channel": {"email"}}); pg.status >= 400 {
		t.Fatalf("forgot password: %d", pg.status)
	}
	m := e.waitMessage(p.Email, since, nil)
	if !strings.Contains(m.Subject, "su código para establecer una contraseña nueva") || !strings.Contains(m.Text, "Ingréselo en la página donde lo pidió") {
		t.Fatalf("recovery email from a Spanish page: %q / %q", m.Subject, m.Text)
	}

	es.signIn(p, secret, used)
	ctx := t.Context()
	a, _, err := e.srv.Directory.CreateApplication(ctx, flow.Caller{TenantID: e.tenantID, Actor: "test"}, "desk")
	if err != nil {
		t.Fatal(err)
	}
	app := flow.Caller{TenantID: e.tenantID, ApplicationID: a.ID, Actor: "app:" + a.ID, IP: "198.51.100.9"}
	res, err := e.srv.Engine.PasswordLogin(ctx, app, p.LoginID, p.Password)
	if err != nil || res.Status != flow.MFARequired {
		t.Fatalf("application login: %v %+v", err, res)
	}
	since = time.Now()
	if _, err := e.srv.Engine.SendCode(ctx, app, res.Txn.ID, e.factorID(p, "sms")); err != nil {
		t.Fatal(err)
	}
	if m := e.waitMessage(e164(p.Phone), since, nil); !strings.HasPrefix(m.Text, "Código de verificación de Acme Health") {
		t.Fatalf("application sign-in code after using the portal in Spanish: %q", m.Text)
	}
}

// X8: a language recorded for the person (here by an administrator) is the
// portal's language for them once they are known, whatever the browser
// asks; choosing another with the switch changes what is recorded.
func TestHTTPRecordedLanguageX8(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("marta", "5555550193")
	secret, used := e.withTOTP(p)
	if r := e.api("POST", "/api/v1/admin/users/"+p.LoginID+"/contact", map[string]any{"locale": "es"}); r.status != 200 {
		t.Fatalf("set locale: %d %s", r.status, r.raw)
	}
	c := e.client(t)
	c.header.Set("Accept-Language", "en-US")
	if pg := c.get("/signin"); !strings.Contains(pg.body, `<html lang="en">`) {
		t.Fatal("before sign-in the browser's language applies")
	}
	c.signIn(p, secret, used)
	if pg := c.get("/account"); !strings.Contains(pg.body, `<html lang="es">`) {
		t.Fatalf("signed in: the recorded Spanish does not apply:\n%.300s", pg.body)
	}
	if r := e.api("GET", "/api/v1/admin/users/"+p.LoginID, nil); r.str("locale") != "es" {
		t.Fatalf("an English browser changed the recorded language: %s", r.raw)
	}
	c.post("/language", url.Values{"lang": {"en"}, "back": {"/portal/acme/account"}})
	if pg := c.get("/account"); !strings.Contains(pg.body, `<html lang="en">`) {
		t.Fatal("the switch does not win")
	}
	if r := e.api("GET", "/api/v1/admin/users/"+p.LoginID, nil); r.str("locale") != "en" {
		t.Fatalf("the person's choice is not recorded: %s", r.raw)
	}
}
