package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/validate"
)

// docRows reads the table of docs/errors.md, keyed by code.
func docRows(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "| E") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if _, dup := rows[cells[0]]; dup {
			t.Errorf("docs/errors.md has two rows for %s", cells[0])
		}
		rows[cells[0]] = cells
	}
	return rows
}

func TestCatalogueDocumented(t *testing.T) {
	rows := docRows(t)
	for _, e := range Catalogue {
		t.Run(e.Code, func(t *testing.T) {
			row, ok := rows[e.Code]
			if !ok {
				t.Fatalf("%s %s is not in docs/errors.md", e.Code, e.Name)
			}
			if len(row) != 6 {
				t.Fatalf("row has %d cells, want 6 (code, name, HTTP, message, when, what to do): %q", len(row), row)
			}
			if row[1] != "`"+e.Name+"`" {
				t.Errorf("name %s, want `%s`", row[1], e.Name)
			}
			if row[2] != strconv.Itoa(e.Status) {
				t.Errorf("HTTP %s, want %d", row[2], e.Status)
			}
			if row[3] != e.Message {
				t.Errorf("message differs from Catalogue:\n doc: %s\nwant: %s", row[3], e.Message)
			}
			if row[4] == "" || row[5] == "" {
				t.Error("say when it happens and what the caller should do")
			}
		})
	}
	known := map[string]bool{}
	for _, e := range Catalogue {
		known[e.Code] = true
	}
	for code := range rows {
		if !known[code] {
			t.Errorf("docs/errors.md documents %s, which is not in Catalogue", code)
		}
	}
}

func TestCatalogueWellFormed(t *testing.T) {
	codes, names := map[string]bool{}, map[string]bool{}
	prev := ""
	for _, e := range Catalogue {
		if codes[e.Code] {
			t.Errorf("code %s appears twice", e.Code)
		}
		if names[e.Name] {
			t.Errorf("name %s appears twice", e.Name)
		}
		codes[e.Code], names[e.Name] = true, true
		if len(e.Code) != 3 || e.Code[0] != 'E' || e.Code[1] < '0' || e.Code[1] > '9' || e.Code[2] < '0' || e.Code[2] > '9' {
			t.Errorf("code %q is not E followed by two digits", e.Code)
		}
		if e.Code <= prev {
			t.Errorf("%s follows %s; keep the catalogue in code order", e.Code, prev)
		}
		prev = e.Code
		if e.Status < 400 || e.Status > 599 || http.StatusText(e.Status) == "" {
			t.Errorf("%s has status %d, want a known 4xx or 5xx", e.Code, e.Status)
		}
		if e.Message == "" || !strings.HasSuffix(e.Message, ".") {
			t.Errorf("%s message %q should be a full sentence", e.Code, e.Message)
		}
		retry := e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests
		if retry != (e.RetryAfter > 0) {
			t.Errorf("%s: status %d with RetryAfter %d; a 503 or 429 must say when to retry, and only those", e.Code, e.Status, e.RetryAfter)
		}
	}
}

func TestToPublicDomainErrors(t *testing.T) {
	for _, d := range domainErrors {
		t.Run(d.name, func(t *testing.T) {
			want := byName[d.name]
			// The flows wrap sentinels and join them with audit errors; both
			// forms must still find their entry.
			for _, err := range []error{
				d.err,
				fmt.Errorf("user usr_1: %w", d.err),
				errors.Join(d.err, nil),
				errors.Join(d.err, errors.New("audit write failed")),
			} {
				got := ToPublic(err)
				if got.Code != want.Code || got.Status != want.Status || got.Message != want.Message {
					t.Errorf("ToPublic(%v) = %s %d, want %s %d", err, got.Code, got.Status, want.Code, want.Status)
				}
				if !errors.Is(got, d.err) {
					t.Errorf("ToPublic(%v) dropped the cause, which the log needs", err)
				}
			}
		})
	}
}

func TestToPublicOtherErrors(t *testing.T) {
	fields := validate.Errors{{Field: "email", Code: "invalid_format", Message: "Enter Email as an address."}}
	tests := []struct {
		name       string
		err        error
		code       string
		status     int
		withFields bool
	}{
		{"validation", fmt.Errorf("create user: %w", fields), "E12", 400, true},
		{"body too large", &http.MaxBytesError{Limit: MaxBody}, "E23", 413, false},
		{"public error passes through", publicError("conflict", nil), "E16", 409, false},
		{"unknown", errors.New("sqlite: database is locked at /var/lib/countersign/countersign.db"), "E99", 500, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ToPublic(tt.err)
			if got.Code != tt.code || got.Status != tt.status {
				t.Errorf("got %s %d, want %s %d", got.Code, got.Status, tt.code, tt.status)
			}
			if tt.withFields && len(got.Fields) != len(fields) {
				t.Errorf("fields %v, want %v", got.Fields, fields)
			}
		})
	}
}

// TestUnknownErrorHidesCause checks the whole answer, not only toPublic, since
// the cause must reach neither the message nor any other part of the body.
func TestUnknownErrorHidesCause(t *testing.T) {
	const secret = "pq: password authentication failed for user countersign at 10.0.0.5"
	a := &API{Log: slog.New(slog.DiscardHandler)}
	rec := httptest.NewRecorder()
	status := a.writeError(rec, httptest.NewRequest("GET", "/api/v1/admin/users", nil), fmt.Errorf("list users: %w", errors.New(secret)))
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
	if got.Error.Code != "E99" || got.Error.Name != "internal" || got.Error.Message != byName["internal"].Message {
		t.Errorf("got %+v, want the E99 entry", got.Error)
	}
}

func TestBusyAnswerSaysWhenToRetry(t *testing.T) {
	a := &API{Log: slog.New(slog.DiscardHandler)}
	rec := httptest.NewRecorder()
	a.writeError(rec, httptest.NewRequest("POST", "/api/v1/auth/login", nil), publicError("busy", nil))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
}
