package portal_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/delivery/devbox"
	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/portal"
	"github.com/countersign/countersign/internal/store"
)

// The admin console over HTTP (issue 13): administrators sign in as people
// with their own second factor, every page checks the role, and what they
// do goes through the same engine as the admin API.

// consoleAdmin is a person with an authenticator app and a console role.
type consoleAdmin struct {
	person
	secret []byte
	used   int64
	id     string
}

func (e *env) consolePerson(loginID, phone, role string) consoleAdmin {
	e.t.Helper()
	p := e.newPerson(loginID, phone)
	secret, used := e.withTOTP(p)
	if role != "" {
		if r := e.api("POST", "/api/v1/admin/users/"+loginID+"/console-role", map[string]any{"role": role}); r.status != 200 {
			e.t.Fatalf("console role: %d %s", r.status, r.raw)
		}
	}
	r := e.api("GET", "/api/v1/admin/users/"+loginID, nil)
	return consoleAdmin{person: p, secret: secret, used: used, id: r.str("id")}
}

func (e *env) console() string { return e.url + "/admin/" + tenantSlug }

// openConsole signs a in on the portal from the console's door and
// follows the hand-over to the console.
func (c *client) openConsole(a *consoleAdmin) page {
	c.t.Helper()
	pg := c.get(c.e.console() + "/")
	if pg.status != http.StatusSeeOther || !strings.HasPrefix(pg.location, "/signin?") || !strings.Contains(pg.location, "console=1") {
		c.t.Fatalf("console without a session: %d %q", pg.status, pg.location)
	}
	if pg = c.get(pg.location); pg.status != 200 || !strings.Contains(pg.body, "admin console") {
		c.t.Fatalf("sign-in page from the console: %d %.300s", pg.status, pg.body)
	}
	pg = c.post("/signin", url.Values{"login_id": {a.LoginID}, "password": {a.Password}, "next": {"/console"}})
	if pg.status != http.StatusSeeOther || pg.location != "/signin/verify" {
		c.t.Fatalf("password step: %d %s %.300s", pg.status, pg.location, pg.body)
	}
	code, step := c.e.totpCode(a.secret, a.used)
	a.used = step
	pg = c.post("/signin/verify", url.Values{"factor": {c.e.factorID(a.person, "totp")}, "code": {code}})
	if pg.status != http.StatusSeeOther || pg.location != "/console" {
		c.t.Fatalf("second step: %d %s %.500s", pg.status, pg.location, pg.body)
	}
	return c.get("/console")
}

func TestConsoleSignIn(t *testing.T) {
	e := newEnv(t)
	ada := e.consolePerson("ada", "2025550101", "admin")
	c := e.client(t)
	pg := c.openConsole(&ada)
	if pg.status != http.StatusSeeOther || pg.location != "/admin/"+tenantSlug+"/" {
		t.Fatalf("hand-over: %d %q %.300s", pg.status, pg.location, pg.body)
	}
	home := c.get(e.console() + "/")
	if home.status != 200 || !strings.Contains(home.body, "Signed in as ada") || !strings.Contains(home.body, `aria-current="page"`) {
		t.Fatalf("console home: %d %.600s", home.status, home.body)
	}
	if got := home.header.Get("Content-Security-Policy"); !strings.Contains(got, "frame-ancestors 'none'") {
		t.Errorf("console page without the portal's headers: %q", got)
	}
	// The console's cookie is its own, scoped to the console and strict.
	u, _ := url.Parse(e.console() + "/")
	var found bool
	for _, ck := range c.http.Jar.Cookies(u) {
		found = found || ck.Name == "cs_console"
	}
	if !found {
		t.Fatal("no console cookie")
	}

	t.Run("a person without a console role is told, and nothing opens", func(t *testing.T) {
		pat := e.consolePerson("pat", "2025550102", "")
		pc := e.client(t)
		pg := pc.openConsole(&pat)
		if pg.status != http.StatusForbidden || !strings.Contains(pg.body, "E60") {
			t.Fatalf("no role: %d %.500s", pg.status, pg.body)
		}
		if again := pc.get(e.console() + "/"); again.status != http.StatusSeeOther {
			t.Fatalf("console after a refusal: %d", again.status)
		}
	})

	t.Run("signing out ends the console session", func(t *testing.T) {
		cy := e.consolePerson("cy", "2025550105", "admin")
		c2 := e.client(t)
		pg := c2.openConsole(&cy)
		if pg.status != http.StatusSeeOther {
			t.Fatalf("hand-over: %d", pg.status)
		}
		out := c2.post(e.console()+"/signout", nil)
		if out.status != 200 || !strings.Contains(out.body, "signed out of the admin console") {
			t.Fatalf("sign out: %d %.300s", out.status, out.body)
		}
		if again := c2.get(e.console() + "/people"); again.status != http.StatusSeeOther {
			t.Fatalf("console after signing out: %d", again.status)
		}
	})

	t.Run("losing the role ends the console at the next page", func(t *testing.T) {
		bo := e.consolePerson("bo", "2025550103", "admin")
		bc := e.client(t)
		bc.openConsole(&bo)
		if r := e.api("POST", "/api/v1/admin/users/bo/console-role", map[string]any{"role": ""}); r.status != 200 {
			t.Fatalf("take the role: %d %s", r.status, r.raw)
		}
		if pg := bc.get(e.console() + "/people"); pg.status != http.StatusSeeOther {
			t.Fatalf("console after losing the role: %d", pg.status)
		}
	})

	t.Run("an old portal session asks for a fresh sign-in", func(t *testing.T) {
		di := e.consolePerson("di", "2025550106", "admin")
		c3 := e.client(t)
		c3.openConsole(&di)
		c3.post(e.console()+"/signout", nil)
		// The portal session stays alive with use; the console needs a
		// sign-in of the last quarter of an hour.
		e.shift(10 * time.Minute)
		defer e.shift(-20 * time.Minute)
		if pg := c3.get("/account"); pg.status != 200 {
			t.Fatalf("portal: %d", pg.status)
		}
		e.shift(10 * time.Minute)
		pg := c3.get("/console")
		if pg.status != http.StatusSeeOther || !strings.Contains(pg.location, "fresh=1") {
			t.Fatalf("stale portal session: %d %q", pg.status, pg.location)
		}
	})

	t.Run("another site's form is refused", func(t *testing.T) {
		ed := e.consolePerson("ed", "2025550107", "admin")
		c4 := e.client(t)
		c4.openConsole(&ed)
		c4.header.Set("Origin", "https://attacker.example")
		c4.header.Set("Sec-Fetch-Site", "cross-site")
		if pg := c4.post(e.console()+"/signout", nil); pg.status != http.StatusForbidden {
			t.Fatalf("cross-site form: %d", pg.status)
		}
	})
}

// B6, B2, A12: what the help desk may and may not do, decided by the same
// rule as the admin API; an administrator does it, and the person is told.
func TestConsoleRoles(t *testing.T) {
	e := newEnv(t)
	ada := e.consolePerson("ada", "2025550101", "admin")
	sam := e.consolePerson("sam", "2025550104", "support")
	pat := e.consolePerson("pat", "2025550102", "")
	e.withCodeFactors(pat.person)
	admin, desk := e.client(t), e.client(t)
	admin.openConsole(&ada)
	desk.openConsole(&sam)
	person := e.console() + "/people/" + pat.id

	if pg := desk.get(person); pg.status != 200 || !strings.Contains(pg.body, "pat@example.org") || strings.Contains(pg.body, "/unlock") {
		t.Fatalf("help desk person page: %d %.300s", pg.status, pg.body)
	}
	for _, path := range []string{"/unlock", "/reset", "/status", "/role"} {
		pg := desk.post(person+path, url.Values{"confirm": {"yes"}, "status": {"disabled"}, "role": {"admin"}})
		if pg.status != http.StatusForbidden || !strings.Contains(pg.body, "E14") {
			t.Errorf("help desk POST %s: %d %.200s", path, pg.status, pg.body)
		}
	}
	pg := desk.post(person+"/contact", url.Values{"channel": {"phone"}, "phone": {"2025550199"}})
	if pg.status != http.StatusForbidden || !strings.Contains(pg.body, "E14") {
		t.Fatalf("help desk changing the phone: %d %.300s", pg.status, pg.body)
	}
	if pg := desk.get(e.console() + "/policy/change?key=mfa_attempts"); pg.status != http.StatusForbidden {
		t.Errorf("help desk policy change form: %d", pg.status)
	}

	since := time.Now()
	pg = admin.post(person+"/contact", url.Values{"channel": {"phone"}, "phone": {"2025550199"}})
	if pg.status != http.StatusSeeOther {
		t.Fatalf("administrator changing the phone: %d %.500s", pg.status, pg.body)
	}
	done := admin.get(person)
	if !strings.Contains(done.body, "2025550199") || !strings.Contains(done.body, "told on the old and the new number") {
		i := strings.Index(done.body, "<main")
		t.Fatalf("person page after the change: %.2500s", done.body[i:])
	}
	// The person hears about it on the old number and on the new one.
	e.waitMessage("+12025550102", since, func(m devbox.Entry) bool { return strings.Contains(m.Text, "changed") })
	e.waitMessage("+12025550199", since, func(m devbox.Entry) bool { return strings.Contains(m.Text, "changed") })

	if pg := admin.post(person+"/reset", nil); pg.status != http.StatusUnprocessableEntity || !strings.Contains(pg.body, "Tick the box") {
		t.Fatalf("reset without confirming: %d", pg.status)
	}
	if pg := admin.post(person+"/reset", url.Values{"confirm": {"yes"}}); pg.status != http.StatusSeeOther {
		t.Fatalf("reset: %d %.300s", pg.status, pg.body)
	}
	if r := e.api("GET", "/api/v1/admin/users/pat/factors", nil); strings.Contains(string(r.raw), `"active"`) {
		t.Fatalf("factors after the reset: %s", r.raw)
	}
	if pg := admin.post(person+"/status", url.Values{"status": {"retired"}}); pg.status != http.StatusUnprocessableEntity {
		t.Errorf("unknown status: %d", pg.status)
	}
	if pg := admin.post(e.console()+"/people/"+ada.id+"/role", url.Values{"role": {""}}); pg.status != http.StatusUnprocessableEntity {
		t.Errorf("taking away one's own administrator role: %d", pg.status)
	}

	// Every change was done by the console's person, and shows in the audit.
	audit := admin.get(e.console() + "/audit?login_id=pat&event=contact.changed")
	if audit.status != 200 || !strings.Contains(audit.body, "console:"+ada.id) {
		t.Fatalf("audit search: %d %.500s", audit.status, audit.body)
	}
	csv := admin.get(e.console() + "/audit/export?format=csv&login_id=pat")
	if csv.status != 200 || !strings.HasPrefix(csv.header.Get("Content-Type"), "text/csv") || !strings.HasPrefix(csv.body, "id,time,event") {
		t.Fatalf("audit export: %d %q %.200s", csv.status, csv.header.Get("Content-Type"), csv.body)
	}
}

// Another tenant's people do not exist for this tenant's console; bad
// input gets a page that says what to do, never a 500.
func TestConsoleBoundaries(t *testing.T) {
	e := newEnv(t)
	ada := e.consolePerson("ada", "2025550101", "admin")
	c := e.client(t)
	c.openConsole(&ada)
	other, err := e.srv.Directory.CreateTenant(t.Context(), "other", "Other Clinic")
	if err != nil {
		t.Fatal(err)
	}
	_ = other
	for _, tc := range []struct {
		method, path string
		form         url.Values
		want         int
	}{
		{"GET", "/people/usr_doesnotexist", nil, 404},
		{"POST", "/people/usr_doesnotexist/unlock", url.Values{}, 404},
		{"GET", "/people/%00", nil, 404},
		{"GET", "/audit?from=yesterday", nil, 422},
		{"GET", "/audit?from=2026-05-02&to=2026-05-01", nil, 422},
		{"GET", "/audit?login_id=nobody-here", nil, 422},
		{"GET", "/policy/change?key=no_such_setting", nil, 404},
		{"POST", "/policy/change", url.Values{"key": {"mfa_attempts"}, "value": {"-3"}}, 422},
		{"POST", "/policy/change", url.Values{"key": {"mfa_attempts"}, "value": {"\x00"}}, 422},
		{"GET", "/no/such/page", nil, 404},
	} {
		pg := c.do(tc.method, e.console()+tc.path, tc.form)
		if pg.status != tc.want {
			t.Errorf("%s %s: %d, want %d: %.300s", tc.method, tc.path, pg.status, tc.want, pg.body)
		}
	}
	// A session of one tenant's console is nothing at another's.
	if pg := c.get(e.url + "/admin/other/"); pg.status != http.StatusSeeOther {
		t.Errorf("another tenant's console: %d", pg.status)
	}
	// One setting at a time: the change is checked, shown, then made.
	pg := c.post(e.console()+"/policy/change", url.Values{"key": {"mfa_attempts"}, "value": {"5"}})
	if pg.status != 200 || !strings.Contains(pg.body, "Make the change") {
		t.Fatalf("policy preview: %d %.300s", pg.status, pg.body)
	}
	if r := e.api("GET", "/api/v1/admin/policy", nil); strings.Contains(string(r.raw), `"mfa_attempts":5`) {
		t.Fatal("the preview changed the policy")
	}
	if pg := c.post(e.console()+"/policy/change", url.Values{"key": {"mfa_attempts"}, "value": {"5"}, "confirm": {"yes"}}); pg.status != http.StatusSeeOther {
		t.Fatalf("policy change: %d %.300s", pg.status, pg.body)
	}
	if r := e.api("GET", "/api/v1/admin/policy", nil); !strings.Contains(string(r.raw), `"mfa_attempts":5`) {
		t.Fatalf("policy after the change: %s", r.raw)
	}
}

// Every console page and form, walked from the console's route table: a
// help-desk session is refused (403) wherever flow.Permits closes the
// action to it, and another tenant's person is nobody here (404).
func TestConsoleRouteBoundaries(t *testing.T) {
	e := newEnv(t)
	sam := e.consolePerson("sam", "2025550104", "support")
	ada := e.consolePerson("ada", "2025550101", "admin")
	pat := e.consolePerson("pat", "2025550102", "")
	desk, admin := e.client(t), e.client(t)
	desk.openConsole(&sam)
	admin.openConsole(&ada)
	otherTenant, err := e.srv.Directory.CreateTenant(t.Context(), "other", "Other Clinic")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := e.srv.Directory.CreateUser(t.Context(), flow.Caller{TenantID: otherTenant.ID, Actor: "test", Role: store.RoleAdmin}, directory.NewUser{LoginID: "olga"})
	if err != nil {
		t.Fatal(err)
	}
	pt, err := portal.New(e.srv.Engine, slog.New(slog.DiscardHandler), func(*http.Request) string { return "" }, false)
	if err != nil {
		t.Fatal(err)
	}
	pol := policy.Default()
	closed := 0
	for _, rt := range pt.ConsoleRoutes() {
		if strings.Contains(rt.Path, "{rest...}") || strings.HasSuffix(rt.Path, "{$}") {
			continue
		}
		fill := func(id string) string {
			return strings.NewReplacer("{tenant}", tenantSlug, "{id}", id, "{device}", "tdv_unknown", "{tracking}", "MFA-20260101-AAAAAA").Replace(rt.Path)
		}
		form := url.Values{"confirm": {"yes"}, "status": {"disabled"}, "role": {"admin"}, "kind": {"enrolment"}}
		if rt.Method == "GET" {
			form = nil
		}
		if !flow.Permits(store.RoleSupport, pol, rt.Action) {
			closed++
			if pg := desk.do(rt.Method, e.url+fill(pat.id), form); pg.status != http.StatusForbidden {
				t.Errorf("help desk %s %s: %d, want 403", rt.Method, rt.Path, pg.status)
			}
		}
		if strings.Contains(rt.Path, "/people/{id}") {
			if pg := admin.do(rt.Method, e.url+fill(stranger.ID), form); pg.status != http.StatusNotFound {
				t.Errorf("administrator %s %s with another tenant's person: %d, want 404", rt.Method, rt.Path, pg.status)
			}
		}
	}
	if closed < 5 {
		t.Fatalf("only %d console routes are closed to the help desk", closed)
	}
}

// X6 from the console: an audit event changed with SQL behind the
// server's back is named on the verification page.
func TestConsoleAuditVerify(t *testing.T) {
	e := newEnv(t)
	ada := e.consolePerson("ada", "2025550101", "admin")
	c := e.client(t)
	c.openConsole(&ada)
	var pg page
	deadline := time.Now().Add(15 * time.Second)
	for {
		pg = c.get(e.console() + "/audit/verify")
		if pg.status == 200 && strings.Contains(pg.body, "The audit log is intact") && !strings.Contains(pg.body, "waiting to be sealed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verify: %d %.500s", pg.status, pg.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	db := e.srv.Store.DB()
	if _, err := db.ExecContext(t.Context(), `UPDATE audit_events SET actor = 'someone else' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	pg = c.get(e.console() + "/audit/verify")
	if pg.status != http.StatusConflict || !strings.Contains(pg.body, "changed outside Countersign") || !strings.Contains(pg.body, "seq 2") {
		i := strings.Index(pg.body, "<main")
		t.Fatalf("verify after tampering: %d %.1500s", pg.status, pg.body[max(i, 0):])
	}
}

// The help desk forgets a person's trusted device (B4): the next sign-in
// there asks for a second factor again.
func TestConsoleForgetsTrustedDevice(t *testing.T) {
	e := newEnv(t)
	sam := e.consolePerson("sam", "2025550104", "support")
	pat := e.consolePerson("pat", "2025550102", "")
	d := &store.TrustedDevice{ID: store.NewID("tdv"), TenantID: e.tenantID, UserID: pat.id, TokenHash: []byte("hash-of-a-device-token"),
		IP: "198.51.100.7", Label: "Firefox on Windows", CreatedAt: e.now(), ExpiresAt: e.now().Add(30 * 24 * time.Hour)}
	if err := e.srv.Store.CreateTrustedDevice(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	desk := e.client(t)
	desk.openConsole(&sam)
	person := e.console() + "/people/" + pat.id
	if pg := desk.get(person); !strings.Contains(pg.body, "Firefox on Windows") {
		t.Fatalf("person page without the device: %.300s", pg.body)
	}
	pg := desk.post(person+"/devices/revoke", url.Values{"device": {d.ID}})
	if pg.status != http.StatusSeeOther {
		t.Fatalf("forget: %d %.300s", pg.status, pg.body)
	}
	if pg := desk.get(person); strings.Contains(pg.body, "Firefox on Windows") || !strings.Contains(pg.body, "The device is forgotten") {
		t.Fatalf("person page after forgetting: %.600s", pg.body)
	}
	if pg := desk.post(person+"/devices/revoke", url.Values{"device": {d.ID}}); pg.status != http.StatusSeeOther {
		t.Fatalf("forgetting again: %d", pg.status)
	}
	if pg := desk.get(person); !strings.Contains(pg.body, "already forgotten") {
		t.Fatalf("forgetting again is not said: %.600s", pg.body)
	}
}
