package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/cli"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/server"
)

const goodPassword = "Vq8#mZr2-tulip-Orbit"

// site is one data directory that several commands run against, as an
// operator would.
type site struct {
	t   *testing.T
	env map[string]string
}

func newSite(t *testing.T) *site {
	return &site{t: t, env: map[string]string{"COUNTERSIGN_DATA_DIR": t.TempDir()}}
}

type result struct {
	stdout, stderr string
	err            error
}

func (s *site) run(stdin string, args ...string) result {
	s.t.Helper()
	var stdout, stderr strings.Builder
	env := cli.Env{
		Stdin:  strings.NewReader(stdin),
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(k string) string { return s.env[k] },
	}
	err := cli.Run(s.t.Context(), args, env)
	return result{stdout.String(), stderr.String(), err}
}

// ok runs a command that must succeed and decodes its --json output into v.
func (s *site) ok(v any, stdin string, args ...string) string {
	s.t.Helper()
	r := s.run(stdin, args...)
	if r.err != nil {
		s.t.Fatalf("countersign %s: %v\nstderr: %s", strings.Join(args, " "), r.err, r.stderr)
	}
	if v != nil {
		// Decoding into a used value would keep fields the output omits.
		reflect.ValueOf(v).Elem().SetZero()
		if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
			s.t.Fatalf("countersign %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, r.stdout)
		}
	}
	return r.stdout
}

// fails runs a command that must fail and returns its error text.
func (s *site) fails(stdin string, args ...string) string {
	s.t.Helper()
	r := s.run(stdin, args...)
	if r.err == nil {
		s.t.Fatalf("countersign %s succeeded, want an error\nstdout: %s", strings.Join(args, " "), r.stdout)
	}
	return r.err.Error()
}

// core opens the same data directory the way the server does, to check what
// the commands stored.
func (s *site) core() *server.Server {
	s.t.Helper()
	cfg, err := config.Load("", func(k string) string { return s.env[k] })
	if err != nil {
		s.t.Fatal(err)
	}
	srv, err := server.Core(s.t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { srv.Close() })
	return srv
}

type tenantOut struct {
	ID, Slug, Name string
}

func (s *site) tenant() tenantOut {
	s.t.Helper()
	var out tenantOut
	s.ok(&out, "", "tenant", "create", "--slug", "acme", "--name", "Acme Health", "--json")
	return out
}

func wantAll(t *testing.T, text string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(text, p) {
			t.Errorf("%q does not mention %q", text, p)
		}
	}
}

func TestTenantCreate(t *testing.T) {
	s := newSite(t)
	var out map[string]string
	s.ok(&out, "", "tenant", "create", "--slug", "acme", "--name", "Acme Health", "--json")
	if !strings.HasPrefix(out["id"], "ten_") || out["slug"] != "acme" || out["name"] != "Acme Health" || len(out) != 3 {
		t.Errorf("tenant create --json = %v, want id, slug and name", out)
	}
	var list []map[string]string
	s.ok(&list, "", "tenant", "list", "--json")
	if len(list) != 1 || list[0]["id"] != out["id"] {
		t.Errorf("tenant list = %v, want the new tenant", list)
	}
	wantAll(t, s.fails("", "tenant", "create", "--slug", "acme", "--name", "Again"), "exists")
	wantAll(t, s.fails("", "tenant", "create", "--slug", "Not A Slug", "--name", strings.Repeat("x", 101)), "slug", "name")
	wantAll(t, s.fails("", "tenant", "create"), "--name", "--slug")
}

func TestAppCreatePrintsKeyOnce(t *testing.T) {
	s := newSite(t)
	ten := s.tenant()
	r := s.run("", "app", "create", "--tenant", "acme", "--name", "Billing", "--json")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var out map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	key := out["api_key"]
	if !strings.HasPrefix(key, "csk_app_") {
		t.Fatalf("api_key %q does not start with csk_app_", key)
	}
	if n := strings.Count(r.stdout, key); n != 1 {
		t.Errorf("the key appears %d times on stdout, want once", n)
	}
	if strings.Contains(r.stderr, key) {
		t.Error("the key was logged to stderr")
	}
	if out["tenant_id"] != ten.ID || out["name"] != "Billing" || !strings.HasPrefix(out["id"], "app_") {
		t.Errorf("app create --json = %v", out)
	}

	dir := s.core().Directory
	app, err := dir.AuthenticateApplication(t.Context(), key)
	if err != nil {
		t.Fatalf("the printed key does not authenticate: %v", err)
	}
	if app.ID != out["id"] || app.TenantID != ten.ID {
		t.Errorf("key authenticates as %s of %s, want %s of %s", app.ID, app.TenantID, out["id"], ten.ID)
	}

	text := s.ok(nil, "", "app", "create", "--tenant", ten.ID, "--name", "Portal")
	if strings.Count(text, "csk_app_") != 1 {
		t.Errorf("text output should show the key exactly once:\n%s", text)
	}
}

func TestAdminKeyCreate(t *testing.T) {
	s := newSite(t)
	s.tenant()
	var out map[string]string
	s.ok(&out, "", "admin-key", "create", "--tenant", "acme", "--name", "Help desk", "--role", "support", "--json")
	if out["role"] != "support" || !strings.HasPrefix(out["id"], "adk_") {
		t.Errorf("admin-key create --json = %v", out)
	}
	k, err := s.core().Directory.AuthenticateAdmin(t.Context(), out["admin_key"])
	if err != nil {
		t.Fatalf("the printed admin key does not authenticate: %v", err)
	}
	if k.Role != "support" {
		t.Errorf("stored role %q, want support", k.Role)
	}
	wantAll(t, s.fails("", "admin-key", "create", "--tenant", "acme", "--name", "x", "--role", "root"), "role")
}

type userOut struct {
	ID               string  `json:"id"`
	LoginID          string  `json:"login_id"`
	Email            string  `json:"email"`
	Phone            string  `json:"phone"`
	Status           string  `json:"status"`
	HasPassword      bool    `json:"has_password"`
	PasswordFailures int     `json:"password_failures"`
	PasswordLockedAt *string `json:"password_locked_at"`
	Factors          []struct {
		ID    string `json:"id"`
		Kind  string `json:"kind"`
		State string `json:"state"`
	} `json:"factors"`
}

func TestUserCommands(t *testing.T) {
	s := newSite(t)
	ten := s.tenant()

	var created userOut
	s.ok(&created, goodPassword+"\n", "user", "create", "--tenant", "acme", "--login-id", "alice", "--email", "alice@example.com",
		"--phone", "555-123-4567", "--password-stdin", "--json")
	if created.LoginID != "alice" || created.Phone != "5551234567" || !created.HasPassword || created.Status != "active" {
		t.Errorf("user create --json = %+v", created)
	}

	t.Run("invalid fields are all named", func(t *testing.T) {
		msg := s.fails("", "user", "create", "--tenant", "acme", "--login-id", "sixteen-chars-ab", "--email", "not-an-email", "--phone", "555123456")
		wantAll(t, msg, "login_id", "email", "phone")
	})
	t.Run("weak password", func(t *testing.T) {
		wantAll(t, s.fails("short\n", "user", "create", "--tenant", "acme", "--login-id", "bob", "--password-stdin"), "password")
	})
	t.Run("no password on stdin", func(t *testing.T) {
		wantAll(t, s.fails("", "user", "create", "--tenant", "acme", "--login-id", "bob", "--password-stdin"), "--password-stdin")
	})
	t.Run("login ID taken in another case", func(t *testing.T) {
		wantAll(t, s.fails("", "user", "create", "--tenant", "acme", "--login-id", "ALICE"), "login_id", "taken")
	})
	t.Run("email taken", func(t *testing.T) {
		wantAll(t, s.fails("", "user", "create", "--tenant", "acme", "--login-id", "alice2", "--email", "Alice@Example.com"), "email")
	})
	t.Run("unknown tenant", func(t *testing.T) {
		wantAll(t, s.fails("", "user", "create", "--tenant", "nope", "--login-id", "carol"), "nope")
	})

	t.Run("show", func(t *testing.T) {
		var shown userOut
		for _, ref := range []string{"alice", "Alice", created.ID} {
			s.ok(&shown, "", "user", "show", "--tenant", "acme", "--user", ref, "--json")
			if shown.ID != created.ID || shown.Email != "alice@example.com" || shown.Factors == nil {
				t.Errorf("user show --user %s = %+v", ref, shown)
			}
		}
		wantAll(t, s.fails("", "user", "show", "--tenant", "acme", "--user", "nobody"), "nobody")
		wantAll(t, s.fails("", "user", "show", "--tenant", "acme"), "--user")
	})

	t.Run("set-status", func(t *testing.T) {
		var out map[string]string
		s.ok(&out, "", "user", "set-status", "--tenant", "acme", "--user", "alice", "--status", "disabled", "--json")
		if out["status"] != "disabled" || out["user_id"] != created.ID {
			t.Errorf("set-status --json = %v", out)
		}
		var shown userOut
		s.ok(&shown, "", "user", "show", "--tenant", "acme", "--user", "alice", "--json")
		if shown.Status != "disabled" {
			t.Errorf("status %q after set-status, want disabled", shown.Status)
		}
		wantAll(t, s.fails("", "user", "set-status", "--tenant", "acme", "--user", "alice", "--status", "asleep"), "status")
		s.ok(nil, "", "user", "set-status", "--tenant", "acme", "--user", "alice", "--status", "active")
	})

	t.Run("unlock clears a password lockout", func(t *testing.T) {
		s.ok(nil, `{"password_attempts": 1}`, "policy", "set", "--tenant", "acme", "--file", "-")
		srv := s.core()
		caller := flow.Caller{TenantID: ten.ID, Actor: "test"}
		for range 2 {
			if _, err := srv.Engine.PasswordLogin(t.Context(), caller, "alice", "wrong password"); err == nil {
				t.Fatal("a wrong password logged in")
			}
		}
		if _, err := srv.Engine.PasswordLogin(t.Context(), caller, "alice", goodPassword); err == nil {
			t.Fatal("the right password logged in while the password was locked")
		}
		var shown userOut
		s.ok(&shown, "", "user", "show", "--tenant", "acme", "--user", "alice", "--json")
		if shown.PasswordLockedAt == nil {
			t.Fatalf("alice is not password-locked: %+v", shown)
		}

		var out map[string]string
		s.ok(&out, "", "user", "unlock", "--tenant", "acme", "--user", "alice", "--json")
		if out["status"] != "unlocked" {
			t.Errorf("unlock --json = %v", out)
		}
		s.ok(&shown, "", "user", "show", "--tenant", "acme", "--user", "alice", "--json")
		if shown.PasswordLockedAt != nil || shown.PasswordFailures != 0 {
			t.Errorf("still locked after unlock: %+v", shown)
		}
		if _, err := srv.Engine.PasswordLogin(t.Context(), caller, "alice", goodPassword); err != nil {
			t.Errorf("login after unlock: %v", err)
		}
	})

	t.Run("reset-factors", func(t *testing.T) {
		srv := s.core()
		en, err := srv.Engine.AdminBeginTOTPEnrolment(t.Context(), flow.Caller{TenantID: ten.ID, Actor: "test"}, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Decoding into a map, unlike a struct, sees the exact key names.
		var raw struct{ Factors []map[string]any }
		s.ok(&raw, "", "user", "show", "--tenant", "acme", "--user", "alice", "--json")
		if len(raw.Factors) != 1 || raw.Factors[0]["id"] != en.Factor.ID || raw.Factors[0]["kind"] != "totp" || raw.Factors[0]["state"] != "pending" {
			t.Errorf("factors %v, want [{id: %s, kind: totp, state: pending}]", raw.Factors, en.Factor.ID)
		}
		var out struct {
			UserID  string `json:"user_id"`
			Revoked int    `json:"revoked"`
		}
		s.ok(&out, "", "user", "reset-factors", "--tenant", "acme", "--user", "alice", "--json")
		if out.UserID != created.ID || out.Revoked != 1 {
			t.Errorf("reset-factors --json = %+v, want 1 revoked", out)
		}
		s.ok(&raw, "", "user", "show", "--tenant", "acme", "--user", "alice", "--json")
		if len(raw.Factors) != 1 || raw.Factors[0]["state"] != "revoked" {
			t.Errorf("factors after reset %v, want revoked", raw.Factors)
		}
	})

	t.Run("list", func(t *testing.T) {
		var users []userOut
		s.ok(&users, "", "user", "list", "--tenant", "acme", "--json")
		if len(users) != 1 || users[0].ID != created.ID {
			t.Errorf("user list = %+v", users)
		}
		wantAll(t, s.fails("", "user", "list", "--tenant", "acme", "--limit", "5000"), "--limit")
		wantAll(t, s.fails("", "audit", "list", "--tenant", "acme", "--limit", "0"), "--limit")
	})

	t.Run("audit", func(t *testing.T) {
		var events []struct {
			Event   string          `json:"event"`
			Outcome string          `json:"outcome"`
			UserID  string          `json:"user_id"`
			Actor   string          `json:"actor"`
			Detail  json.RawMessage `json:"detail"`
		}
		s.ok(&events, "", "audit", "list", "--tenant", "acme", "--event", "user.created", "--json")
		if len(events) != 1 {
			t.Fatalf("audit list --event user.created = %+v, want one event", events)
		}
		e := events[0]
		if e.UserID != created.ID || e.Outcome != "success" || !strings.HasPrefix(e.Actor, "cli@") {
			t.Errorf("event %+v", e)
		}
		if strings.Contains(string(e.Detail), goodPassword) {
			t.Error("the audit detail holds the password")
		}
		s.ok(&events, "", "audit", "list", "--tenant", "acme", "--user", "alice", "--event", "user.unlock", "--json")
		if len(events) != 1 {
			t.Errorf("audit list --user alice --event user.unlock = %+v, want one event", events)
		}
		// The export: every matching event, as CSV or JSON lines (G5).
		r := s.run("", "audit", "export", "--tenant", "acme", "--event", "user.created", "--format", "csv")
		if r.err != nil || !strings.HasPrefix(r.stdout, "id,time,event,") || strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stderr, "1 event") {
			t.Errorf("audit export csv: %v\n%s\n%s", r.err, r.stdout, r.stderr)
		}
		r = s.run("", "audit", "export", "--tenant", "acme", "--user", "alice", "--format", "jsonl")
		if r.err != nil || !strings.Contains(r.stdout, `"event":"user.unlock"`) {
			t.Errorf("audit export jsonl: %v\n%s", r.err, r.stdout)
		}
		wantAll(t, s.fails("", "audit", "export", "--tenant", "acme", "--format", "xml"), "csv or jsonl")
	})
}

func TestGroupsAndUnits(t *testing.T) {
	s := newSite(t)
	ten := s.tenant()
	for _, kind := range []string{"group", "unit"} {
		t.Run(kind, func(t *testing.T) {
			var out map[string]string
			s.ok(&out, "", kind, "create", "--tenant", "acme", "--name", "Billing", "--json")
			if out["name"] != "Billing" || out["tenant_id"] != ten.ID || out["id"] == "" {
				t.Errorf("%s create --json = %v, want id, tenant_id and name", kind, out)
			}
			wantAll(t, s.fails("", kind, "create", "--tenant", "acme", "--name", "Billing"), "exists")
		})
	}
	var u userOut
	s.ok(&u, "", "user", "create", "--tenant", "acme", "--login-id", "dave", "--group", "Billing", "--unit", "Billing", "--json")
	wantAll(t, s.fails("", "user", "create", "--tenant", "acme", "--login-id", "erin", "--group", "Nope", "--unit", "Nada"), "groups", "units")
}

func TestPolicy(t *testing.T) {
	s := newSite(t)
	s.tenant()
	var shown map[string]any
	s.ok(&shown, "", "policy", "show", "--tenant", "acme")
	if shown["mfa_required"] != "everyone" || shown["mfa_attempts"] != float64(7) {
		t.Errorf("default policy = %v", shown)
	}

	msg := s.fails(`{"mfa_required": "sometimes", "mfa_attempts": 0, "transaction_ttl": "1s"}`, "policy", "set", "--tenant", "acme", "--file", "-")
	wantAll(t, msg, "mfa_required", "mfa_attempts", "transaction_ttl")
	wantAll(t, s.fails(`{"mfa_attemps": 3}`, "policy", "set", "--tenant", "acme", "--file", "-"), "mfa_attemps")
	s.ok(&shown, "", "policy", "show", "--tenant", "acme")
	if shown["mfa_attempts"] != float64(7) {
		t.Errorf("a refused policy changed mfa_attempts to %v", shown["mfa_attempts"])
	}

	file := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(file, []byte(`{"mfa_attempts": 3, "lockout_release": "30m"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var set map[string]any
	s.ok(&set, "", "policy", "set", "--tenant", "acme", "--file", file)
	s.ok(&shown, "", "policy", "show", "--tenant", "acme")
	for _, p := range []map[string]any{set, shown} {
		if p["mfa_attempts"] != float64(3) || p["lockout_release"] != "30m0s" || p["password_attempts"] != float64(10) {
			t.Errorf("policy after set = %v, want mfa_attempts 3, lockout_release 30m and the other defaults", p)
		}
	}
	wantAll(t, s.fails("", "policy", "set", "--tenant", "acme"), "--file")

	// --key changes one setting and keeps every other one.
	s.ok(&set, "", "policy", "set", "--tenant", "acme", "--key", "password_attempts=4", "--key", `portal.session_idle="30m"`)
	if set["password_attempts"] != float64(4) || set["mfa_attempts"] != float64(3) || set["lockout_release"] != "30m0s" {
		t.Errorf("policy after --key = %v, want password_attempts 4 and the rest as before", set)
	}
	if portal, _ := set["portal"].(map[string]any); portal["session_idle"] != "30m0s" {
		t.Errorf("portal after --key = %v", set["portal"])
	}
	s.ok(&set, "", "policy", "set", "--tenant", "acme", "--key", "mfa_attempts=null")
	if set["mfa_attempts"] != float64(7) || set["password_attempts"] != float64(4) {
		t.Errorf("policy after mfa_attempts=null = %v, want mfa_attempts back to 7", set)
	}
	wantAll(t, s.fails("", "policy", "set", "--tenant", "acme", "--key", "mfa_attempts=0"), "mfa_attempts")
	wantAll(t, s.fails("", "policy", "set", "--tenant", "acme", "--key", "nonsense"), "name=value")
	// A whole file says which settings it resets.
	r := s.run(`{"allowed_factors": ["totp"]}`, "policy", "set", "--tenant", "acme", "--file", "-")
	if r.err != nil {
		t.Fatal(r.err)
	}
	wantAll(t, r.stderr, "lockout_release", "password_attempts", "portal.session_idle", "reset")
}

func TestConfiguration(t *testing.T) {
	s := newSite(t)
	dir := t.TempDir()
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{name: "unknown key in file", yaml: "adress: 127.0.0.1:9000\nlog_level: info\n", want: []string{"adress", "unknown key"}},
		{name: "unknown nested key", yaml: "password:\n  workerz: 2\n", want: []string{"password.workerz"}},
		{name: "bad value in file", yaml: "log_level: loud\n", want: []string{"log_level", "loud"}},
		{name: "bad env value", env: map[string]string{"COUNTERSIGN_ADDR": "nonsense"}, want: []string{`COUNTERSIGN_ADDR: "nonsense"`}},
		{name: "every problem at once", env: map[string]string{"COUNTERSIGN_ADDR": "nonsense", "COUNTERSIGN_SHUTDOWN_TIMEOUT": "soon"},
			want: []string{"COUNTERSIGN_ADDR: ", "COUNTERSIGN_SHUTDOWN_TIMEOUT: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site := &site{t: t, env: map[string]string{"COUNTERSIGN_DATA_DIR": s.env["COUNTERSIGN_DATA_DIR"]}}
			for k, v := range tt.env {
				site.env[k] = v
			}
			args := []string{"migrate"}
			if tt.yaml != "" {
				path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
				if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", path)
			}
			wantAll(t, site.fails("", args...), tt.want...)
		})
	}
}

func TestMigrate(t *testing.T) {
	s := newSite(t)
	for range 2 {
		var out map[string]string
		s.ok(&out, "", "migrate", "--json")
		if out["status"] != "migrated" || out["dialect"] != "sqlite" {
			t.Errorf("migrate --json = %v", out)
		}
	}
	if _, err := os.Stat(filepath.Join(s.env["COUNTERSIGN_DATA_DIR"], "countersign.db")); err != nil {
		t.Errorf("no database in the data directory: %v", err)
	}
}

func TestUsage(t *testing.T) {
	s := newSite(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown command", []string{"frobnicate", "--now"}, `unknown command "frobnicate --now"`},
		{"unknown sub-command", []string{"user", "delete"}, "unknown command"},
		{"no command", nil, ""},
		{"help", []string{"help"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.run("", tt.args...)
			switch {
			case tt.wantErr == "" && r.err != nil:
				t.Errorf("error %v, want none", r.err)
			case tt.wantErr != "" && (r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr)):
				t.Errorf("error %v, want %q", r.err, tt.wantErr)
			}
			wantAll(t, r.stderr, "Usage:", "user create", "COUNTERSIGN_DATA_DIR")
			if r.stdout != "" {
				t.Errorf("usage went to stdout: %q", r.stdout)
			}
		})
	}

	r := s.run("", "tenant", "create", "--no-such-flag")
	if r.err == nil || !strings.Contains(r.stderr, "-slug") {
		t.Errorf("an unknown flag should fail and list the command's flags; err %v, stderr %q", r.err, r.stderr)
	}
}

// G6: after "keys rotate" new secrets are sealed with the new key and old
// ones still open; with the key in the environment the command refuses.
func TestKeysRotate(t *testing.T) {
	s := newSite(t)
	tn := s.tenant()
	var user struct{ ID string }
	s.ok(&user, "", "user", "create", "--tenant", "acme", "--login-id", "kim", "--json")
	before := s.core()
	op := flow.Caller{TenantID: tn.ID, Actor: "test"}
	old, err := before.Engine.AdminBeginTOTPEnrolment(t.Context(), op, user.ID)
	if err != nil {
		t.Fatal(err)
	}
	before.Close()

	var out struct {
		ActiveKey  string `json:"active_key"`
		CheckValue string `json:"check_value"`
	}
	s.ok(&out, "", "keys", "rotate", "--json")
	if out.ActiveKey != "k2" || out.CheckValue != "recorded" {
		t.Fatalf("keys rotate = %+v, want k2, its check value recorded", out)
	}
	after := s.core()
	if checks, err := after.Store.KeyChecks(t.Context()); err != nil || len(checks["k1"]) == 0 || len(checks["k2"]) == 0 {
		t.Errorf("check values after keys rotate: %v, %v; want k1 and k2", checks, err)
	}
	if _, err := after.Engine.PendingEnrolment(t.Context(), op, old.Factor.ID); err != nil {
		t.Fatalf("secret sealed before the rotation no longer opens: %v", err)
	}
	fresh, err := after.Engine.AdminBeginTOTPEnrolment(t.Context(), op, user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if kid, err := after.Engine.Keys.KeyID(fresh.Factor.Secret); err != nil || kid != "k2" {
		t.Fatalf("new secret sealed with %q (%v), want k2", kid, err)
	}

	s.env["COUNTERSIGN_MASTER_KEY"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	wantAll(t, s.fails("", "keys", "rotate"), "COUNTERSIGN_MASTER_KEY")
}

// C6, A13: "user create" records the identity details the portal validates,
// and "support list" shows the MFA issues people reported.
func TestUserIdentityAndSupportList(t *testing.T) {
	s := newSite(t)
	tn := s.tenant()
	s.ok(nil, goodPassword+"\n", "user", "create", "--tenant", "acme", "--login-id", "bob", "--email", "bob@example.org",
		"--phone", "5551234567", "--date-of-birth", "1980-02-29", "--ssn", "123-45-6789", "--password-stdin", "--json")
	wantAll(t, s.fails("", "user", "create", "--tenant", "acme", "--login-id", "carl", "--date-of-birth", "1980-02-30", "--ssn", "12345", "--locale", "fr"),
		"date_of_birth", "ssn", "locale")
	// X8: the language of the person's messages.
	wantAll(t, s.ok(nil, "", "user", "create", "--tenant", "acme", "--login-id", "dora", "--locale", "es", "--json"), `"locale": "es"`)

	core := s.core()
	portal := flow.Caller{TenantID: tn.ID, ApplicationID: flow.PortalApplication, Actor: "portal", IP: "192.0.2.7"}
	u, err := core.Engine.ValidateIdentity(t.Context(), portal, "bob@example.org", "1980-02-29", "123456789")
	if err != nil || u.LoginID != "bob" {
		t.Fatalf("identity recorded by user create does not validate: %v %+v", err, u)
	}
	if _, err := core.Engine.ValidateIdentity(t.Context(), portal, "bob@example.org", "1980-02-28", "123456789"); !errors.Is(err, flow.ErrIdentityNotMatched) {
		t.Fatalf("another date of birth: %v", err)
	}

	var list []map[string]string
	s.ok(&list, "", "support", "list", "--tenant", "acme", "--json")
	if len(list) != 0 {
		t.Fatalf("support list of a new tenant = %v", list)
	}
	var tracking []string
	for i, subject := range []string{"Lost phone", "Codes fail"} {
		r, err := core.Engine.FileSupportRequest(t.Context(), portal, flow.SupportRequestInput{LoginID: "bob", Name: "Bob Jones",
			Phone: "5551234567", Email: "bob@example.org", Subject: subject, Message: fmt.Sprintf("Report %d.", i+1)})
		if err != nil {
			t.Fatal(err)
		}
		tracking = append(tracking, r.Tracking)
		time.Sleep(2 * time.Millisecond) // distinct creation times, so the order is defined
	}
	s.ok(&list, "", "support", "list", "--tenant", "acme", "--json")
	if len(list) != 2 || list[0]["tracking"] != tracking[1] || list[1]["tracking"] != tracking[0] ||
		list[0]["subject"] != "Codes fail" || list[0]["login_id"] != "bob" || list[0]["state"] != "open" || list[0]["message"] != "Report 2." {
		t.Fatalf("support list --json = %v, want both, newest first", list)
	}
	s.ok(&list, "", "support", "list", "--tenant", "acme", "--before", tracking[1], "--json")
	if len(list) != 1 || list[0]["tracking"] != tracking[0] {
		t.Fatalf("support list --before = %v", list)
	}
	text := s.ok(nil, "", "support", "list", "--tenant", "acme", "--limit", "1")
	wantAll(t, text, "TRACKING", tracking[1], "Bob Jones", "Codes fail")
	if strings.Contains(text, tracking[0]) {
		t.Errorf("--limit 1 printed two requests:\n%s", text)
	}
	wantAll(t, s.fails("", "support", "list", "--tenant", "acme", "--limit", "0"), "--limit")
	wantAll(t, s.fails("", "support", "list"), "--tenant")
}
