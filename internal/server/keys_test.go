package server_test

import (
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/server"
	"github.com/countersign/countersign/internal/testutil/pgtest"
)

// G6, issue 10 item 1: the database records which keys sealed its data, and a
// start with keys that cannot open it stops instead of serving E99.
func TestKeysCheckedAgainstData(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return pgtest.URL(t) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			t.Run("keyring file", func(t *testing.T) {
				cfg := config.Default()
				cfg.DataDir, cfg.DatabaseURL = t.TempDir(), db.url(t)
				keyringFileChecked(t, cfg)
			})
			t.Run("master key", func(t *testing.T) {
				cfg := config.Default()
				cfg.DataDir, cfg.DatabaseURL = t.TempDir(), db.url(t)
				masterKeyChecked(t, cfg)
			})
		})
	}
}

func openCore(t *testing.T, cfg config.Config) (*server.Server, error) {
	t.Helper()
	srv, err := server.Core(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Cleanup(func() { srv.Close() })
	}
	return srv, err
}

func mustCore(t *testing.T, cfg config.Config) *server.Server {
	t.Helper()
	srv, err := openCore(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// sealSecret enrols an authenticator, which seals its secret.
func sealSecret(t *testing.T, srv *server.Server) (flow.Caller, string) {
	t.Helper()
	ctx := t.Context()
	tn, err := srv.Directory.CreateTenant(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	op := flow.Caller{TenantID: tn.ID, Actor: "test"}
	u, err := srv.Directory.CreateUser(ctx, op, directory.NewUser{LoginID: "kim"})
	if err != nil {
		t.Fatal(err)
	}
	en, err := srv.Engine.AdminBeginTOTPEnrolment(ctx, op, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return op, en.Factor.ID
}

func checkIDs(t *testing.T, srv *server.Server) []string {
	t.Helper()
	checks, err := srv.Store.KeyChecks(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for id, v := range checks {
		if len(v) == 0 {
			t.Errorf("empty check value for %s", id)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func wantRefused(t *testing.T, cfg config.Config, parts ...string) {
	t.Helper()
	srv, err := openCore(t, cfg)
	if err == nil {
		srv.Close()
		t.Fatalf("started, want a refusal mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("refusal %q does not mention %q", err, p)
		}
	}
}

func keyringFileChecked(t *testing.T, cfg config.Config) {
	path := cfg.KeyringPath()
	srv := mustCore(t, cfg)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("an empty database got no key: %v", err)
	}
	if got := checkIDs(t, srv); !slices.Equal(got, []string{"k1"}) {
		t.Errorf("check values for %v, want k1", got)
	}
	op, factorID := sealSecret(t, srv)
	srv.Close()
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("missing keyring", func(t *testing.T) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, cfg, path, "missing", "backup", "No new key was generated")
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("a key file was written: %v", err)
		}
	})
	t.Run("another keyring", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "keyring.json")
		if _, err := keyring.LoadOrCreate(other); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(other)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, cfg, `"k1"`, path, "is not the key that sealed")
	})
	if err := os.WriteFile(path, saved, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("database from before check values", func(t *testing.T) {
		srv := mustCore(t, cfg)
		if _, err := srv.Store.DB().ExecContext(t.Context(), `DELETE FROM key_checks`); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		srv = mustCore(t, cfg)
		if got := checkIDs(t, srv); !slices.Equal(got, []string{"k1"}) {
			t.Errorf("check values for %v after the first start with them, want k1", got)
		}
		srv.Close()
	})
	t.Run("rotation", func(t *testing.T) {
		id, err := keyring.Rotate(path)
		if err != nil || id != "k2" {
			t.Fatalf("rotate: %q, %v", id, err)
		}
		srv := mustCore(t, cfg)
		if _, err := srv.Engine.PendingEnrolment(t.Context(), op, factorID); err != nil {
			t.Errorf("the secret sealed before the rotation does not open: %v", err)
		}
		if got := checkIDs(t, srv); !slices.Equal(got, []string{"k1", "k2"}) {
			t.Errorf("check values for %v after the rotation, want k1 and k2", got)
		}
		srv.Close()
		// The database now needs k2: the keyring from before the
		// rotation does not do.
		if err := os.WriteFile(path, saved, 0o600); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, cfg, `"k2"`, "does not hold")
	})
}

func masterKeyChecked(t *testing.T, cfg config.Config) {
	cfg.MasterKey = newMasterKey(t)
	srv := mustCore(t, cfg)
	if got := checkIDs(t, srv); !slices.Equal(got, []string{"env"}) {
		t.Errorf("check values for %v, want env", got)
	}
	op, factorID := sealSecret(t, srv)
	srv.Close()

	right := cfg.MasterKey
	cfg.MasterKey = newMasterKey(t)
	wantRefused(t, cfg, "COUNTERSIGN_MASTER_KEY", "is not the key that sealed")
	cfg.MasterKey = ""
	wantRefused(t, cfg, "keyring.json is missing")

	cfg.MasterKey = right
	srv = mustCore(t, cfg)
	if _, err := srv.Engine.PendingEnrolment(t.Context(), op, factorID); err != nil {
		t.Errorf("the secret does not open with the right key: %v", err)
	}
}

func newMasterKey(t *testing.T) string {
	t.Helper()
	key := make([]byte, keyring.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(key)
}

// Issue 10 item 1: a database from before check values, started once with a
// wrong master key, must not record the wrong key's check value — it would
// start a server on which every secret fails, and refuse the right key ever
// after. The keys are tried on a sealed value the database holds first.
func TestPreCheckDatabaseRefusesAWrongKey(t *testing.T) {
	key := func() string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.MasterKey = key()
	right := cfg.MasterKey
	srv := mustCore(t, cfg)
	sealSecret(t, srv)
	// As a database from before migration 00008 would be.
	if _, err := srv.Store.DB().ExecContext(t.Context(), `DELETE FROM key_checks`); err != nil {
		t.Fatal(err)
	}
	srv.Close()

	cfg.MasterKey = key()
	if srv, err := openCore(t, cfg); err == nil {
		srv.Close()
		t.Fatal("a wrong master key started on a database holding sealed data")
	} else if !strings.Contains(err.Error(), "do not open this database's sealed data") {
		t.Errorf("refusal does not say what is wrong: %v", err)
	}
	cfg.MasterKey = right
	srv, err := openCore(t, cfg)
	if err != nil {
		t.Fatalf("the right key is refused after a wrong one was tried: %v", err)
	}
	srv.Close()
}
