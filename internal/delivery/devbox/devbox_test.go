package devbox

import (
	"context"
	"encoding/json"
	"fmt"
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

// fakePhone records every call made to it.
type fakePhone struct {
	mu    sync.Mutex
	calls []string
}

func (p *fakePhone) record(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, s)
}

func (p *fakePhone) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

func (p *fakePhone) Answer(_ context.Context, callID string, machine bool) (string, error) {
	p.record(fmt.Sprintf("Answer(%s,%t)", callID, machine))
	return "Press pound to approve.", nil
}

func (p *fakePhone) Press(_ context.Context, callID, keys string) (string, error) {
	p.record(fmt.Sprintf("Press(%s,%s)", callID, keys))
	return "Thank you.", nil
}

func (p *fakePhone) Silence(_ context.Context, callID string) (string, error) {
	p.record(fmt.Sprintf("Silence(%s)", callID))
	return "Goodbye.", nil
}

func (p *fakePhone) End(_ context.Context, callID, status string) error {
	p.record(fmt.Sprintf("End(%s,%s)", callID, status))
	return nil
}

func fixedNow() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC) }

func TestSendNewestFirstAndBounded(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		send  int
		wantN int
	}{
		{"under size", 5, 3, 3},
		{"exactly size", 3, 3, 3},
		{"over size", 3, 7, 3},
		{"size one", 1, 4, 1},
		{"default size", 0, 205, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &Box{Size: tt.size, Now: fixedNow}
			for i := range tt.send {
				res, err := b.Send(t.Context(), delivery.Message{ID: fmt.Sprint(i), Channel: delivery.SMS, Text: "m"})
				if err != nil {
					t.Fatal(err)
				}
				if want := "dev-" + fmt.Sprint(i); res.Ref != want {
					t.Errorf("Ref = %q, want %q", res.Ref, want)
				}
			}
			got := b.Entries()
			if len(got) != tt.wantN {
				t.Fatalf("len(Entries) = %d, want %d", len(got), tt.wantN)
			}
			for i, e := range got {
				if want := fmt.Sprint(tt.send - 1 - i); e.ID != want {
					t.Errorf("Entries[%d].ID = %q, want %q", i, e.ID, want)
				}
				if !e.Received.Equal(fixedNow()) {
					t.Errorf("Entries[%d].Received = %v", i, e.Received)
				}
			}
		})
	}
}

func newTestBox(t *testing.T, phone Phone) *Box {
	t.Helper()
	b := &Box{Now: fixedNow}
	if phone != nil {
		b.Phone = phone
	}
	msgs := []delivery.Message{
		{ID: "m1", Channel: delivery.SMS, To: "+15551230001", Text: `code <script>alert(1)</script> 123456`},
		{ID: "m2", Channel: delivery.Voice, To: "+15551230002", Text: "voicemail text", CallID: "call-1"},
		{ID: "m3", Channel: delivery.Email, To: "a@example.com", Subject: "Your code", Text: "email body"},
		{ID: "m4", Channel: delivery.Voice, To: "+15551230003", Text: "other call", CallID: "call-2"},
	}
	for _, m := range msgs {
		if _, err := b.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func TestHandlerJSON(t *testing.T) {
	b := newTestBox(t, nil)
	rec := httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/outbox.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var body struct {
		Messages []Entry `json:"messages"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("decode: %v; body %s", err, rec.Body)
	}
	var ids []string
	for _, e := range body.Messages {
		ids = append(ids, e.ID)
	}
	if want := []string{"m4", "m3", "m2", "m1"}; !slices.Equal(ids, want) {
		t.Errorf("ids = %v, want %v", ids, want)
	}
	if body.Messages[3].Text != `code <script>alert(1)</script> 123456` {
		t.Errorf("text = %q", body.Messages[3].Text)
	}
}

func TestHandlerHTML(t *testing.T) {
	b := newTestBox(t, nil)
	rec := httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/outbox", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q", ct)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	html := rec.Body.String()
	checks := []struct {
		name string
		sub  string
		want bool
	}{
		{"escaped script", "code &lt;script&gt;alert(1)&lt;/script&gt; 123456", true},
		{"raw script", "<script>", false},
		{"email subject", "Your code", true},
		{"call-1 press", `action="/dev/calls/call-1/press"`, true},
		{"call-1 voicemail", `action="/dev/calls/call-1/voicemail"`, true},
		{"call-2 hangup", `action="/dev/calls/call-2/hangup"`, true},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if got := strings.Contains(html, c.sub); got != c.want {
				t.Errorf("contains %q = %v, want %v", c.sub, got, c.want)
			}
		})
	}
	// Only the two voice messages with a CallID get controls.
	if n := strings.Count(html, `action="/dev/calls/`); n != 2*6 {
		t.Errorf("call control forms = %d, want 12", n)
	}
}

func TestHandlerHTMLNoCallControlsWithoutCallID(t *testing.T) {
	b := &Box{Now: fixedNow}
	if _, err := b.Send(t.Context(), delivery.Message{ID: "v", Channel: delivery.Voice, To: "+15551230009", Text: "no call id"}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/outbox", nil))
	if strings.Contains(rec.Body.String(), "/dev/calls/") {
		t.Errorf("voice message without CallID has call controls")
	}
	if !strings.Contains(rec.Body.String(), "no call id") {
		t.Errorf("text missing")
	}
}

func postAction(t *testing.T, h http.Handler, call, action string, form url.Values, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/dev/calls/"+call+"/"+action, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func transcript(b *Box, callID string) []string {
	for _, e := range b.Entries() {
		if e.CallID == callID {
			return e.Transcript
		}
	}
	return nil
}

func TestCallActions(t *testing.T) {
	tests := []struct {
		action    string
		keys      string
		wantCalls []string
		wantLines []string
	}{
		{
			action:    "press",
			keys:      "4321#",
			wantCalls: []string{"Answer(call-1,false)", "Press(call-1,4321#)"},
			wantLines: []string{"You answer.", "Call: Press pound to approve.", "You press 4321#.", "Call: Thank you."},
		},
		{
			action:    "press",
			wantCalls: []string{"Answer(call-1,false)", "Press(call-1,#)"},
			wantLines: []string{"You answer.", "Call: Press pound to approve.", "You press #.", "Call: Thank you."},
		},
		{
			action:    "fraud",
			wantCalls: []string{"Answer(call-1,false)", "Press(call-1,0#)"},
			wantLines: []string{"You answer.", "Call: Press pound to approve.", "You press 0#.", "Call: Thank you."},
		},
		{
			action:    "silence",
			wantCalls: []string{"Answer(call-1,false)", "Silence(call-1)"},
			wantLines: []string{"You answer.", "Call: Press pound to approve.", "You say nothing and wait.", "Call: Goodbye."},
		},
		{
			action:    "hangup",
			wantCalls: []string{"Answer(call-1,false)", "End(call-1,completed)"},
			wantLines: []string{"You answer.", "Call: Press pound to approve.", "You hang up."},
		},
		{
			action:    "ring",
			wantCalls: []string{"End(call-1,no-answer)"},
			wantLines: []string{"You let it ring."},
		},
		{
			action:    "voicemail",
			wantCalls: []string{"Answer(call-1,true)"},
			wantLines: []string{"Your voicemail answers.", "Call: Press pound to approve."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.action+"/"+tt.keys, func(t *testing.T) {
			phone := &fakePhone{}
			b := newTestBox(t, phone)
			form := url.Values{}
			if tt.keys != "" {
				form.Set("keys", tt.keys)
			}
			rec := postAction(t, b.Handler(), "call-1", tt.action, form, nil)
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("status = %d, want 303; body %s", rec.Code, rec.Body)
			}
			if loc := rec.Header().Get("Location"); loc != "/dev/outbox#call-1" {
				t.Errorf("Location = %q", loc)
			}
			if got := phone.got(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("phone calls = %q, want %q", got, tt.wantCalls)
			}
			if got := transcript(b, "call-1"); !slices.Equal(got, tt.wantLines) {
				t.Errorf("transcript = %q, want %q", got, tt.wantLines)
			}
			if got := transcript(b, "call-2"); len(got) != 0 {
				t.Errorf("other call's transcript = %q", got)
			}
		})
	}
}

func hasErrorLine(lines []string) bool {
	return slices.ContainsFunc(lines, func(s string) bool { return strings.HasPrefix(s, "Error:") })
}

func TestCallActionErrors(t *testing.T) {
	tests := []struct {
		name   string
		phone  bool
		action string
	}{
		{"unknown action", true, "explode"},
		{"no phone press", false, "press"},
		{"no phone ring", false, "ring"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			phone := &fakePhone{}
			var p Phone
			if tt.phone {
				p = phone
			}
			b := newTestBox(t, p)
			rec := postAction(t, b.Handler(), "call-1", tt.action, url.Values{}, nil)
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("status = %d, want 303", rec.Code)
			}
			lines := transcript(b, "call-1")
			if !hasErrorLine(lines) {
				t.Errorf("transcript = %q, want an Error: line", lines)
			}
			if got := phone.got(); len(got) != 0 {
				t.Errorf("phone calls = %q, want none", got)
			}
		})
	}
}

func TestCallActionCrossOrigin(t *testing.T) {
	tests := []struct {
		name   string
		hdr    map[string]string
		want   int
		called bool
	}{
		{"sec-fetch-site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden, false},
		{"foreign origin", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden, false},
		{"same-origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusSeeOther, true},
		{"no browser headers", nil, http.StatusSeeOther, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			phone := &fakePhone{}
			b := newTestBox(t, phone)
			// httptest.NewRequest sets Host to example.com, unlike evil.example.
			rec := postAction(t, b.Handler(), "call-1", "ring", url.Values{}, tt.hdr)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d", rec.Code, tt.want)
			}
			if got := len(phone.got()) > 0; got != tt.called {
				t.Errorf("phone called = %v, want %v", got, tt.called)
			}
			if got := len(transcript(b, "call-1")) > 0; got != tt.called {
				t.Errorf("transcript written = %v, want %v", got, tt.called)
			}
		})
	}
}
