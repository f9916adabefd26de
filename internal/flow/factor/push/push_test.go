package push_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"

	"github.com/countersign/countersign/internal/flow/factor/push"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/store"
)

func TestSealOpen(t *testing.T) {
	kr, err := keyring.New(map[string][]byte{"k1": make([]byte, 32)}, "k1", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	app, _ := rsa.GenerateKey(rand.Reader, 2048)
	server, _ := rsa.GenerateKey(rand.Reader, 2048)
	f := &store.Factor{ID: "fac_1", Kind: push.Kind}
	if _, err := push.Open(kr, f); !errors.Is(err, push.ErrNotRegistered) {
		t.Fatalf("open before registration: %v", err)
	}
	if f.Secret, err = push.Seal(kr, f.ID, push.Keys{App: &app.PublicKey, Server: server}); err != nil {
		t.Fatal(err)
	}
	k, err := push.Open(kr, f)
	if err != nil || !k.App.Equal(&app.PublicKey) || !k.Server.Equal(server) {
		t.Fatalf("round trip: %v", err)
	}
	// Sealed for one factor, the keys open for no other.
	moved := &store.Factor{ID: "fac_2", Kind: push.Kind, Secret: f.Secret}
	if _, err := push.Open(kr, moved); err == nil {
		t.Fatal("keys sealed for one factor opened for another")
	}
	for cfg, want := range map[string]bool{"": false, `{"registered":false}`: false, `{"registered":true}`: true} {
		c, err := push.ConfigOf(&store.Factor{Config: cfg})
		if err != nil || c.Registered != want {
			t.Errorf("config %q: %+v %v", cfg, c, err)
		}
	}
}
