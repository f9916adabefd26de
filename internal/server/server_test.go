package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/server"
	"github.com/countersign/countersign/internal/testutil/pgtest"
)

// testServer is a whole Countersign behind httptest, on SQLite unless a
// database URL is given.
type testServer struct {
	t        *testing.T
	srv      *server.Server
	http     *httptest.Server
	appKey   string
	adminKey string
	support  string
}

func start(t *testing.T, mutate func(c *config.Config)) *testServer {
	t.Helper()
	return startLogged(t, discard(), mutate)
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newServer builds a server on the defaults with its own data directory,
// changed by mutate, closed when the test ends.
func newServer(t *testing.T, log *slog.Logger, mutate func(c *config.Config)) *server.Server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// startLogged is start with the server writing to log.
func startLogged(t *testing.T, log *slog.Logger, mutate func(c *config.Config)) *testServer {
	t.Helper()
	srv := newServer(t, log, mutate)
	hs := httptest.NewServer(srv.Handler)
	t.Cleanup(hs.Close)
	return setupTenant(t, srv, hs)
}

// setupTenant creates the tenant acme with an application key, an admin
// key and a support key.
func setupTenant(t *testing.T, srv *server.Server, hs *httptest.Server) *testServer {
	t.Helper()
	return tenantKeys(t, srv, hs, "acme")
}

// setupTenantNamed adds another tenant with its own keys to ts's server.
func setupTenantNamed(t *testing.T, ts *testServer, slug string) *testServer {
	t.Helper()
	return tenantKeys(t, ts.srv, ts.http, slug)
}

func tenantKeys(t *testing.T, srv *server.Server, hs *httptest.Server, slug string) *testServer {
	t.Helper()
	ts := &testServer{t: t, srv: srv, http: hs}
	ctx := t.Context()
	tn, err := srv.Directory.CreateTenant(ctx, slug, "Acme Health")
	if err != nil {
		t.Fatal(err)
	}
	op := flow.Caller{TenantID: tn.ID, Actor: "test"}
	if _, ts.appKey, err = srv.Directory.CreateApplication(ctx, op, "portal"); err != nil {
		t.Fatal(err)
	}
	if _, ts.adminKey, err = srv.Directory.CreateAdminKey(ctx, op, "ops", "admin"); err != nil {
		t.Fatal(err)
	}
	if _, ts.support, err = srv.Directory.CreateAdminKey(ctx, op, "helpdesk", "support"); err != nil {
		t.Fatal(err)
	}
	return ts
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r reply) str(path ...string) string {
	var v any = r.body
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func (ts *testServer) do(method, path, key string, body any) reply {
	ts.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, ts.http.URL+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required in CI", name)
		}
		t.Skipf("%s not installed (scripts/test installs it)", name)
	}
	return p
}

func oathtool(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	out, err := exec.Command(needTool(t, "oathtool"), "--totp", "-b", strings.ReplaceAll(secret, " ", ""), "-N", "@"+itoa(at.Unix())).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// The quick start, over HTTP, with codes from an independent generator and
// the QR code read back by an independent decoder (C2, C4, C5).
func TestEndToEndWithIndependentTools(t *testing.T) {
	ts := start(t, nil)
	r := ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "Alice", "email": "alice@example.org", "password": "Correct-Horse-42"})
	if r.status != 201 {
		t.Fatalf("create user: %d %s", r.status, r.raw)
	}
	r = ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "alice", "password": "Correct-Horse-42", "ip": "203.0.113.9"})
	if r.status != 200 || r.str("status") != "enrolment_required" {
		t.Fatalf("first login: %d %s", r.status, r.raw)
	}
	r = ts.do("POST", "/api/v1/enrolments/totp", ts.appKey, map[string]any{"transaction_id": r.str("transaction_id")})
	if r.status != 201 {
		t.Fatalf("begin enrolment: %d %s", r.status, r.raw)
	}
	uri, secret, enrolment := r.str("otpauth_uri"), r.str("secret"), r.str("enrolment_id")
	if !strings.HasPrefix(uri, "otpauth://totp/Acme%20Health:Alice?secret=") || !strings.Contains(uri, "issuer=Acme%20Health") {
		t.Fatalf("otpauth URI %q", uri)
	}
	// The PNG in the JSON and the one served separately both decode to the URI.
	png, err := base64.StdEncoding.DecodeString(r.str("qr_png_base64"))
	if err != nil {
		t.Fatal(err)
	}
	q := ts.do("GET", "/api/v1/enrolments/"+enrolment+"/qr.png", ts.appKey, nil)
	if q.status != 200 || q.header.Get("Content-Type") != "image/png" {
		t.Fatalf("qr.png: %d %s", q.status, q.header.Get("Content-Type"))
	}
	for i, img := range [][]byte{png, q.raw} {
		path := filepath.Join(t.TempDir(), "qr.png")
		if err := os.WriteFile(path, img, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(needTool(t, "zbarimg"), "--raw", "-q", path).Output()
		if err != nil {
			t.Fatalf("zbarimg %d: %v", i, err)
		}
		if got := strings.TrimSpace(string(out)); got != uri {
			t.Fatalf("QR %d decodes to %q, want %q", i, got, uri)
		}
	}
	now := time.Now()
	r = ts.do("POST", "/api/v1/enrolments/"+enrolment+"/confirm", ts.appKey, map[string]any{"code": oathtool(t, secret, now.Add(-30*time.Second))})
	if r.status != 200 || r.str("factor", "state") != "active" {
		t.Fatalf("confirm: %d %s", r.status, r.raw)
	}
	r = ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "ALICE", "password": "Correct-Horse-42"})
	if r.status != 200 || r.str("status") != "mfa_required" {
		t.Fatalf("second login: %d %s", r.status, r.raw)
	}
	txn := r.str("transaction_id")
	r = ts.do("POST", "/api/v1/auth/transactions/"+txn+"/verify", ts.appKey, map[string]any{"code": "000000"})
	if r.status != 401 || r.str("error", "code") != "E02" || !strings.Contains(r.str("error", "message"), "clock") {
		t.Fatalf("wrong code: %d %s", r.status, r.raw)
	}
	r = ts.do("POST", "/api/v1/auth/transactions/"+txn+"/verify", ts.appKey, map[string]any{"code": oathtool(t, secret, now)})
	if r.status != 200 || r.str("status") != "allowed" {
		t.Fatalf("verify with oathtool's code: %d %s", r.status, r.raw)
	}
	r = ts.do("GET", "/api/v1/auth/transactions/"+txn, ts.appKey, nil)
	if r.status != 200 || r.str("status") != "allowed" {
		t.Fatalf("transaction: %d %s", r.status, r.raw)
	}
	// The administrator sees every step in the audit log (G5).
	r = ts.do("GET", "/api/v1/admin/audit?user=alice&limit=50", ts.adminKey, nil)
	if r.status != 200 {
		t.Fatalf("audit: %d %s", r.status, r.raw)
	}
	seen := map[string]bool{}
	for _, ev := range r.body["events"].([]any) {
		m := ev.(map[string]any)
		seen[m["event"].(string)+"/"+m["outcome"].(string)] = true
	}
	for _, want := range []string{"user.created/success", "factor.enrolment_started/success", "factor.enrolled/success", "login.mfa/failure", "login.mfa/success"} {
		if !seen[want] {
			t.Errorf("audit lacks %s (have %v)", want, seen)
		}
	}
	if !strings.Contains(string(r.raw), "203.0.113.9") {
		t.Error("audit lacks the end user's IP reported by the application")
	}
}

// B6 over HTTP: the help desk's key cannot unlock, the administrator's can.
func TestUnlockRoles(t *testing.T) {
	ts := start(t, nil)
	r := ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "bob"})
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if r = ts.do("POST", "/api/v1/admin/users/bob/unlock", ts.support, nil); r.status != 403 || r.str("error", "code") != "E14" {
		t.Fatalf("support unlock: %d %s", r.status, r.raw)
	}
	if r = ts.do("POST", "/api/v1/admin/users/bob/unlock", ts.adminKey, nil); r.status != 200 {
		t.Fatalf("admin unlock: %d %s", r.status, r.raw)
	}
	if r = ts.do("GET", "/api/v1/admin/users/bob", ts.appKey, nil); r.status != 401 || r.str("error", "code") != "E13" {
		t.Fatalf("application key on the admin API: %d %s", r.status, r.raw)
	}
}

// Bad input gets a clear JSON error with a stable code, never a 500.
func TestBadRequestsGetStableErrors(t *testing.T) {
	ts := start(t, nil)
	cases := []struct {
		name, method, path, key string
		body                    any
		ctype                   string
		status                  int
		code                    string
	}{
		{"no key", "POST", "/api/v1/auth/login", "", `{}`, "", 401, "E13"},
		{"bad key", "POST", "/api/v1/auth/login", "csk_app_nope", `{}`, "", 401, "E13"},
		{"not json", "POST", "/api/v1/auth/login", "app", `{"login_id":`, "", 400, "E18"},
		{"unknown field", "POST", "/api/v1/auth/login", "app", `{"login":"x"}`, "", 400, "E18"},
		{"two objects", "POST", "/api/v1/auth/login", "app", `{} {}`, "", 400, "E18"},
		{"wrong type", "POST", "/api/v1/auth/login", "app", `{"login_id":5}`, "", 400, "E18"},
		{"empty body", "POST", "/api/v1/auth/login", "app", ``, "", 400, "E18"},
		{"form body", "POST", "/api/v1/auth/login", "app", `login_id=x`, "application/x-www-form-urlencoded", 415, "E24"},
		{"too large", "POST", "/api/v1/auth/login", "app", `{"login_id":"` + strings.Repeat("a", 70000) + `"}`, "", 413, "E23"},
		{"invalid fields", "POST", "/api/v1/auth/login", "app", `{"login_id":"way-too-long-login-id","password":""}`, "", 400, "E12"},
		{"unknown path", "GET", "/api/v1/nothing", "", nil, "", 404, "E15"},
		{"wrong method", "DELETE", "/api/v1/auth/login", "app", nil, "", 405, "E22"},
		{"unknown txn", "POST", "/api/v1/auth/transactions/txn_nope/verify", "app", `{"code":"123456"}`, "", 410, "E04"},
		{"unknown enrolment", "POST", "/api/v1/enrolments/fac_nope/confirm", "app", `{"code":"123456"}`, "", 410, "E19"},
		{"unknown user", "POST", "/api/v1/auth/mfa", "app", `{"login_id":"ghost"}`, "", 404, "E05"},
		{"bad audit limit", "GET", "/api/v1/admin/audit?limit=0", "admin", nil, "", 400, "E12"},
		{"bad audit time", "GET", "/api/v1/admin/audit?since=yesterday", "admin", nil, "", 400, "E12"},
		{"bad policy", "PUT", "/api/v1/admin/policy", "admin", `{"mfa_attempts":0,"nonsense":1}`, "", 400, "E12"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := map[string]string{"app": ts.appKey, "admin": ts.adminKey}[c.key]
			if key == "" {
				key = c.key
			}
			var rd io.Reader
			if s, ok := c.body.(string); ok {
				rd = strings.NewReader(s)
			}
			req, _ := http.NewRequest(c.method, ts.http.URL+c.path, rd)
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error struct{ Code, Message string }
			}
			raw, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(raw, &body); err != nil || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("not a JSON error: %s", raw)
			}
			if resp.StatusCode != c.status || body.Error.Code != c.code || body.Error.Message == "" {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, raw, c.status, c.code)
			}
		})
	}
}

// A flood of password logins beyond the hashing pool gets 503 with
// Retry-After instead of queueing without bound, and a guess that was not
// evaluated is not counted against the user.
func TestHashingPoolSaturationGives503(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.Password.Workers = 1; c.Password.QueueWait = 0 })
	r := ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "carol", "password": "Correct-Horse-42"})
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	const n = 16
	statuses := make([]reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "carol", "password": "Correct-Horse-42"})
		}()
	}
	wg.Wait()
	busy := 0
	for _, s := range statuses {
		switch s.status {
		case 200:
		case 503:
			busy++
			if s.header.Get("Retry-After") == "" || s.str("error", "code") != "E17" {
				t.Fatalf("503 without Retry-After or E17: %s", s.raw)
			}
		default:
			t.Fatalf("unexpected %d %s", s.status, s.raw)
		}
	}
	if busy == 0 {
		t.Fatal("no request was turned away with one hashing worker and no queue wait")
	}
	u := ts.do("GET", "/api/v1/admin/users/carol", ts.adminKey, nil)
	if f := u.body["password_failures"].(float64); f != 0 {
		t.Fatalf("password failures %v after only correct passwords: busy refusals were charged", f)
	}
}

func TestOperationalEndpoints(t *testing.T) {
	ts := start(t, nil)
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "countersign_password_hashes_in_flight"} {
		r := ts.do("GET", path, "", nil)
		if r.status != 200 || !strings.Contains(string(r.raw), want) {
			t.Errorf("%s: %d %.200s", path, r.status, r.raw)
		}
	}
	ts.do("POST", "/api/v1/auth/check", ts.appKey, map[string]any{"login_id": "ghost", "code": "123456"})
	if r := ts.do("GET", "/metrics", "", nil); !strings.Contains(string(r.raw), `countersign_http_requests_total{code="404",route="POST /api/v1/auth/check"} 1`) {
		t.Errorf("request metric missing:\n%s", grep(string(r.raw), "countersign_http_requests_total"))
	}
	// Readiness follows the database.
	ts.srv.Store.Close()
	if r := ts.do("GET", "/readyz", "", nil); r.status != 503 {
		t.Errorf("readyz with the database closed: %d", r.status)
	}
	if r := ts.do("GET", "/healthz", "", nil); r.status != 200 {
		t.Errorf("healthz is process liveness: %d", r.status)
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// FuzzLoginAPI sends arbitrary bodies to the routes that take outside input,
// on SQLite and on PostgreSQL (which refuses text SQLite stores): the answer
// is always a JSON error or success, never a 500 (G4, issue 10 item 6).
func FuzzLoginAPI(f *testing.F) {
	for _, s := range []string{`{"login_id":"alice","password":"x"}`, `{"login_id":"alice","code":"１２３４５６"}`, `{"code":"12 34 56"}`, `[]`, `null`, `{"login_id":null}`, "\x00\xff", `{"ip":"::1"}`,
		`{"login_id":"al\u0000ice","password":"x"}`, "{\"login_id\":\"al\xffice\",\"password\":\"x\"}", `{"code":"123456","remember_device":true,"device_label":"\u0000"}`,
		`{"login_id":"alice","password":"x","trusted_device_token":"\u0000"}`, `{"transaction_id":"txn_\u0000"}`} {
		for route := range 6 {
			f.Add(route, s)
		}
	}
	servers := fuzzServers(f)
	f.Fuzz(func(t *testing.T, route int, body string) {
		paths := []string{"/api/v1/auth/login", "/api/v1/auth/mfa", "/api/v1/auth/check", "/api/v1/auth/transactions/txn_x/verify", "/api/v1/enrolments/totp", "/api/v1/enrolments/fac_x/confirm"}
		path := paths[(route%len(paths)+len(paths))%len(paths)]
		for _, fs := range servers {
			req := httptest.NewRequest("POST", path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+fs.appKey)
			rec := httptest.NewRecorder()
			fs.srv.Handler.ServeHTTP(rec, req)
			if rec.Code >= 500 && rec.Code != 503 {
				t.Fatalf("%s: %s %q → %d %s", fs.db, path, body, rec.Code, rec.Body.String())
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s: not JSON: %s", fs.db, rec.Body.String())
			}
		}
	})
}

// FuzzAPIPathsAndQueries sends arbitrary path ids and query values to the
// routes that look them up, on every database: never a 500.
func FuzzAPIPathsAndQueries(f *testing.F) {
	for _, s := range []string{"alice", "usr_x", "a\x00b", "a\xffb", "\xc3", "", "%", "a/b", strings.Repeat("x", 300)} {
		for route := range 8 {
			f.Add(route, s)
		}
	}
	servers := fuzzServers(f)
	f.Fuzz(func(t *testing.T, route int, v string) {
		p, q := url.PathEscape(v), url.QueryEscape(v)
		targets := []struct{ path, key string }{
			{"/api/v1/auth/transactions/" + p, "app"},
			{"/api/v1/enrolments/" + p, "app"},
			{"/api/v1/admin/users/" + p, "admin"},
			{"/api/v1/admin/users?after=" + q, "admin"},
			{"/api/v1/admin/audit?user=" + q + "&event=" + q, "admin"},
			{"/api/v1/admin/outbox?user=" + q + "&state=" + q, "admin"},
			{"/api/v1/admin/support-requests/" + p, "admin"},
			{"/api/v1/admin/support-requests?before=" + q, "admin"},
		}
		target := targets[(route%len(targets)+len(targets))%len(targets)]
		for _, fs := range servers {
			req := httptest.NewRequest("GET", "/", nil)
			u, err := url.Parse(target.path)
			if err != nil {
				return
			}
			req.URL, req.RequestURI = u, target.path
			key := fs.appKey
			if target.key == "admin" {
				key = fs.adminKey
			}
			req.Header.Set("Authorization", "Bearer "+key)
			rec := httptest.NewRecorder()
			fs.srv.Handler.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s: GET %q → %d %s", fs.db, target.path, rec.Code, rec.Body.String())
			}
		}
	})
}

// fuzzTarget is one server shared by every input of a fuzz target.
type fuzzTarget struct {
	db               string
	srv              *server.Server
	appKey, adminKey string
}

// fuzzServers starts a server on SQLite, and on PostgreSQL when a database
// is configured (always in CI), with a tenant, keys and a user "alice".
func fuzzServers(f *testing.F) []*fuzzTarget {
	dbs := []string{"sqlite"}
	if pgtest.Available() || os.Getenv("CI") != "" {
		dbs = append(dbs, "postgres")
	}
	var out []*fuzzTarget
	for _, db := range dbs {
		cfg := config.Default()
		cfg.DataDir = f.TempDir()
		if db == "postgres" {
			cfg.DatabaseURL = pgtest.URL(f)
		}
		ctx := f.Context()
		srv, err := server.New(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { srv.Close() })
		tn, err := srv.Directory.CreateTenant(ctx, "fuzz", "Fuzz")
		if err != nil {
			f.Fatal(err)
		}
		ft := &fuzzTarget{db: db, srv: srv}
		op := flow.Caller{TenantID: tn.ID, Actor: "test"}
		if _, ft.appKey, err = srv.Directory.CreateApplication(ctx, op, "app"); err != nil {
			f.Fatal(err)
		}
		if _, ft.adminKey, err = srv.Directory.CreateAdminKey(ctx, op, "ops", "admin"); err != nil {
			f.Fatal(err)
		}
		if _, err := srv.Directory.CreateUser(ctx, op, directory.NewUser{LoginID: "alice", Password: "Correct-Horse-42"}); err != nil {
			f.Fatal(err)
		}
		out = append(out, ft)
	}
	return out
}
