package portal_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/server"
	"github.com/countersign/countersign/internal/testutil/pgtest"
)

// portalForms are the forms anyone may post without a session: sign-in,
// every recovery form and the report form, with the fields each reads.
var portalForms = []struct {
	path   string
	fields []string
}{
	{"/signin", []string{"login_id", "password", "next"}},
	{"/recover/lost", []string{"email", "date_of_birth", "ssn"}},
	{"/recover/login-id", []string{"channel", "email", "phone"}},
	{"/recover/password", []string{"login_id", "channel", "code"}},
	{"/recover/locked", []string{"login_id", "channel", "code"}},
	{"/recover/reenable", []string{"login_id", "channel", "code"}},
	{"/recover/password/reset", []string{"login_id", "code", "password", "password_confirm"}},
	{"/recover/reenable/confirm", []string{"login_id", "code", "password"}},
	{"/report", []string{"login_id", "phone", "name", "subject", "email", "message"}},
}

// fuzzServers starts one server per database for a fuzz target: SQLite
// always, PostgreSQL when a database is configured (and always in CI),
// since PostgreSQL refuses text that SQLite stores.
func fuzzServers(f *testing.F) map[string]*server.Server {
	out := map[string]*server.Server{}
	dbs := []string{"sqlite"}
	if pgtest.Available() || os.Getenv("CI") != "" {
		dbs = append(dbs, "postgres")
	}
	for _, db := range dbs {
		cfg := config.Default()
		cfg.DataDir = f.TempDir()
		if db == "postgres" {
			cfg.DatabaseURL = pgtest.URL(f)
		}
		srv, err := server.New(f.Context(), cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { srv.Close() })
		tn, err := srv.Directory.CreateTenant(f.Context(), tenantSlug, "Acme Health")
		if err != nil {
			f.Fatal(err)
		}
		op := flow.Caller{TenantID: tn.ID, Actor: "test"}
		if _, err := srv.Directory.CreateUser(f.Context(), op, directory.NewUser{LoginID: "alice", Email: "alice@example.org", Password: password}); err != nil {
			f.Fatal(err)
		}
		out[db] = srv
	}
	return out
}

// FuzzPortalForms posts arbitrary values, NUL and invalid UTF-8 among the
// seeds, to every public form on every database: the answer is a page,
// never a 500 and never a stack trace (G4, issue 10 item 6).
func FuzzPortalForms(f *testing.F) {
	for i := range portalForms {
		for _, v := range []string{"alice", "a\x00b", "a\xffb", "\xc3", "", strings.Repeat("é", 300), "1985-07-24", "+1 (555) 123-4567", "<script>"} {
			f.Add(uint8(i), v, v, "x")
			f.Add(uint8(i), "alice", password, v)
		}
	}
	f.Add(uint8(0), "alice", password, "%00")
	servers := fuzzServers(f)
	var client atomic.Uint32
	f.Fuzz(func(t *testing.T, form uint8, a, b, c string) {
		pf := portalForms[int(form)%len(portalForms)]
		values := url.Values{}
		for i, name := range pf.fields {
			values.Set(name, []string{a, b, c}[i%3])
		}
		for db, srv := range servers {
			req := httptest.NewRequest("POST", "/portal/"+tenantSlug+pf.path, strings.NewReader(values.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			// A fresh address per input keeps the per-address form limits
			// from answering every later input before its fields are read.
			n := client.Add(1)
			req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1234", n>>16&255, n>>8&255, n&255)
			rec := httptest.NewRecorder()
			srv.Handler.ServeHTTP(rec, req)
			body := rec.Body.String()
			if rec.Code >= 500 || strings.Contains(body, "goroutine ") || strings.Contains(body, "panic") || strings.Contains(body, "E99") {
				t.Fatalf("%s: POST %s %q → %d\n%s", db, pf.path, values.Encode(), rec.Code, body)
			}
		}
	})
}

// FuzzPortalPaths sends arbitrary tenant slugs, query values and user
// agents: a slug that cannot exist is the portal's 404 page, a query value
// that cannot be used a field error, and neither ever a 500.
func FuzzPortalPaths(f *testing.F) {
	for _, v := range []string{tenantSlug, "a\x00b", "a\xffb", "", "..", "acme/../x"} {
		f.Add(v, v, v)
		f.Add(tenantSlug, v, v)
	}
	servers := fuzzServers(f)
	f.Fuzz(func(t *testing.T, slug, next, agent string) {
		target := "/portal/" + url.PathEscape(slug) + "/signin?next=" + url.QueryEscape(next)
		for db, srv := range servers {
			req := httptest.NewRequest("GET", "/", nil)
			req.URL, _ = url.Parse(target)
			if req.URL == nil {
				return
			}
			req.RequestURI = target
			req.Header["User-Agent"] = []string{agent}
			rec := httptest.NewRecorder()
			srv.Handler.ServeHTTP(rec, req)
			if rec.Code >= 500 || strings.Contains(rec.Body.String(), "goroutine ") {
				t.Fatalf("%s: GET %q → %d\n%s", db, target, rec.Code, rec.Body.String())
			}
		}
	})
}

// TestHTTPUnusableTextRefused: a NUL or invalid UTF-8 in a form field is
// refused as a field error (422, E12) naming the field in the person's
// language, and a tenant slug that cannot exist is the 404 page, on every
// database (issue 10 item 6).
func TestHTTPUnusableTextRefused(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var opts []envOption
			if db == "postgres" {
				u := pgtest.URL(t)
				opts = append(opts, func(c *config.Config) { c.DatabaseURL = u })
			}
			e := newEnv(t, opts...)
			for _, bad := range []string{"al\x00ice", "al\xffice"} {
				c := e.client(t)
				pg := c.post("/signin", url.Values{"login_id": {bad}, "password": {password}})
				if pg.status != 422 || !strings.Contains(pg.body, "E12") || !strings.Contains(pg.body, "Login ID contains characters that cannot be used") {
					t.Errorf("sign-in with %q: %d\n%s", bad, pg.status, text(pg.body))
				}
				c.header.Set("Accept-Language", "es")
				pg = c.post("/report", url.Values{"name": {"Ana"}, "subject": {"Ayuda"}, "message": {bad}, "email": {"ana@example.org"}})
				if pg.status != 422 || !strings.Contains(pg.body, "E12") || !strings.Contains(pg.body, "no se pueden usar") {
					t.Errorf("report with %q: %d\n%s", bad, pg.status, text(pg.body))
				}
				pg = c.get(e.url + "/portal/" + url.PathEscape(bad) + "/signin")
				if pg.status != 404 {
					t.Errorf("tenant %q: %d", bad, pg.status)
				}
			}

			// The browser's name is kept with the session: bytes that are
			// not UTF-8, or a cut inside a character at its 200-byte limit,
			// must not stop a sign-in.
			p := e.newPerson("agent", "5555550177")
			e.withTOTP(p)
			for _, agent := range []string{"Mozilla \xff\xfe", strings.Repeat("a", 199) + "é"} {
				c := e.client(t)
				c.header.Set("User-Agent", agent)
				pg := c.post("/signin", url.Values{"login_id": {p.LoginID}, "password": {p.Password}})
				if pg.status != http.StatusSeeOther || pg.location != "/signin/verify" {
					t.Errorf("sign-in with User-Agent %q: %d %s\n%s", agent, pg.status, pg.location, text(pg.body))
				}
			}
		})
	}
}
