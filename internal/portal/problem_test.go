package portal_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/problem"
)

// X8, issue 9: an E-coded message on a page is the catalogue's, in the
// page's language, and names the tenant's help desk where it sends the
// person to someone.
func TestHTTPErrorsInThePageLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setPolicy(`{"mfa_attempts":1,"help_desk":{"name":"Acme IT Help Desk","phone":"555-0100","email":"help@acme.example"}}`)
	hd := problem.HelpDesk{Name: "Acme IT Help Desk", Phone: "555-0100", Email: "help@acme.example"}
	for i, lang := range []string{"en", "es"} {
		t.Run(lang, func(t *testing.T) {
			p := e.newPerson("locked"+lang, "555555017"+string(rune('0'+i)))
			e.withTOTP(p)
			c := e.client(t)
			c.header.Set("Accept-Language", lang)
			if pg := c.post("/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}}); pg.location != "/signin/verify" {
				t.Fatalf("sign-in: %d %s", pg.status, pg.location)
			}
			pg := c.post("/signin/verify", url.Values{"factor": {e.factorID(p, "totp")}, "code": {"000000"}})
			for pg.status != http.StatusLocked && pg.status < 500 && strings.Contains(pg.body, "E02") {
				pg = c.post("/signin/verify", url.Values{"factor": {e.factorID(p, "totp")}, "code": {"000000"}})
			}
			want := problem.From(problem.Named("mfa_locked", nil), problem.Context{Lang: lang, HelpDesk: hd})
			if got := html.UnescapeString(text(pg.body)); pg.status != http.StatusLocked || !strings.Contains(got, "E03") || !strings.Contains(got, want.Message) {
				t.Fatalf("after the lockout: %d\n%.1500s\nwant %q", pg.status, got, want.Message)
			}
		})
	}
}
