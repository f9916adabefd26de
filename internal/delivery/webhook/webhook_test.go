package webhook

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/delivery"
)

const secret = "whsec-0123456789abcdef"

type received struct {
	header http.Header
	body   []byte
}

func TestSend(t *testing.T) {
	now := time.Unix(1_760_000_000, 0)
	msg := delivery.Message{
		ID: "out-1", TenantID: "t1", Channel: delivery.Voice, To: "+15551234567",
		Extension: "12", Text: "Press pound", CallID: "call-1",
	}
	tests := []struct {
		name          string
		status        int
		answer        string
		wantErr       bool
		wantPermanent bool
		wantRef       string
	}{
		{name: "ok with id", status: 200, answer: `{"id":"gw-77"}`, wantRef: "gw-77"},
		{name: "accepted without body", status: 202, wantRef: "202 Accepted"},
		{name: "ok with non-json body", status: 200, answer: "queued", wantRef: "200 OK"},
		{name: "request timeout", status: 408, wantErr: true},
		{name: "rate limited", status: 429, wantErr: true},
		{name: "server error", status: 502, wantErr: true},
		{name: "bad request", status: 400, wantErr: true, wantPermanent: true},
		{name: "unauthorized", status: 401, wantErr: true, wantPermanent: true},
		{name: "redirect is not followed", status: 302, wantErr: true, wantPermanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu  sync.Mutex
				got []received
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				got = append(got, received{r.Header.Clone(), body})
				mu.Unlock()
				if tt.status/100 == 3 {
					w.Header().Set("Location", "https://elsewhere.example.org/")
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.answer)
			}))
			defer srv.Close()
			s, err := New(Config{URL: srv.URL + "/hook", Secret: secret}, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			s.Now = func() time.Time { return now }

			res, err := s.Send(t.Context(), msg)
			if (err != nil) != tt.wantErr || delivery.IsPermanent(err) != tt.wantPermanent {
				t.Fatalf("Send = %v, want error %v permanent %v", err, tt.wantErr, tt.wantPermanent)
			}
			if res.Ref != tt.wantRef {
				t.Errorf("Ref = %q, want %q", res.Ref, tt.wantRef)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 {
				t.Fatalf("endpoint got %d requests, want 1", len(got))
			}
			h, body := got[0].header, got[0].body
			if h.Get("Content-Type") != "application/json" || h.Get("Idempotency-Key") != "out-1" {
				t.Errorf("headers = %v", h)
			}
			if ts := h.Get("X-Countersign-Timestamp"); ts != strconv.FormatInt(now.Unix(), 10) {
				t.Errorf("timestamp = %q", ts)
			}
			if err := Verify(secret, h.Get("X-Countersign-Signature"), h.Get("X-Countersign-Timestamp"), body, now, time.Minute); err != nil {
				t.Errorf("Verify: %v", err)
			}
			var fields map[string]string
			if err := json.Unmarshal(body, &fields); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"id": "out-1", "tenant_id": "t1", "channel": "voice", "to": "+15551234567",
				"extension": "12", "text": "Press pound", "call_id": "call-1",
			}
			if len(fields) != len(want) {
				t.Errorf("body = %s, want only %v (empty fields omitted)", body, want)
			}
			for k, v := range want {
				if fields[k] != v {
					t.Errorf("body[%q] = %q, want %q", k, fields[k], v)
				}
			}
		})
	}
}

func TestSendNetworkErrorIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	s, err := New(Config{URL: url, Secret: secret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(t.Context(), delivery.Message{ID: "x"}); err == nil || delivery.IsPermanent(err) {
		t.Fatalf("Send = %v, want a retryable error", err)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_760_000_000, 0)
	body := []byte(`{"id":"out-1","text":"123456"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := Sign(secret, now.Unix(), body)
	tests := []struct {
		name   string
		secret string
		sig    string
		ts     string
		body   []byte
		now    time.Time
		want   error
	}{
		{name: "valid", secret: secret, sig: sig, ts: ts, body: body, now: now},
		{name: "valid within tolerance", secret: secret, sig: sig, ts: ts, body: body, now: now.Add(4 * time.Minute)},
		{name: "one of several signatures", secret: secret, sig: "v1=00ff, " + sig, ts: ts, body: body, now: now},
		{name: "tampered body", secret: secret, sig: sig, ts: ts, body: []byte(`{"id":"out-1","text":"654321"}`), now: now, want: ErrSignature},
		{name: "wrong secret", secret: "another-secret-0000", sig: sig, ts: ts, body: body, now: now, want: ErrSignature},
		{name: "timestamp swapped", secret: secret, sig: sig, ts: strconv.FormatInt(now.Unix()+1, 10), body: body, now: now, want: ErrSignature},
		{name: "old timestamp", secret: secret, sig: sig, ts: ts, body: body, now: now.Add(6 * time.Minute), want: ErrTimestamp},
		{name: "future timestamp", secret: secret, sig: sig, ts: ts, body: body, now: now.Add(-6 * time.Minute), want: ErrTimestamp},
		{name: "malformed timestamp", secret: secret, sig: sig, ts: "yesterday", body: body, now: now, want: ErrTimestamp},
		{name: "missing signature", secret: secret, sig: "", ts: ts, body: body, now: now, want: ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.sig, tt.ts, tt.body, tt.now, 5*time.Minute)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSignKnownAnswer(t *testing.T) {
	// Computed independently (Python hmac) so a receiver written from the
	// documentation keeps matching: hex(HMAC-SHA256("secret", "1700000000.{}")).
	const want = "v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
	if got := Sign("secret", 1_700_000_000, []byte("{}")); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{name: "https", cfg: Config{URL: "https://gw.example.org/send", Secret: secret}},
		{name: "http to loopback", cfg: Config{URL: "http://127.0.0.1:9000/send", Secret: secret}},
		{name: "http allowed explicitly", cfg: Config{URL: "http://gw.internal/send", Secret: secret, AllowInsecure: true}},
		{name: "http to a remote host", cfg: Config{URL: "http://gw.example.org/send", Secret: secret}, want: []string{"must use https"}},
		{name: "credentials in url", cfg: Config{URL: "https://u:p@gw.example.org/", Secret: secret}, want: []string{"credentials"}},
		{name: "not a url", cfg: Config{URL: "gw.example.org", Secret: secret}, want: []string{"absolute"}},
		{
			name: "everything wrong",
			cfg:  Config{Secret: "short", Timeout: -1},
			want: []string{"url: is required", "secret: must be at least", "timeout: "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
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
