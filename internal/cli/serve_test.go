//go:build unix

package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/cli"
)

// syncBuffer is a log both serve and the test touch.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	listeningAt  = regexp.MustCompile(`msg="countersign listening" addr=(127\.0\.0\.1:\d+)`)
	hashWorkerAt = regexp.MustCompile(`msg="password hashing in a worker process" pid=(\d+) nice=(\d+)`)
)

// TestServeHashesInWorker is issue 14 item 4: serve hashes in a worker
// process at the configured niceness, a password login works through it,
// and the worker ends with the server.
func TestServeHashesInWorker(t *testing.T) {
	s := newSite(t)
	s.tenant()
	var app map[string]string
	s.ok(&app, "", "app", "create", "--tenant", "acme", "--name", "Billing", "--json")
	s.ok(nil, goodPassword+"\n", "user", "create", "--tenant", "acme", "--login-id", "alice", "--password-stdin", "--json")

	s.env["COUNTERSIGN_ADDR"] = "127.0.0.1:0"
	s.env["COUNTERSIGN_PASSWORD_NICE"] = "12"
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, []string{"serve"}, cli.Env{Stdin: strings.NewReader(""), Stdout: &logs, Stderr: &logs,
			Getenv: func(k string) string { return s.env[k] }})
	}()
	var addr string
	for addr == "" {
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
		if m := listeningAt.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
	}
	m := hashWorkerAt.FindStringSubmatch(logs.String())
	if m == nil || m[2] != "12" {
		t.Fatalf("serve did not log a hashing worker at nice 12:\n%s", logs.String())
	}
	pid, _ := strconv.Atoi(m[1])
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Field 19 is the niceness; the command name before it may hold spaces.
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); f[19-3] != "12" {
			t.Errorf("the worker runs at nice %s, want 12", f[19-3])
		}
	}

	login := func(pw string) int {
		body, _ := json.Marshal(map[string]string{"login_id": "alice", "password": pw})
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/auth/login", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+app["api_key"])
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := login(goodPassword); code != http.StatusOK {
		t.Errorf("login with the right password: %d, want 200\n%s", code, logs.String())
	}
	if code := login("Wrong-password-99"); code != http.StatusUnauthorized {
		t.Errorf("login with a wrong password: %d, want 401", code)
	}

	stop()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("the hashing worker %d outlived serve", pid)
	}
}
