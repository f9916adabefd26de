// Package push is the Mobile App method (A9, X3): a phone app, registered
// with an activation code, fetches its open challenges by polling and
// approves or declines them with its own key; the sign-in page shows a
// number the person picks in the app (number matching).
//
// A push factor's secret is its two keys, sealed with the factor's id: the
// app's public key and the server's private key. Its config records whether
// the app has registered.
package push

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/countersign/countersign/internal/flow/factor"
	"github.com/countersign/countersign/internal/keyring"
	"github.com/countersign/countersign/internal/policy"
	"github.com/countersign/countersign/internal/store"
)

// Kind is the Mobile App method's factor kind.
const Kind = policy.FactorPush

// Factor is the Mobile App method.
type Factor struct{}

var (
	_ factor.Factor  = Factor{}
	_ factor.Reacher = Factor{}
)

// Kind names the factor.
func (Factor) Kind() string { return Kind }

// Reaches says the person's phone app reaches them; there is no address.
func (Factor) Reaches(*store.Factor, *store.User) (string, string) { return "", "" }

// Config is a push factor's non-secret state.
type Config struct {
	// Registered: the app sent its key with the activation code.
	Registered bool `json:"registered"`
}

// ConfigOf reads a factor's config.
func ConfigOf(f *store.Factor) (Config, error) {
	var c Config
	if f.Config == "" {
		return c, nil
	}
	err := json.Unmarshal([]byte(f.Config), &c)
	return c, err
}

// Keys are a registered factor's keys.
type Keys struct {
	App    *rsa.PublicKey
	Server *rsa.PrivateKey
}

type sealedKeys struct {
	App    []byte `json:"app"`    // PKIX
	Server []byte `json:"server"` // PKCS #8
}

// Seal seals keys for the factor.
func Seal(kr *keyring.Keyring, factorID string, k Keys) ([]byte, error) {
	app, err := x509.MarshalPKIXPublicKey(k.App)
	if err != nil {
		return nil, err
	}
	server, err := x509.MarshalPKCS8PrivateKey(k.Server)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(sealedKeys{App: app, Server: server})
	if err != nil {
		return nil, err
	}
	return kr.Seal(b, []byte("push\x00"+factorID))
}

// ErrNotRegistered is a factor whose app has not registered yet.
var ErrNotRegistered = errors.New("the phone app has not registered this factor yet")

// Open unseals a registered factor's keys.
func Open(kr *keyring.Keyring, f *store.Factor) (Keys, error) {
	if len(f.Secret) == 0 {
		return Keys{}, ErrNotRegistered
	}
	b, err := kr.Open(f.Secret, []byte("push\x00"+f.ID))
	if err != nil {
		return Keys{}, fmt.Errorf("open push factor %s: %w", f.ID, err)
	}
	var s sealedKeys
	if err := json.Unmarshal(b, &s); err != nil {
		return Keys{}, err
	}
	pub, err := x509.ParsePKIXPublicKey(s.App)
	if err != nil {
		return Keys{}, err
	}
	app, ok := pub.(*rsa.PublicKey)
	if !ok {
		return Keys{}, errors.New("push factor: the app's key is not RSA")
	}
	priv, err := x509.ParsePKCS8PrivateKey(s.Server)
	if err != nil {
		return Keys{}, err
	}
	server, ok := priv.(*rsa.PrivateKey)
	if !ok {
		return Keys{}, errors.New("push factor: the server's key is not RSA")
	}
	return Keys{App: app, Server: server}, nil
}
