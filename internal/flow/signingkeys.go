package flow

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/countersign/countersign/internal/store"
)

// Each tenant signs its ID tokens with its own keys (X2): ES256 by default,
// RS256 for applications that need it. Private keys are sealed under the
// master key; a rotation makes a new key the signer at once and keeps the
// old one published until every ID token it signed has expired.

const (
	// MaxIDTokenTTL bounds an application's ID token lifetime.
	MaxIDTokenTTL = 24 * time.Hour
	// retiredKeyKept is how long a replaced key stays published: longer
	// than any ID token it signed can live.
	retiredKeyKept = MaxIDTokenTTL + 10*time.Minute
	// signerTTL bounds how long a server signs with a key it loaded: a
	// rotation on another server is followed within it (the replaced key
	// is still published, so nothing it signs in between fails).
	signerTTL = 30 * time.Second
)

// SigningKey is a tenant's key: the public half always, the private half
// when it was loaded to sign.
type SigningKey struct {
	ID        string
	Alg       string
	Public    crypto.PublicKey
	Private   crypto.Signer
	CreatedAt time.Time
	RetiredAt *time.Time
}

type cachedSigner struct {
	key     *SigningKey
	fetched time.Time
}

func keyAAD(tenantID, kid string) []byte { return []byte("oidc-key\x00" + tenantID + "\x00" + kid) }

// Signer returns the tenant's current key of alg, made on first use.
func (e *Engine) Signer(ctx context.Context, tenantID, alg string) (*SigningKey, error) {
	if alg != store.AlgES256 && alg != store.AlgRS256 {
		return nil, fmt.Errorf("signing algorithm %q not supported", alg)
	}
	now := e.now()
	cacheKey := tenantID + "\x00" + alg
	e.mu.Lock()
	c, ok := e.signers[cacheKey]
	e.mu.Unlock()
	if ok && now.Sub(c.fetched) < signerTTL {
		return c.key, nil
	}
	keys, err := e.Store.ListOIDCKeys(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	var current *store.OIDCKey
	for i := range keys {
		if keys[i].Alg == alg && keys[i].RetiredAt == nil {
			current = &keys[i]
			break
		}
	}
	if current == nil {
		if current, err = e.newKey(ctx, Caller{TenantID: tenantID, Actor: "system"}, tenantID, alg, false); err != nil {
			return nil, err
		}
	}
	k, err := e.openKey(current)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if e.signers == nil {
		e.signers = map[string]cachedSigner{}
	}
	e.signers[cacheKey] = cachedSigner{key: k, fetched: now}
	e.mu.Unlock()
	return k, nil
}

func (e *Engine) openKey(k *store.OIDCKey) (*SigningKey, error) {
	der, err := e.Keys.Open(k.Private, keyAAD(k.TenantID, k.ID))
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: %w", k.ID, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, errors.New("signing key is not a signer")
	}
	return &SigningKey{ID: k.ID, Alg: k.Alg, Public: signer.Public(), Private: signer, CreatedAt: k.CreatedAt, RetiredAt: k.RetiredAt}, nil
}

// PublishedKeys returns the public keys a relying party may meet: the
// current ones and those replaced less than a token lifetime ago.
func (e *Engine) PublishedKeys(ctx context.Context, tenantID string) ([]SigningKey, error) {
	keys, err := e.Store.ListOIDCKeys(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	now := e.now()
	var out []SigningKey
	for _, k := range keys {
		if k.RetiredAt != nil && now.Sub(*k.RetiredAt) > retiredKeyKept {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(k.Public)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		out = append(out, SigningKey{ID: k.ID, Alg: k.Alg, Public: pub, CreatedAt: k.CreatedAt, RetiredAt: k.RetiredAt})
	}
	return out, nil
}

// RotateSigningKey makes a new key of alg the tenant's signer; the one it
// replaces stays published until its tokens have expired, and keys
// replaced longer ago are removed.
func (e *Engine) RotateSigningKey(ctx context.Context, c Caller, tenantID, alg string) (*store.OIDCKey, error) {
	if alg != store.AlgES256 && alg != store.AlgRS256 {
		return nil, fmt.Errorf("signing algorithm %q not supported: use ES256 or RS256", alg)
	}
	k, err := e.newKey(ctx, c, tenantID, alg, true)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	delete(e.signers, tenantID+"\x00"+alg)
	e.mu.Unlock()
	return k, nil
}

func (e *Engine) newKey(ctx context.Context, c Caller, tenantID, alg string, rotate bool) (*store.OIDCKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case store.AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case store.AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, err
	}
	now := e.now()
	k := &store.OIDCKey{ID: store.NewID("key"), TenantID: tenantID, Alg: alg, Public: pub, CreatedAt: now}
	if k.Private, err = e.Keys.Seal(der, keyAAD(tenantID, k.ID)); err != nil {
		return nil, err
	}
	err = e.Store.InTx(ctx, func(q store.Queries) error {
		if rotate {
			if err := q.RetireOIDCKeys(ctx, tenantID, alg, now); err != nil {
				return err
			}
			if err := q.DeleteOIDCKeysRetiredBefore(ctx, tenantID, now.Add(-retiredKeyKept)); err != nil {
				return err
			}
		}
		if err := q.CreateOIDCKey(ctx, k); err != nil {
			return err
		}
		c.TenantID = tenantID
		return e.Audit(ctx, q, c, Event{Event: "oidc.key_created", Outcome: "success", Detail: map[string]any{"kid": k.ID, "alg": alg, "rotation": rotate}})
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}
