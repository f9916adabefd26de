package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/server"
)

// The page at / links what a newcomer needs and names no tenant (issue 11).
func TestHomePage(t *testing.T) {
	ts := start(t, nil) // loopback: the development outbox is on
	r := ts.do("GET", "/", "", nil)
	page := string(r.raw)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s %.300s", r.status, r.header.Get("Content-Type"), page)
	}
	for _, want := range []string{
		`<html lang="en">`, "<title>Countersign</title>", "<h1>Countersign</h1>",
		`href="/api/v1/openapi.json"`, `href="/dev/outbox"`, `href="/healthz"`, `href="/readyz"`,
		ts.http.URL + "/portal/<var>tenant</var>/",
		ts.http.URL + "/oidc/<var>tenant</var>/.well-known/openid-configuration",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(strings.ToLower(page), "acme") {
		t.Errorf("page names a tenant:\n%s", page)
	}
	for h, want := range map[string]string{
		"Content-Security-Policy": "frame-ancestors 'none'",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
	} {
		if got := r.header.Get(h); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want %q in it", h, got, want)
		}
	}
	// Only / itself: other unknown paths stay 404.
	if r := ts.do("GET", "/nothing-here", "", nil); r.status != 404 {
		t.Errorf("GET /nothing-here: %d", r.status)
	}
	if r := ts.do("POST", "/", "", nil); r.status != 405 {
		t.Errorf("POST /: %d", r.status)
	}
}

func TestHomePageWithoutDevOutbox(t *testing.T) {
	ts := start(t, func(c *config.Config) {
		c.Addr = "0.0.0.0:0"
		c.PublicURL = "https://mfa.example.org/"
	})
	r := ts.do("GET", "/", "", nil)
	page := string(r.raw)
	if r.status != 200 || strings.Contains(page, "/dev/outbox") {
		t.Errorf("GET / with the development page off: %d\n%s", r.status, page)
	}
	if !strings.Contains(page, "https://mfa.example.org/portal/<var>tenant</var>/") {
		t.Errorf("page does not use public_url:\n%s", page)
	}
	if got := r.header.Get("Strict-Transport-Security"); got == "" {
		t.Error("no HSTS with an https public_url")
	}
}

// enrolment_required and E06 say where the portal is (issue 11).
func TestPortalURLInAnswers(t *testing.T) {
	for _, tt := range []struct {
		name      string
		publicURL string
		want      func(ts *testServer) string
	}{
		{"from the request", "", func(ts *testServer) string { return ts.http.URL + "/portal/acme/" }},
		{"public_url", "https://mfa.example.org/", func(*testServer) string { return "https://mfa.example.org/portal/acme/" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := start(t, func(c *config.Config) { c.PublicURL = tt.publicURL })
			if r := ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "alice", "email": "alice@example.org", "password": "Correct-Horse-42"}); r.status != 201 {
				t.Fatalf("create user: %d %s", r.status, r.raw)
			}
			want := tt.want(ts)
			r := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "alice", "password": "Correct-Horse-42"})
			if r.status != 200 || r.str("status") != "enrolment_required" || r.str("portal_url") != want {
				t.Errorf("login: %d %s, want portal_url %s", r.status, r.raw, want)
			}
			r = ts.do("POST", "/api/v1/auth/check", ts.appKey, map[string]any{"login_id": "alice", "code": "123456"})
			if r.status != 403 || r.str("error", "code") != "E06" || r.str("error", "portal_url") != want {
				t.Errorf("check: %d %s, want E06 with portal_url %s", r.status, r.raw, want)
			}
			// Other errors carry none.
			r = ts.do("POST", "/api/v1/auth/check", ts.appKey, map[string]any{"login_id": "ghost", "code": "123456"})
			if r.str("error", "code") != "E05" || strings.Contains(string(r.raw), "portal_url") {
				t.Errorf("check of an unknown user: %d %s", r.status, r.raw)
			}
		})
	}
}

// serving runs srv.Serve on its configured address until stop, which waits
// for Serve to end and fails the test if it ended with an error.
func serving(t *testing.T, srv *server.Server) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ready) }()
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	return addr, func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// Once listening, the server logs one line with the addresses a newcomer
// needs.
func TestReadyLogLine(t *testing.T) {
	var logs logBuffer
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Addr = "127.0.0.1:0"
	srv, err := server.New(t.Context(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	addr, stop := serving(t, srv)
	stop()
	var line map[string]any
	for l := range strings.SplitSeq(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "countersign ready" {
			line = m
		}
	}
	base := "http://" + addr
	for k, want := range map[string]string{
		"url":         base + "/",
		"portal":      base + "/portal/{tenant}/",
		"oidc_issuer": base + "/oidc/{tenant}",
		"api":         base + "/api/v1/openapi.json",
		"dev_outbox":  base + "/dev/outbox",
	} {
		if line[k] != want {
			t.Errorf("ready line %s = %v, want %s (line %v)", k, line[k], want, line)
		}
	}
}
