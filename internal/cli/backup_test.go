package cli_test

import (
	"bytes"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/server"
	"github.com/countersign/countersign/internal/testutil/pgtest"
	"github.com/countersign/countersign/internal/totp"
)

// serveSite runs a whole server on the site's data directory, as serve does.
func serveSite(t *testing.T, s *site) (*server.Server, *httptest.Server) {
	t.Helper()
	cfg, err := config.Load("", func(k string) string { return s.env[k] })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(srv.Handler)
	t.Cleanup(func() { h.Close(); srv.Close() })
	return srv, h
}

func check(t *testing.T, base, appKey, loginID, code string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"login_id": loginID, "code": code})
	req, _ := http.NewRequest("POST", base+"/api/v1/auth/check", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+appKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// G8, issue 10 item 8: a server is backed up while it serves, the backup is
// restored into a new data directory, and a new server on it lets the user in
// with a code from the authenticator enrolled before the backup.
func TestBackupRestoreWhileServing(t *testing.T) {
	ctx := t.Context()
	live := newSite(t)
	srv, h := serveSite(t, live)
	tn, err := srv.Directory.CreateTenant(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	op := flow.Caller{TenantID: tn.ID, Actor: "test"}
	_, appKey, err := srv.Directory.CreateApplication(ctx, op, "vpn")
	if err != nil {
		t.Fatal(err)
	}
	u, err := srv.Directory.CreateUser(ctx, op, directory.NewUser{LoginID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	en, err := srv.Engine.AdminBeginTOTPEnrolment(ctx, op, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(en.Secret, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Engine.ConfirmTOTPEnrolment(ctx, op, en.Factor.ID, totp.CodeAt(secret, totp.Step(time.Now())-1), nil); err != nil {
		t.Fatal(err)
	}

	// Writes go on while the backup is taken.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 1000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := srv.Directory.CreateUser(ctx, op, directory.NewUser{LoginID: fmt.Sprintf("u%d", i)}); err != nil {
				t.Errorf("serving during the backup: %v", err)
				return
			}
		}
	}()
	archive := filepath.Join(t.TempDir(), "countersign.tar")
	var backed map[string]any
	live.ok(&backed, "", "backup", "--json", archive)
	close(stop)
	wg.Wait()
	if backed["database"] != true || backed["keyring"] != true {
		t.Errorf("backup --json = %v, want the database and the keyring", backed)
	}
	if info, err := os.Stat(archive); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("archive: %v, %v; want mode 0600", info, err)
	}
	if code := check(t, h.URL, appKey, "alice", totp.CodeAt(secret, totp.Step(time.Now()))); code != http.StatusOK {
		t.Fatalf("the serving server after the backup: %d", code)
	}

	restored := newSite(t)
	restored.env["COUNTERSIGN_DATA_DIR"] = filepath.Join(restored.env["COUNTERSIGN_DATA_DIR"], "new")
	wantAll(t, restored.ok(nil, "", "restore", archive), "restored", restored.env["COUNTERSIGN_DATA_DIR"])
	wantAll(t, restored.fails("", "restore", archive), "not empty")

	_, h2 := serveSite(t, restored)
	// The step after the one the live server just used: each server
	// refuses a step already used, and the restore copied the used ones.
	if code := check(t, h2.URL, appKey, "alice", totp.CodeAt(secret, totp.Step(time.Now())+1)); code != http.StatusOK {
		t.Fatalf("login on the restored server with an authenticator code: %d, want 200", code)
	}
}

// The archive is never left where another user could read or replace it.
func TestBackupRefusesSharedPlaces(t *testing.T) {
	s := newSite(t)
	s.tenant()
	shared := t.TempDir()
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	wantAll(t, s.fails("", "backup", filepath.Join(shared, "b.tar")), "writable by other users", shared)

	private := t.TempDir()
	readable := filepath.Join(private, "b.tar")
	if err := os.WriteFile(readable, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantAll(t, s.fails("", "backup", readable), "readable or writable by other users")
	if b, _ := os.ReadFile(readable); string(b) != "old" {
		t.Error("the refused file was changed")
	}
	if err := os.Chmod(readable, 0o600); err != nil {
		t.Fatal(err)
	}
	s.ok(nil, "", "backup", readable)
	wantAll(t, s.fails("", "backup"), "usage: countersign backup FILE")

	// Never into the data directory: the archive would replace the keyring
	// or the database it copies, whatever their modes (issue 10 item 8).
	data := s.env["COUNTERSIGN_DATA_DIR"]
	keyring, _ := os.ReadFile(filepath.Join(data, "keyring.json"))
	for _, inside := range []string{filepath.Join(data, "keyring.json"), filepath.Join(data, "countersign.db"), filepath.Join(data, "b.tar")} {
		wantAll(t, s.fails("", "backup", inside), "inside the data directory")
	}
	if after, _ := os.ReadFile(filepath.Join(data, "keyring.json")); string(after) != string(keyring) {
		t.Error("a refused backup changed the keyring")
	}

	// An archive unpacks only into an empty data directory.
	other := newSite(t)
	if err := os.WriteFile(filepath.Join(other.env["COUNTERSIGN_DATA_DIR"], "notes"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wantAll(t, other.fails("", "restore", readable), "not empty")
	// Keys that do not open the data: nothing is left behind.
	wrong := newSite(t)
	wrong.env["COUNTERSIGN_MASTER_KEY"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	wantAll(t, wrong.fails("", "restore", readable), "not restored", "COUNTERSIGN_MASTER_KEY")
	if left, _ := os.ReadDir(wrong.env["COUNTERSIGN_DATA_DIR"]); len(left) != 0 {
		t.Errorf("a failed restore left %v", left)
	}
}

// On PostgreSQL the archive holds the keyring only, and says so; restored
// beside the same database, the server starts with it.
func TestBackupPostgresKeyringOnly(t *testing.T) {
	s := newSite(t)
	s.env["COUNTERSIGN_DATABASE_URL"] = pgtest.URL(t)
	s.tenant()
	archive := filepath.Join(t.TempDir(), "keys.tar")
	wantAll(t, s.ok(nil, "", "backup", archive), "keyring only", "pg_dump")
	var backed map[string]any
	s.ok(&backed, "", "backup", "--json", archive)
	if backed["database"] != false || backed["keyring"] != true {
		t.Errorf("backup --json on PostgreSQL = %v, want the keyring only", backed)
	}

	moved := newSite(t)
	moved.env["COUNTERSIGN_DATABASE_URL"] = s.env["COUNTERSIGN_DATABASE_URL"]
	wantAll(t, moved.ok(nil, "", "restore", archive), "restored the keyring", "pg_restore")
	var list []map[string]string
	moved.ok(&list, "", "tenant", "list", "--json")
	if len(list) != 1 {
		t.Errorf("tenants with the restored keyring: %v", list)
	}

	sqlite := newSite(t)
	wantAll(t, sqlite.fails("", "restore", archive), "holds no database", "pg_restore")
}
