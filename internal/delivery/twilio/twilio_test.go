package twilio

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/delivery"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "tok-9f8e7d6c5b4a"
)

type captured struct {
	method, path string
	user, pass   string
	ok           bool
	contentType  string
	idempotency  string
	form         url.Values
}

// fakeTwilio answers like Twilio's REST API and records what it got.
type fakeTwilio struct {
	mu       sync.Mutex
	requests []captured
	status   int
	body     string
}

func (f *fakeTwilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, captured{
		method: r.Method, path: r.URL.Path, user: user, pass: pass, ok: ok,
		contentType: r.Header.Get("Content-Type"),
		idempotency: r.Header.Get("I-Twilio-Idempotency-Token"),
		form:        r.PostForm,
	})
	status, body := f.status, f.body
	f.mu.Unlock()
	if status == 0 {
		status = http.StatusCreated
		kind := "SM"
		if strings.HasSuffix(r.URL.Path, "/Calls.json") {
			kind = "CA"
		}
		body = `{"sid":"` + kind + `42","status":"queued"}`
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (f *fakeTwilio) got() []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func newClient(t *testing.T, f http.Handler, edit func(*Config)) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := Config{
		AccountSID: testSID, AuthToken: testToken,
		BaseURL:   srv.URL,
		From:      "+15005550006",
		PublicURL: "https://mfa.example.org/",
		Timeout:   5 * time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg, srv.Client())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestSend(t *testing.T) {
	tests := []struct {
		name     string
		cfg      func(*Config)
		msg      delivery.Message
		wantPath string
		wantRef  string
		wantForm url.Values
	}{
		{
			name:     "sms from a number",
			msg:      delivery.Message{ID: "out-1", Channel: delivery.SMS, To: "5551234567", Text: "Code: 123456"},
			wantPath: "/2010-04-01/Accounts/" + testSID + "/Messages.json",
			wantRef:  "SM42",
			wantForm: url.Values{"To": {"+15551234567"}, "From": {"+15005550006"}, "Body": {"Code: 123456"}},
		},
		{
			name:     "sms through a messaging service",
			cfg:      func(c *Config) { c.MessagingServiceSID = "MG123" },
			msg:      delivery.Message{ID: "out-2", Channel: delivery.SMS, To: "+447700900123", Text: "Hi"},
			wantPath: "/2010-04-01/Accounts/" + testSID + "/Messages.json",
			wantRef:  "SM42",
			wantForm: url.Values{"To": {"+447700900123"}, "MessagingServiceSid": {"MG123"}, "Body": {"Hi"}},
		},
		{
			name:     "call with extension",
			msg:      delivery.Message{ID: "out-3", Channel: delivery.Voice, To: "+15551234567", Extension: "204", CallID: "call-7"},
			wantPath: "/2010-04-01/Accounts/" + testSID + "/Calls.json",
			wantRef:  "CA42",
			wantForm: url.Values{
				"To":                   {"+15551234567"},
				"From":                 {"+15005550006"},
				"Url":                  {"https://mfa.example.org/hooks/twilio/voice/call-7"},
				"Method":               {"POST"},
				"StatusCallback":       {"https://mfa.example.org/hooks/twilio/status/call-7"},
				"StatusCallbackEvent":  {"initiated", "ringing", "answered", "completed"},
				"StatusCallbackMethod": {"POST"},
				"Timeout":              {"30"},
				"MachineDetection":     {"DetectMessageEnd"},
				"SendDigits":           {"ww204"},
			},
		},
		{
			name:     "call without extension",
			msg:      delivery.Message{ID: "out-4", Channel: delivery.Voice, To: "+15551234567", CallID: "call-8"},
			wantPath: "/2010-04-01/Accounts/" + testSID + "/Calls.json",
			wantRef:  "CA42",
			wantForm: url.Values{
				"To":                   {"+15551234567"},
				"From":                 {"+15005550006"},
				"Url":                  {"https://mfa.example.org/hooks/twilio/voice/call-8"},
				"Method":               {"POST"},
				"StatusCallback":       {"https://mfa.example.org/hooks/twilio/status/call-8"},
				"StatusCallbackEvent":  {"initiated", "ringing", "answered", "completed"},
				"StatusCallbackMethod": {"POST"},
				"Timeout":              {"30"},
				"MachineDetection":     {"DetectMessageEnd"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTwilio{}
			c := newClient(t, f, tt.cfg)
			res, err := c.Send(t.Context(), tt.msg)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res.Ref != tt.wantRef {
				t.Errorf("Ref = %q, want %q", res.Ref, tt.wantRef)
			}
			reqs := f.got()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if got.method != http.MethodPost || got.path != tt.wantPath {
				t.Errorf("request = %s %s, want POST %s", got.method, got.path, tt.wantPath)
			}
			if !got.ok || got.user != testSID || got.pass != testToken {
				t.Errorf("basic auth = %q/%q (%v)", got.user, got.pass, got.ok)
			}
			if got.contentType != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type = %q", got.contentType)
			}
			if got.idempotency != tt.msg.ID {
				t.Errorf("I-Twilio-Idempotency-Token = %q, want %q", got.idempotency, tt.msg.ID)
			}
			if !equalForms(got.form, tt.wantForm) {
				t.Errorf("form = %v\nwant   %v", got.form, tt.wantForm)
			}
		})
	}
}

func equalForms(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestSendErrors(t *testing.T) {
	sms := delivery.Message{ID: "out-1", Channel: delivery.SMS, To: "+15551234567", Text: "x"}
	tests := []struct {
		name          string
		status        int
		body          string
		msg           delivery.Message
		wantPermanent bool
		wantRequest   bool
		wantInError   string
	}{
		{
			name: "invalid number", status: 400, msg: sms, wantPermanent: true, wantRequest: true,
			body:        `{"code":21211,"message":"The 'To' number +15551234567 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`,
			wantInError: "21211",
		},
		{
			name: "bad credentials", status: 401, msg: sms, wantPermanent: true, wantRequest: true,
			body: `{"code":20003,"message":"Authenticate","status":401}`, wantInError: "20003",
		},
		{
			name: "rate limited", status: 429, msg: sms, wantRequest: true,
			body: `{"code":20429,"message":"Too Many Requests","status":429}`, wantInError: "20429",
		},
		{name: "request timeout", status: 408, msg: sms, wantRequest: true, body: ``, wantInError: "408"},
		{name: "server error", status: 503, msg: sms, wantRequest: true, body: `<html>busy</html>`, wantInError: "503"},
		{
			name: "extension with letters", msg: delivery.Message{ID: "x", Channel: delivery.Voice, To: "+15551234567", CallID: "c", Extension: "12#"},
			wantPermanent: true,
		},
		{
			name: "call without call id", msg: delivery.Message{ID: "x", Channel: delivery.Voice, To: "+15551234567"},
			wantPermanent: true,
		},
		{name: "bad number", msg: delivery.Message{ID: "x", Channel: delivery.SMS, To: "12345"}, wantPermanent: true},
		{name: "email", msg: delivery.Message{ID: "x", Channel: delivery.Email, To: "+15551234567"}, wantPermanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeTwilio{status: tt.status, body: tt.body}
			c := newClient(t, f, nil)
			_, err := c.Send(t.Context(), tt.msg)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := delivery.IsPermanent(err); got != tt.wantPermanent {
				t.Errorf("IsPermanent = %v, want %v (err %v)", got, tt.wantPermanent, err)
			}
			if got := len(f.got()) > 0; got != tt.wantRequest {
				t.Errorf("request made = %v, want %v", got, tt.wantRequest)
			}
			if !strings.Contains(err.Error(), tt.wantInError) {
				t.Errorf("error %q does not mention %q", err, tt.wantInError)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error reveals the auth token: %v", err)
			}
		})
	}
}

func TestSendNetworkErrorIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	c, err := New(Config{AccountSID: testSID, AuthToken: testToken, BaseURL: base, From: "+15005550006"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(t.Context(), delivery.Message{ID: "x", Channel: delivery.SMS, To: "+15551234567", Text: "x"})
	if err == nil || delivery.IsPermanent(err) {
		t.Fatalf("Send = %v, want a retryable error", err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("error reveals the auth token: %v", err)
	}
}

func TestValidate(t *testing.T) {
	valid := Config{AccountSID: testSID, AuthToken: testToken, From: "+15005550006", PublicURL: "https://mfa.example.org"}
	tests := []struct {
		name string
		cfg  func(*Config)
		want []string
	}{
		{name: "valid", cfg: func(*Config) {}},
		{name: "messaging service instead of from", cfg: func(c *Config) { c.From, c.MessagingServiceSID = "", "MG1" }},
		{name: "loopback http base", cfg: func(c *Config) { c.BaseURL = "http://127.0.0.1:8080" }},
		{
			name: "everything wrong",
			cfg: func(c *Config) {
				*c = Config{BaseURL: "http://api.example.org", PublicURL: "mfa.example.org", Timeout: -time.Second}
			},
			want: []string{"account_sid: is required", "auth_token: is required", "base_url: ", "from: or messaging_service_sid", "public_url: ", "timeout: "},
		},
		{name: "from not e164", cfg: func(c *Config) { c.From = "5005550006" }, want: []string{"E.164"}},
		{name: "sid with a slash", cfg: func(c *Config) { c.AccountSID = "AC1/../x" }, want: []string{"account_sid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.cfg(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted an invalid config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
