package server_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/testutil/pgtest"
	"github.com/countersign/countersign/internal/totp"
)

// X7 and invariants 1–2 across processes: two countersign servers sharing one
// PostgreSQL give exactly the single-server guarantees.
func TestTwoServersShareOnePostgres(t *testing.T) {
	dbURL := pgtest.URL(t)
	bin := buildBinary(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	baseEnv := append(os.Environ(),
		"COUNTERSIGN_DATABASE_URL="+dbURL,
		"COUNTERSIGN_MASTER_KEY="+base64.StdEncoding.EncodeToString(key),
		"COUNTERSIGN_DATA_DIR="+t.TempDir(),
		"COUNTERSIGN_LOG_LEVEL=warn",
	)
	cli := func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--json")...)
		cmd.Env = baseEnv
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("countersign %v: %v", args, err)
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("countersign %v: %s", args, out)
		}
		return v
	}
	cli("tenant", "create", "--slug", "acme", "--name", "Acme")
	appKey := cli("app", "create", "--tenant", "acme", "--name", "portal")["api_key"].(string)
	adminKey := cli("admin-key", "create", "--tenant", "acme", "--name", "ops")["admin_key"].(string)

	// Two servers started at once also race on migrations (advisory lock).
	var urls []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(baseEnv, "COUNTERSIGN_ADDR="+addr)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("server %s log:\n%s", addr, stderr.String())
			}
		})
		urls = append(urls, "http://"+addr)
	}
	for _, u := range urls {
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get(u + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready", u)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	post := func(i int, path, key string, body any) (int, map[string]any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", urls[i%2]+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, map[string]any{"transport": err.Error()}
		}
		defer resp.Body.Close()
		var v map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	status, user := post(0, "/api/v1/admin/users", adminKey, map[string]any{"login_id": "alice"})
	if status != 201 {
		t.Fatalf("create user: %d %v", status, user)
	}
	status, en := post(1, "/api/v1/admin/users/alice/enrolments/totp", adminKey, map[string]any{})
	if status != 201 {
		t.Fatalf("enrol: %d %v", status, en)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(en["secret"].(string), " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	step := totp.Step(time.Now())
	if status, v := post(0, fmt.Sprintf("/api/v1/admin/enrolments/%s/confirm", en["enrolment_id"]), adminKey, map[string]any{"code": totp.CodeAt(secret, step-1)}); status != 200 {
		t.Fatalf("confirm: %d %v", status, v)
	}

	fire := func(n int, code string) map[int]int {
		var mu sync.Mutex
		got := map[int]int{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				s, _ := post(i, "/api/v1/auth/check", appKey, map[string]any{"login_id": "alice", "code": code})
				mu.Lock()
				got[s]++
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		return got
	}
	// 50 parallel submissions of one valid code across both servers: one success.
	valid := totp.CodeAt(secret, totp.Step(time.Now()))
	if got := fire(50, valid); got[200] != 1 || got[200]+got[401]+got[423] != 50 {
		t.Fatalf("one valid code, 50 parallel submissions: %v, want exactly one 200", got)
	}
	// The 49 refused replays count as failed attempts and locked the user.
	cli("user", "unlock", "--tenant", "acme", "--user", "alice")
	// 200 parallel wrong codes with a limit of 7: at most 7 evaluated, then locked.
	wrong := "000000"
	for _, off := range []int64{-1, 0, 1, 2} {
		if totp.CodeAt(secret, totp.Step(time.Now())+off) == wrong {
			wrong = "111111"
		}
	}
	got := fire(200, wrong)
	if got[200] != 0 || got[401] > 6 || got[401]+got[423] != 200 {
		t.Fatalf("200 wrong codes: %v, want at most 6 plain refusals and the rest locked", got)
	}
	req, _ := http.NewRequest("GET", urls[0]+"/api/v1/admin/audit?user=alice&event=login.mfa&outcome=failure&limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var audit struct{ Events []map[string]any }
	_ = json.NewDecoder(resp.Body).Decode(&audit)
	resp.Body.Close()
	evaluatedWrong := 0
	for _, ev := range audit.Events {
		if d, _ := ev["detail"].(map[string]any); d["reason"] == "wrong_code" {
			evaluatedWrong++
		}
	}
	if evaluatedWrong != 7 {
		t.Fatalf("%d wrong codes evaluated across two servers, want exactly 7", evaluatedWrong)
	}
	next := totp.CodeAt(secret, totp.Step(time.Now())+1)
	if s, v := post(1, "/api/v1/auth/check", appKey, map[string]any{"login_id": "alice", "code": next}); s != 423 {
		t.Fatalf("correct code while locked: %d %v", s, v)
	}
	cli("user", "unlock", "--tenant", "acme", "--user", "alice")
	if s, v := post(0, "/api/v1/auth/check", appKey, map[string]any{"login_id": "alice", "code": next}); s != 200 {
		t.Fatalf("after unlock: %d %v", s, v)
	}
	// Both servers sealed the events both wrote, with the command line
	// sealing beside them: one intact chain (X6).
	if r := cli("audit", "verify", "--tenant", "acme"); r["ok"] != true || r["events"].(float64) < 250 {
		t.Fatalf("audit verify after both servers wrote: %v", r)
	}
}
