package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/countersign/countersign/internal/config"
)

// logBuffer collects a server's log lines; handlers write from many
// goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// line returns the log line with this message and request ID.
func (b *logBuffer) line(t *testing.T, msg, id string) map[string]any {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		if m["msg"] == msg && m["request_id"] == id {
			return m
		}
	}
	t.Fatalf("no %q line for request %s in:\n%s", msg, id, b.String())
	return nil
}

// send makes a request with extra headers and returns the answer.
func (ts *testServer) send(method, path, key string, body string, header map[string]string) reply {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.http.URL+path, strings.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
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

var generatedID = regexp.MustCompile(`^req_[0-9a-f]{24}$`)

func TestRequestIDs(t *testing.T) {
	trusted := func(c *config.Config) { c.TrustedProxies = []string{"127.0.0.1", "::1"} }
	long := strings.Repeat("a", 64)
	for _, tc := range []struct {
		name    string
		mutate  func(*config.Config)
		sent    string
		keep    bool
		comment string
	}{
		{"none sent", nil, "", false, "generated"},
		{"from a client", nil, "abc-123", false, "only a trusted proxy names requests"},
		{"from a trusted proxy", trusted, "lb.7f3a_9-X", true, ""},
		{"longest", trusted, long, true, ""},
		{"too long", trusted, long + "a", false, "over 64 characters"},
		{"markup", trusted, "<script>", false, "not a token"},
		{"spaces", trusted, "a b", false, "not a token"},
		{"quote", trusted, `a"b`, false, "not a token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := start(t, tc.mutate)
			h := map[string]string{}
			if tc.sent != "" {
				h["X-Request-Id"] = tc.sent
			}
			for path, want := range map[string]int{"/healthz": 200, "/api/v1/admin/users": 401, "/portal/acme/signin": 200, "/nowhere": 404} {
				r := ts.send("GET", path, "", "", h)
				if r.status != want {
					t.Fatalf("%s: %d, want %d", path, r.status, want)
				}
				got := r.header.Get("X-Request-Id")
				switch {
				case tc.keep && got != tc.sent:
					t.Errorf("%s: X-Request-Id %q, want the proxy's %q", path, got, tc.sent)
				case !tc.keep && (got == tc.sent || !generatedID.MatchString(got)):
					t.Errorf("%s: X-Request-Id %q, want a generated one (%s)", path, got, tc.comment)
				}
				if r.body != nil && r.str("error", "request_id") != got {
					t.Errorf("%s: body request_id %q, header %q", path, r.str("error", "request_id"), got)
				}
			}
		})
	}
	t.Run("each its own", func(t *testing.T) {
		ts := start(t, nil)
		a, b := ts.send("GET", "/healthz", "", "", nil), ts.send("GET", "/healthz", "", "", nil)
		if a.header.Get("X-Request-Id") == b.header.Get("X-Request-Id") {
			t.Errorf("two requests share the ID %s", a.header.Get("X-Request-Id"))
		}
	})
}

// One line per request with its method, route pattern, status, duration,
// ID and tenant, and nothing a secret could hide in: no path, no query, no
// body, no header.
func TestAccessLog(t *testing.T) {
	var logs logBuffer
	ts := startLogged(t, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), nil)
	tn, err := ts.srv.Engine.TenantBySlug(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	const password = "Correct-Horse-42-secret"
	if r := ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "alice", "email": "alice@example.org", "password": password}); r.status != 201 {
		t.Fatalf("create user: %d %s", r.status, r.raw)
	}
	login := ts.send("POST", "/api/v1/auth/login", ts.appKey, `{"login_id":"alice","password":"`+password+`"}`, nil)
	if login.status != 200 {
		t.Fatalf("login: %d %s", login.status, login.raw)
	}
	const inQuery = "query-token-7d1e"
	poll := ts.send("GET", "/api/v1/auth/transactions/"+login.str("transaction_id")+"?wait=0&token="+inQuery, ts.appKey, "", nil)
	wrongKey := ts.send("GET", "/api/v1/admin/users", "csk_adm_not-a-key", "", nil)
	page := ts.send("GET", "/portal/acme/signin?next=/account&code="+inQuery, "", "", nil)
	health := ts.send("GET", "/healthz", "", "", nil)

	for _, tc := range []struct {
		name   string
		r      reply
		method string
		route  string
		status int
		tenant string
	}{
		{"login", login, "POST", "POST /api/v1/auth/login", 200, tn.ID},
		{"poll", poll, "GET", "GET /api/v1/auth/transactions/{id}", poll.status, tn.ID},
		{"refused key", wrongKey, "GET", "GET /api/v1/admin/users", 401, ""},
		{"portal", page, "GET", "GET /portal/{tenant}/signin", 200, tn.ID},
		{"health", health, "GET", "GET /healthz", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := tc.r.header.Get("X-Request-Id")
			l := logs.line(t, "request", id)
			if l["method"] != tc.method || l["route"] != tc.route || l["status"] != float64(tc.status) {
				t.Errorf("line %v, want method %s, route %q, status %d", l, tc.method, tc.route, tc.status)
			}
			if d, ok := l["duration"].(float64); !ok || d <= 0 {
				t.Errorf("duration %v", l["duration"])
			}
			if got, _ := l["tenant"].(string); got != tc.tenant {
				t.Errorf("tenant %q, want %q", got, tc.tenant)
			}
			for k := range l {
				switch k {
				case "time", "level", "msg", "method", "route", "status", "duration", "request_id", "tenant":
				default:
					t.Errorf("the line has %s, which may carry what the client sent", k)
				}
			}
		})
	}
	all := logs.String()
	for _, secret := range []string{password, inQuery, ts.appKey, ts.adminKey, "csk_adm_not-a-key"} {
		if strings.Contains(all, secret) {
			t.Errorf("the log holds %q:\n%s", secret, all)
		}
	}
}
