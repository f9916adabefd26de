package pushproto

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base32"
	"sync"
	"testing"
)

var (
	keysOnce          sync.Once
	serverKey, appKey *rsa.PrivateKey
	otherKey          *rsa.PrivateKey
	keysErr           error
)

// testKeys returns 2048-bit keys made once (4096-bit ones are only made in
// TestGenerateServerKey, to keep the tests fast under -race).
func testKeys(t *testing.T) (server, app, other *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		for _, k := range []**rsa.PrivateKey{&serverKey, &appKey, &otherKey} {
			if *k, keysErr = rsa.GenerateKey(rand.Reader, 2048); keysErr != nil {
				return
			}
		}
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return serverKey, appKey, otherKey
}

// appSign signs msg the way the app does (rsa_utils.dart createBase32Signature:
// PKCS#1 v1.5, SHA-256, padded upper-case base32), without going through Sign.
func appSign(t *testing.T, priv *rsa.PrivateKey, msg string) string {
	t.Helper()
	d := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return base32.StdEncoding.EncodeToString(sig)
}

// appVerify checks sig over msg the way the app does, without Verify.
func appVerify(pub *rsa.PublicKey, sig, msg string) error {
	raw, err := base32.StdEncoding.DecodeString(sig)
	if err != nil {
		return err
	}
	d := sha256.Sum256([]byte(msg))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], raw)
}
