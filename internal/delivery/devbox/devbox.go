package devbox

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/delivery"
)

// Entry is one message the box received.
type Entry struct {
	delivery.Message
	Received time.Time `json:"received"`
}

// Box keeps the last Size messages.
type Box struct {
	Size int
	Now  func() time.Time

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

// Handler serves the page at /dev/outbox and its JSON at /dev/outbox.json.
func (b *Box) Handler() http.Handler {
	mux := http.NewServeMux()
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
	return mux
}

var page = template.Must(template.New("outbox").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="5"><title>Countersign development outbox</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:50rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.4rem}.note{background:#fff8c5;border:1px solid #d4a72c;padding:.5rem 1rem;border-radius:6px}
article{border:1px solid #d0d7de;border-radius:6px;padding:.75rem 1rem;margin:1rem 0}
.meta{color:#57606a;font-size:.9rem}pre{white-space:pre-wrap;margin:.5rem 0 0;font:inherit}</style></head>
<body><main><h1>Development outbox</h1>
<p class="note">Nothing here was sent. This page shows what the development provider would have delivered; it refreshes every 5 seconds. Configure a real provider before anyone else uses this server.</p>
{{range .}}<article aria-label="{{.Channel}} to {{.To}}"><div class="meta"><strong>{{.Channel}}</strong> to {{.To}}{{if .Extension}} ext. {{.Extension}}{{end}} · {{.Received.Format "15:04:05"}} · {{.ID}}</div>
{{if .Subject}}<div><strong>{{.Subject}}</strong></div>{{end}}<pre>{{.Text}}</pre></article>
{{else}}<p>No messages yet.</p>{{end}}
</main></body></html>`))
