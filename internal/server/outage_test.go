package server_test

import (
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/testutil/pgtest"
)

// unavailable checks that r is the catalogue's E45: 503, Retry-After, and
// the request's ID in the body and the header.
func unavailable(t *testing.T, what string, r reply) {
	t.Helper()
	if r.status != 503 || r.str("error", "code") != "E45" || r.str("error", "name") != "temporarily_unavailable" {
		t.Errorf("%s: %d %.300s, want 503 E45", what, r.status, r.raw)
		return
	}
	if r.header.Get("Retry-After") == "" {
		t.Errorf("%s: no Retry-After", what)
	}
	if id := r.header.Get("X-Request-Id"); id == "" || r.str("error", "request_id") != id {
		t.Errorf("%s: request_id %q, X-Request-Id %q; want the same ID in both", what, r.str("error", "request_id"), id)
	}
}

// form posts a portal form as a browser on the portal's own page would.
func (ts *testServer) form(path string, values url.Values) reply {
	ts.t.Helper()
	req, err := http.NewRequest("POST", ts.http.URL+path, strings.NewReader(values.Encode()))
	if err != nil {
		ts.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, raw: raw}
}

// unavailablePage checks the portal's error page for E45: 503, Retry-After,
// and the request ID people are asked to quote.
func unavailablePage(t *testing.T, what string, r reply) {
	t.Helper()
	id := r.header.Get("X-Request-Id")
	if r.status != 503 || !strings.Contains(string(r.raw), "E45") || id == "" || !strings.Contains(string(r.raw), id) {
		t.Errorf("%s: %d (request %q) %.400s, want the E45 page with the request ID", what, r.status, id, r.raw)
	}
	if r.header.Get("Retry-After") == "" {
		t.Errorf("%s: no Retry-After", what)
	}
}

func (ts *testServer) ready() int {
	return ts.do("GET", "/readyz", "", nil).status
}

// waitReady polls /readyz until it answers want.
func (ts *testServer) waitReady(want int) {
	ts.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := ts.ready()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			ts.t.Fatalf("/readyz answers %d, want %d", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (ts *testServer) createUser(login string) reply {
	ts.t.Helper()
	return ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": login, "email": login + "@example.org", "password": "Correct-Horse-42"})
}

// SQLite made read-only: writes through every front door answer E45 with
// Retry-After, readiness turns 503, and both recover with the database.
func TestReadOnlySQLiteAnswers503(t *testing.T) {
	ts := start(t, nil)
	if r := ts.createUser("alice"); r.status != 201 {
		t.Fatalf("create user: %d %s", r.status, r.raw)
	}
	// The store writes through one connection; SQLite answers
	// SQLITE_READONLY on it, as for a file it may not write.
	if _, err := ts.srv.Store.DB().ExecContext(t.Context(), "PRAGMA query_only = ON"); err != nil {
		t.Fatal(err)
	}
	unavailable(t, "admin create user", ts.createUser("bob"))
	unavailable(t, "login", ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "alice", "password": "wrong-password-1"}))
	unavailablePage(t, "portal sign-in", ts.form("/portal/acme/signin", url.Values{"login_id": {"alice"}, "password": {"wrong-password-1"}}))
	if got := ts.ready(); got != 503 {
		t.Errorf("readyz while read-only: %d, want 503", got)
	}
	if _, err := ts.srv.Store.DB().ExecContext(t.Context(), "PRAGMA query_only = OFF"); err != nil {
		t.Fatal(err)
	}
	ts.waitReady(200)
	if r := ts.createUser("bob"); r.status != 201 {
		t.Errorf("create user once writable: %d %s", r.status, r.raw)
	}
}

// SQLite that may not grow answers SQLITE_FULL, its answer for a full
// disk: a write that needs room is E45 with Retry-After, not E99.
func TestFullSQLiteAnswers503(t *testing.T) {
	ts := start(t, nil)
	db := ts.srv.Store.DB()
	var pages int
	if err := db.QueryRowContext(t.Context(), "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	refused := false
	for i := 0; i < 20 && !refused; i++ {
		// The first users may still fit in free space on the last pages.
		if r := ts.createUser(fmt.Sprintf("user%d", i)); r.status != 201 {
			unavailable(t, "create user on a full database", r)
			refused = true
		}
	}
	if !refused {
		t.Fatal("20 users fitted in a database that may not grow")
	}
	if _, err := db.ExecContext(t.Context(), "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	if r := ts.createUser("after"); r.status != 201 {
		t.Errorf("create user with room again: %d %s", r.status, r.raw)
	}
}

// A real full disk: the data directory on a small file system that is then
// filled. Mounting one needs root; elsewhere the SQLITE_FULL test above
// stands in for it.
func TestFullDiskAnswers503(t *testing.T) {
	mnt := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("a small file system cannot be mounted here (%v); TestFullSQLiteAnswers503 covers SQLITE_FULL", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	ts := start(t, func(c *config.Config) { c.DataDir = filepath.Join(mnt, "data") })
	if r := ts.createUser("alice"); r.status != 201 {
		t.Fatalf("create user: %d %s", r.status, r.raw)
	}
	filler := filepath.Join(mnt, "filler")
	fill(t, filler)
	// Writes that fit in room the write-ahead log already holds on disk
	// still succeed (the log is checkpointed and reused beside the writer);
	// the first one that needs more is answered 503 E45, never 500.
	var refused reply
	for i := range 300 {
		r := ts.createUser(fmt.Sprintf("bob%d", i))
		if r.status == 201 {
			continue
		}
		refused = r
		break
	}
	if refused.status == 0 {
		t.Fatal("300 users were created on a full disk")
	}
	unavailable(t, "create user on a full disk", refused)
	// Readiness probes with a small write of its own, which may still fit
	// where a new user no longer does; it answers 503 once none fits, and
	// never anything but 200 or 503.
	got := 0
	for range 1000 {
		if got = ts.ready(); got != 200 {
			break
		}
	}
	if got != 503 {
		t.Errorf("readyz on a full disk: %d, want 503", got)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	ts.waitReady(200)
	if r := ts.createUser("carol"); r.status != 201 {
		t.Errorf("create user with room again: %d %s", r.status, r.raw)
	}
}

// fill writes path until the file system has no room left.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 64<<10)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	// Whatever is left is smaller than a block: take it too.
	for {
		if _, err := f.Write(block[:512]); err != nil {
			return
		}
	}
}

// proxy stands between the server and PostgreSQL, so a test can take the
// database away (connections cut, new ones refused) and bring it back on
// the same address.
type proxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

// stop refuses new connections and cuts the open ones, as a database
// server that goes down does.
func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restart listens again on the same address.
func (p *proxy) restart() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

// PostgreSQL gone: every front door answers E45 with Retry-After rather
// than E99, readiness turns 503, and both recover when it is back.
func TestPostgresDownAnswers503(t *testing.T) {
	dsn := pgtest.URL(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, u.Host)
	u.Host = px.addr
	ts := start(t, func(c *config.Config) { c.DatabaseURL = u.String() })
	if r := ts.createUser("alice"); r.status != 201 {
		t.Fatalf("create user: %d %s", r.status, r.raw)
	}
	// The application's key is now cached, so the requests below reach
	// the engine rather than stopping at the key.
	if r := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "alice", "password": "wrong-password-1"}); r.status != 401 {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	px.stop()
	unavailable(t, "admin list users", ts.do("GET", "/api/v1/admin/users", ts.adminKey, nil))
	// Not E21: a transaction that cannot be read is not a stale one.
	unavailable(t, "begin enrolment", ts.do("POST", "/api/v1/enrolments/totp", ts.appKey, map[string]any{"transaction_id": "txn_whatever"}))
	unavailable(t, "admin create user", ts.createUser("bob"))
	unavailable(t, "login", ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "alice", "password": "wrong-password-1"}))
	unavailablePage(t, "portal sign-in page", ts.do("GET", "/portal/acme/signin", "", nil))
	unavailablePage(t, "portal sign-in", ts.form("/portal/acme/signin", url.Values{"login_id": {"alice"}, "password": {"wrong-password-1"}}))
	if got := ts.ready(); got != 503 {
		t.Errorf("readyz with the database down: %d, want 503", got)
	}
	px.restart()
	ts.waitReady(200)
	if r := ts.do("GET", "/api/v1/admin/users", ts.adminKey, nil); r.status != 200 {
		t.Errorf("admin list users once the database is back: %d %s", r.status, r.raw)
	}
}

// Backends terminated by an administrator (pg_terminate_backend, as a
// restart or a failover does): no request answers E99; each either
// succeeds on a new connection or is E45.
func TestPostgresTerminatedBackends(t *testing.T) {
	dsn := pgtest.URL(t)
	app := "countersign_outage_" + strings.ReplaceAll(t.Name(), "/", "_")
	ts := start(t, func(c *config.Config) { c.DatabaseURL = dsn + "&application_name=" + app })
	if r := ts.createUser("alice"); r.status != 201 {
		t.Fatalf("create user: %d %s", r.status, r.raw)
	}
	admin := openPostgres(t, os.Getenv(pgtest.EnvURL))
	for round := range 3 {
		if _, err := admin.ExecContext(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, app); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			r := ts.createUser(fmt.Sprintf("u%d_%d", round, i))
			if r.status != 201 && r.str("error", "code") != "E45" {
				t.Errorf("round %d request %d after the backends were terminated: %d %s", round, i, r.status, r.raw)
			}
		}
	}
	ts.waitReady(200)
}

// openPostgres is a connection of the test's own, beside the server's.
func openPostgres(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
