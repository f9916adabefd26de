package flow_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/flow"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/password"
	"github.com/countersign/countersign/internal/store/sqlstore"
	"github.com/countersign/countersign/internal/totp"
)

// BenchmarkCheck measures the second-factor check an application makes in
// one request (POST /auth/check, and RADIUS next) through the whole engine
// on SQLite: the user and factor reads, then the guess runner's one write
// transaction. Each iteration uses a new time step, so every check succeeds.
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "cs.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	keys, err := keyring.New(map[string][]byte{"k1": make([]byte, 32)}, "k1", make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Unix(1_900_000_005, 0).UTC()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	eng := &flow.Engine{Store: st, Hasher: password.NewHasher(testParams, 4, time.Second), Keys: keys, Now: clock, Log: slog.New(slog.DiscardHandler)}
	dir := &directory.Service{Store: st, Hasher: eng.Hasher, Engine: eng, KeyCacheTTL: time.Minute}
	tn, err := dir.CreateTenant(ctx, "acme", "Acme Health")
	if err != nil {
		b.Fatal(err)
	}
	admin := flow.Caller{TenantID: tn.ID, Actor: "admin:bench", IP: "192.0.2.1"}
	app, _, err := dir.CreateApplication(ctx, admin, "portal")
	if err != nil {
		b.Fatal(err)
	}
	c := flow.Caller{TenantID: tn.ID, ApplicationID: app.ID, Actor: "app:" + app.ID, IP: "198.51.100.7"}
	if _, err := dir.CreateUser(ctx, admin, directory.NewUser{LoginID: "alice", Password: goodPassword}); err != nil {
		b.Fatal(err)
	}
	u, err := st.UserByLoginID(ctx, tn.ID, "alice")
	if err != nil {
		b.Fatal(err)
	}
	en, err := eng.AdminBeginTOTPEnrolment(ctx, admin, u.ID)
	if err != nil {
		b.Fatal(err)
	}
	secret, err := base32NoPad.DecodeString(strings.ReplaceAll(en.Secret, " ", ""))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := eng.ConfirmTOTPEnrolment(ctx, admin, en.Factor.ID, totp.CodeAt(secret, totp.Step(now)), nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		mu.Lock()
		now = now.Add(30 * time.Second)
		t := now
		mu.Unlock()
		if _, err := eng.Check(ctx, c, "alice", totp.CodeAt(secret, totp.Step(t))); err != nil {
			b.Fatal(err)
		}
	}
}
