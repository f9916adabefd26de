package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// C14 in the portal: terminating an account ends its portal session; the
// right password then hears that the account is closed and whom to ask
// (E50), a wrong one hears what any wrong password hears, and the recovery
// pages answer as for someone unknown (G4).
func TestHTTPTerminatedAccountIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.newPerson("ended", "5555550141")
	secret, used := e.withTOTP(p)
	c := e.client(t)
	c.signIn(p, secret, used)
	if pg := c.get("/account"); pg.status != http.StatusOK {
		t.Fatalf("account: %d", pg.status)
	}
	if r := e.api("POST", "/api/v1/admin/users/"+p.LoginID+"/terminate", map[string]any{"reason": "credentials shared", "confirm_login_id": "ENDED"}); r.status != 200 {
		t.Fatalf("terminate: %d %s", r.status, r.raw)
	}
	if pg := c.get("/account"); pg.status != http.StatusSeeOther || !strings.HasPrefix(pg.location, "/signin") {
		t.Fatalf("the session outlived the termination: %d %s", pg.status, pg.location)
	}

	pg := e.client(t).post("/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}})
	if pg.status == http.StatusSeeOther || !strings.Contains(pg.body, "E50") || !strings.Contains(pg.body, "contact your administrator") {
		t.Fatalf("right password: %d %s\n%.800s", pg.status, pg.location, text(pg.body))
	}
	wrong := e.client(t).post("/signin", url.Values{"login_id": {p.LoginID}, "password": {"Wrong-Password-1"}})
	unknown := e.client(t).post("/signin", url.Values{"login_id": {"nobody"}, "password": {"Wrong-Password-1"}})
	if wrong.status != unknown.status || strings.ReplaceAll(wrong.body, p.LoginID, "X") != strings.ReplaceAll(unknown.body, "nobody", "X") {
		t.Fatalf("a wrong password tells a terminated account from an unknown one:\n%.500s\n---\n%.500s", text(wrong.body), text(unknown.body))
	}

	for _, tc := range []struct {
		name, path       string
		known, unknown   url.Values
		knownV, unknownV string
	}{
		{"forgot password", "/recover/password",
			url.Values{"login_id": {p.LoginID}, "channel": {"email"}}, url.Values{"login_id": {"nobody"}, "channel": {"email"}}, p.LoginID, "nobody"},
		{"forgot login ID", "/recover/login-id",
			url.Values{"channel": {"email"}, "email": {p.Email}}, url.Values{"channel": {"email"}, "email": {"nobody@example.org"}}, p.Email, "nobody@example.org"},
		{"identity", "/recover/lost",
			url.Values{"email": {p.Email}, "date_of_birth": {p.DOB}, "ssn": {p.SSN}}, url.Values{"email": {"nobody@example.org"}, "date_of_birth": {p.DOB}, "ssn": {p.SSN}}, p.Email, "nobody@example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := e.client(t).post(tc.path, tc.known)
			u := e.client(t).post(tc.path, tc.unknown)
			kb := strings.ReplaceAll(k.body, tc.knownV, "VALUE")
			ub := strings.ReplaceAll(u.body, tc.unknownV, "VALUE")
			if k.status != u.status || kb != ub || k.location != u.location {
				t.Fatalf("terminated and unknown differ: %d %s vs %d %s\n--- terminated\n%s\n--- unknown\n%s", k.status, k.location, u.status, u.location, text(kb), text(ub))
			}
		})
	}
}
