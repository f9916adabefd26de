package devbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/delivery"
)

// Entry is one message the box received; for a call, Transcript is what was
// said and pressed so far.
type Entry struct {
	delivery.Message
	Received   time.Time `json:"received"`
	Transcript []string  `json:"transcript,omitempty"`
}

// Phone plays the person who answers a simulated call. Each method returns
// what the call says next.
type Phone interface {
	Answer(ctx context.Context, callID string, machine bool) (string, error)
	// Press submits keys as typed, e.g. "#", "5", "0#" or "4321#".
	Press(ctx context.Context, callID, keys string) (string, error)
	Silence(ctx context.Context, callID string) (string, error)
	// End reports the provider's final status: "completed" (hung up),
	// "no-answer", "busy".
	End(ctx context.Context, callID, status string) error
}

// Box keeps the last Size messages.
type Box struct {
	Size  int
	Now   func() time.Time
	Phone Phone

	mu      sync.Mutex
	entries []Entry
}

var _ delivery.Sender = (*Box)(nil)

// Send records m.
func (b *Box) Send(_ context.Context, m delivery.Message) (delivery.Result, error) {
	now := time.Now()
	if b.Now != nil {
		now = b.Now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	size := b.Size
	if size <= 0 {
		size = 200
	}
	b.entries = append(b.entries, Entry{Message: m, Received: now})
	if len(b.entries) > size {
		b.entries = b.entries[len(b.entries)-size:]
	}
	return delivery.Result{Ref: "dev-" + m.ID}, nil
}

// Entries returns the messages, newest first.
func (b *Box) Entries() []Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Entry, len(b.entries))
	for i, e := range b.entries {
		out[len(out)-1-i] = e
	}
	return out
}

func (b *Box) note(callID, line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.entries {
		if b.entries[i].CallID == callID {
			b.entries[i].Transcript = append(b.entries[i].Transcript, line)
		}
	}
}

// act plays one action of the page's call controls.
func (b *Box) act(ctx context.Context, callID, action, keys string) error {
	if b.Phone == nil {
		return errors.New("no phone is connected to the development provider")
	}
	say := func(s string, err error) error {
		if s != "" {
			b.note(callID, "Call: "+s)
		}
		return err
	}
	answer := func() error {
		b.note(callID, "You answer.")
		return say(b.Phone.Answer(ctx, callID, false))
	}
	switch action {
	case "press":
		if keys == "" {
			keys = "#"
		}
		if err := answer(); err != nil {
			return err
		}
		b.note(callID, "You press "+keys+".")
		return say(b.Phone.Press(ctx, callID, keys))
	case "silence":
		if err := answer(); err != nil {
			return err
		}
		b.note(callID, "You say nothing and wait.")
		return say(b.Phone.Silence(ctx, callID))
	case "hangup":
		if err := answer(); err != nil {
			return err
		}
		b.note(callID, "You hang up.")
		return b.Phone.End(ctx, callID, "completed")
	case "ring":
		b.note(callID, "You let it ring.")
		return b.Phone.End(ctx, callID, "no-answer")
	case "voicemail":
		b.note(callID, "Your voicemail answers.")
		return say(b.Phone.Answer(ctx, callID, true))
	case "fraud":
		if err := answer(); err != nil {
			return err
		}
		b.note(callID, "You press 0#.")
		return say(b.Phone.Press(ctx, callID, "0#"))
	}
	return fmt.Errorf("unknown action %q", action)
}

// Handler serves the page at /dev/outbox, its JSON at /dev/outbox.json, and
// the simulated call controls.
func (b *Box) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /dev/calls/{call}/{action}", func(w http.ResponseWriter, r *http.Request) {
		if err := b.act(r.Context(), r.PathValue("call"), r.PathValue("action"), r.FormValue("keys")); err != nil {
			b.note(r.PathValue("call"), "Error: "+err.Error())
		}
		http.Redirect(w, r, "/dev/outbox#"+r.PathValue("call"), http.StatusSeeOther)
	})
	mux.HandleFunc("GET /dev/outbox.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{"messages": b.Entries()})
	})
	mux.HandleFunc("GET /dev/outbox", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
		_ = page.Execute(w, b.Entries())
	})
	return http.NewCrossOriginProtection().Handler(mux)
}

var page = template.Must(template.New("outbox").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="5"><title>Countersign development outbox</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:50rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.4rem}.note{background:#fff8c5;border:1px solid #d4a72c;padding:.5rem 1rem;border-radius:6px}
article{border:1px solid #d0d7de;border-radius:6px;padding:.75rem 1rem;margin:1rem 0}
.meta{color:#57606a;font-size:.9rem}pre{white-space:pre-wrap;margin:.5rem 0 0;font:inherit}form{display:inline-block;margin:.25rem .25rem 0 0}</style></head>
<body><main><h1>Development outbox</h1>
<p class="note">Nothing here was sent. This page shows what the development provider would have delivered; it refreshes every 5 seconds. Configure a real provider before anyone else uses this server.</p>
{{range .}}<article aria-label="{{.Channel}} to {{.To}}"><div class="meta"><strong>{{.Channel}}</strong> to {{.To}}{{if .Extension}} ext. {{.Extension}}{{end}} · {{.Received.Format "15:04:05"}} · {{.ID}}</div>
{{if .Subject}}<div><strong>{{.Subject}}</strong></div>{{end}}
{{if .CallID}}<div id="{{.CallID}}">Call {{.CallID}}. If nobody answers, the voicemail hears: <em>{{.Text}}</em></div>
{{range .Transcript}}<div>{{.}}</div>{{end}}
<form method="post" action="/dev/calls/{{.CallID}}/press"><label>Keys <input name="keys" value="#" size="8" inputmode="tel"></label> <button>Answer and press</button></form>
<form method="post" action="/dev/calls/{{.CallID}}/fraud"><button>Answer and report fraud (0#)</button></form>
<form method="post" action="/dev/calls/{{.CallID}}/silence"><button>Answer, give no input</button></form>
<form method="post" action="/dev/calls/{{.CallID}}/hangup"><button>Answer and hang up</button></form>
<form method="post" action="/dev/calls/{{.CallID}}/ring"><button>Let it ring</button></form>
<form method="post" action="/dev/calls/{{.CallID}}/voicemail"><button>Voicemail answers</button></form>
{{else}}<pre>{{.Text}}</pre>{{end}}</article>
{{else}}<p>No messages yet.</p>{{end}}
</main></body></html>`))
