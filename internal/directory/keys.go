package directory

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Key prefixes make a leaked key recognisable to secret scanners and people.
const (
	appKeyPrefix   = "csk_app_"
	adminKeyPrefix = "csk_adm_"
)

// newKey returns a fresh high-entropy key and the hash stored for it. Keys
// carry 256 random bits, so a fast hash is enough: there is nothing to guess.
func newKey(prefix string) (plain string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	plain = prefix + base64.RawURLEncoding.EncodeToString(b)
	return plain, HashKey(plain)
}

// HashKey is the stored form of a presented key.
func HashKey(plain string) []byte {
	h := sha256.Sum256([]byte(strings.TrimSpace(plain)))
	return h[:]
}
