package server_test

import (
	"encoding/base32"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/testutil/pgtest"
	"github.com/countersign/countersign/internal/totp"
)

// databases runs each test on SQLite and on PostgreSQL, which refuses text
// SQLite stores: a NUL or bytes that are not UTF-8.
var databases = []struct {
	name   string
	mutate func(t *testing.T) func(*config.Config)
}{
	{"sqlite", func(*testing.T) func(*config.Config) { return nil }},
	{"postgres", func(t *testing.T) func(*config.Config) {
		url := pgtest.URL(t)
		return func(c *config.Config) { c.DatabaseURL = url }
	}},
}

// TestBadTextNeverReachesTheDatabase is issue 10 item 6 (G4, X7): a NUL or
// invalid UTF-8 in a path id, a query value, a header or a JSON string is
// refused as not found (E15) or as a field error (E12) naming its field,
// never 500 E99, on both databases.
func TestBadTextNeverReachesTheDatabase(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			ts := start(t, db.mutate(t))
			secret := enrolTOTP(t, ts, "alice", "Correct-Horse-42")
			for _, bad := range []struct{ name, raw, json string }{
				{"nul", "a\x00b", `"a\u0000b"`},
				{"invalid utf-8", "a\xffb", "\"a\xffb\""},
			} {
				t.Run(bad.name, func(t *testing.T) {
					esc := url.PathEscape(bad.raw)
					for _, tc := range []struct {
						name, method, path string
						key                string
						header             map[string]string
						body               string
						status             int
						code, field        string
					}{
						{"login: login_id", "POST", "/api/v1/auth/login", ts.appKey, nil,
							`{"login_id":` + bad.json + `,"password":"x"}`, 400, "E12", "login_id"},
						{"login: password", "POST", "/api/v1/auth/login", ts.appKey, nil,
							`{"login_id":"alice","password":` + bad.json + `}`, 400, "E12", "password"},
						{"login: trusted device token", "POST", "/api/v1/auth/login", ts.appKey, nil,
							`{"login_id":"alice","password":"Correct-Horse-42","trusted_device_token":` + bad.json + `}`, 400, "E12", "trusted_device_token"},
						{"check: code", "POST", "/api/v1/auth/check", ts.appKey, nil,
							`{"login_id":"alice","code":` + bad.json + `}`, 400, "E12", "code"},
						{"verify: path id", "POST", "/api/v1/auth/transactions/" + esc + "/verify", ts.appKey, nil,
							`{"code":"123456"}`, 404, "E15", ""},
						{"transaction: path id", "GET", "/api/v1/auth/transactions/" + esc, ts.appKey, nil,
							"", 404, "E15", ""},
						{"transaction: wait", "GET", "/api/v1/auth/transactions/txn_x?wait=" + esc, ts.appKey, nil,
							"", 400, "E12", "wait"},
						{"enrolment status: path id", "GET", "/api/v1/enrolments/" + esc, ts.appKey, nil,
							"", 404, "E15", ""},
						{"enrolment confirm: path id", "POST", "/api/v1/enrolments/" + esc + "/confirm", ts.appKey, nil,
							`{"code":"123456"}`, 404, "E15", ""},
						{"admin user by id", "GET", "/api/v1/admin/users/" + esc, ts.adminKey, nil,
							"", 404, "E15", ""},
						{"admin user factors", "GET", "/api/v1/admin/users/" + esc + "/factors", ts.adminKey, nil,
							"", 404, "E15", ""},
						{"admin user status", "POST", "/api/v1/admin/users/" + esc + "/status", ts.adminKey, nil,
							`{"status":"disabled"}`, 404, "E15", ""},
						{"admin revoke trusted device", "POST", "/api/v1/admin/users/alice/trusted-devices/" + esc + "/revoke", ts.adminKey, nil,
							"", 404, "E15", ""},
						{"admin users: after", "GET", "/api/v1/admin/users?after=" + esc, ts.adminKey, nil,
							"", 400, "E12", "after"},
						{"admin create user: display name", "POST", "/api/v1/admin/users", ts.adminKey, nil,
							`{"login_id":"bob","password":"Correct-Horse-42","display_name":` + bad.json + `}`, 400, "E12", "display_name"},
						{"admin create group: name", "POST", "/api/v1/admin/groups", ts.adminKey, nil,
							`{"name":` + bad.json + `}`, 400, "E12", "name"},
						{"audit: user", "GET", "/api/v1/admin/audit?user=" + esc, ts.adminKey, nil,
							"", 400, "E12", "user"},
						{"audit: event", "GET", "/api/v1/admin/audit?event=" + esc + "&outcome=success", ts.adminKey, nil,
							"", 400, "E12", "event"},
						{"support request: tracking", "GET", "/api/v1/admin/support-requests/" + esc, ts.adminKey, nil,
							"", 404, "E15", ""},
						{"support requests: before", "GET", "/api/v1/admin/support-requests?before=" + esc, ts.adminKey, nil,
							"", 400, "E12", "before"},
						{"outbox: user", "GET", "/api/v1/admin/outbox?user=" + esc, ts.adminKey, nil,
							"", 400, "E12", "user"},
						{"outbox: state", "GET", "/api/v1/admin/outbox?state=" + esc, ts.adminKey, nil,
							"", 400, "E12", "state"},
						{"policy: nested string", "PUT", "/api/v1/admin/policy", ts.adminKey, nil,
							`{"help_desk":{"name":` + bad.json + `}}`, 400, "E12", "help_desk.name"},
						{"header: authorization", "GET", "/api/v1/admin/users", "", map[string]string{"Authorization": "Bearer cs_app_" + bad.raw},
							"", 401, "E13", ""},
						{"header: accept-language", "GET", "/api/v1/admin/users/" + esc, ts.adminKey, map[string]string{"Accept-Language": bad.raw},
							"", 404, "E15", ""},
						{"header: forwarded for", "POST", "/api/v1/auth/login", ts.appKey, map[string]string{"X-Forwarded-For": bad.raw},
							`{"login_id":"alice","password":"wrong"}`, 401, "", ""},
					} {
						t.Run(tc.name, func(t *testing.T) {
							rec := serveRaw(ts, tc.method, tc.path, tc.key, tc.header, tc.body)
							var body struct {
								Error struct {
									Code    string
									Message string
									Fields  []struct{ Field, Code, Message string }
								}
							}
							if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
								t.Fatalf("%d, not JSON: %q", rec.Code, rec.Body.String())
							}
							if rec.Code != tc.status || (tc.code != "" && body.Error.Code != tc.code) {
								t.Fatalf("%d %s, want %d %s: %s", rec.Code, body.Error.Code, tc.status, tc.code, rec.Body.String())
							}
							if tc.field == "" {
								return
							}
							if len(body.Error.Fields) != 1 || body.Error.Fields[0].Field != tc.field || body.Error.Fields[0].Code != "unusable_chars" {
								t.Fatalf("fields = %+v, want %s unusable_chars", body.Error.Fields, tc.field)
							}
						})
					}
				})
			}

			// The same refusal in the person's language, and the verify it
			// interrupted still succeeds once the label is fixed.
			r := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "alice", "password": "Correct-Horse-42"})
			if r.status != 200 || r.str("status") != "mfa_required" {
				t.Fatalf("login: %d %s", r.status, r.raw)
			}
			verify := "/api/v1/auth/transactions/" + r.str("transaction_id") + "/verify"
			code := totp.CodeAt(secret, totp.Step(time.Now()))
			rec := serveRaw(ts, "POST", verify, ts.appKey, map[string]string{"Accept-Language": "es"},
				`{"code":"`+code+`","remember_device":true,"device_label":"desk\u0000"}`)
			if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"field":"device_label"`) ||
				!strings.Contains(rec.Body.String(), "no se pueden usar") {
				t.Fatalf("verify with a NUL in the device label: %d %s", rec.Code, rec.Body.String())
			}
			rec = serveRaw(ts, "POST", verify, ts.appKey, nil, "{\"code\":\""+code+"\",\"remember_device\":true,\"device_label\":\"desk\xff\"}")
			if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"field":"device_label"`) {
				t.Fatalf("verify with invalid UTF-8 in the device label: %d %s", rec.Code, rec.Body.String())
			}
			r = ts.do("POST", verify, ts.appKey, map[string]any{"code": code, "remember_device": true, "device_label": "desk"})
			if r.status != 200 || r.str("status") != "allowed" {
				t.Fatalf("verify with the label fixed: %d %s", r.status, r.raw)
			}
		})
	}
}

// serveRaw sends a request straight to the handler, so bytes a client
// library would refuse to put in a header still arrive.
func serveRaw(ts *testServer, method, path, key string, header map[string]string, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	rec := httptest.NewRecorder()
	ts.srv.Handler.ServeHTTP(rec, req)
	return rec
}

// enrolTOTP creates a user with an active authenticator and returns its
// secret.
func enrolTOTP(t *testing.T, ts *testServer, loginID, password string) []byte {
	t.Helper()
	r := ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": loginID, "password": password})
	if r.status != 201 {
		t.Fatalf("create user: %d %s", r.status, r.raw)
	}
	r = ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": loginID, "password": password})
	if r.status != 200 || r.str("status") != "enrolment_required" {
		t.Fatalf("first login: %d %s", r.status, r.raw)
	}
	r = ts.do("POST", "/api/v1/enrolments/totp", ts.appKey, map[string]any{"transaction_id": r.str("transaction_id")})
	if r.status != 201 {
		t.Fatalf("begin enrolment: %d %s", r.status, r.raw)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(r.str("secret"), " ", ""))
	if err != nil {
		t.Fatalf("secret %q: %v", r.str("secret"), err)
	}
	code := totp.CodeAt(secret, totp.Step(time.Now())-1)
	r = ts.do("POST", "/api/v1/enrolments/"+r.str("enrolment_id")+"/confirm", ts.appKey, map[string]any{"code": code})
	if r.status != 200 {
		t.Fatalf("confirm: %d %s", r.status, r.raw)
	}
	return secret
}
