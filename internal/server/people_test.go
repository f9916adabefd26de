package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/totp"
	"golang.org/x/oauth2"
)

// otherTenantAdmin makes the tenant globex and returns an admin key of it.
func otherTenantAdmin(t *testing.T, ts *testServer) string {
	t.Helper()
	ctx := t.Context()
	other, err := ts.srv.Directory.CreateTenant(ctx, "globex", "Globex")
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := ts.srv.Directory.CreateAdminKey(ctx, flow.Caller{TenantID: other.ID, Actor: "test"}, "ops", "admin")
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func wantCode(t *testing.T, what string, r reply, status int, code string) {
	t.Helper()
	if r.status != status || r.str("error", "code") != code {
		t.Errorf("%s: %d %s, want %d %s", what, r.status, r.raw, status, code)
	}
}

// C14 over HTTP: only a tenant administrator terminates, naming the login ID
// twice; afterwards every REST front door refuses the account (E50 once the
// password is proven, E01 before), nothing changes its status again, and
// its login ID stays taken.
func TestTerminateAdminAPI(t *testing.T) {
	ts := start(t, nil)
	secret := enrolTOTP(t, ts, "alice", "Correct-Horse-42")
	otherKey := otherTenantAdmin(t, ts)
	id := ts.do("GET", "/api/v1/admin/users/alice", ts.adminKey, nil).str("id")
	body := map[string]any{"reason": "credentials sold", "confirm_login_id": "ALICE"}

	wantCode(t, "support terminates", ts.do("POST", "/api/v1/admin/users/"+id+"/terminate", ts.support, body), 403, "E14")
	wantCode(t, "another tenant terminates", ts.do("POST", "/api/v1/admin/users/"+id+"/terminate", otherKey, body), 404, "E15")
	for name, b := range map[string]any{
		"wrong confirmation": map[string]any{"reason": "x", "confirm_login_id": "bob"},
		"no confirmation":    map[string]any{"reason": "x"},
		"no reason":          map[string]any{"confirm_login_id": "alice"},
		"long reason":        map[string]any{"reason": strings.Repeat("r", 501), "confirm_login_id": "alice"},
		"unknown field":      map[string]any{"reason": "x", "confirm_login_id": "alice", "force": true},
		"not JSON":           `{"reason":`,
		"NUL":                `{"reason":"a\u0000b","confirm_login_id":"alice"}`,
	} {
		if r := ts.do("POST", "/api/v1/admin/users/"+id+"/terminate", ts.adminKey, b); r.status != 400 {
			t.Errorf("%s: %d %s, want 400", name, r.status, r.raw)
		}
	}
	if r := ts.do("GET", "/api/v1/admin/users/alice", ts.adminKey, nil); r.str("status") != "active" {
		t.Fatalf("refused terminations changed something: %s", r.raw)
	}

	r := ts.do("POST", "/api/v1/admin/users/"+id+"/terminate", ts.adminKey, body)
	if r.status != 200 || r.body["factors_revoked"] != float64(1) || r.str("login_id") != "alice" {
		t.Fatalf("terminate: %d %s", r.status, r.raw)
	}
	r = ts.do("GET", "/api/v1/admin/users/"+id, ts.support, nil)
	if r.str("status") != "terminated" || r.str("termination_reason") != "credentials sold" || !strings.HasPrefix(r.str("terminated_by"), "admin:") || r.str("terminated_at") == "" {
		t.Errorf("after termination: %s", r.raw)
	}
	wantCode(t, "terminate again", ts.do("POST", "/api/v1/admin/users/"+id+"/terminate", ts.adminKey, body), 400, "E12")
	for _, st := range []string{"active", "disabled", "terminated"} {
		wantCode(t, "set status "+st, ts.do("POST", "/api/v1/admin/users/"+id+"/status", ts.adminKey, map[string]any{"status": st}), 400, "E12")
	}
	if r := ts.do("POST", "/api/v1/admin/users/"+id+"/unlock", ts.adminKey, nil); r.status != 200 || r.str("status") != "terminated" {
		t.Errorf("unlock: %d %s", r.status, r.raw)
	}
	wantCode(t, "change the phone", ts.do("POST", "/api/v1/admin/users/"+id+"/contact", ts.adminKey, map[string]any{"phone": "5550001111"}), 400, "E12")
	wantCode(t, "enrol for the person", ts.do("POST", "/api/v1/admin/users/"+id+"/enrolments/totp", ts.adminKey, nil), 403, "E50")
	wantCode(t, "reuse the login ID", ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "Alice", "password": "Correct-Horse-42"}), 400, "E12")

	// The front doors.
	r = ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "alice", "password": "Correct-Horse-42"})
	wantCode(t, "login, right password", r, 403, "E50")
	if !strings.Contains(r.str("error", "message"), "new Login ID") {
		t.Errorf("E50 says nothing of what to do: %s", r.raw)
	}
	wrong := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "alice", "password": "Wrong-Horse-42"})
	unknown := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "nobody", "password": "Wrong-Horse-42"})
	if wrong.status != unknown.status || wrong.str("error", "code") != "E01" || wrong.str("error", "message") != unknown.str("error", "message") {
		t.Errorf("a wrong password tells: %s vs %s", wrong.raw, unknown.raw)
	}
	code := totp.CodeAt(secret, totp.Step(time.Now()))
	wantCode(t, "check", ts.do("POST", "/api/v1/auth/check", ts.appKey, map[string]any{"login_id": "alice", "code": code}), 403, "E50")
	wantCode(t, "mfa", ts.do("POST", "/api/v1/auth/mfa", ts.appKey, map[string]any{"login_id": "alice"}), 403, "E50")
	// In Spanish for a Spanish reader.
	req, _ := http.NewRequest("POST", ts.http.URL+"/api/v1/auth/mfa", strings.NewReader(`{"login_id":"alice"}`))
	req.Header.Set("Authorization", "Bearer "+ts.appKey)
	req.Header.Set("Accept-Language", "es")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.Header.Get("Content-Language") != "es" {
		t.Errorf("Spanish E50: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// The audit trail.
	r = ts.do("GET", "/api/v1/admin/audit?event=user.terminated", ts.adminKey, nil)
	events, _ := r.body["events"].([]any)
	var outcomes []string
	for _, e := range events {
		outcomes = append(outcomes, e.(map[string]any)["outcome"].(string))
	}
	if strings.Join(outcomes, ",") != "success" || !strings.Contains(string(r.raw), `"factors":1`) || !strings.Contains(string(r.raw), `"reason":"credentials sold"`) {
		t.Errorf("audit: %s", r.raw)
	}
	// A search finds the terminated account by its status.
	if r := ts.do("GET", "/api/v1/admin/users?status=terminated", ts.support, nil); !strings.Contains(string(r.raw), `"login_id":"alice"`) {
		t.Errorf("search by status: %s", r.raw)
	}
}

// C14 against a crowd: twenty checks of one person run while an
// administrator terminates the account. Checks that began after the
// termination returned never succeed; checks afterwards get E50.
func TestTerminateRacesChecks(t *testing.T) {
	ts := start(t, nil)
	if r := ts.do("PATCH", "/api/v1/admin/policy", ts.adminKey, map[string]any{"mfa_required": "nobody"}); r.status != 200 {
		t.Fatalf("policy: %d %s", r.status, r.raw)
	}
	r := ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "carol", "password": "Correct-Horse-42"})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id := r.str("id")
	var over atomic.Bool
	var late, allowed, refused atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			<-start
			for range 10 {
				began := over.Load()
				r := ts.do("POST", "/api/v1/auth/check", ts.appKey, map[string]any{"login_id": "carol", "code": "123456"})
				switch {
				case r.status == 200 && r.str("status") == "allowed":
					allowed.Add(1)
					if began {
						late.Add(1)
					}
				case r.str("error", "code") == "E50":
					refused.Add(1)
				default:
					t.Errorf("check: %d %s", r.status, r.raw)
				}
			}
		})
	}
	close(start)
	time.Sleep(20 * time.Millisecond)
	if r := ts.do("POST", "/api/v1/admin/users/"+id+"/terminate", ts.adminKey, map[string]any{"reason": "race", "confirm_login_id": "carol"}); r.status != 200 {
		t.Errorf("terminate: %d %s", r.status, r.raw)
	}
	over.Store(true)
	wg.Wait()
	if late.Load() != 0 {
		t.Errorf("%d checks begun after the termination returned were allowed", late.Load())
	}
	if refused.Load() == 0 {
		t.Errorf("no check was refused (%d allowed)", allowed.Load())
	}
	wantCode(t, "check afterwards", ts.do("POST", "/api/v1/auth/check", ts.appKey, map[string]any{"login_id": "carol", "code": "123456"}), 403, "E50")
}

// The help desk's search (issue 13): both roles, this tenant only, bad
// input a field error.
func TestSearchUsersAdminAPI(t *testing.T) {
	ts := start(t, nil)
	for _, u := range []map[string]any{
		{"login_id": "alice", "display_name": "Alice Smith", "email": "alice@example.org", "phone": "555-123-0001"},
		{"login_id": "bob", "display_name": "Robert Smith", "email": "bob@example.org", "phone": "555-123-0002", "status": "locked"},
		{"login_id": "carol", "display_name": "Carol Jones", "email": "cj@example.org"},
	} {
		if r := ts.do("POST", "/api/v1/admin/users", ts.adminKey, u); r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
	}
	otherKey := otherTenantAdmin(t, ts)
	logins := func(r reply) string {
		var out []string
		for _, u := range r.body["users"].([]any) {
			out = append(out, u.(map[string]any)["login_id"].(string))
		}
		return strings.Join(out, ",")
	}
	for q, want := range map[string]string{
		"q=smith":                "alice,bob",
		"q=SMITH&status=locked":  "bob",
		"q=cj%40":                "carol",
		"q=(555)%20123-0002":     "bob",
		"q=0001":                 "alice",
		"q=nobody":               "",
		"":                       "alice,bob,carol",
		"after=alice&limit=1":    "bob",
		"q=al&status=terminated": "",
	} {
		r := ts.do("GET", "/api/v1/admin/users?"+q, ts.support, nil)
		if r.status != 200 || logins(r) != want {
			t.Errorf("search %s: %d %s, want %s", q, r.status, r.raw, want)
		}
	}
	if r := ts.do("GET", "/api/v1/admin/users?q=smith", otherKey, nil); r.status != 200 || logins(r) != "" {
		t.Errorf("another tenant's search: %d %s", r.status, r.raw)
	}
	for _, q := range []string{"q=" + strings.Repeat("a", 101), "q=%00", "q=%FF", "status=gone", "limit=0", "limit=x", "q=a%0Ab"} {
		if r := ts.do("GET", "/api/v1/admin/users?"+q, ts.support, nil); r.status != 400 || r.str("error", "code") != "E12" {
			t.Errorf("search %s: %d %s, want 400 E12", q, r.status, r.raw)
		}
	}
}

// Resending a message (issue 13): the help desk may; nonsense is a field
// error; the person's window limits it.
func TestResendMessageAdminAPI(t *testing.T) {
	ts := start(t, func(c *config.Config) { c.PublicURL = "https://mfa.example.org" })
	mk := func(u map[string]any) string {
		t.Helper()
		r := ts.do("POST", "/api/v1/admin/users", ts.adminKey, u)
		if r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		return r.str("id")
	}
	dana := mk(map[string]any{"login_id": "dana", "email": "dana@example.org", "password": "Correct-Horse-42"})
	erin := mk(map[string]any{"login_id": "erin", "email": "erin@example.org", "status": "disabled"})
	mute := mk(map[string]any{"login_id": "mute"})
	enrolTOTP(t, ts, "frank", "Correct-Horse-42")
	otherKey := otherTenantAdmin(t, ts)

	if r := ts.do("POST", "/api/v1/admin/users/"+dana+"/messages", ts.support, map[string]any{"kind": "enrolment"}); r.status != 202 {
		t.Fatalf("enrolment: %d %s", r.status, r.raw)
	}
	if r := ts.do("POST", "/api/v1/admin/users/"+erin+"/messages", ts.support, map[string]any{"kind": "reenable"}); r.status != 202 {
		t.Fatalf("reenable: %d %s", r.status, r.raw)
	}
	ts.running()
	ts.waitFor(func(m map[string]any) bool {
		text, _ := m["Text"].(string)
		return strings.Contains(text, "dana") && strings.Contains(text, "https://mfa.example.org/portal/acme") && !strings.Contains(text, "recover")
	})
	ts.waitFor(func(m map[string]any) bool {
		text, _ := m["Text"].(string)
		return strings.Contains(text, "erin") && strings.Contains(text, "https://mfa.example.org/portal/acme/recover/reenable")
	})
	r := ts.do("GET", "/api/v1/admin/outbox", ts.adminKey, nil)
	if !strings.Contains(string(r.raw), "d***@example.org") || !strings.Contains(string(r.raw), "e***@example.org") {
		t.Errorf("outbox: %s", r.raw)
	}
	for name, c := range map[string]struct {
		id   string
		body any
	}{
		"reenable an active person": {dana, map[string]any{"kind": "reenable"}},
		"enrolment when enrolled":   {"frank", map[string]any{"kind": "enrolment"}},
		"nowhere to send":           {mute, map[string]any{"kind": "enrolment"}},
		"unknown kind":              {dana, map[string]any{"kind": "password"}},
		"no kind":                   {dana, map[string]any{}},
	} {
		wantCode(t, name, ts.do("POST", "/api/v1/admin/users/"+c.id+"/messages", ts.support, c.body), 400, "E12")
	}
	wantCode(t, "another tenant", ts.do("POST", "/api/v1/admin/users/"+dana+"/messages", otherKey, map[string]any{"kind": "enrolment"}), 404, "E15")
	wantCode(t, "application key", ts.do("POST", "/api/v1/admin/users/"+dana+"/messages", ts.appKey, map[string]any{"kind": "enrolment"}), 401, "E13")
	limited := false
	for range 10 {
		r := ts.do("POST", "/api/v1/admin/users/"+dana+"/messages", ts.adminKey, map[string]any{"kind": "enrolment"})
		if r.status == 429 && r.str("error", "code") == "E25" {
			limited = true
			break
		}
		if r.status != 202 {
			t.Fatalf("resend: %d %s", r.status, r.raw)
		}
	}
	if !limited {
		t.Error("ten more messages to one person were all sent")
	}
}

// The reported-issues queue (A13, G5): both roles work it; moves are
// checked; twenty notes at once are twenty notes; another tenant sees
// nothing.
func TestSupportQueueAdminAPI(t *testing.T) {
	ts := start(t, nil)
	ctx := t.Context()
	tn, err := ts.srv.Directory.Tenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	portal := flow.Caller{TenantID: tn.ID, ApplicationID: flow.PortalApplication, Actor: "portal", IP: "203.0.113.40"}
	var tracking []string
	for i, who := range []string{"Alice Smith", "Bob Jones"} {
		r, err := ts.srv.Engine.FileSupportRequest(ctx, portal, flow.SupportRequestInput{LoginID: strings.ToLower(who[:3]), Name: who,
			Phone: "555-555-0100", Email: fmt.Sprintf("p%d@example.org", i), Subject: "Codes", Message: "My codes are refused."})
		if err != nil {
			t.Fatal(err)
		}
		tracking = append(tracking, r.Tracking)
		time.Sleep(2 * time.Millisecond)
	}
	otherKey := otherTenantAdmin(t, ts)
	path := "/api/v1/admin/support-requests/" + tracking[0]

	r := ts.do("PATCH", path, ts.support, map[string]any{"state": "in_progress", "assignee": "user:usr_helpdesk"})
	if r.status != 200 || r.str("state") != "in_progress" || r.str("assignee") != "user:usr_helpdesk" {
		t.Fatalf("take: %d %s", r.status, r.raw)
	}
	for q, want := range map[string]string{
		"state=in_progress":                 tracking[0],
		"state=open":                        tracking[1],
		"assignee=user:usr_helpdesk":        tracking[0],
		"q=" + tracking[1]:                  tracking[1],
		"q=bob":                             tracking[1],
		"q=jones":                           tracking[1],
		"state=closed":                      "",
		"q=" + tracking[0][:6] + "&limit=1": tracking[1],
	} {
		r := ts.do("GET", "/api/v1/admin/support-requests?"+q, ts.support, nil)
		var got []string
		for _, x := range r.body["support_requests"].([]any) {
			got = append(got, x.(map[string]any)["tracking"].(string))
		}
		if r.status != 200 || strings.Join(got, ",") != want {
			t.Errorf("queue %s: %d %v, want %s", q, r.status, got, want)
		}
	}

	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			key := ts.support
			if i%2 == 0 {
				key = ts.adminKey
			}
			if r := ts.do("POST", path+"/notes", key, map[string]any{"body": fmt.Sprintf("note %d", i)}); r.status != 201 {
				t.Errorf("note %d: %d %s", i, r.status, r.raw)
			}
		})
	}
	wg.Wait()
	r = ts.do("GET", path, ts.support, nil)
	if notes, _ := r.body["notes"].([]any); r.status != 200 || len(notes) != 20 {
		t.Fatalf("after twenty notes: %d %s", r.status, r.raw)
	}

	if r := ts.do("PATCH", path, ts.adminKey, map[string]any{"state": "closed"}); r.status != 200 || r.str("state") != "closed" {
		t.Fatalf("close: %d %s", r.status, r.raw)
	}
	for name, c := range map[string]struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		"closed to in progress": {"PATCH", path, map[string]any{"state": "in_progress"}, 400, "E12"},
		"unknown state":         {"PATCH", path, map[string]any{"state": "done"}, 400, "E12"},
		"nothing to change":     {"PATCH", path, map[string]any{}, 400, "E12"},
		"long assignee":         {"PATCH", path, map[string]any{"assignee": strings.Repeat("a", 101)}, 400, "E12"},
		"control in assignee":   {"PATCH", path, map[string]any{"assignee": "a\nb"}, 400, "E12"},
		"empty note":            {"POST", path + "/notes", map[string]any{"body": "  "}, 400, "E12"},
		"long note":             {"POST", path + "/notes", map[string]any{"body": strings.Repeat("n", 2001)}, 400, "E12"},
		"note not JSON":         {"POST", path + "/notes", "note", 400, "E18"},
		"unknown request":       {"PATCH", "/api/v1/admin/support-requests/MFA-20000101-AAAAAA", map[string]any{"state": "closed"}, 404, "E15"},
		"unknown request note":  {"POST", "/api/v1/admin/support-requests/MFA-20000101-AAAAAA/notes", map[string]any{"body": "x"}, 404, "E15"},
		"bad queue state":       {"GET", "/api/v1/admin/support-requests?state=done", nil, 400, "E12"},
		"long queue search":     {"GET", "/api/v1/admin/support-requests?q=" + strings.Repeat("q", 101), nil, 400, "E12"},
	} {
		wantCode(t, name, ts.do(c.method, c.path, ts.support, c.body), c.status, c.code)
	}
	if r := ts.do("PATCH", path, ts.support, map[string]any{"state": "open", "assignee": ""}); r.status != 200 || r.str("state") != "open" || r.str("assignee") != "" {
		t.Errorf("reopen and unassign: %d %s", r.status, r.raw)
	}

	wantCode(t, "another tenant moves", ts.do("PATCH", path, otherKey, map[string]any{"state": "closed"}), 404, "E15")
	wantCode(t, "another tenant notes", ts.do("POST", path+"/notes", otherKey, map[string]any{"body": "x"}), 404, "E15")
	wantCode(t, "another tenant reads", ts.do("GET", path, otherKey, nil), 404, "E15")
	wantCode(t, "application key", ts.do("PATCH", path, ts.appKey, map[string]any{"state": "closed"}), 401, "E13")

	r = ts.do("GET", "/api/v1/admin/audit?event=support.noted&limit=100", ts.adminKey, nil)
	if events, _ := r.body["events"].([]any); len(events) != 20 || strings.Contains(string(r.raw), "note 1") {
		t.Errorf("support.noted audit: %d events %s", len(events), r.raw)
	}
	r = ts.do("GET", "/api/v1/admin/audit?event=support.updated&limit=100", ts.adminKey, nil)
	if events, _ := r.body["events"].([]any); len(events) != 3 {
		t.Errorf("support.updated audit: %d events %s", len(events), r.raw)
	}
}

// C14 at the hosted login (X2): a termination revokes the tokens an
// application holds, and the next sign-in hears E50 after the password.
func TestHostedLoginRefusesTerminated(t *testing.T) {
	ts := startIssuer(t, nil)
	secret := enrolAuthenticator(t, ts, "alice")
	r := newRP(t, ts, flow.ClientInput{})
	tok, _ := r.signIn(secret, time.Now())
	if res := ts.do("POST", "/api/v1/admin/users/alice/terminate", ts.adminKey, map[string]any{"reason": "taken over", "confirm_login_id": "alice"}); res.status != 200 || res.body["oidc_tokens_revoked"].(float64) < 1 {
		t.Fatalf("terminate: %d %s", res.status, res.raw)
	}
	if _, err := r.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("userinfo answered with a terminated account's token")
	}
	if _, err := r.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Errorf("refresh after termination: %v", err)
	}
	pg, _, _, _ := r.authorize()
	pg = r.post("/portal/acme/login", url.Values{"request": {hidden(pg.body, "request")}, "login_id": {"alice"}, "password": {"Correct-Horse-42"}})
	if !strings.Contains(pg.body, "E50") || strings.HasSuffix(pg.url.Path, "/signin/verify") {
		t.Fatalf("hosted login after termination: %d at %s: %.500s", pg.status, pg.url, pg.body)
	}
}
