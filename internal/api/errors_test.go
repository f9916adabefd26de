package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/problem"
	"github.com/countersign/countersign/internal/requestid"
	"github.com/countersign/countersign/internal/store"
)

// TestUnknownErrorHidesCause checks the whole answer, not only the
// catalogue, since the cause must reach neither the message nor any other
// part of the body.
func TestUnknownErrorHidesCause(t *testing.T) {
	const secret = "pq: password authentication failed for user countersign at 10.0.0.5"
	a := &API{Log: slog.New(slog.DiscardHandler)}
	for _, lang := range []string{"", "es"} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/api/v1/admin/users", nil)
		r.Header.Set("Accept-Language", lang)
		status := a.writeError(rec, r, nil, fmt.Errorf("list users: %w", errors.New(secret)))
		if status != 500 || rec.Code != 500 {
			t.Fatalf("status %d / %d, want 500", status, rec.Code)
		}
		body := rec.Body.String()
		if strings.Contains(body, "pq:") || strings.Contains(body, "10.0.0.5") || strings.Contains(body, "list users") {
			t.Errorf("the body reveals the cause: %s", body)
		}
		var got errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
		want := problem.From(errors.New(secret), problem.Context{Lang: lang})
		if got.Error.Code != "E99" || got.Error.Name != "internal" || got.Error.Message != want.Message {
			t.Errorf("got %+v, want the E99 entry", got.Error)
		}
	}
}

func TestBusyAnswerSaysWhenToRetry(t *testing.T) {
	a := &API{Log: slog.New(slog.DiscardHandler)}
	rec := httptest.NewRecorder()
	a.writeError(rec, httptest.NewRequest("POST", "/api/v1/auth/login", nil), nil, flow.ErrBusy)
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
}

// An outage is the catalogue's E45 with when to retry, and the answer names
// the request so a person can quote it.
func TestUnavailableAnswer(t *testing.T) {
	a := &API{Log: slog.New(slog.DiscardHandler)}
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/api/v1/auth/login", nil)
	r = r.WithContext(requestid.With(r.Context(), "req_abc"))
	cause := errors.New("dial tcp 10.0.0.5:5432: connect: connection refused")
	a.writeError(rec, r, nil, fmt.Errorf("user by login: %w", fmt.Errorf("%w: %w", store.ErrUnavailable, cause)))
	var got errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || got.Error.Code != "E45" || got.Error.RequestID != "req_abc" {
		t.Errorf("%d Retry-After %q %+v, want 503 E45 with Retry-After and the request ID", rec.Code, rec.Header().Get("Retry-After"), got.Error)
	}
	if strings.Contains(rec.Body.String(), "10.0.0.5") {
		t.Errorf("the body reveals the cause: %s", rec.Body.String())
	}
}
