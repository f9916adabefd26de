package sqlstore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/store"
	"github.com/countersign/countersign/internal/store/sqlstore"
)

// Changes whose method takes no time are stamped with the clock the store
// was opened with, so a test's clock (or the engine's) is the only one.
func TestStampsWithTheGivenClock(t *testing.T) {
	ctx := t.Context()
	at := time.Date(2031, 7, 4, 9, 30, 0, 0, time.UTC)
	s, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db.sqlite"), sqlstore.WithClock(func() time.Time { return at }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	created := at.Add(-time.Hour)
	if err := s.CreateTenant(ctx, &store.Tenant{ID: "ten_a", Slug: "acme", Name: "Acme", CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, &store.User{ID: "usr_a", TenantID: "ten_a", LoginID: "ana", Status: store.StatusActive, CreatedAt: created, UpdatedAt: created}); err != nil {
		t.Fatal(err)
	}
	for _, change := range []struct {
		name string
		run  func() error
	}{
		{"password", func() error { return s.SetPasswordHash(ctx, "ten_a", "usr_a", "hash") }},
		{"phone", func() error { return s.SetPhone(ctx, "ten_a", "usr_a", "+15550100", nil) }},
		{"email", func() error { return s.SetEmail(ctx, "ten_a", "usr_a", "ana@example.com", nil) }},
		{"identity", func() error { return s.SetIdentity(ctx, "ten_a", "usr_a", []byte{1}, []byte{2}) }},
		{"unlock", func() error { return s.Unlock(ctx, "ten_a", "usr_a") }},
	} {
		t.Run(change.name, func(t *testing.T) {
			at = at.Add(time.Minute)
			if err := change.run(); err != nil {
				t.Fatal(err)
			}
			u, err := s.UserByID(ctx, "ten_a", "usr_a")
			if err != nil {
				t.Fatal(err)
			}
			if !u.UpdatedAt.Equal(at) {
				t.Errorf("updated_at %v, want %v", u.UpdatedAt, at)
			}
		})
	}
}
