package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHelloHandler(t *testing.T) {
	w := httptest.NewRecorder()
	helloHandler(w, httptest.NewRequest(http.MethodPost, "/api/v1/auth/check", strings.NewReader(`{"login_id":"x","code":"123456"}`)))
	if w.Code != http.StatusOK || w.Body.String() != helloAnswer || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("POST: %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	w = httptest.NewRecorder()
	helloHandler(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", w.Code)
	}
}

// TestHelloWork runs one attempt against the in-process server and counts it
// as a success; it asserts nothing about time.
func TestHelloWork(t *testing.T) {
	url, stop, err := startHello()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	tl := newTally(time.Now().Add(time.Hour))
	if !helloWork(newClient(url, "hello", "", 1), "ab")(context.Background(), tl) {
		t.Fatal("helloWork reported no user available")
	}
	if tl.successes != 1 || tl.outcomes["200"] != 1 {
		t.Errorf("successes %d, outcomes %v", tl.successes, tl.outcomes)
	}
}

func TestHelloRatios(t *testing.T) {
	phases := []PhaseReport{{Name: "hello", PerSecond: 10000}, {Name: "totp", PerSecond: 1700}, {Name: "flood", PerSecond: 500}, {Name: "flood logins", PerSecond: 60}}
	got := helloRatios(phases)
	want := []Ratio{{"totp ÷ hello", 0.17, ""}, {"flood ÷ hello", 0.05, ""}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ratio %d = %v, want %v", i, got[i], want[i])
		}
	}
	if r := helloRatios([]PhaseReport{{Name: "totp", PerSecond: 1700}}); r != nil {
		t.Errorf("without hello: %v, want none", r)
	}
	if r := helloRatios([]PhaseReport{{Name: "hello"}, {Name: "totp", PerSecond: 1700}}); r != nil {
		t.Errorf("hello at 0/s: %v, want none", r)
	}
}
