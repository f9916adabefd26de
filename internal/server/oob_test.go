package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/delivery/twilio"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/server"
	"github.com/countersign/countersign/internal/testutil/mailsink"
)

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// running starts the background workers of ts's server.
func (ts *testServer) running() {
	ts.srv.Start(ts.t.Context())
}

func (ts *testServer) policy(doc string) {
	ts.t.Helper()
	if r := ts.do("PUT", "/api/v1/admin/policy", ts.adminKey, doc); r.status != 200 {
		ts.t.Fatalf("policy: %d %s", r.status, r.raw)
	}
}

func (ts *testServer) devOutbox() []map[string]any {
	ts.t.Helper()
	r := ts.do("GET", "/dev/outbox.json", "", nil)
	if r.status != 200 {
		ts.t.Fatalf("dev outbox: %d", r.status)
	}
	var out []map[string]any
	for _, m := range r.body["messages"].([]any) {
		out = append(out, m.(map[string]any))
	}
	return out
}

// waitFor polls the development outbox until a message matches.
func (ts *testServer) waitFor(match func(m map[string]any) bool) map[string]any {
	ts.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range ts.devOutbox() {
			if match(m) {
				return m
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.t.Fatal("no such message was delivered")
	return nil
}

func factorID(r reply, kind string) string {
	for _, f := range r.body["factors"].([]any) {
		m := f.(map[string]any)
		if m["kind"] == kind {
			return m["id"].(string)
		}
	}
	return ""
}

// B3 over HTTP: an SMS code goes through the outbox to the development
// provider and logs the user in; send limits answer 429 with Retry-After.
func TestSMSLoginThroughTheOutbox(t *testing.T) {
	ts := start(t, nil)
	ts.running()
	ts.policy(`{"allowed_factors":["totp","sms"],"send_limits":{"per_user":{"count":2,"window":"15m"},"per_destination":{"count":10,"window":"1h"},"per_tenant":{"count":100,"window":"1h"}}}`)
	ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "alice", "password": "Correct-Horse-42"})
	if r := ts.do("POST", "/api/v1/admin/users/alice/contact", ts.adminKey, map[string]any{"phone": "(555) 555-0123"}); r.status != 200 {
		t.Fatalf("contact: %d %s", r.status, r.raw)
	}
	r := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "alice", "password": "Correct-Horse-42"})
	sms := factorID(r, "sms")
	if r.str("status") != "mfa_required" || sms == "" {
		t.Fatalf("login: %s", r.raw)
	}
	txn := r.str("transaction_id")
	if s := ts.do("POST", "/api/v1/auth/transactions/"+txn+"/challenges", ts.appKey, map[string]any{"factor_id": sms}); s.status != 202 || s.str("sent_to") != "***-***-0123" {
		t.Fatalf("challenge: %d %s", s.status, s.raw)
	}
	msg := ts.waitFor(func(m map[string]any) bool { return m["To"] == "+15555550123" })
	code := sixDigits.FindString(msg["Text"].(string))
	ts.do("POST", "/api/v1/auth/transactions/"+txn+"/challenges", ts.appKey, map[string]any{"factor_id": sms})
	limited := ts.do("POST", "/api/v1/auth/transactions/"+txn+"/challenges", ts.appKey, map[string]any{"factor_id": sms})
	if limited.status != 429 || limited.str("error", "code") != "E25" || limited.header.Get("Retry-After") == "" {
		t.Fatalf("third send: %d %s", limited.status, limited.raw)
	}
	v := ts.do("POST", "/api/v1/auth/transactions/"+txn+"/verify", ts.appKey, map[string]any{"factor_id": sms, "code": code, "remember_device": true})
	if v.status != 200 || v.str("status") != "allowed" || !strings.HasPrefix(v.str("trusted_device_token"), "csd_") {
		t.Fatalf("verify: %d %s", v.status, v.raw)
	}
	// The remembered device skips the second factor from the same address (B4).
	again := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "alice", "password": "Correct-Horse-42", "trusted_device_token": v.str("trusted_device_token")})
	if again.str("status") != "allowed" {
		t.Fatalf("trusted login: %s", again.raw)
	}
	// Administrators see delivery state, never the code.
	ob := ts.do("GET", "/api/v1/admin/outbox?state=delivered", ts.adminKey, nil)
	if ob.status != 200 || strings.Contains(string(ob.raw), code) || !strings.Contains(string(ob.raw), `"provider":"dev"`) {
		t.Fatalf("admin outbox: %d %s", ob.status, ob.raw)
	}
}

// A4–A6 over HTTP with the development provider's simulated phone: the
// verification call activates the factor, a login call is approved with #,
// and the application learns the outcome by long-polling.
func TestPhoneCallThroughTheDevelopmentPage(t *testing.T) {
	ts := start(t, nil)
	ts.running()
	ts.policy(`{"allowed_factors":["totp","voice"]}`)
	ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "bob", "password": "Correct-Horse-42"})
	en := ts.do("POST", "/api/v1/admin/users/bob/enrolments/voice", ts.adminKey, map[string]any{"primary": "5555550101", "backup": "5555550102"})
	if en.status != 201 {
		t.Fatalf("voice enrolment: %d %s", en.status, en.raw)
	}
	press := func(call, action, keys string) {
		t.Helper()
		ts.waitFor(func(m map[string]any) bool { return m["CallID"] == call })
		req, _ := http.NewRequest("POST", ts.http.URL+"/dev/calls/"+call+"/"+action, strings.NewReader(url.Values{"keys": {keys}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil || resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("dev page %s: %v %v", action, err, resp)
		}
		resp.Body.Close()
	}
	press(en.str("call", "id"), "press", "#")
	// A4: the backup is verified by its own call before the factor is active.
	st := ts.do("GET", "/api/v1/enrolments/"+en.str("enrolment_id"), ts.appKey, nil)
	if st.str("state") != "pending" || st.str("call", "leg") != "backup" || st.str("call", "id") == en.str("call", "id") {
		t.Fatalf("enrolment after the primary's call: %s", st.raw)
	}
	press(st.str("call", "id"), "press", "#")
	if st := ts.do("GET", "/api/v1/enrolments/"+en.str("enrolment_id"), ts.appKey, nil); st.str("state") != "active" {
		t.Fatalf("enrolment after the backup's call: %s", st.raw)
	}
	login := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "bob", "password": "Correct-Horse-42"})
	txn := login.str("transaction_id")
	voice := factorID(login, "voice")
	call := ts.do("POST", "/api/v1/auth/transactions/"+txn+"/calls", ts.appKey, map[string]any{"factor_id": voice})
	if call.status != 202 || call.str("leg") != "primary" {
		t.Fatalf("call: %d %s", call.status, call.raw)
	}
	// First the person presses the wrong key: its own outcome and message.
	press(call.str("id"), "press", "5")
	st = ts.do("GET", "/api/v1/auth/transactions/"+txn, ts.appKey, nil)
	if st.str("call", "state") != "wrong_key" || st.str("call", "error", "code") != "E30" || st.str("status") != "pending" {
		t.Fatalf("after the wrong key: %s", st.raw)
	}
	call = ts.do("POST", "/api/v1/auth/transactions/"+txn+"/calls", ts.appKey, map[string]any{"factor_id": voice, "backup": true})
	var polled reply
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		polled = ts.do("GET", "/api/v1/auth/transactions/"+txn+"?wait=10", ts.appKey, nil)
	}()
	time.Sleep(300 * time.Millisecond)
	press(call.str("id"), "press", "#")
	wg.Wait()
	if polled.str("status") != "allowed" || polled.str("call", "state") != "approved" || polled.str("call", "leg") != "backup" {
		t.Fatalf("long poll: %s", polled.raw)
	}
}

// fakeTwilio records API calls the way a Twilio-compatible service would
// receive them.
type fakeTwilio struct {
	mu    sync.Mutex
	calls []url.Values
}

func (f *fakeTwilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	f.calls = append(f.calls, r.PostForm)
	n := len(f.calls)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	_, _ = io.WriteString(w, `{"sid":"CA`+strconv.Itoa(n)+`"}`)
}

// A7 and the signed callbacks: the call presents the configured caller ID,
// the provider's callbacks must carry a valid X-Twilio-Signature, and the
// TwiML asks for # and approves the login.
func TestTwilioCallbacksAreSigned(t *testing.T) {
	fake := &fakeTwilio{}
	api := httptest.NewServer(fake)
	t.Cleanup(api.Close)
	var handler http.Handler
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(front.Close)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Delivery.Providers["tw"] = config.Provider{Type: "twilio", AccountSID: "AC0001", AuthToken: "secret-token", From: "+15550009999",
		BaseURL: api.URL, PublicURL: front.URL}
	cfg.Delivery.Default.Voice = "tw"
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	handler = srv.Handler
	ts := &testServer{t: t, srv: srv, http: front}
	tn, _ := srv.Directory.CreateTenant(t.Context(), "acme", "Acme")
	op := flow.Caller{TenantID: tn.ID, Actor: "test"}
	_, ts.appKey, _ = srv.Directory.CreateApplication(t.Context(), op, "portal")
	_, ts.adminKey, _ = srv.Directory.CreateAdminKey(t.Context(), op, "ops", "admin")
	ts.running()
	ts.policy(`{"allowed_factors":["voice"]}`)
	ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "carl"})
	en := ts.do("POST", "/api/v1/admin/users/carl/enrolments/voice", ts.adminKey, map[string]any{"primary": "5555550101", "primary_ext": "77"})
	callID := en.str("call", "id")

	deadline := time.Now().Add(10 * time.Second)
	for {
		fake.mu.Lock()
		n := len(fake.calls)
		fake.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	fake.mu.Lock()
	if len(fake.calls) != 1 {
		t.Fatalf("calls placed: %d", len(fake.calls))
	}
	placed := fake.calls[0]
	fake.mu.Unlock()
	if placed.Get("From") != "+15550009999" || placed.Get("To") != "+15555550101" || placed.Get("SendDigits") != "ww77" ||
		placed.Get("Url") != front.URL+"/hooks/twilio/voice/"+callID {
		t.Fatalf("call request %v", placed)
	}
	hook := func(path string, form url.Values, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", front.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twilio.Signature(token, front.URL+path, form))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	answer := url.Values{"CallSid": {"CA1"}, "AnsweredBy": {"human"}}
	if code, _ := hook("/hooks/twilio/voice/"+callID, answer, "wrong-token"); code != 403 {
		t.Fatalf("forged callback: %d", code)
	}
	code, twiml := hook("/hooks/twilio/voice/"+callID, answer, "secret-token")
	if code != 200 || !strings.Contains(twiml, "<Gather") || !strings.Contains(twiml, `finishOnKey=""`) || !strings.Contains(twiml, "press pound") {
		t.Fatalf("answer TwiML %d %s", code, twiml)
	}
	code, twiml = hook("/hooks/twilio/gather/"+callID, url.Values{"CallSid": {"CA1"}, "Digits": {"#"}}, "secret-token")
	if code != 200 || !strings.Contains(twiml, "set up") {
		t.Fatalf("gather TwiML %d %s", code, twiml)
	}
	if st := ts.do("GET", "/api/v1/enrolments/"+en.str("enrolment_id"), ts.appKey, nil); st.str("state") != "active" {
		t.Fatalf("enrolment: %s", st.raw)
	}
	if code, _ := hook("/hooks/twilio/status/"+callID, url.Values{"CallSid": {"CA1"}, "CallStatus": {"completed"}}, "secret-token"); code != 204 {
		t.Fatalf("status callback: %d", code)
	}
}

// G7 with a real SMTP server process: an email code reaches it and logs in.
func TestEmailCodeOverSMTP(t *testing.T) {
	sink := mailsink.Start(t)
	ts := start(t, func(c *config.Config) {
		c.Delivery.Providers["mail"] = config.Provider{Type: "smtp", Host: sink.Host, Port: sink.Port, TLS: "none", From: "Countersign <no-reply@example.org>"}
		c.Delivery.Default.Email = "mail"
	})
	ts.running()
	ts.policy(`{"allowed_factors":["email"]}`)
	ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "dana", "password": "Correct-Horse-42"})
	ts.do("POST", "/api/v1/admin/users/dana/contact", ts.adminKey, map[string]any{"email": "dana@example.org"})
	login := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "dana", "password": "Correct-Horse-42"})
	txn := login.str("transaction_id")
	ts.do("POST", "/api/v1/auth/transactions/"+txn+"/challenges", ts.appKey, map[string]any{"factor_id": factorID(login, "email")})
	raw := sink.Wait(t, 15*time.Second, func(m string) bool {
		return strings.Contains(m, "dana@example.org") && strings.Contains(m, "verification code")
	})
	code := sixDigits.FindString(raw)
	if v := ts.do("POST", "/api/v1/auth/transactions/"+txn+"/verify", ts.appKey, map[string]any{"factor_id": factorID(login, "email"), "code": code}); v.str("status") != "allowed" {
		t.Fatalf("verify with the emailed code: %s", v.raw)
	}
}

var tokenText = regexp.MustCompile(`[A-Z2-9]{5} [A-Z2-9]{5}`)

// The remaining out-of-band routes over HTTP: contact verification (C7), a
// one-time access token (C8), and a person's own trusted devices (B4).
func TestContactsTokensAndDevicesOverHTTP(t *testing.T) {
	ts := start(t, nil)
	ts.running()
	ts.policy(`{"allowed_factors":["totp","sms","email"]}`)
	ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "erin", "password": "Correct-Horse-42"})
	en := ts.do("POST", "/api/v1/admin/users/erin/enrolments/totp", ts.adminKey, map[string]any{})
	secret := strings.ReplaceAll(en.str("secret"), " ", "")
	now := time.Now()
	ts.do("POST", "/api/v1/admin/enrolments/"+en.str("enrolment_id")+"/confirm", ts.adminKey, map[string]any{"code": oathtool(t, secret, now.Add(-30*time.Second))})

	login := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "erin", "password": "Correct-Horse-42"})
	txn := login.str("transaction_id")
	v := ts.do("POST", "/api/v1/auth/transactions/"+txn+"/verify", ts.appKey, map[string]any{"code": oathtool(t, secret, now), "remember_device": true, "device_label": "desk"})
	if v.str("status") != "allowed" {
		t.Fatalf("verify: %s", v.raw)
	}
	// Register an email address: the code goes to the new address.
	sent := ts.do("POST", "/api/v1/contacts/verifications", ts.appKey, map[string]any{"transaction_id": txn, "kind": "email", "value": "erin@example.org"})
	if sent.status != 201 || sent.str("sent_to") != "e***@example.org" {
		t.Fatalf("verification: %d %s", sent.status, sent.raw)
	}
	msg := ts.waitFor(func(m map[string]any) bool { return m["To"] == "erin@example.org" })
	code := sixDigits.FindString(msg["Text"].(string))
	if c := ts.do("POST", "/api/v1/contacts/verifications/"+sent.str("id")+"/confirm", ts.appKey, map[string]any{"code": code}); c.status != 200 || c.str("email_verified_at") == "" {
		t.Fatalf("confirm: %d %s", c.status, c.raw)
	}
	// A one-time access token to the verified address logs in once.
	if r := ts.do("POST", "/api/v1/auth/one-time-tokens", ts.appKey, map[string]any{"login_id": "erin", "channel": "email"}); r.status != 202 {
		t.Fatalf("token: %d %s", r.status, r.raw)
	}
	tokenMsg := ts.waitFor(func(m map[string]any) bool { return strings.Contains(m["Text"].(string), "one-time access token") })
	token := tokenText.FindString(tokenMsg["Text"].(string))
	txn2 := ts.do("POST", "/api/v1/auth/mfa", ts.appKey, map[string]any{"login_id": "erin"}).str("transaction_id")
	if r := ts.do("POST", "/api/v1/auth/transactions/"+txn2+"/verify", ts.appKey, map[string]any{"one_time_token": token}); r.str("status") != "allowed" {
		t.Fatalf("token login: %s", r.raw)
	}
	// The person sees and forgets their remembered device.
	devs := ts.do("GET", "/api/v1/auth/transactions/"+txn+"/trusted-devices", ts.appKey, nil)
	list, _ := devs.body["devices"].([]any)
	if devs.status != 200 || len(list) != 1 {
		t.Fatalf("devices: %d %s", devs.status, devs.raw)
	}
	id := list[0].(map[string]any)["id"].(string)
	if r := ts.do("POST", "/api/v1/auth/transactions/"+txn+"/trusted-devices/"+id+"/revoke", ts.appKey, nil); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	if again := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "erin", "password": "Correct-Horse-42", "trusted_device_token": v.str("trusted_device_token")}); again.str("status") != "mfa_required" {
		t.Fatalf("revoked device: %s", again.raw)
	}
}

// X8 over HTTP: an administrator sets the language of a person's messages
// at creation and through the contact endpoint; an unknown language is a
// per-field error; an SMS code then arrives in that language.
func TestMessageLanguageOverHTTP(t *testing.T) {
	ts := start(t, nil)
	ts.running()
	ts.policy(`{"allowed_factors":["totp","sms"]}`)
	u := ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "rosa", "password": "Correct-Horse-42", "locale": "es"})
	if u.status != 201 || u.str("locale") != "es" {
		t.Fatalf("create with locale es: %d %s", u.status, u.raw)
	}
	if r := ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "remy", "locale": "klingon"}); r.status != 400 || !strings.Contains(string(r.raw), `"field":"locale"`) {
		t.Fatalf("unknown language: %d %s", r.status, r.raw)
	}
	if r := ts.do("POST", "/api/v1/admin/users", ts.adminKey, map[string]any{"login_id": "remy"}); r.str("locale") != "en" {
		t.Fatalf("default language: %s", r.raw)
	}
	ts.do("POST", "/api/v1/admin/users/rosa/contact", ts.adminKey, map[string]any{"phone": "5555550142"}) // the SMS factor
	login := ts.do("POST", "/api/v1/auth/login", ts.appKey, map[string]any{"login_id": "rosa", "password": "Correct-Horse-42"})
	sms := factorID(login, "sms")
	if r := ts.do("POST", "/api/v1/auth/transactions/"+login.str("transaction_id")+"/challenges", ts.appKey, map[string]any{"factor_id": sms}); r.status >= 300 {
		t.Fatalf("challenge: %d %s", r.status, r.raw)
	}
	m := ts.waitFor(func(m map[string]any) bool { return m["To"] == "+15555550142" })
	if !strings.HasPrefix(m["Text"].(string), "Código de verificación de") {
		t.Fatalf("SMS for a Spanish speaker: %q", m["Text"])
	}
	if r := ts.do("POST", "/api/v1/admin/users/rosa/contact", ts.adminKey, map[string]any{"locale": "en"}); r.status != 200 || r.str("locale") != "en" {
		t.Fatalf("contact locale en: %d %s", r.status, r.raw)
	}
	if r := ts.do("POST", "/api/v1/admin/users/rosa/contact", ts.adminKey, map[string]any{"locale": "xx"}); r.status != 400 {
		t.Fatalf("contact locale xx: %d %s", r.status, r.raw)
	}
}
