package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
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

// TestMain lets the test binary stand in for the tool as the hello child.
func TestMain(m *testing.M) {
	if os.Getenv(helloChildEnv) == "1" {
		if err := serveHelloChild(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestHelloChild starts the hello server as a child process, makes one
// request, reads the child's CPU time from /proc and stops it; it asserts
// nothing about time.
func TestHelloChild(t *testing.T) {
	h, err := startHelloChild()
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			h.stop()
		}
	}()
	if h.pid == os.Getpid() || h.pid <= 0 {
		t.Fatalf("child pid %d", h.pid)
	}
	m := cpuMeter{proc: os.DirFS("/proc"), pid: h.pid}
	done := m.start()
	tl := newTally(time.Now().Add(time.Hour))
	helloWork(newClient(h.url, "hello", "", 1), "ab")(context.Background(), tl)
	if tl.successes != 1 {
		t.Errorf("request to the child: outcomes %v", tl.outcomes)
	}
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		if _, ok := done(); !ok {
			t.Error("no CPU reading for the child")
		}
	}
	h.stop()
	stopped = true
	if _, err := os.Stat("/proc/" + strconv.Itoa(h.pid) + "/stat"); err == nil {
		t.Errorf("child %d still there after stop", h.pid)
	}
}
