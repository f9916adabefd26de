package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// The hello phase measures a minimal net/http server the same way the other
// phases measure Countersign, so a phase's rate divided by hello's says what
// share of the machine's plain HTTP capacity a verification keeps (issue 14).

// helloAnswer is what the reference server writes: the shape of an allowed check.
const helloAnswer = `{"status":"allowed"}` + "\n"

// helloHandler reads the request body, as a real handler must, and answers
// POST with helloAnswer; anything else is 405.
func helloHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if _, err := io.Copy(io.Discard, io.LimitReader(r.Body, 1<<16)); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, helloAnswer)
}

// startHello serves helloHandler on a free 127.0.0.1 port in this process
// and returns its base URL and a function that shuts it down.
func startHello() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("hello server: %w", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(helloHandler), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "hello server: %v\n", err)
		}
	}()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// helloWork posts a body shaped like an auth/check request (a login ID of
// the usual length and a six-digit code) and expects the allowed status.
func helloWork(c *client, prefix string) work {
	body := map[string]string{"login_id": prefix + "t1234", "code": "123456"}
	return func(ctx context.Context, t *tally) bool {
		start := time.Now()
		var ans loginAnswer
		r := c.post(ctx, c.appKey, "/api/v1/auth/check", body, &ans)
		d := time.Since(start)
		t.record("", statusAnswer(r, ans, "allowed"))
		t.finish(r.ok() && ans.Status == "allowed", d)
		return true
	}
}

// Ratio is one of issue 14's ratios: a phase's rate over a reference's.
type Ratio struct {
	Name  string  `json:"name"` // e.g. "totp ÷ hello"
	Value float64 `json:"value"`
	// Note says why the ratio may mislead, e.g. a phase the user count held back.
	Note string `json:"note,omitempty"`
}

// idleNote flags a ratio whose phases waited for fresh TOTP steps more than
// the report's 5% threshold: the user count, not the server, set the rate.
func idleNote(phases ...PhaseReport) string {
	for _, p := range phases {
		if p.IdleShare > 0.05 {
			return "user-limited: " + p.Name + " waited for fresh TOTP steps; raise -users"
		}
	}
	return ""
}

// helloRatios divides each phase's ok/s by hello's, when hello ran and
// completed something; the flood's logins are not checks and are left out.
func helloRatios(phases []PhaseReport) []Ratio {
	var hello float64
	for _, p := range phases {
		if p.Name == "hello" {
			hello = p.PerSecond
		}
	}
	if hello <= 0 {
		return nil
	}
	var out []Ratio
	for _, p := range phases {
		if p.Name == "hello" || strings.HasSuffix(p.Name, "logins") {
			continue
		}
		out = append(out, Ratio{Name: p.Name + " ÷ hello", Value: round(p.PerSecond/hello, 3), Note: idleNote(p)})
	}
	return out
}
